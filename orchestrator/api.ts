import { status } from '@grpc/grpc-js';
import { trace } from '@opentelemetry/api';
import type { Logger } from 'pino';
import {
  DeletionOrchestratorService,
  JobStatus,
  StepStatus,
  type CancelJobRequest,
  type CancelJobResponse,
  type DeleteTenantRequest,
  type DeleteUserRequest,
  type GetJobRequest,
  type GetJobResponse,
  type Job,
  type JobEvent,
  type ListJobsRequest,
  type ListJobsResponse,
  type PreviewTenantDeletionRequest,
  type PreviewTenantDeletionResponse,
  type RetryJobRequest,
  type RetryJobResponse,
  type Step,
  type WatchJobRequest,
} from '../gen/bakery/erasure/v1/deletion_orchestrator';
import { Role, TenantStatus, type GetTenantAdminsResponse, type ListUserMembershipsResponse } from '../gen/bakery/tenant/v1/tenant_service';
import type { Principal } from '../services/kit/auth';
import { RpcError, failedPrecondition, invalidArgument, notFound, permissionDenied, requireUuid } from '../services/kit/errors';
import { serverStream, unary, type RpcDeps } from '../services/kit/rpc';
import type { HostedService } from '../services/kit/server';
import { parseSubject } from '../services/kit/erasure-service';
import { describe, isRetryable, type ServiceClients } from './clients';
import { ALL_SERVICES } from './config';
import type { JobEvents, StepState } from './events';
import type { JobRunner } from './runner';
import { stepsFor } from './steps';
import { OPEN_STATUSES, RequestIdConflict, decodePageToken, type JobRow, type JobStore, type StepRow } from './store';

export const DELETION_ORCHESTRATOR = 'bakery.erasure.v1.DeletionOrchestrator';

const principalName = (p: Principal) => (p.kind === 'service' ? `service:${p.service}` : `user:${p.userId}`);

function toStep(row: StepRow): Step {
  return {
    service: row.name,
    phase: row.phase,
    status: StepStatus[`STEP_STATUS_${row.status}` as keyof typeof StepStatus],
    attempts: row.attempts,
    rowsDeleted: String(row.rows_deleted),
    expectedRows: String(row.expected_rows ?? 0),
    lastError: row.last_error,
    startTime: row.started_at ?? undefined,
    endTime: row.finished_at ?? undefined,
    entities: Object.entries(row.entities ?? {}).map(([entity, tally]) => ({
      entity,
      action: tally.action,
      rows: String(tally.rows),
      chunks: String(tally.chunks),
    })),
  };
}

function stepFromState(state: StepState): Step {
  return {
    service: state.name,
    phase: state.phase,
    status: StepStatus[`STEP_STATUS_${state.status}` as keyof typeof StepStatus],
    attempts: state.attempts,
    rowsDeleted: String(state.rows),
    expectedRows: String(state.expected ?? 0),
    lastError: state.lastError,
    startTime: state.startedAt ? new Date(state.startedAt) : undefined,
    endTime: state.finishedAt ? new Date(state.finishedAt) : undefined,
    entities: [],
  };
}

export function toJob(row: JobRow, steps: StepRow[]): Job {
  return {
    id: row.id,
    subject: row.subject_kind === 'tenant' ? { tenantId: row.subject_id } : { userId: row.subject_id },
    status: JobStatus[`JOB_STATUS_${row.status}` as keyof typeof JobStatus],
    requestedBy: row.requested_by,
    requestId: row.request_id ?? '',
    steps: steps.map(toStep),
    totalRowsDeleted: String(steps.reduce((sum, s) => sum + Number(s.rows_deleted), 0)),
    expectedRows: String(steps.reduce((sum, s) => sum + Number(s.expected_rows ?? 0), 0)),
    createTime: row.created_at,
    startTime: row.started_at ?? undefined,
    endTime: row.finished_at ?? undefined,
    durationMs: String(row.started_at && row.finished_at ? row.finished_at.getTime() - row.started_at.getTime() : 0),
    traceId: row.trace_id,
    error: row.error,
    parentJobId: row.parent_job_id ?? '',
    verifiedTime: row.verified_at ?? undefined,
  };
}

const TERMINAL = new Set(['COMPLETED', 'FAILED', 'CANCELLED']);

export interface OrchestratorApiDeps {
  rpc: RpcDeps;
  store: JobStore;
  runner: JobRunner;
  events: JobEvents;
  clients: ServiceClients;
  enqueue: Parameters<JobStore['createOrAttach']>[1];
  log: Logger;
}

