import PgBoss from 'pg-boss';
import type { Logger } from 'pino';
import type { PoolClient } from 'pg';
import type { JobQueue } from './store';

const QUEUE = 'erasure-job';
/** How often a queued job that is still running elsewhere (or waiting for a lease to lapse) is looked at again. */
const RECHECK_SECONDS = 3;

/**
 * The durable queue (pg-boss). Every job is queued in the same transaction that records
 * it. The replica that accepted a request usually runs the job at once; the queue entry is what makes
 * the job survive that replica: a worker on any replica picks the entry up, and either finds the job
 * done (entry completes), held by a live runner (entry is retried a little later), or orphaned — its
 * runner's lease lapsed after a crash — and resumes it.
 */
export class ErasureQueue implements JobQueue {
  private boss?: PgBoss;

  constructor(
    private readonly url: string,
    private readonly log: Logger,
  ) {}

  /** Starts the queue so jobs can be enqueued; nothing is worked on until `work`. */
  async start(): Promise<void> {
    const boss = new PgBoss({ connectionString: this.url, schema: 'pgboss', max: 3, application_name: 'erasure-orchestrator' });
    boss.on('error', (error) => this.log.warn({ err: error }, 'queue error'));
    await boss.start();
    await boss.createQueue(QUEUE, {
      name: QUEUE,
      policy: 'standard',
      retryLimit: 1_000_000,
      retryDelay: RECHECK_SECONDS,
      retryBackoff: false,
      expireInSeconds: 15 * 60,
    });
    this.boss = boss;
  }

  /**
   * Works on queued jobs: `run` resolves when the job is done with, and throws while it stays open
   * (held by a live runner elsewhere, or this run stopped early), so the entry is looked at again later.
   */
  async work(run: (jobId: string) => Promise<void>): Promise<void> {
    if (!this.boss) throw new Error('queue not started');
    await this.boss.work<{ jobId: string }>(QUEUE, { pollingIntervalSeconds: 1, batchSize: 1 }, async ([entry]) => run(entry!.data.jobId));
  }

  /** Queues a job inside the caller's transaction. */
  async enqueue(client: PoolClient, jobId: string): Promise<void> {
    if (!this.boss) throw new Error('queue not started');
    await this.boss.send(QUEUE, { jobId }, { db: { executeSql: (text, values) => client.query(text, values) } });
  }

  async stop(): Promise<void> {
    await this.boss?.stop({ graceful: false, wait: true, close: true }).catch(() => undefined);
  }
}
