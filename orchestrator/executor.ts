import type { Logger } from 'pino';
import type { ServiceClients } from './clients';
import type { OrchestratorConfig } from './config';
import type { JobEvents } from './events';
import { inJobRun } from './job-trace';
import type { JobJournal } from './journal';
import type { JobLocks } from './job-locks';
import { NonRetryableError } from './retry';
import { runSaga, type SagaDeps, type StopReason } from './saga';
import { sleep } from '../services/kit/sleep';
import { stepsFor } from './steps';
import { isOpen, type JobRow, type JobStore } from './store';

export type RunOutcome = 'ran' | 'held' | 'closed';

/**
 * Runs jobs on this replica, the saga's worker: a run holds the job's advisory lock (JobLocks), so a
 * job never runs twice at once, and another replica takes over the moment the holder dies; it keeps
 * a lease with a heartbeat, which shows who runs the job and carries cancellation requests; and it
 * stops between chunks for a cancellation, a lost lock, or shutdown.
 */
export class JobExecutor {
  private readonly runs = new Map<string, Promise<RunOutcome>>();
  private readonly stops = new Map<string, AbortController>();
  private readonly saga: SagaDeps;

  constructor(
    private readonly store: JobStore,
    private readonly locks: JobLocks,
    private readonly events: JobEvents,
    journal: JobJournal,
    clients: ServiceClients,
    private readonly config: OrchestratorConfig,
    private readonly log: Logger,
    /** This replica's identity, recorded on the jobs it runs. */
    readonly owner: string,
  ) {
    this.saga = { store, journal, clients, config, log, eraseTenant: (parent, tenantId, signal) => this.eraseTenant(parent, tenantId, signal) };
    locks.onLost = () => this.stopAll('lease-lost');
  }

  /**
   * Runs the job here unless a live runner holds it. Resolves when this replica's run ends, at once
   * with `held` when another runner holds it, or with `closed` when the job is no longer open. Calls
   * for a job already being tried or run here share that one attempt: the advisory lock is re-entrant
   * within this replica's session, so it cannot tell two local callers apart.
   */
  runIfFree(jobId: string): Promise<RunOutcome> {
    const inFlight = this.runs.get(jobId);
    if (inFlight) return inFlight;
    const attempt = this.tryRun(jobId).finally(() => {
      this.runs.delete(jobId);
      this.stops.delete(jobId);
    });
    this.runs.set(jobId, attempt);
    return attempt;
  }

  /**
   * The queue's work on a job entry: run it if free; throw while the job stays open (held elsewhere,
   * or this run stopped early), so the queue looks at it again later.
   */
  async runQueued(jobId: string): Promise<void> {
    const outcome = await this.runIfFree(jobId);
    if (outcome === 'held') throw new Error('job is running elsewhere; checking again later');
    if (outcome === 'ran' && (await this.isOpen(jobId))) throw new Error('job still open');
  }

  /** Stops a local run between chunks (CancelJob on this replica). */
  cancelLocal(jobId: string): void {
    this.stops.get(jobId)?.abort('cancel' satisfies StopReason);
  }

  /** Stops every local run and lets the leases go, so another replica resumes at once. */
  async shutdown(): Promise<void> {
    this.stopAll('shutdown');
    await Promise.allSettled(this.runs.values());
  }

  get activeRuns(): number {
    return this.runs.size;
  }

  /** Whether the job is still PENDING or RUNNING. */
  async isOpen(jobId: string): Promise<boolean> {
    const job = await this.store.get(jobId);
    return !!job && isOpen(job.status);
  }

  private stopAll(reason: StopReason): void {
    for (const controller of this.stops.values()) controller.abort(reason);
  }

  private async tryRun(jobId: string): Promise<RunOutcome> {
    if (!(await this.locks.tryLock(jobId))) return (await this.isOpen(jobId)) ? 'held' : 'closed';
    try {
      const job = await this.store.claim(jobId, this.owner, this.config.leaseMs);
      if (!job) return 'closed';
      await this.execute(job);
      return 'ran';
    } finally {
      await this.locks.unlock(jobId);
    }
  }

  private async execute(job: JobRow): Promise<void> {
    const stop = new AbortController();
    this.stops.set(job.id, stop);
    const log = this.log.child({ job_id: job.id });
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
      // Every run, a resumed one too, is a child of the job's root span: one job, one trace.
      await inJobRun(job, { 'erasure.subject_kind': job.subject_kind, 'erasure.run.resumed': job.status !== 'PENDING' }, () =>
        runSaga(job, stop.signal, this.saga, log),
      );
    } catch (error) {
      log.error({ err: error }, 'job run crashed; it stays open and will be resumed');
    } finally {
      clearInterval(heartbeat);
      unsubscribe();
      await this.store.release(job.id, this.owner).catch(() => undefined);
    }
  }

  /** Erases a tenant a user owns as a tenant job of its own (attaching to one already open) and waits for it. */
  private async eraseTenant(parent: JobRow, tenantId: string, signal: AbortSignal): Promise<number> {
    const { job: child } = await this.store.createOrAttach({
      subjectKind: 'tenant',
      subjectId: tenantId,
      requestedBy: parent.requested_by,
      viewers: parent.viewers,
      options: {},
      parentJobId: parent.id,
      steps: stepsFor('tenant'),
    });
    for (;;) {
      await this.runIfFree(child.id);
      const current = await this.store.get(child.id);
      if (current && !isOpen(current.status)) {
        if (current.status !== 'COMPLETED') throw new NonRetryableError(`tenant job ${child.id} for tenant ${tenantId} ended ${current.status}: ${current.error}`);
        const steps = await this.store.steps(child.id);
        return steps.reduce((sum, s) => sum + s.rowsDeleted, 0);
      }
      await sleep(500, signal);
      if (signal.aborted) throw new Error('stopped');
    }
  }
}
