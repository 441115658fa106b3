import { status } from '@grpc/grpc-js';
import { context, ROOT_CONTEXT, SpanStatusCode, trace, type Span } from '@opentelemetry/api';
import type { Logger } from 'pino';
import type { PoolClient } from 'pg';
import type { DeleteResult, Subject } from '../gen/bakery/erasure/v1/tenant_data_deletion';
import { Role, TenantStatus, type ListUserMembershipsResponse, type GetTenantAdminsResponse, type DeleteUserMembershipsResponse } from '../gen/bakery/tenant/v1/tenant_service';
import { inTrace } from '../services/kit/tracing';
import { describe, isRetryable, type ServiceClients } from './clients';
import { ALL_SERVICES, type OrchestratorConfig } from './config';
import type { JobEvents, StepState } from './events';
import type { JobLocks } from './job-locks';
import { stepsFor } from './steps';
import { OPEN_STATUSES, type JobRow, type JobStore, type Phase, type StepRow, type StepStatusName } from './store';

const tracer = trace.getTracer('bakery-erasure-orchestrator');

/** Why a run stopped early: the job was cancelled, or this replica lost its claim (or is shutting down). */
type StopReason = 'cancel' | 'lease-lost' | 'shutdown';

/** An error that no retry can fix (the caller's or the data's problem). */
class PermanentError extends Error {}

/** What a run keeps in memory about a step while it works on it. */
interface LiveStep {
  row: StepRow;
  rows: number;
  expected: number | null;
}

export type Enqueue = (client: PoolClient, jobId: string) => Promise<void>;

/**
 * Runs erasure jobs (the saga of DESIGN §5): tenant marked DELETING → domain services in parallel →
 * identity services last → verification that nothing is left. A run holds the job's advisory lock
 * (JobLocks), so a job never runs twice at once; another replica takes over when the holder dies.
 */
export class JobRunner {
  private readonly runs = new Map<string, Promise<'ran' | 'held' | 'closed'>>();
  private readonly stops = new Map<string, AbortController>();
  enqueue: Enqueue = async () => undefined;

  constructor(
    private readonly store: JobStore,
    private readonly clients: ServiceClients,
    private readonly events: JobEvents,
    private readonly config: OrchestratorConfig,
    private readonly log: Logger,
    /** This replica's identity, recorded on the jobs it runs. */
    readonly owner: string,
    private readonly locks: JobLocks,
  ) {
    locks.onLost = () => {
      for (const controller of this.stops.values()) controller.abort('lease-lost' satisfies StopReason);
    };
  }

  /**
   * Runs the job here unless a live runner holds it. Resolves when this replica's run ends, at once
   * with `held` when another runner holds it, or with `closed` when the job is no longer open. Calls
   * for a job already being tried or run here share that one attempt: the advisory lock is re-entrant
   * within this replica's session, so it cannot tell two local callers apart.
   */
  runIfFree(jobId: string): Promise<'ran' | 'held' | 'closed'> {
    const inFlight = this.runs.get(jobId);
    if (inFlight) return inFlight;
    const attempt = this.tryRun(jobId).finally(() => {
      this.runs.delete(jobId);
      this.stops.delete(jobId);
    });
    this.runs.set(jobId, attempt);
    return attempt;
  }

  private async tryRun(jobId: string): Promise<'ran' | 'held' | 'closed'> {
    if (!(await this.locks.tryLock(jobId))) {
      const current = await this.store.get(jobId);
      return current && OPEN_STATUSES.includes(current.status) ? 'held' : 'closed';
    }
    try {
      const job = await this.store.claim(jobId, this.owner, this.config.leaseMs);
      if (!job) return 'closed';
      await this.execute(job);
      return 'ran';
    } finally {
      await this.locks.unlock(jobId);
    }
  }

  /** Stops a local run between chunks (CancelJob on this replica). */
  cancelLocal(jobId: string): void {
    this.stops.get(jobId)?.abort('cancel' satisfies StopReason);
  }

  /** Stops every local run and lets the leases go, so another replica resumes at once. */
  async shutdown(): Promise<void> {
    for (const controller of this.stops.values()) controller.abort('shutdown' satisfies StopReason);
    await Promise.allSettled(this.runs.values());
  }

  get activeRuns(): number {
    return this.runs.size;
  }

  /** Whether the job is still PENDING or RUNNING. */
  isOpen = async (jobId: string): Promise<boolean> => {
    const job = await this.store.get(jobId);
    return !!job && OPEN_STATUSES.includes(job.status);
  };

