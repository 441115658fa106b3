/**
 * Everything the `erasure` CLI shows a person, as pure functions of the data (tests check them):
 * progress bars per service, the summary table, previews, job lists. Nothing here writes or reads.
 */
import { JobStatus, StepStatus, type Job, type JobEvent, type ListJobsResponse, type PreviewTenantDeletionResponse, type Step } from '../gen/bakery/erasure/v1/deletion_orchestrator';
import { EntityAction } from '../gen/bakery/erasure/v1/tenant_data_deletion';
import { TenantStatus, type TenantSummary } from '../gen/bakery/tenant/v1/tenant_service';

/** 1234567 → `1,234,567`. */
export function formatCount(value: number | string): string {
  const n = typeof value === 'string' ? Number(value) : value;
  return Number.isFinite(n) ? Math.round(n).toLocaleString('en-US') : String(value);
}

/** 850 → `850 ms`, 1234 → `1.2 s`, 125000 → `2 min 5 s`. */
export function formatDuration(ms: number): string {
  if (!Number.isFinite(ms) || ms < 0) return '-';
  if (ms < 1000) return `${Math.round(ms)} ms`;
  if (ms < 60_000) return `${(ms / 1000).toFixed(1)} s`;
  const minutes = Math.floor(ms / 60_000);
  return `${minutes} min ${Math.round((ms % 60_000) / 1000)} s`;
}

/** `JOB_STATUS_COMPLETED` → `COMPLETED`. */
export const jobStatusName = (status: JobStatus): string => (JobStatus[status] ?? 'UNKNOWN').replace(/^JOB_STATUS_/, '');
export const stepStatusName = (status: StepStatus): string => (StepStatus[status] ?? 'UNKNOWN').replace(/^STEP_STATUS_/, '');
export const actionName = (action: EntityAction): string => (EntityAction[action] ?? 'UNKNOWN').replace(/^ENTITY_ACTION_/, '').toLowerCase();

export const isFinished = (status: JobStatus): boolean =>
  status === JobStatus.JOB_STATUS_COMPLETED ||
  status === JobStatus.JOB_STATUS_FAILED ||
  status === JobStatus.JOB_STATUS_CANCELLED ||
  status === JobStatus.JOB_STATUS_REJECTED;

/** A bar of `width` cells filled in proportion to done/expected (full when expected is 0 and the step is done). */
export function bar(done: number, expected: number, width = 24, complete = false): string {
  const ratio = expected > 0 ? Math.min(1, Math.max(0, done / expected)) : complete ? 1 : 0;
  const filled = Math.round(ratio * width);
  return `${'█'.repeat(filled)}${'░'.repeat(width - filled)}`;
}

/** The time a step has taken: until its end, or until `now` while it runs. */
export function stepDurationMs(step: Step, now: number): number | undefined {
  if (!step.startTime) return undefined;
  const end = step.endTime ? step.endTime.getTime() : now;
  return Math.max(0, end - step.startTime.getTime());
}

/** A text table: header row, columns padded to the widest cell; columns named in `right` align right. */
export function table(headers: string[], rows: string[][], right: number[] = []): string {
  const widths = headers.map((header, i) => Math.max(header.length, ...rows.map((row) => (row[i] ?? '').length)));
  const line = (cells: string[]) =>
    cells
      .map((cell, i) => (right.includes(i) ? cell.padStart(widths[i]!) : i === cells.length - 1 ? cell : cell.padEnd(widths[i]!)))
      .join('  ')
      .trimEnd();
  return [line(headers), ...rows.map(line)].join('\n');
}

/**
 * One line per step: name, bar, percent, rows removed against expected, status, and the attempt when
 * it is not the first. `now` makes running durations deterministic in tests.
 */
export function progressLines(job: Job, options: { barWidth?: number; now?: number } = {}): string[] {
  const width = Math.max(8, ...job.steps.map((step) => step.service.length));
  const barWidth = options.barWidth ?? 24;
  const now = options.now ?? Date.now();
  const counts = job.steps.map((step) => `${formatCount(step.rowsDeleted)} / ${Number(step.expectedRows) > 0 ? formatCount(step.expectedRows) : '?'}`);
  const countWidth = Math.max(...counts.map((count) => count.length));
  return job.steps.map((step, i) => {
    const done = Number(step.rowsDeleted);
    const expected = Number(step.expectedRows);
    const succeeded = step.status === StepStatus.STEP_STATUS_SUCCEEDED;
    const percent = expected > 0 ? Math.min(100, Math.floor((done / expected) * 100)) : succeeded ? 100 : 0;
    const status = stepStatusName(step.status);
    const extra: string[] = [];
    if (step.attempts > 1) extra.push(`attempt ${step.attempts}`);
    const duration = stepDurationMs(step, now);
    if (duration !== undefined && step.status !== StepStatus.STEP_STATUS_PENDING) extra.push(formatDuration(duration));
    if (step.lastError && step.status !== StepStatus.STEP_STATUS_SUCCEEDED) extra.push(step.lastError);
    if (step.status === StepStatus.STEP_STATUS_RETRYING && step.nextAttemptTime) extra.push(nextAttemptIn(step.nextAttemptTime, now));
    return `${step.service.padEnd(width)}  ${bar(done, expected, barWidth, succeeded)} ${String(percent).padStart(3)}%  ${counts[i]!.padStart(countWidth)}  ${status.padEnd(9)}${extra.length ? `  ${extra.join(', ')}` : ''}`.trimEnd();
  });
}

