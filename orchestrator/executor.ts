import { setMaxListeners } from 'node:events';
import type { Logger } from 'pino';
import type { ServiceClients } from './clients';
import type { OrchestratorConfig } from './config';
import type { JobEvents } from './events';
import { inJobRun } from './job-trace';
import type { JobJournal } from './journal';
import type { ExportServices } from './export/steps';
import type { JobLocks } from './job-locks';
import type { LegalHolds } from './holds';
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
  /** Run slots in use (config.runningJobs in all), and the runs waiting for one, first come first served. */
  private slotsInUse = 0;
  private readonly slotWaiters: (() => void)[] = [];
  private closing = false;

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
    exports?: ExportServices,
    holds?: LegalHolds,
  ) {
    this.saga = { store, journal, clients, config, log, exports, holds, eraseTenant: (parent, tenantId, signal) => this.eraseTenant(parent, tenantId, signal) };
  }

  /**
   * Runs the job here unless a live runner holds it. Resolves when this replica's run ends, at once
   * with `held` when another runner holds it, or with `closed` when the job is no longer open. Calls
   * for a job already being tried or run here share that one attempt: the advisory lock is re-entrant
   * within this replica's session, so it cannot tell two local callers apart.
   */
  runIfFree(jobId: string, options: { nested?: boolean } = {}): Promise<RunOutcome> {
    const inFlight = this.runs.get(jobId);
    if (inFlight) return inFlight;
    const attempt = this.tryRun(jobId, !options.nested).finally(() => {
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
    this.closing = true;
    this.stopAll('shutdown');
    for (const wake of this.slotWaiters.splice(0)) {
      this.slotsInUse++;
      wake();
    }
    await Promise.allSettled(this.runs.values());
  }

  /** The lock connection dropped: every lock is gone, so every local run stops (the jobs stay open). */
  locksLost(): void {
    this.stopAll('lease-lost');
  }

  get activeRuns(): number {
    return this.runs.size;
  }

  /** Slots no run holds or waits for: how many more jobs this replica may start now. */
  get freeSlots(): number {
    return Math.max(0, this.config.runningJobs - this.slotsInUse - this.slotWaiters.length);
  }

  /** Whether this replica is trying or running the job now. */
  isHere(jobId: string): boolean {
    return this.runs.has(jobId);
  }

  /**
   * Takes a run slot, waiting in arrival order when all are taken: at most config.runningJobs jobs
   * run at once here, so a burst of jobs costs neither more connections nor more memory than those.
   */
  private acquireSlot(): Promise<void> {
    if (this.slotsInUse < this.config.runningJobs && this.slotWaiters.length === 0) {
      this.slotsInUse++;
      return Promise.resolve();
    }
    return new Promise((resolve) => this.slotWaiters.push(resolve));
  }

  private releaseSlot(): void {
    const next = this.slotWaiters.shift();
    // The slot passes straight to the next waiter, so nobody can overtake it.
    if (next && !this.closing) next();
    else this.slotsInUse--;
  }

  /** Whether the job is still PENDING or RUNNING. */
  async isOpen(jobId: string): Promise<boolean> {
    const job = await this.store.get(jobId);
    return !!job && isOpen(job.status);
  }

  private stopAll(reason: StopReason): void {
    for (const controller of this.stops.values()) controller.abort(reason);
  }

  /**
   * A nested run (a tenant job that a running user job waits for) takes no slot: its parent holds
   * one, and parents waiting for slots their children need would wait for ever.
   */
  private async tryRun(jobId: string, useSlot: boolean): Promise<RunOutcome> {
    if (useSlot) await this.acquireSlot();
    try {
      if (this.closing) return 'held';
      if (!(await this.locks.tryLock(jobId))) return (await this.isOpen(jobId)) ? 'held' : 'closed';
      try {
        let job = await this.store.claim(jobId, this.owner, this.config.leaseMs);
        if (!job) return 'closed';
        // A hold placed mid-run stops it between chunks; the next run (at once, still under the lock) reads the holds.
        while ((await this.execute(job)) === 'hold' && (job = await this.store.claim(jobId, this.owner, this.config.leaseMs)));
        return 'ran';
      } finally {
        await this.locks.unlock(jobId);
      }
    } finally {
      if (useSlot) this.releaseSlot();
    }
  }

  /** Runs the job once; returns why the run stopped early, if it did. */
  private async execute(job: JobRow): Promise<StopReason | undefined> {
    const stop = new AbortController();
    // Every call of the run listens to this one signal: a fan-out over the 14 services (each with its
    // retry sleep) is more than Node's default of 10 listeners without being a leak.
    setMaxListeners(64, stop.signal);
    this.stops.set(job.id, stop);
    const log = this.log.child({ job_id: job.id });
    const heartbeat = setInterval(() => {
      this.store.heartbeat(job.id, this.owner, this.config.leaseMs).then(
        ({ held, cancelRequested, holdRequested }) => {
          if (!held) stop.abort('lease-lost' satisfies StopReason);
          else if (cancelRequested) stop.abort('cancel' satisfies StopReason);
          else if (holdRequested) stop.abort('hold' satisfies StopReason);
        },
        (error) => log.warn({ err: error }, 'heartbeat failed'),
      );
    }, Math.max(200, Math.floor(this.config.leaseMs / 3)));
    const unsubscribe = this.events.subscribe(job.id, (event) => {
      if (event.kind === 'cancel') stop.abort('cancel' satisfies StopReason);
      if (event.kind === 'hold') stop.abort('hold' satisfies StopReason);
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
    return stop.signal.reason as StopReason | undefined;
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
      await this.runIfFree(child.id, { nested: true });
      const current = await this.store.get(child.id);
      // Someone else's request for the tenant waits for a second person: this job does not decide for them.
      if (current?.status === 'AWAITING_APPROVAL') {
        throw new NonRetryableError(`tenant job ${child.id} for tenant ${tenantId} awaits approval; approve or reject it, then retry this job`);
      }
      // A tenant job that was SCHEDULED is due now (this request moved its purge to now): the next try claims it.
      if (current && !isOpen(current.status) && current.status !== 'SCHEDULED') {
        if (current.status !== 'COMPLETED') throw new NonRetryableError(`tenant job ${child.id} for tenant ${tenantId} ended ${current.status}: ${current.error}`);
        const steps = await this.store.steps(child.id);
        return steps.reduce((sum, s) => sum + s.rowsDeleted, 0);
      }
      await sleep(500, signal);
      if (signal.aborted) throw new Error('stopped');
    }
  }
}