  private async execute(job: JobRow): Promise<void> {
    const stop = new AbortController();
    this.stops.set(job.id, stop);
    const log = this.log.child({ job_id: job.id, trace_id: job.trace_id });
    const heartbeat = setInterval(() => {
      this.store.heartbeat(job.id, this.owner, this.config.leaseMs).then(
        ({ held, cancelRequested }) => {
          if (!held) stop.abort('lease-lost' satisfies StopReason);
          else if (cancelRequested) stop.abort('cancel' satisfies StopReason);
        },
        (error) => log.warn({ err: error }, 'heartbeat failed'),
      );
    }, Math.max(200, Math.floor(this.config.leaseMs / 3)));
    const unsubscribe = this.events.subscribe(job.id, (event) => {
      if (event.kind === 'cancel') stop.abort('cancel' satisfies StopReason);
    });
    if (job.cancel_requested) stop.abort('cancel' satisfies StopReason);
    try {
      // A fresh root span in the job's own trace: every run of the job, a resumed one too, joins it.
      await inTrace(job.trace_id, () =>
        context.with(ROOT_CONTEXT, () =>
          tracer.startActiveSpan(
            'erasure.job',
            { root: true, attributes: { 'erasure.job.id': job.id, 'erasure.subject_kind': job.subject_kind } },
            async (span) => {
              try {
                await this.saga(job, stop.signal, log);
              } catch (error) {
                span.recordException(error as Error);
                span.setStatus({ code: SpanStatusCode.ERROR, message: (error as Error).message });
                throw error;
              } finally {
                span.end();
              }
            },
          ),
        ),
      );
    } catch (error) {
      log.error({ err: error }, 'job run crashed; it stays open and will be resumed');
    } finally {
      clearInterval(heartbeat);
      unsubscribe();
      await this.store.release(job.id, this.owner).catch(() => undefined);
    }
  }

  private async saga(job: JobRow, signal: AbortSignal, log: Logger): Promise<void> {
    const subject: Subject = job.subject_kind === 'tenant' ? { tenantId: job.subject_id } : { userId: job.subject_id };
    if (job.status === 'PENDING') {
      const now = new Date();
      await this.store.updateJob(job.id, { status: 'RUNNING', started_at: job.started_at ?? now });
      job.status = 'RUNNING';
      await this.announce(job.id, '');
      log.info({ subject_kind: job.subject_kind }, 'job started');
    } else {
      log.info('job resumed');
    }
    const steps = await this.store.steps(job.id);
    const live = new Map<string, LiveStep>(
      steps.map((row) => [row.name, { row, rows: Number(row.rows_deleted), expected: row.expected_rows === null ? null : Number(row.expected_rows) }]),
    );
    const jobRows = () => [...live.values()].reduce((sum, step) => sum + step.rows, 0);

    try {
      if (job.subject_kind === 'tenant') await this.beginTenantDeletion(job, live, signal);
      for (const phase of ['prepare', 'domain', 'identity'] as Phase[]) {
        const todo = steps.filter((step) => step.phase === phase && step.status !== 'SUCCEEDED').map((step) => live.get(step.name)!);
        await inParallel(todo, phase === 'domain' ? this.config.concurrency : 1, (step) =>
          this.runStep(job, step, subject, signal, jobRows),
        );
        if (signal.aborted || [...live.values()].some((step) => step.row.status === 'FAILED')) break;
      }
    } catch (error) {
      if (!signal.aborted) throw error;
    }

    const reason = signal.reason as StopReason | undefined;
    if (reason === 'lease-lost' || reason === 'shutdown') {
      log.warn({ reason }, 'run stopped; the job stays open for another runner');
      return;
    }
    if (reason === 'cancel') {
      for (const step of live.values()) {
        if (step.row.status !== 'SUCCEEDED' && step.row.status !== 'FAILED') {
          await this.setStep(job.id, step, { status: 'CANCELLED', finished_at: new Date() });
        }
      }
      await this.finish(job, 'CANCELLED', 'cancelled by request; work already done stays done', log);
      return;
    }
    const failed = [...live.values()].filter((step) => step.row.status === 'FAILED');
    if (failed.length) {
      await this.finish(job, 'FAILED', failed.map((s) => `${s.row.name}: ${s.row.last_error}`).join('; '), log);
      return;
    }
    const leftovers = await this.verify(subject, signal);
    if (leftovers.length) {
      for (const { service, rows, error } of leftovers) {
        const step = live.get(service);
        if (step) await this.setStep(job.id, step, { status: 'FAILED', last_error: error ?? `verification found ${rows} rows left`, finished_at: new Date() });
      }
      await this.finish(job, 'FAILED', `verification: ${leftovers.map((l) => l.error ?? `${l.service} has ${l.rows} rows left`).join('; ')}`, log);
      return;
    }
    await this.store.updateJob(job.id, { verified_at: new Date() });
    await this.finish(job, 'COMPLETED', '', log);
  }