/** When a waiting step tries again: `next attempt in 12 s`. */
function nextAttemptIn(at: Date, now: number): string {
  return `next attempt in ${formatDuration(Math.max(0, at.getTime() - now))}`;
}

/** The job's headline while it runs: `job <id> RUNNING — 61,200 / 100,000 rows` (`, STALLED` when the watchdog marked it). */
export function progressHeader(job: Job): string {
  const expected = Number(job.expectedRows);
  return `job ${job.id} ${jobStatusName(job.status)}${job.stalled ? ', STALLED' : ''} — ${formatCount(job.totalRowsDeleted)}${expected > 0 ? ` / ${formatCount(expected)}` : ''} rows`;
}

/** One line for a step change, for output that is not a terminal (logs, CI): no redrawn bars. */
export function stepChangeLine(step: Step, now = Date.now()): string {
  const duration = stepDurationMs(step, now);
  const expected = Number(step.expectedRows);
  const parts: string[] = [];
  if (step.status === StepStatus.STEP_STATUS_RUNNING || step.status === StepStatus.STEP_STATUS_RETRYING) {
    if (expected > 0) parts.push(`${formatCount(expected)} rows expected`);
    if (step.attempts > 1) parts.push(`attempt ${step.attempts}`);
  } else {
    parts.push(`${formatCount(step.rowsDeleted)} rows`);
    if (step.attempts > 1) parts.push(`${step.attempts} attempts`);
    if (duration !== undefined && step.endTime) parts.push(formatDuration(duration));
  }
  if (step.lastError && step.status !== StepStatus.STEP_STATUS_SUCCEEDED) parts.push(step.lastError);
  if (step.status === StepStatus.STEP_STATUS_RETRYING && step.nextAttemptTime) parts.push(nextAttemptIn(step.nextAttemptTime, now));
  return `${step.service}: ${stepStatusName(step.status)}${parts.length ? ` (${parts.join(', ')})` : ''}`;
}

/** The Jaeger page of a trace (`JAEGER_UI_URL`, default http://localhost:16686). */
export function jaegerUrl(traceId: string, env: Record<string, string | undefined> = {}): string {
  return `${(env.JAEGER_UI_URL || 'http://localhost:16686').replace(/\/+$/, '')}/trace/${traceId}`;
}

/** `tenant 8d1c…` or `user 3a4b…`. */
export function subjectLabel(job: Pick<Job, 'subject' | 'customer'>): string {
  if (job.subject?.tenantId) return `tenant ${job.subject.tenantId}`;
  if (job.subject?.userId) return `user ${job.subject.userId}`;
  // A customer is shown as the job keeps it: tenant, kind of identifier, keyed hash.
  if (job.customer) return `customer of tenant ${job.customer.tenantId} by ${job.customer.identifierKind} ${job.customer.subjectRef.slice(0, 24)}…`;
  return 'unknown subject';
}

/** The summary after a job: per step rows, attempts and duration, a total, the trace and its Jaeger link. */
export function summary(job: Job, env: Record<string, string | undefined> = {}, now = Date.now()): string {
  const rows = job.steps.map((step) => {
    const duration = stepDurationMs(step, now);
    return [step.service, stepStatusName(step.status), formatCount(step.rowsDeleted), String(step.attempts), duration === undefined ? '-' : formatDuration(duration)];
  });
  const jobDuration = Number(job.durationMs) || (job.startTime ? (job.endTime?.getTime() ?? now) - job.startTime.getTime() : 0);
  rows.push(['total', jobStatusName(job.status), formatCount(job.totalRowsDeleted), String(job.steps.reduce((sum, step) => sum + step.attempts, 0)), formatDuration(jobDuration)]);
  const lines = [
    table(['service', 'status', 'rows', 'attempts', 'duration'], rows, [2, 3, 4]),
    '',
    `job      ${job.id} ${jobStatusName(job.status)} (${subjectLabel(job)})`,
  ];
  if (job.verifiedTime) lines.push(`verified ${job.verifiedTime.toISOString()}: every service previews zero rows`);
  if (job.error) lines.push(`error    ${job.error}`);
  if (job.traceId) lines.push(`trace    ${job.traceId}`, `jaeger   ${jaegerUrl(job.traceId, env)}`);
  return lines.join('\n');
}

