import { status } from '@grpc/grpc-js';
import { SpanStatusCode, trace } from '@opentelemetry/api';
import type { Logger } from 'pino';
import type { Subject } from '../gen/bakery/erasure/v1/tenant_data_deletion';
import { count, instruments } from '../services/kit/metrics';
import { ALL_SERVICES } from './config';
import { inSpan } from './job-trace';
import type { JobJournal } from './journal';
import { describeError, withRetry } from './retry';
import { decide, heldParts, type HoldDecision, type LegalHolds } from './holds';
import { STEP_HANDLERS, type StepContext, type StepServices } from './step-handlers';
import { PHASES } from './steps';
import { customerMessage } from '../services/kit/customers';
import type { JobRow, JobStep, JobStore } from './store';

/**
 * Why a run stopped early: the job was cancelled, this replica lost its claim (or is shutting down),
 * or a legal hold was placed on its subject (the run starts again and reads the holds).
 */
export type StopReason = 'cancel' | 'lease-lost' | 'shutdown' | 'hold';

export interface SagaDeps extends StepServices {
  store: JobStore;
  journal: JobJournal;
  /** Legal holds (orchestrator/holds.ts); without them (some tests) nothing is held. */
  holds?: LegalHolds;
}

/**
 * One run of a job's saga: the tenant is marked DELETING (hidden, subscription suspended), then phase
 * by phase — preparation, the domain services in parallel, the identity services last — each step by
 * its handler with retries; then verification that no service still finds the subject. A run stopped
 * by `signal` leaves the job open for the next run, except a cancellation, which ends it.
 */
export async function runSaga(job: JobRow, signal: AbortSignal, sagaDeps: SagaDeps, log: Logger): Promise<void> {
  const deps: SagaDeps = { ...sagaDeps, log };
  const { store, journal, config } = deps;
  const subject = await subjectOf(job, store);
  // Legal holds first, before anything is touched: a whole-subject hold stops the job here.
  const holds = await holdsOf(job, deps);
  if (holds?.whole.length) {
    await journal.onHold(job, holds.whole.map((hold) => hold.id), []);
    log.info({ hold_ids: holds.whole.map((hold) => hold.id) }, 'job on hold: a legal hold covers the whole subject');
    return;
  }
  if (job.status === 'PENDING') {
    await journal.start(job);
    log.info({ subject_kind: job.subject_kind }, 'job started');
  } else {
    log.info('job resumed');
  }
  const steps = await store.steps(job.id);
  const jobRowsDone = () => steps.reduce((sum, step) => sum + step.rowsDeleted, 0);
  // Steps whose Delete may have removed rows nobody reported: an earlier run's attempt that never
  // recorded what it found, and this run's calls sent but not yet heard from.
  const unheard = new Set(steps.filter((step) => step.kind === 'erase-service' && step.attempts > 0 && step.expectedRows === null).map((step) => step.name));

  try {
    // An export job changes nothing in the services: the tenant stays ACTIVE. An erasure with
    // export_first marks it DELETING first, so its archive is the state the erasure starts from.
    if (job.subject_kind === 'tenant' && job.job_kind === 'erasure') await beginTenantDeletion(job, steps, signal, deps);
    for (const phase of PHASES) {
      const todo = steps.filter((step) => step.phase === phase && step.status !== 'SUCCEEDED');
      // The phase's steps start in one write; a step a hold keeps whole is not started at all.
      const starting = todo.filter((step) => !(step.kind === 'erase-service' && holds?.held(step.name)?.scope === 'all'));
      // A phase that runs one step at a time starts each step when its turn comes.
      const parallel = phase === 'domain' || phase === 'export' ? config.concurrency : 1;
      const startedTogether = new Set(parallel >= starting.length && !signal.aborted ? starting : []);
      await journal.startSteps([...startedTogether]);
      await inParallel(todo, parallel, (step) => runStep(job, step, { subject, signal, jobRowsDone, unheard: (yes) => (yes ? unheard.add(step.name) : unheard.delete(step.name)) }, deps, holds, startedTogether.has(step)));
      if (signal.aborted || steps.some((step) => step.status === 'FAILED')) break;
    }
  } catch (error) {
    if (!signal.aborted) throw error;
  }

  const reason = signal.reason as StopReason | undefined;
  if (reason === 'lease-lost' || reason === 'shutdown' || reason === 'hold') {
    log.warn({ reason }, 'run stopped; the job stays open for another runner');
    return;
  }
  if (reason === 'cancel') {
    for (const step of steps) {
      if (step.status !== 'SUCCEEDED' && step.status !== 'FAILED') await journal.recordStep(step, { status: 'CANCELLED', finishedAt: new Date() });
    }
    if (job.subject_kind === 'tenant' && job.job_kind === 'erasure' && untouched(steps, unheard) && (await restoreTenant(job, deps, log))) {
      return finish(job, 'CANCELLED', 'cancelled by request before any row was removed; the tenant is ACTIVE again', deps, log);
    }
    return finish(job, 'CANCELLED', 'cancelled by request; work already done stays done', deps, log);
  }
  const failed = steps.filter((step) => step.status === 'FAILED');
  if (failed.length) return finish(job, 'FAILED', failed.map((s) => `${s.name}: ${s.lastError}`).join('; '), deps, log);

  // An export job's archive was checked by its seal step (orchestrator/export/steps.ts); it erased
  // nothing, so there is nothing to find gone and no erasure verification to record.
  if (job.job_kind === 'export') return finish(job, 'COMPLETED', '', deps, log);
  const { leftovers, held } = await verify(subject, signal, deps, holds);
  if (leftovers.length) {
    for (const { service, rows, error } of leftovers) {
      count(instruments.verificationFailures, 1, { service });
      const step = steps.find((s) => s.name === service);
      if (step) await journal.recordStep(step, { status: 'FAILED', lastError: error ?? `verification found ${rows} rows left`, finishedAt: new Date() });
    }
    return finish(job, 'FAILED', `verification: ${leftovers.map((l) => l.error ?? `${l.service} has ${l.rows} rows left`).join('; ')}`, deps, log);
  }
  // Everything else is erased and verified; the held part waits for the holds' release (orchestrator/holds.ts).
  const heldSteps = steps.filter((step) => step.status === 'ON_HOLD');
  if (holds && heldSteps.length) {
    const parts = heldParts(holds, heldSteps.map((step) => step.name), (service) => held.get(service) ?? 0);
    await journal.onHold(job, [...new Set(parts.map((part) => part.hold_id))], parts);
    log.info({ held: parts.map((part) => ({ hold_id: part.hold_id, service: part.service, rows: part.rows })) }, 'job on hold: the rest is erased and verified');
    return;
  }
  // Verified: recorded with the completion, in its transaction (store.complete).
  job.verified_at = new Date();
  await finish(job, 'COMPLETED', '', deps, log);
}