  private async finish(job: JobRow, final: 'COMPLETED' | 'FAILED' | 'CANCELLED', error: string, log: Logger): Promise<void> {
    await this.store.updateJob(job.id, { status: final, error, finished_at: new Date() });
    trace.getActiveSpan()?.setAttribute('erasure.job.status', final);
    log.info({ status: final, error: error || undefined }, 'job ended');
    await this.events.publish({ kind: 'finished', jobId: job.id });
  }

  /**
   * Tells watchers that a step (or, with '', the job) changed. Not awaited by callers: events go out
   * in order over one connection, and a watcher that misses one still gets the final state.
   */
  private announce(jobId: string, step: string, state?: StepState): Promise<void> {
    return this.events.publish({ kind: 'step', jobId, step, state });
  }

  private async setStep(
    jobId: string,
    step: LiveStep,
    fields: Partial<Pick<StepRow, 'status' | 'attempts' | 'last_error' | 'started_at' | 'finished_at' | 'entities'>> & { expected_rows?: number | null },
  ): Promise<void> {
    Object.assign(step.row, fields);
    if (fields.expected_rows !== undefined) step.expected = fields.expected_rows;
    await this.store.updateStep(jobId, step.row.name, { ...fields, rows_deleted: step.rows });
    step.row.rows_deleted = String(step.rows);
    void this.announce(jobId, step.row.name, {
      name: step.row.name,
      phase: step.row.phase,
      status: step.row.status,
      attempts: step.row.attempts,
      rows: step.rows,
      expected: step.expected,
      lastError: step.row.last_error,
      startedAt: step.row.started_at?.toISOString() ?? null,
      finishedAt: step.row.finished_at?.toISOString() ?? null,
    });
  }

  /** Marks the tenant DELETING (hidden from normal use, subscription cancelled); idempotent. */
  private async beginTenantDeletion(job: JobRow, live: Map<string, LiveStep>, signal: AbortSignal): Promise<void> {
    if (live.get('tenant')?.row.status === 'SUCCEEDED') return; // the tenant row is already gone
    await retrying(this.config, signal, () =>
      this.clients.tenantCall('beginTenantDeletion', { tenantId: job.subject_id }),
    ).catch((error) => {
      if ((error as { code?: number }).code === status.NOT_FOUND) return; // erased earlier; nothing to hide
      throw error;
    });
  }

  /** Runs one step with attempts, backoff and jitter on retryable errors, and its own span. */
  private async runStep(job: JobRow, step: LiveStep, subject: Subject, signal: AbortSignal, jobRows: () => number): Promise<void> {
    await tracer.startActiveSpan(
      'erasure.step',
      { attributes: { 'erasure.job.id': job.id, 'erasure.service': step.row.name, 'erasure.phase': step.row.phase } },
      async (span: Span) => {
        try {
          // The retry budget is per run: RetryJob gives a failed step a fresh budget; `attempts` counts them all.
          for (let attemptThisRun = 1; ; attemptThisRun++) {
            if (signal.aborted) return;
            await this.setStep(job.id, step, { status: 'RUNNING', attempts: step.row.attempts + 1, started_at: step.row.started_at ?? new Date() });
            try {
              await this.attempt(job, step, subject, signal, jobRows);
              await this.setStep(job.id, step, { status: 'SUCCEEDED', last_error: '', finished_at: new Date() });
              return;
            } catch (error) {
              if (signal.aborted) return;
              const message = describe(error);
              const retry = !(error instanceof PermanentError) && isRetryable(error) && attemptThisRun < this.config.maxAttempts;
              this.log.warn({ job_id: job.id, service: step.row.name, attempt: step.row.attempts, error: message, retry }, 'step attempt failed');
              if (!retry) {
                await this.setStep(job.id, step, { status: 'FAILED', last_error: message, finished_at: new Date() });
                span.setStatus({ code: SpanStatusCode.ERROR, message });
                return;
              }
              await this.setStep(job.id, step, { status: 'RETRYING', last_error: message });
              await sleep(backoff(this.config, attemptThisRun), signal);
            }
          }
        } finally {
          span.setAttributes({ 'erasure.rows_deleted': step.rows, 'erasure.attempts': step.row.attempts, 'erasure.step.status': step.row.status });
          span.end();
        }
      },
    );
  }