/** The preview of a tenant's erasure: per service the rows and what happens to each entity. */
/** A tenant preview, or a customer's (`subject` names whom: `tenant <id>` by default). */
export function previewTable(preview: Pick<PreviewTenantDeletionResponse, 'services' | 'totalRows' | 'unreachableServices'> & { tenantId?: string }, subject = `tenant ${preview.tenantId ?? ''}`): string {
  const rows = preview.services.map((service) => {
    if (!service.reachable) return [service.service, 'unreachable', service.error];
    const entities = service.entities
      .filter((entity) => Number(entity.rowCount) > 0 || Number(entity.retainedRowCount) > 0)
      .map((entity) => {
        const action = actionName(entity.action);
        const retained = Number(entity.retainedRowCount) > 0 ? `, ${formatCount(entity.retainedRowCount)} retained` : '';
        return `${entity.entity} ${formatCount(entity.rowCount)}${action === 'delete' ? '' : ` (${action}${retained})`}`;
      });
    return [service.service, formatCount(service.totalRows), entities.join(', ') || '-'];
  });
  const lines = [
    `${subject}: ${formatCount(preview.totalRows)} rows would be removed or anonymized`,
    '',
    table(['service', 'rows', 'entities'], rows, [1]),
  ];
  if (preview.unreachableServices.length) lines.push('', `unreachable (counts unknown, not zero): ${preview.unreachableServices.join(', ')}`);
  const retained = preview.services.flatMap((service) =>
    service.entities.filter((entity) => entity.retainReason).map((entity) => `  ${service.service}.${entity.entity}: ${entity.retainReason}`),
  );
  if (retained.length) lines.push('', 'kept for a legal reason (personal fields anonymized):', ...retained);
  return lines.join('\n');
}

/** The job list: newest first, one line per job. */
export function jobsTable(response: ListJobsResponse): string {
  if (response.jobs.length === 0) return 'no jobs';
  const rows = response.jobs.map((job) => [
    job.id,
    job.subject?.tenantId ? 'tenant' : job.customer ? 'customer' : 'user',
    job.subject?.tenantId ?? job.subject?.userId ?? (job.customer ? `${job.customer.tenantId} (${job.customer.identifierKind})` : ''),
    jobStatusName(job.status),
    formatCount(job.totalRowsDeleted),
    job.createTime ? job.createTime.toISOString().replace('T', ' ').slice(0, 19) : '-',
    job.purgeTime ? job.purgeTime.toISOString().replace('T', ' ').slice(0, 19) : '-',
    job.dueTime ? job.dueTime.toISOString().replace('T', ' ').slice(0, 19) : '-',
    Number(job.durationMs) > 0 ? formatDuration(Number(job.durationMs)) : '-',
  ]);
  const lines = [table(['job', 'kind', 'subject', 'status', 'rows', 'created (UTC)', 'purge (UTC)', 'due (UTC)', 'duration'], rows, [4])];
  if (response.nextPageToken) lines.push('', `more: --page-token ${response.nextPageToken}`);
  return lines.join('\n');
}

/** A SCHEDULED job in one line: when it purges and how to undo it. */
export function scheduledLine(job: Job): string {
  const undo = job.subject?.tenantId ? `npx erasure restore ${job.subject.tenantId}` : `npx erasure restore --user ${job.subject?.userId ?? ''}`;
  return `job ${job.id} SCHEDULED: purge at ${job.purgeTime?.toISOString() ?? '-'} (due ${job.dueTime?.toISOString() ?? '-'}); nothing is deleted before then (undo: ${undo})`;
}

/** A job AWAITING_APPROVAL in one line: nothing happens until a second person approves or rejects it. */
export function awaitingLine(job: Job): string {
  return (
    `job ${job.id} AWAITING_APPROVAL (due ${job.dueTime?.toISOString() ?? '-'}): nothing is hidden or deleted until a second ` +
    `authorized person runs \`npx erasure approve ${job.id}\` (or \`npx erasure reject ${job.id} --reason …\`)`
  );
}