/**
 * The subject's active legal holds, read at the start of every run (an erasure's; an export is not
 * held), after the run took in any request to stop for a new one.
 */
async function holdsOf(job: JobRow, { holds, store }: SagaDeps): Promise<HoldDecision | undefined> {
  if (!holds) return undefined;
  await store.clearHoldRequest(job.id);
  if (job.job_kind !== 'erasure') return undefined;
  const subject = await holds.subjectOfJob(job);
  const active = subject ? await holds.activeFor(subject) : [];
  return active.length ? decide(active) : undefined;
}

async function finish(job: JobRow, final: 'COMPLETED' | 'FAILED' | 'CANCELLED', error: string, { journal }: SagaDeps, log: Logger): Promise<void> {
  trace.getActiveSpan()?.setAttribute('erasure.job.status', final);
  await journal.finish(job, final, error);
  log.info({ status: final, error: error || undefined }, 'job ended');
}

/**
 * Whether no service can have removed a row of the job's subject: no step reported a row, none found
 * rows to remove (a Delete opens with what it found; a step records it), and no Delete that reached
 * its service is still unheard from (`unheard`): one cut off by the cancellation before it said what
 * it found may have committed a chunk nobody reported, so it counts as touching them.
 */
export function untouched(steps: JobStep[], unheard: ReadonlySet<string>): boolean {
  // Export steps (export_first) read rows; they remove none.
  return steps
    .filter((step) => step.kind === 'erase-service' || step.kind === 'resolve-ownership' || step.kind === 'remove-memberships')
    .every((step) => step.rowsDeleted === 0 && (step.expectedRows === null || step.expectedRows === 0) && !unheard.has(step.name));
}

/** Returns a tenant whose job was cancelled before any row was removed to ACTIVE; false when that failed. */
async function restoreTenant(job: JobRow, { clients, config }: SagaDeps, log: Logger): Promise<boolean> {
  // The run's own signal is aborted (that is the cancellation): the restore gets its own bounded retries.
  const bounded = AbortSignal.timeout(30_000);
  try {
    await withRetry(config.retry, bounded, () => clients.tenantCall('cancelTenantDeletion', { tenantId: job.subject_id }));
    log.info({ tenant_id: job.subject_id }, 'cancelled before any row was removed: tenant ACTIVE again');
    return true;
  } catch (error) {
    log.warn({ tenant_id: job.subject_id, error: describeError(error) }, 'could not return the tenant to ACTIVE; it stays DELETING');
    return false;
  }
}

/** Marks the tenant DELETING (hidden from normal use, subscription suspended); idempotent. */
async function beginTenantDeletion(job: JobRow, steps: JobStep[], signal: AbortSignal, { clients, config }: SagaDeps): Promise<void> {
  if (steps.find((step) => step.name === 'tenant')?.status === 'SUCCEEDED') return; // the tenant row is already gone
  await withRetry(config.retry, signal, () => clients.tenantCall('beginTenantDeletion', { tenantId: job.subject_id })).catch((error) => {
    if ((error as { code?: number }).code === status.NOT_FOUND) return; // erased earlier; nothing to hide
    throw error;
  });
}

/**
 * Runs one step by the handler of its kind, with the retry policy and its own span. The retry budget
 * (time) is per run: a resumed run or RetryJob gives a step a fresh budget; `attempts` counts them all.
 */