function requestIdOf(value: string): string | undefined {
  if (value === '') return undefined;
  if (value.length > 128 || !/^[\x21-\x7e]+$/.test(value)) throw invalidArgument('request_id must be 1–128 printable ASCII characters without spaces');
  return value;
}

/** The DeletionOrchestrator API: authorization, job creation/attachment, and job streams. */
export function deletionOrchestrator(deps: OrchestratorApiDeps): HostedService {
  const { store, runner, events, clients, log } = deps;

  /** Owners and admins of a tenant, asked of the tenant service. NOT_FOUND when the tenant does not exist. */
  async function tenantAdmins(tenantId: string): Promise<string[]> {
    try {
      const { admins } = await clients.tenantCall<GetTenantAdminsResponse>('getTenantAdmins', { tenantId });
      return admins.filter((a) => a.role === Role.ROLE_OWNER || a.role === Role.ROLE_ADMIN).map((a) => a.userId);
    } catch (error) {
      const code = (error as { code?: number }).code;
      if (code === status.NOT_FOUND) throw notFound(`tenant ${tenantId} not found`);
      if (isRetryable(error)) throw new RpcError(status.UNAVAILABLE, `tenant service unavailable: ${describe(error)}`, 'TENANT_SERVICE_UNAVAILABLE');
      throw error;
    }
  }

  /**
   * A tenant's owner or admin, or a service, may erase or preview it. Permission comes before
   * existence: a user asking about a tenant that does not exist is refused like any non-admin.
   */
  async function authorizeTenant(principal: Principal, tenantId: string): Promise<string[]> {
    let admins: string[];
    try {
      admins = await tenantAdmins(tenantId);
    } catch (error) {
      if (principal.kind === 'user' && error instanceof RpcError && error.code === status.NOT_FOUND) {
        throw permissionDenied('only an owner or admin of the tenant, or a service, may do this');
      }
      throw error;
    }
    if (principal.kind === 'user' && !admins.includes(principal.userId)) {
      throw permissionDenied('only an owner or admin of the tenant, or a service, may do this');
    }
    return admins;
  }

  /** The job, if this principal may see it: services, the initiator, and the job's viewers. */
  async function visibleJob(principal: Principal, jobId: string): Promise<JobRow> {
    const id = requireUuid(jobId, 'job_id');
    const job = await store.get(id);
    if (principal.kind === 'service') {
      if (!job) throw notFound(`job ${id} not found`);
      return job;
    }
    const allowed = job && (job.requested_by === principalName(principal) || job.viewers.includes(principal.userId) || (job.subject_kind === 'user' && job.subject_id === principal.userId));
    if (!allowed) throw permissionDenied('only the job\'s initiator, the tenant\'s admins, or a service may see this job');
    return job!;
  }

  async function jobMessage(jobId: string): Promise<Job> {
    const [row, steps] = await Promise.all([store.get(jobId), store.steps(jobId)]);
    return toJob(row!, steps);
  }

  /**
   * Streams a job: subscribe first, then the snapshot, so no event falls between them; step changes and
   * progress follow; the stream ends with the final state.
   */
  async function stream(jobId: string, signal: AbortSignal, send: (event: JobEvent) => Promise<void>, detach = false): Promise<void> {
    const queue: Parameters<Parameters<JobEvents['subscribe']>[1]>[0][] = [];
    let wake: (() => void) | undefined;
    const unsubscribe = events.subscribe(jobId, (event) => {
      queue.push(event);
      wake?.();
    });
    try {
      const snapshot = await jobMessage(jobId);
      await send({ snapshot });
      if (detach) return;
      if (snapshot.status !== JobStatus.JOB_STATUS_PENDING && snapshot.status !== JobStatus.JOB_STATUS_RUNNING) {
        await send({ finished: snapshot });
        return;
      }
      // A watcher also polls now and then, so a job whose runner died still ends the stream once resumed.
      const poll = setInterval(() => {
        queue.push({ kind: 'step', jobId, step: '' });
        wake?.();
      }, 5000);
      try {
        for (;;) {
          if (signal.aborted) return;
          const event = queue.shift();
          if (!event) {
            await new Promise<void>((resolve) => {
              const onAbort = () => resolve();
              wake = () => {
                signal.removeEventListener('abort', onAbort);
                resolve();
              };
              signal.addEventListener('abort', onAbort, { once: true });
            });
            wake = undefined;
            continue;
          }
          if (event.kind === 'progress') {
            await send({ progress: { jobId, service: event.service, entity: event.entity, entityRowsDone: String(event.entityRowsDone), stepRowsDone: String(event.stepRowsDone), stepExpectedRows: String(event.stepExpectedRows), jobRowsDone: String(event.jobRowsDone) } });
          } else if (event.kind === 'step' && event.state) {
            // Built from the event itself: a busy job does not cost its watchers a query per change.
            await send({ stepUpdate: { jobId, step: stepFromState(event.state), jobStatus: JobStatus.JOB_STATUS_RUNNING } });
          } else if (event.kind === 'step') {
            const job = await jobMessage(jobId);
            if (TERMINAL.has(JobStatus[job.status].replace('JOB_STATUS_', ''))) {
              await send({ finished: job });
              return;
            }
            await send({ snapshot: job });
          } else if (event.kind === 'finished') {
            await send({ finished: await jobMessage(jobId) });
            return;
          }
        }
      } finally {
        clearInterval(poll);
      }
    } finally {
      unsubscribe();
    }
  }

  /** Starts the job's run on this replica without waiting; the queue covers the case where this replica dies. */
  function kick(jobId: string): void {
    runner.runIfFree(jobId).catch((error) => log.error({ err: error, job_id: jobId }, 'could not start job run'));
  }

  async function createOrAttach(input: Parameters<JobStore['createOrAttach']>[0]): Promise<JobRow> {
    try {
      const { job, created } = await store.createOrAttach(input, deps.enqueue);
      trace.getActiveSpan()?.setAttributes({ 'erasure.job.id': job.id, 'erasure.job.created': created });
      log.info({ job_id: job.id, trace_id: job.trace_id, created, subject_kind: job.subject_kind }, created ? 'job recorded' : 'attached to existing job');
      if (OPEN_STATUSES.includes(job.status)) kick(job.id);
      return job;
    } catch (error) {
      if (error instanceof RequestIdConflict) throw new RpcError(status.ALREADY_EXISTS, error.message, 'REQUEST_ID_REUSED');
      throw error;
    }
  }

  const previewTenantDeletion = unary<PreviewTenantDeletionRequest, PreviewTenantDeletionResponse>(deps.rpc, 'PreviewTenantDeletion', async (request, ctx) => {
    const tenantId = requireUuid(request.tenantId, 'tenant_id');
    await authorizeTenant(ctx.principal, tenantId);
    const services = await Promise.all(
      ALL_SERVICES.map(async (service) => {
        try {
          const response = await clients.preview(service, { tenantId }, 15_000);
          return { service, reachable: true, error: '', entities: response.entities, totalRows: response.totalRows };
        } catch (error) {
          return { service, reachable: false, error: describe(error), entities: [], totalRows: '0' };
        }
      }),
    );
    return {
      tenantId,
      services,
      totalRows: String(services.reduce((sum, s) => sum + Number(s.totalRows), 0)),
      unreachableServices: services.filter((s) => !s.reachable).map((s) => s.service),
    };
  });

  const deleteTenant = serverStream<DeleteTenantRequest, JobEvent>(deps.rpc, 'DeleteTenant', async (request, ctx, send) => {
    const tenantId = requireUuid(request.tenantId, 'tenant_id');
    const requestId = requestIdOf(request.requestId);
    const admins = await authorizeTenant(ctx.principal, tenantId);
    const job = await createOrAttach({
      subjectKind: 'tenant',
      subjectId: tenantId,
      requestedBy: principalName(ctx.principal),
      requestId,
      viewers: admins,
      options: {},
      steps: stepsFor('tenant'),
    });
    await stream(job.id, ctx.signal, send, request.detach);
  });

  const deleteUser = serverStream<DeleteUserRequest, JobEvent>(deps.rpc, 'DeleteUser', async (request, ctx, send) => {
    const userId = requireUuid(request.userId, 'user_id');
    const requestId = requestIdOf(request.requestId);
    if (ctx.principal.kind === 'user' && ctx.principal.userId !== userId) {
      throw permissionDenied('a user may only erase themself; services may erase anyone');
    }
    // Refuse up front, changing nothing, when an owned tenant needs a decision (DESIGN §5).
    const { memberships } = await clients.tenantCall<ListUserMembershipsResponse>('listUserMemberships', { userId });
    const undecided = memberships.filter(
      (m) => m.role === Role.ROLE_OWNER && m.tenantStatus === TenantStatus.TENANT_STATUS_ACTIVE && !m.otherAdminExists && m.memberCount > 1,
    );
    if (undecided.length && !request.eraseOwnedTenants) {
      throw failedPrecondition(
        `the user owns tenants with other members but no other admin; transfer their ownership or set erase_owned_tenants: ${undecided.map((m) => m.tenantId).join(', ')}`,
        'OWNED_TENANTS_NEED_A_DECISION',
      );
    }
    const job = await createOrAttach({
      subjectKind: 'user',
      subjectId: userId,
      requestedBy: principalName(ctx.principal),
      requestId,
      viewers: [userId],
      options: { eraseOwnedTenants: request.eraseOwnedTenants },
      steps: stepsFor('user'),
    });
    await stream(job.id, ctx.signal, send, request.detach);
  });

  const watchJob = serverStream<WatchJobRequest, JobEvent>(deps.rpc, 'WatchJob', async (request, ctx, send) => {
    const job = await visibleJob(ctx.principal, request.jobId);
    await stream(job.id, ctx.signal, send);
  });

  const getJob = unary<GetJobRequest, GetJobResponse>(deps.rpc, 'GetJob', async (request, ctx) => {
    const job = await visibleJob(ctx.principal, request.jobId);
    return { job: toJob(job, await store.steps(job.id)) };
  });

  const listJobs = unary<ListJobsRequest, ListJobsResponse>(deps.rpc, 'ListJobs', async (request, ctx) => {
    if (request.pageSize < 0 || request.pageSize > 500) throw invalidArgument('page_size must be between 0 and 500');
    const subject = request.subject && (request.subject.tenantId !== undefined || request.subject.userId !== undefined) ? parseSubject(request.subject) : undefined;
    const statusName = request.status === JobStatus.JOB_STATUS_UNSPECIFIED ? undefined : JobStatus[request.status]?.replace('JOB_STATUS_', '');
    if (request.status !== JobStatus.JOB_STATUS_UNSPECIFIED && !statusName) throw invalidArgument(`unknown status ${request.status}`);
    if (request.pageToken) {
      try {
        decodePageToken(request.pageToken);
      } catch (error) {
        throw invalidArgument((error as Error).message);
      }
    }
    const { jobs, nextPageToken } = await store.list({
      status: statusName as JobRow['status'] | undefined,
      subjectKind: subject?.kind,
      subjectId: subject?.id,
      visibleTo: ctx.principal.kind === 'user' ? ctx.principal.userId : undefined,
      pageSize: request.pageSize || 50,
      pageToken: request.pageToken || undefined,
    });
    const steps = await store.stepsOf(jobs.map((job) => job.id));
    return { jobs: jobs.map((job) => toJob(job, steps.get(job.id) ?? [])), nextPageToken };
  });

  const cancelJob = unary<CancelJobRequest, CancelJobResponse>(deps.rpc, 'CancelJob', async (request, ctx) => {
    const job = await visibleJob(ctx.principal, request.jobId);
    if (!(await store.requestCancel(job.id))) {
      throw failedPrecondition(`job ${job.id} is ${(await store.get(job.id))!.status}; only PENDING or RUNNING jobs can be cancelled`, 'JOB_NOT_OPEN');
    }
    runner.cancelLocal(job.id);
    await events.publish({ kind: 'cancel', jobId: job.id });
    log.info({ job_id: job.id, by: principalName(ctx.principal) }, 'cancellation requested');
    // Wait briefly for the runner to stop between chunks, so the answer usually shows CANCELLED.
    for (let i = 0; i < 50; i++) {
      const current = await store.get(job.id);
      if (current && TERMINAL.has(current.status)) break;
      if (current?.status === 'PENDING' && (await runner.runIfFree(job.id)) !== 'held') continue;
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
    return { job: await jobMessage(job.id) };
  });

  const retryJob = unary<RetryJobRequest, RetryJobResponse>(deps.rpc, 'RetryJob', async (request, ctx) => {
    const job = await visibleJob(ctx.principal, request.jobId);
    let reopened: boolean;
    try {
      reopened = await store.reopen(job.id, deps.enqueue);
    } catch (error) {
      if ((error as { code?: string }).code === '23505') {
        throw failedPrecondition(`the subject of job ${job.id} already has another open job; watch that one instead`, 'SUBJECT_HAS_OPEN_JOB');
      }
      throw error;
    }
    if (!reopened) {
      throw failedPrecondition(`job ${job.id} is ${(await store.get(job.id))!.status}; only FAILED or CANCELLED jobs can be retried`, 'JOB_NOT_RETRYABLE');
    }
    log.info({ job_id: job.id, by: principalName(ctx.principal) }, 'job re-opened for retry');
    kick(job.id);
    return { job: await jobMessage(job.id) };
  });

  return {
    name: DELETION_ORCHESTRATOR,
    definition: DeletionOrchestratorService,
    implementation: { previewTenantDeletion, deleteTenant, deleteUser, watchJob, getJob, listJobs, cancelJob, retryJob },
  };
}