/** One job in full: headline, steps with their entities, errors, trace. */
export function jobDetail(job: Job, env: Record<string, string | undefined> = {}, now = Date.now()): string {
  const lines = [
    `job          ${job.id}`,
    `subject      ${subjectLabel(job)}`,
    `status       ${jobStatusName(job.status)}`,
    `requested by ${job.requestedBy}${job.requestId ? ` (request id ${job.requestId})` : ''}`,
  ];
  if (job.parentJobId) lines.push(`parent job   ${job.parentJobId}`);
  if (job.createTime) lines.push(`created      ${job.createTime.toISOString()}`);
  if (job.receivedTime) lines.push(`received     ${job.receivedTime.toISOString()}`);
  if (job.dueTime) lines.push(`due          ${job.dueTime.toISOString()}${job.originalDueTime ? ` (extended from ${job.originalDueTime.toISOString()})` : ''}`);
  if (job.approvalRequired) lines.push(`approval     ${job.approvedBy ? `${job.status === JobStatus.JOB_STATUS_REJECTED ? 'rejected' : 'approved'} by ${job.approvedBy} at ${job.approveTime?.toISOString() ?? '-'}` : 'awaiting a second person'}`);
  if (job.purgeTime) lines.push(`purge        ${job.purgeTime.toISOString()}${job.status === JobStatus.JOB_STATUS_SCHEDULED ? ' (grace period: nothing deleted yet)' : ''}`);
  lines.push(`rows         ${formatCount(job.totalRowsDeleted)}${Number(job.expectedRows) > 0 ? ` of ${formatCount(job.expectedRows)} expected` : ''}`);
  lines.push('', summary(job, env, now));
  const entities = job.steps.flatMap((step) =>
    step.entities.map((entity) => [step.service, entity.entity, actionName(entity.action), formatCount(entity.rows), formatCount(entity.chunks)]),
  );
  if (entities.length) lines.push('', table(['service', 'entity', 'action', 'rows', 'chunks'], entities, [3, 4]));
  // Legal holds: what they keep (orchestrator/holds.ts); a whole-subject hold names no service.
  if (job.holdIds.length) lines.push('', `legal holds  ${job.holdIds.join(', ')}${job.status === JobStatus.JOB_STATUS_ON_HOLD ? ' (ON_HOLD: resumes when released; erasure hold list)' : ''}`);
  const held = job.held.map((part) => [part.holdId, part.service, part.entities.join(', ') || 'all', formatCount(part.rows), part.reason]);
  if (held.length) lines.push('', table(['hold', 'service', 'entities', 'rows held', 'reason'], held, [3]));
  return lines.join('\n');
}

/** The tenant list. */
export function tenantsTable(tenants: TenantSummary[], nextPageToken = ''): string {
  if (tenants.length === 0) return 'no tenants (create one with: npx erasure seed)';
  const rows = tenants.map(({ tenant, memberCount }) => [
    tenant!.id,
    tenant!.name,
    (TenantStatus[tenant!.status] ?? 'UNKNOWN').replace(/^TENANT_STATUS_/, ''),
    String(memberCount),
    tenant!.ownerId,
    tenant!.createTime ? tenant!.createTime.toISOString().replace('T', ' ').slice(0, 19) : '-',
  ]);
  const lines = [table(['tenant', 'name', 'status', 'members', 'owner', 'created (UTC)'], rows, [3])];
  if (nextPageToken) lines.push('', `more: --page-token ${nextPageToken}`);
  return lines.join('\n');
}

/**
 * Applies one event of a job stream to the job as known so far: a snapshot or the final state replaces
 * it, a step update replaces that step, a progress message advances the step's and the job's counts.
 */
export function applyJobEvent(job: Job | undefined, event: JobEvent): Job | undefined {
  if (event.snapshot) return event.snapshot;
  if (event.finished) return event.finished;
  if (!job) return job;
  if (event.stepUpdate?.step) {
    const updated = event.stepUpdate.step;
    const known = job.steps.some((step) => step.service === updated.service);
    const steps = known ? job.steps.map((step) => (step.service === updated.service ? updated : step)) : [...job.steps, updated];
    return { ...job, status: event.stepUpdate.jobStatus || job.status, steps, ...totals(steps) };
  }
  if (event.progress) {
    const progress = event.progress;
    const steps = job.steps.map((step) =>
      step.service === progress.service
        ? { ...step, rowsDeleted: progress.stepRowsDone, expectedRows: Number(progress.stepExpectedRows) > 0 ? progress.stepExpectedRows : step.expectedRows }
        : step,
    );
    return { ...job, steps, ...totals(steps), totalRowsDeleted: progress.jobRowsDone };
  }
  return job;
}

function totals(steps: Step[]): Pick<Job, 'totalRowsDeleted' | 'expectedRows'> {
  return {
    totalRowsDeleted: String(steps.reduce((sum, step) => sum + Number(step.rowsDeleted), 0)),
    expectedRows: String(steps.reduce((sum, step) => sum + Number(step.expectedRows), 0)),
  };
}