  private attempt(job: JobRow, step: LiveStep, subject: Subject, signal: AbortSignal, jobRows: () => number): Promise<void> {
    if (step.row.name === 'ownership') return this.resolveOwnership(job, step, signal);
    if (step.row.name === 'memberships') return this.removeMemberships(job, step);
    return this.erase(job, step, subject, signal, jobRows);
  }

  /**
   * One attempt of a service's erasure. The step's count is exact even when an earlier attempt was
   * cut off before it could report its last chunks: rows removed so far = expected − what the
   * service's Preview still finds, plus what this attempt reports; after a repeated attempt, expected
   * − what is left at the end.
   */
  private async erase(job: JobRow, step: LiveStep, subject: Subject, signal: AbortSignal, jobRows: () => number): Promise<void> {
    const service = step.row.name;
    const previewDeadline = Math.min(this.config.attemptDeadlineMs, 15_000);
    const remaining = Number((await this.clients.preview(service, subject, previewDeadline)).totalRows);
    if (step.expected === null) await this.setStep(job.id, step, { expected_rows: remaining });
    const before = step.expected! - remaining;
    step.rows = before;
    const entities: Record<string, { action: number; rows: number; chunks: number }> = structuredClone(step.row.entities ?? {});
    const base = structuredClone(entities);
    let result: DeleteResult | undefined;
    let lastPersist = 0;
    let lastPublish = 0;
    await this.clients.delete(
      service,
      subject,
      job.id,
      this.config.attemptDeadlineMs,
      (message) => {
        if (message.result) result = message.result;
        const chunk = message.chunk;
        if (!chunk) return;
        const previous = base[chunk.entity];
        entities[chunk.entity] = {
          action: chunk.action,
          rows: (previous?.rows ?? 0) + Number(chunk.entityRowsDone),
          chunks: (entities[chunk.entity]?.chunks ?? previous?.chunks ?? 0) + 1,
        };
        step.rows = before + Number(chunk.totalRowsDone);
        step.row.entities = entities;
        const now = Date.now();
        // Watchers get progress at most every 100 ms per step; the database every 500 ms.
        if (now - lastPublish >= 100) {
          lastPublish = now;
          void this.events.publish({
            kind: 'progress',
            jobId: job.id,
            service,
            entity: chunk.entity,
            entityRowsDone: entities[chunk.entity]!.rows,
            stepRowsDone: step.rows,
            stepExpectedRows: step.expected ?? 0,
            jobRowsDone: jobRows(),
          });
        }
        if (now - lastPersist >= 500) {
          lastPersist = now;
          void this.store.updateStep(job.id, service, { rows_deleted: step.rows, entities }).catch(() => undefined);
        }
      },
      signal,
    );
    if (!result) throw new Error(`${service} ended the Delete stream without a result`);
    for (const entity of result.entities) {
      entities[entity.entity] = {
        action: entity.action,
        rows: (base[entity.entity]?.rows ?? 0) + Number(entity.rows),
        chunks: (base[entity.entity]?.chunks ?? 0) + Number(entity.chunks),
      };
    }
    step.rows = before + Number(result.totalRows);
    if (step.row.attempts > 1) {
      // An earlier attempt's call may still have been finishing its last chunk when this one counted
      // what was left (a runner that died mid-step): count against what is left now instead.
      const after = Number((await this.clients.preview(service, subject, previewDeadline)).totalRows);
      step.rows = Math.max(step.rows, step.expected! - after);
    }
    step.row.entities = entities;
    await this.store.updateStep(job.id, service, { rows_deleted: step.rows, entities });
  }

