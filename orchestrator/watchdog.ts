import type { Logger } from 'pino';
import type { OrchestratorConfig } from './config';
import type { JobExecutor } from './executor';
import type { JobStore } from './store';

/** Open jobs looked at per pass; the oldest come first, so none is passed over for ever. */
const SCAN_LIMIT = 200;

/**
 * Keeps jobs moving whatever happened to their runners and queue entries. Each pass:
 * - marks RUNNING jobs with no recorded progress for config.stallAfterMs as stalled (visible in
 *   GetJob/ListJobs) and logs each once, with its trace id — the store marks a job only once, so
 *   several replicas do not repeat it;
 * - tries open jobs, oldest first, while this replica has free run slots: a job whose runner is gone
 *   (its advisory lock is free) is resumed, one held by a live runner is left alone. This also starts
 *   PENDING jobs whose queue entry was lost or taken by a replica that went down mid-outage.
 * PENDING jobs are waiting, not stalled: their wait shows as queue_age_ms instead.
 */
export class Watchdog {
  private timer?: NodeJS.Timeout;
  private passing?: Promise<void>;

  constructor(
    private readonly store: JobStore,
    private readonly executor: JobExecutor,
    private readonly config: OrchestratorConfig,
    private readonly log: Logger,
    /** Whether this replica can run jobs now (orchestrator/readiness.ts). */
    private readonly canRun: () => boolean,
  ) {}

  start(): void {
    this.timer = setInterval(() => void this.pass(), this.config.watchdogIntervalMs);
  }

  /** One pass now (also run when the replica becomes ready again); passes never overlap. */
  pass(): Promise<void> {
    this.passing ??= this.run()
      .catch((error) => this.log.warn({ err: error }, 'watchdog pass failed; trying again next time'))
      .finally(() => (this.passing = undefined));
    return this.passing;
  }

  private async run(): Promise<void> {
    for (const job of await this.store.markStalled(this.config.stallAfterMs)) {
      this.log.warn(
        { job_id: job.id, trace_id: job.trace_id, last_progress_at: job.last_progress_at, runner: job.lease_owner, stall_after_ms: this.config.stallAfterMs },
        'job stalled: no progress recorded',
      );
    }
    if (!this.canRun() || this.executor.freeSlots <= 0) return;
    for (const id of await this.store.openJobs(SCAN_LIMIT)) {
      if (this.executor.freeSlots <= 0) break;
      if (this.executor.isHere(id)) continue;
      this.executor.runIfFree(id).catch((error) => this.log.error({ err: error, job_id: id }, 'resume failed'));
    }
  }

  async stop(): Promise<void> {
    clearInterval(this.timer);
    await this.passing;
  }
}
