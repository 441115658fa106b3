import { JobStatus, StepStatus, type EntityProgress, type Job, type Step } from '../gen/bakery/erasure/v1/deletion_orchestrator';
import type { JobBusEvent } from './events';
import type { JobRow, JobStatusName, JobStep } from './store';

/** The one translation of jobs and steps into the DeletionOrchestrator's messages. */

export function toStepMessage(step: JobStep): Step {
  return {
    service: step.name,
    phase: step.phase,
    status: StepStatus[`STEP_STATUS_${step.status}`],
    attempts: step.attempts,
    rowsDeleted: String(step.rowsDeleted),
    expectedRows: String(step.expectedRows ?? 0),
    lastError: step.lastError,
    startTime: step.startedAt ?? undefined,
    endTime: step.finishedAt ?? undefined,
    nextAttemptTime: step.status === 'RETRYING' ? (step.nextAttemptAt ?? undefined) : undefined,
    entities: Object.entries(step.entities).map(([entity, tally]) => ({
      entity,
      action: tally.action,
      rows: String(tally.rows),
      chunks: String(tally.chunks),
      retainReason: tally.retainReason ?? '',
      retention: tally.retention ?? '',
    })),
  };
}

export function toJobStatus(status: JobStatusName): JobStatus {
  return JobStatus[`JOB_STATUS_${status}`];
}

/** A JobStatus filter as a status name; undefined for UNSPECIFIED, null for a value that is no status. */
export function fromJobStatus(status: JobStatus): JobStatusName | undefined | null {
  if (status === JobStatus.JOB_STATUS_UNSPECIFIED) return undefined;
  const name = JobStatus[status]?.replace('JOB_STATUS_', '');
  return name && name !== 'UNRECOGNIZED' ? (name as JobStatusName) : null;
}

/** A tenant or user job names its subject; a customer job only its tenant, kind of identifier and keyed hash. */
function subjectFields(job: JobRow): Pick<Job, 'subject' | 'customer'> {
  if (job.subject_kind === 'tenant') return { subject: { tenantId: job.subject_id } };
  if (job.subject_kind === 'user') return { subject: { userId: job.subject_id } };
  const customer = job.options.customer;
  return { subject: undefined, customer: { tenantId: customer?.tenantId ?? '', identifierKind: customer?.identifier ?? '', subjectRef: job.subject_id } };
}

export function toJobMessage(job: JobRow, steps: JobStep[], now = new Date()): Job {
  // An export job counts the rows it exported; an erasure (with export_first too) only the rows it erased.
  const counted = job.job_kind === 'export' ? steps : steps.filter((s) => s.kind !== 'export-service');
  return {
    id: job.id,
    ...subjectFields(job),
    status: toJobStatus(job.status),
    requestedBy: job.requested_by,
    requestId: job.request_id ?? '',
    steps: steps.map(toStepMessage),
    totalRowsDeleted: String(counted.reduce((sum, s) => sum + s.rowsDeleted, 0)),
    expectedRows: String(counted.reduce((sum, s) => sum + (s.expectedRows ?? 0), 0)),
    createTime: job.created_at,
    startTime: job.started_at ?? undefined,
    endTime: job.finished_at ?? undefined,
    durationMs: String(job.started_at && job.finished_at ? job.finished_at.getTime() - job.started_at.getTime() : 0),
    traceId: job.trace_id,
    error: job.error,
    parentJobId: job.parent_job_id ?? '',
    verifiedTime: job.verified_at ?? undefined,
    stalled: job.status === 'RUNNING' && job.stalled_since !== null,
    stalledSince: job.status === 'RUNNING' ? (job.stalled_since ?? undefined) : undefined,
    lastProgressTime: job.last_progress_at ?? undefined,
    queueAgeMs: String(job.status === 'PENDING' ? Math.max(0, now.getTime() - job.created_at.getTime()) : 0),
    purgeTime: job.purge_at ?? undefined,
    receivedTime: job.received_at,
    dueTime: job.due_at,
    approvalRequired: job.approval_required,
    approvedBy: job.approved_by ?? '',
    approveTime: job.approved_at ?? undefined,
    originalDueTime: job.original_due_at ?? undefined,
    holdIds: job.hold_ids ?? [],
    held: (job.held ?? []).map((part) => ({ holdId: part.hold_id, service: part.service, entities: part.entities, rows: String(part.rows), reason: part.reason })),
  };
}

export function toProgressMessage(event: Extract<JobBusEvent, { kind: 'progress' }>): EntityProgress {
  return {
    jobId: event.jobId,
    service: event.service,
    entity: event.entity,
    entityRowsDone: String(event.entityRowsDone),
    stepRowsDone: String(event.stepRowsDone),
    stepExpectedRows: String(event.stepExpectedRows),
    jobRowsDone: String(event.jobRowsDone),
  };
}