  /**
   * For each tenant the user owns: transfer ownership to another admin where one exists; erase the
   * tenant (a tenant job of its own) where the user is its only member, or where the caller asked to
   * erase owned tenants; otherwise refuse.
   */
  private async resolveOwnership(job: JobRow, step: LiveStep, signal: AbortSignal): Promise<void> {
    const userId = job.subject_id;
    const { memberships } = await this.clients.tenantCall<ListUserMembershipsResponse>('listUserMemberships', { userId });
    let rows = 0;
    for (const membership of memberships.filter((m) => m.role === Role.ROLE_OWNER)) {
      const tenantId = membership.tenantId;
      const erase =
        membership.tenantStatus === TenantStatus.TENANT_STATUS_DELETING ||
        (!membership.otherAdminExists && (membership.memberCount <= 1 || job.options.eraseOwnedTenants));
      if (erase) {
        rows += await this.eraseTenantForUser(job, tenantId, signal);
      } else if (membership.otherAdminExists) {
        const { admins } = await this.clients.tenantCall<GetTenantAdminsResponse>('getTenantAdmins', { tenantId });
        const heir = admins
          .filter((a) => a.role === Role.ROLE_ADMIN && a.userId !== userId)
          .sort((a, b) => (a.joinTime?.getTime() ?? 0) - (b.joinTime?.getTime() ?? 0))[0];
        if (!heir) throw new Error(`tenant ${tenantId}: the other admin is gone; retrying`);
        await this.clients.tenantCall('transferOwnership', { tenantId, newOwnerId: heir.userId, currentOwnerId: userId }).catch((error) => {
          if ((error as { code?: number }).code === status.FAILED_PRECONDITION) throw new PermanentError(describe(error));
          throw error;
        });
        this.log.info({ job_id: job.id, tenant_id: tenantId }, 'ownership transferred to the longest-serving admin');
      } else {
        throw new PermanentError(
          `tenant ${tenantId} has other members but no other admin: transfer its ownership or erase it (erase_owned_tenants) first`,
        );
      }
    }
    step.rows = rows;
  }

  /** Erases a tenant the user owns as a tenant job of its own (attaching to one already open) and waits for it. */
  private async eraseTenantForUser(job: JobRow, tenantId: string, signal: AbortSignal): Promise<number> {
    const { job: child } = await this.store.createOrAttach(
      {
        subjectKind: 'tenant',
        subjectId: tenantId,
        requestedBy: job.requested_by,
        viewers: job.viewers,
        options: {},
        parentJobId: job.id,
        steps: stepsFor('tenant'),
      },
      this.enqueue,
    );
    for (;;) {
      await this.runIfFree(child.id);
      const current = await this.store.get(child.id);
      if (current && !OPEN_STATUSES.includes(current.status)) {
        if (current.status !== 'COMPLETED') throw new PermanentError(`tenant job ${child.id} for tenant ${tenantId} ended ${current.status}: ${current.error}`);
        const steps = await this.store.steps(child.id);
        return steps.reduce((sum, s) => sum + Number(s.rows_deleted), 0);
      }
      await sleep(500, signal);
      if (signal.aborted) throw new Error('stopped');
    }
  }

  private async removeMemberships(job: JobRow, step: LiveStep): Promise<void> {
    const response = await this.clients
      .tenantCall<DeleteUserMembershipsResponse>('deleteUserMemberships', { userId: job.subject_id })
      .catch((error) => {
        if ((error as { code?: number }).code === status.FAILED_PRECONDITION) throw new PermanentError(describe(error));
        throw error;
      });
    step.rows += response.outcomes.length;
  }

  /** Verification: Preview on every service must find nothing left. */
  private async verify(subject: Subject, signal: AbortSignal): Promise<{ service: string; rows: number; error?: string }[]> {
    const results = await Promise.all(
      ALL_SERVICES.map(async (service) => {
        try {
          const response = await retrying(this.config, signal, () => this.clients.preview(service, subject, 15_000));
          return { service, rows: Number(response.totalRows) };
        } catch (error) {
          return { service, rows: -1, error: `verification could not ask ${service}: ${describe(error)}` };
        }
      }),
    );
    return results.filter((r) => r.rows !== 0);
  }
}

/** Exponential backoff with full jitter (AWS architecture blog), capped. */
export function backoff(config: OrchestratorConfig, attempt: number): number {
  const ceiling = Math.min(config.backoffMaxMs, config.backoffBaseMs * 2 ** Math.max(0, attempt - 1));
  return Math.round(ceiling / 2 + Math.random() * (ceiling / 2));
}

async function retrying<T>(config: OrchestratorConfig, signal: AbortSignal, call: () => Promise<T>): Promise<T> {
  for (let attempt = 1; ; attempt++) {
    try {
      return await call();
    } catch (error) {
      if (!isRetryable(error) || attempt >= config.maxAttempts || signal.aborted) throw error;
      await sleep(backoff(config, attempt), signal);
    }
  }
}

function sleep(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    if (signal.aborted) return resolve();
    const timer = setTimeout(done, ms);
    function done() {
      clearTimeout(timer);
      signal.removeEventListener('abort', done);
      resolve();
    }
    signal.addEventListener('abort', done, { once: true });
  });
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

export type { StepStatusName };