function runStep(job: JobRow, step: JobStep, attempt: Omit<StepContext, 'job' | 'step' | 'heldEntities'>, deps: SagaDeps, holds?: HoldDecision, started = false): Promise<void> {
  const { journal, config, log } = deps;
  const { signal } = attempt;
  const handler = STEP_HANDLERS[step.kind];
  // A held service is not asked at all; one with held entities erases the rest and then waits ON_HOLD.
  const held = step.kind === 'erase-service' ? holds?.held(step.name) : undefined;
  return inSpan('erasure.step', { 'erasure.job.id': job.id, 'erasure.service': step.name, 'erasure.phase': step.phase }, async (span) => {
    try {
      if (signal.aborted) return;
      if (held?.scope === 'all') {
        await journal.recordStep(step, { status: 'ON_HOLD', lastError: '', nextAttemptAt: null });
        return;
      }
      const heldEntities = held ? (held.scope as string[]) : undefined;
      await withRetry(config.retry, signal, () => handler({ ...attempt, job, step, heldEntities }, deps), {
        // The first attempt of a step its phase started (journal.startSteps) is already recorded.
        onAttempt: (attempt) => (attempt === 1 && started ? undefined : journal.recordStep(step, { status: 'RUNNING', attempts: step.attempts + 1, startedAt: step.startedAt ?? new Date(), nextAttemptAt: null })),
        onRetry: async (error, _attempt, delayMs, nextAttemptAt) => {
          const message = describeError(error);
          log.warn({ service: step.name, attempt: step.attempts, error: message, retry: true, retry_in_ms: delayMs }, 'step attempt failed');
          await journal.recordStep(step, { status: 'RETRYING', lastError: message, nextAttemptAt });
        },
      });
      // The step's end carries its counts: one write.
      const counts = { rowsDeleted: step.rowsDeleted, expectedRows: step.expectedRows, entities: step.entities, policyFingerprint: step.policyFingerprint ?? undefined };
      await journal.recordStep(step, held ? { ...counts, status: 'ON_HOLD', lastError: '', nextAttemptAt: null } : { ...counts, status: 'SUCCEEDED', lastError: '', finishedAt: new Date(), nextAttemptAt: null });
    } catch (error) {
      if (signal.aborted) return;
      const message = describeError(error);
      log.warn({ service: step.name, attempt: step.attempts, error: message, retry: false }, 'step attempt failed');
      await journal.recordStep(step, { status: 'FAILED', lastError: message, finishedAt: new Date(), nextAttemptAt: null });
      span.setStatus({ code: SpanStatusCode.ERROR, message });
    } finally {
      span.setAttributes({ 'erasure.rows_deleted': step.rowsDeleted, 'erasure.attempts': step.attempts, 'erasure.step.status': step.status });
    }
  });
}

/**
 * Verification: Preview on every service must find nothing left but what legal holds keep: a held
 * service is only counted (its rows are the held part), one with held entities must have nothing
 * left outside them. Returns the leftovers and the rows held per service.
 */
async function verify(
  subject: Subject,
  signal: AbortSignal,
  { clients, config }: SagaDeps,
  holds?: HoldDecision,
): Promise<{ leftovers: { service: string; rows: number; error?: string }[]; held: Map<string, number> }> {
  // One span with the number of services asked, so the bench can show no target is met by asking fewer.
  const results = await inSpan('erasure.verify', { 'erasure.verify.calls': ALL_SERVICES.length }, () => Promise.all(
    ALL_SERVICES.map(async (service) => {
      const held = holds?.held(service);
      try {
        const response = await withRetry(config.retry, signal, () => clients.preview(service, subject, 15_000, held && held.scope !== 'all' ? held.scope : []));
        if (held?.scope === 'all') return { service, rows: 0, held: Number(response.totalRows) };
        return { service, rows: Number(response.totalRows), held: Number(response.heldRows) };
      } catch (error) {
        return { service, rows: -1, held: 0, error: `verification could not ask ${service}: ${describeError(error)}` };
      }
    }),
  ));
  return { leftovers: results.filter((r) => r.rows !== 0), held: new Map(results.map((r) => [r.service, r.held])) };
}

/**
 * The subject as the services are sent it. A customer's identifier is read from its encrypted copy on
 * the job row (orchestrator/customers.ts), also on a resumed run; a job without one cannot run.
 */
async function subjectOf(job: JobRow, store: JobStore): Promise<Subject> {
  if (job.subject_kind === 'tenant') return { tenantId: job.subject_id };
  if (job.subject_kind === 'user') return { userId: job.subject_id };
  const key = await store.customerSubject(job.id);
  if (!key) throw new Error(`job ${job.id}: the customer's identifier is no longer held (the job ended); request a new DeleteCustomer`);
  return { customer: customerMessage(key) };
}

/** Runs `work` over `items` with at most `limit` at once. */
async function inParallel<T>(items: T[], limit: number, work: (item: T) => Promise<void>): Promise<void> {
  const queue = [...items];
  await Promise.all(
    Array.from({ length: Math.min(limit, queue.length) }, async () => {
      for (let item = queue.shift(); item !== undefined; item = queue.shift()) await work(item);
    }),
  );
}
