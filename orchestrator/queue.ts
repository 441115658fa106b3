import PgBoss from 'pg-boss';
import type { Logger } from 'pino';
import type { PoolClient } from 'pg';
import { sleep } from '../services/kit/sleep';
import type { JobQueue } from './store';

const QUEUE = 'erasure-job';
/** How often a queued job that is still running elsewhere (or waiting for a lease to lapse) is looked at again. */
const RECHECK_SECONDS = 3;
/** How often a scheduled queue (the daily retention purge) is asked whether its tick has come. */
const SCHEDULE_POLL_MS = 5000;
/** How often an empty queue is asked again. */
const POLL_MS = 1000;

/**
 * The durable queue (pg-boss). Every job is queued in the same transaction that records
 * it. The replica that accepted a request usually runs the job at once; the queue entry is what makes
 * the job survive that replica: a worker on any replica picks the entry up, and either finds the job
 * done (entry completes), held by a live runner (entry is retried a little later), or orphaned — its
 * runner's lease lapsed after a crash — and resumes it.
 *
 * The worker loop is ours, around pg-boss's fetch/complete/fail, for two reasons: it fetches only as
 * many entries as the replica has free run slots (the rest stay queued in arrival order), and no
 * pg-boss call can crash the process when the database goes away (an unawaited complete/fail in
 * pg-boss's own worker did, after a restart): every failure is caught, reported to readiness, and the
 * loop backs off and carries on for as long as the process lives.
 */
export class ErasureQueue implements JobQueue {
  private boss?: PgBoss;
  private stopped = false;
  private loop?: Promise<void>;
  /** Told '' when fetching works, or why it does not. */
  onHealth: (downReason: string) => void = () => undefined;

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
   * Works on queued jobs while `freeSlots()` says there is room: `run` resolves when the job is done
   * with, and throws while it stays open (held by a live runner elsewhere, or this run stopped early),
   * so the entry is looked at again later.
   */
  work(run: (jobId: string) => Promise<void>, freeSlots: () => number): void {
    const boss = this.boss;
    if (!boss) throw new Error('queue not started');
    this.loop = (async () => {
      let backoff = 250;
      while (!this.stopped) {
        const room = freeSlots();
        if (room <= 0) {
          await sleep(100);
          continue;
        }
        let entries: PgBoss.Job<{ jobId: string }>[];
        try {
          entries = await boss.fetch<{ jobId: string }>(QUEUE, { batchSize: room });
          backoff = 250;
          this.onHealth('');
        } catch (error) {
          this.onHealth(`queue: ${(error as Error).message}`);
          await sleep(backoff);
          backoff = Math.min(5_000, backoff * 2);
          continue;
        }
        if (!entries.length) {
          await sleep(POLL_MS);
          continue;
        }
        for (const entry of entries) void this.handle(boss, entry, run);
        // Let the runs take their slots before the room is measured again.
        await sleep(20);
      }
    })();
  }

  private async handle(boss: PgBoss, entry: PgBoss.Job<{ jobId: string }>, run: (jobId: string) => Promise<void>): Promise<void> {
    try {
      await run(entry.data.jobId);
      await boss.complete(QUEUE, entry.id);
    } catch (error) {
      // An entry whose complete/fail is lost with the database stays active until it expires; the
      // watchdog resumes its job long before (orchestrator/watchdog.ts).
      await boss.fail(QUEUE, entry.id, { message: (error as Error).message }).catch((e) => this.log.debug({ err: e }, 'queue entry left to expire'));
    }
  }

  /**
   * Runs `run` on the cron schedule (UTC) of a durable pg-boss schedule: pg-boss sends one queue
   * entry per tick whichever replicas keep the schedule, and only one replica fetches it, so a run
   * happens once across replicas and survives restarts (a tick missed while every replica was down is
   * not replayed; the next tick purges what is due then). Failures are logged, never thrown.
   */
  /**
   * Creates a schedule's queue when it is missing. A queue is a table of its own (DDL): provisioning
   * creates it as the administrator (mesh/provision.ts), so a runtime role that may not create tables
   * finds it there and creates nothing.
   */
  async ensureScheduleQueue(name: string): Promise<void> {
    const boss = this.boss;
    if (!boss) throw new Error('queue not started');
    if (await boss.getQueue(name)) return;
    await boss.createQueue(name, { name, policy: 'standard', retryLimit: 0, expireInSeconds: 6 * 3600 });
  }

  async schedule(name: string, cron: string, run: () => Promise<void>): Promise<void> {
    const boss = this.boss;
    if (!boss) throw new Error('queue not started');
    await this.ensureScheduleQueue(name);
    await boss.schedule(name, cron, {}, { tz: 'UTC' });
    const loop = (async () => {
      while (!this.stopped) {
        try {
          const [entry] = await boss.fetch(name);
          if (entry) {
            try {
              await run();
              await boss.complete(name, entry.id);
            } catch (error) {
              this.log.error({ err: error, schedule: name }, 'scheduled run failed');
              await boss.fail(name, entry.id, { message: (error as Error).message }).catch(() => undefined);
            }
          }
        } catch (error) {
          this.log.debug({ err: error, schedule: name }, 'schedule fetch failed; trying again');
        }
        await sleep(SCHEDULE_POLL_MS);
      }
    })();
    const previous = this.loop;
    this.loop = Promise.all([previous, loop]).then(() => undefined);
  }

  /**
   * Queues a job inside the caller's transaction. With `startAfter` the entry is the job's durable
   * timer: pg-boss hands it to no replica before then (compared with the database's clock), it survives
   * restarts, and one fetch takes it (FOR UPDATE SKIP LOCKED), so one replica runs the purge. pg-boss
   * keeps an entry until start_after + its retention (14 days), so a long grace loses nothing.
   */
  async enqueue(client: PoolClient, jobId: string, startAfter?: Date): Promise<void> {
    if (!this.boss) throw new Error('queue not started');
    await this.boss.send(QUEUE, { jobId }, { ...(startAfter ? { startAfter } : {}), db: { executeSql: (text, values) => client.query(text, values) } });
  }

  async stop(): Promise<void> {
    this.stopped = true;
    await this.loop;
    await this.boss?.stop({ graceful: false, wait: true, close: true }).catch(() => undefined);
  }
}
