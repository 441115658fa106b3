/**
 * The parts that keep erasures going through outages, on their own: the time-budgeted retry policy
 * (a fake clock, no timing assertions), what counts as a database outage, readiness, and connections
 * that come back — the last over a real PostgreSQL whose backends are terminated under them.
 */
import test from 'ava';
import pino from 'pino';
import { Client } from 'pg';
import { status } from '@grpc/grpc-js';
import type { HealthImplementation } from '../services/kit/health';
import { isDatabaseUnavailable } from '../services/kit/pg-errors';
import { orchestratorConfig } from '../orchestrator/config';
import { PersistentConnection } from '../orchestrator/connection';
import { JobLocks } from '../orchestrator/job-locks';
import { Readiness } from '../orchestrator/readiness';
import { RETRYABLE_CODES, RetriesExhausted, isRetryable, retryDelay, withRetry, type RetryPolicy } from '../orchestrator/retry';
import { randomUUID } from 'node:crypto';
import { openServiceDatabase } from '../services/kit/database';
import { migrate } from '../services/kit/migrations';
import { toJobMessage } from '../orchestrator/mapper';
import { migrations } from '../orchestrator/migrations';
import { ErasureQueue } from '../orchestrator/queue';
import { stepsFor } from '../orchestrator/steps';
import { JobStore } from '../orchestrator/store';
import { Watchdog } from '../orchestrator/watchdog';
import { createTestDatabase, testServerUrl } from './support/database';

const log = pino({ level: 'silent' });
const grpcError = (code: status) => Object.assign(new Error(status[code]), { code });
const pgError = (code: string, message = 'pg error') => Object.assign(new Error(message), { code });

test('defaults: a 15-minute step budget and backoff capped at 30 s; both configurable', (t) => {
  const defaults = orchestratorConfig({});
  t.is(defaults.retry.budgetMs, 15 * 60_000);
  t.is(defaults.retry.maximumIntervalMs, 30_000);
  t.is(retryDelay(defaults.retry, 50, () => 1), 30_000, 'the wait never exceeds the cap');
  t.is(retryDelay(defaults.retry, 50, () => 0), 15_000, 'jitter spreads it over the upper half');
  const tuned = orchestratorConfig({ ORCHESTRATOR_STEP_RETRY_BUDGET_MS: '5000', ORCHESTRATOR_BACKOFF_MAX_MS: '100', ORCHESTRATOR_RUNNING_JOBS_PER_REPLICA: '2' });
  t.is(tuned.retry.budgetMs, 5000);
  t.is(tuned.retry.maximumIntervalMs, 100);
  t.is(tuned.runningJobs, 2);
  t.throws(() => orchestratorConfig({ ORCHESTRATOR_RUNNING_JOBS_PER_REPLICA: 'many' }), { message: /ORCHESTRATOR_RUNNING_JOBS_PER_REPLICA/ });
});

test('a database that is away is retryable; a database that refuses the data is not', (t) => {
  const policy = { retryableCodes: RETRYABLE_CODES };
  for (const error of [
    pgError('57P01', 'terminating connection due to administrator command'),
    pgError('57P03', 'the database system is starting up'),
    pgError('ECONNREFUSED', 'connect ECONNREFUSED 127.0.0.1:5432'),
    pgError('08006'),
    new Error('Connection terminated unexpectedly'),
  ]) {
    t.true(isDatabaseUnavailable(error), error.message);
    t.true(isRetryable(policy, error), error.message);
  }
  for (const error of [pgError('23505', 'duplicate key'), pgError('42P01', 'no such table'), new Error('plain')]) {
    t.false(isRetryable(policy, error), error.message);
  }
  t.true(isRetryable(policy, grpcError(status.UNAVAILABLE)));
  t.false(isRetryable(policy, grpcError(status.FAILED_PRECONDITION)));
});

test('withRetry spends a time budget: a service away longer than the old attempt count is still waited for; the next attempt time is reported', async (t) => {
  const policy: RetryPolicy = { initialIntervalMs: 1, backoffCoefficient: 2, maximumIntervalMs: 4, budgetMs: 60_000, retryableCodes: RETRYABLE_CODES };
  let now = 0;
  const clock = { now: () => now, random: () => 1 };
  const nextTimes: number[] = [];
  // Away for 20 s of (fake) time, one attempt a second: twenty failures, then back.
  const result = await withRetry(
    policy,
    new AbortController().signal,
    async (attempt) => {
      now += 1000;
      if (attempt <= 20) throw grpcError(status.UNAVAILABLE);
      return attempt;
    },
    { onRetry: (_error, _attempt, delay, next) => void nextTimes.push(next.getTime() - now - delay) },
    clock,
  );
  t.is(result, 21, 'succeeded on the attempt after the service came back');
  t.deepEqual([...new Set(nextTimes)], [0], 'next attempt time = now + the wait');

  // A hook that cannot record the attempt (its database is away) fails that attempt, retryably.
  let recorded = 0;
  const viaHook = await withRetry(policy, new AbortController().signal, async () => 'done', {
    onAttempt: () => {
      if (++recorded < 3) throw pgError('57P01', 'terminating connection due to administrator command');
    },
  });
  t.is(viaHook, 'done');
  t.is(recorded, 3);

  // Spent budget: RetriesExhausted names attempts, time and the last error.
  now = 0;
  const error = await t.throwsAsync(
    withRetry(
      { ...policy, budgetMs: 5_000 },
      new AbortController().signal,
      async () => {
        now += 1000;
        throw grpcError(status.UNAVAILABLE);
      },
      {},
      clock,
    ),
    { instanceOf: RetriesExhausted },
  );
  t.is((error as RetriesExhausted).attempts, 5);
  t.regex(error!.message, /^gave up after 5 attempts over 5\.0 s .*UNAVAILABLE/);
  t.false(isRetryable({ retryableCodes: RETRYABLE_CODES }, error), 'an exhausted budget is final');
});

test('readiness: NOT_SERVING while any condition is down, with the reason; SERVING again and onReady when all are back', (t) => {
  const statuses = new Map<string, string>();
  const health = { setStatus: (name: string, value: string) => void statuses.set(name, value) } as unknown as HealthImplementation;
  const readiness = new Readiness(health, ['', 'svc'], log);
  let readyCalls = 0;
  readiness.onReady = () => void readyCalls++;
  t.is(statuses.get(''), 'NOT_SERVING', 'not serving before start');
  readiness.start();
  t.is(statuses.get('svc'), 'SERVING');
  readiness.set('locks', 'job lock connection: connection lost');
  readiness.set('queue', 'queue: ECONNREFUSED');
  t.is(statuses.get(''), 'NOT_SERVING');
  t.deepEqual(readiness.reasons, { locks: 'job lock connection: connection lost', queue: 'queue: ECONNREFUSED' });
  readiness.set('locks', '');
  t.is(statuses.get(''), 'NOT_SERVING', 'one condition still down');
  t.is(readyCalls, 0);
  readiness.set('queue', '');
  t.is(statuses.get(''), 'SERVING');
  t.is(readyCalls, 1, 'waiting work is picked up when ready again');
  readiness.stop();
  t.is(statuses.get('svc'), 'NOT_SERVING');
});

async function terminate(applicationName: string): Promise<number> {
  const admin = new Client({ connectionString: testServerUrl() });
  await admin.connect();
  try {
    const { rowCount } = await admin.query('SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = $1', [applicationName]);
    return rowCount ?? 0;
  } finally {
    await admin.end();
  }
}

test('a persistent connection comes back after its backend is terminated, again and again, and rebuilds its session', async (t) => {
  const name = `outages-parts-${process.pid}`;
  const events: string[] = [];
  let sessions = 0;
  const connection = new PersistentConnection(testServerUrl(), log, {
    name,
    minDelayMs: 20,
    maxDelayMs: 100,
    onConnect: async (client) => {
      sessions++;
      await client.query('SELECT 1');
    },
    onLost: () => void events.push('lost'),
    onUp: () => void events.push('up'),
  });
  try {
    await connection.start();
    for (let round = 0; round < 3; round++) {
      const before = connection.client;
      t.is(await terminate(name), 1, 'the backend is terminated');
      for (let i = 0; i < 200 && (connection.client === before || !connection.connected); i++) await new Promise((r) => setTimeout(r, 25));
      t.true(connection.connected, `connected again after round ${round + 1}`);
      t.not(connection.client, before);
      await connection.client!.query('SELECT 1');
    }
    t.is(sessions, 4, 'onConnect ran for every new session');
    t.deepEqual(events, ['up', 'lost', 'up', 'lost', 'up', 'lost', 'up']);
  } finally {
    await connection.stop();
  }
});

test('job locks: a lost lock connection stops local runs and the locks can be taken again once it is back', async (t) => {
  // Its own connection name: other orchestrators may share this server.
  const name = `outages-parts-locks-${process.pid}`;
  const locks = new JobLocks(testServerUrl(), log, name);
  let lost = 0;
  locks.onLost = () => void lost++;
  const jobId = `job-${process.pid}-${Date.now()}`;
  const other = new Client({ connectionString: testServerUrl() });
  await other.connect();
  try {
    await locks.start();
    t.true(await locks.tryLock(jobId));
    const held = await other.query<{ locked: boolean }>('SELECT pg_try_advisory_lock(727002, hashtext($1)) AS locked', [jobId]);
    t.false(held.rows[0]!.locked, 'another session cannot take a held lock');
    t.is(await terminate(name), 1);
    for (let i = 0; i < 400 && (lost === 0 || !locks.connected); i++) await new Promise((r) => setTimeout(r, 25));
    t.is(lost, 1, 'local runs are told');
    t.true(locks.connected, 'the lock connection is back');
    t.true(await locks.tryLock(jobId), 'the job can be locked again');
  } finally {
    await locks.stop();
    await other.end();
  }
});

test('watchdog: a RUNNING job without progress is marked stalled and logged once with its trace id; progress clears it; a PENDING job is not stalled but shows its queue age', async (t) => {
  const db = await createTestDatabase('outages_watchdog');
  const service = openServiceDatabase(db.url, 3);
  const queue = new ErasureQueue(db.url, log);
  const lines: Record<string, unknown>[] = [];
  const capture = pino({ level: 'warn' }, { write: (line: string) => void lines.push(JSON.parse(line)) });
  try {
    await migrate(db.url, service.sequelize, migrations, log);
    await queue.start();
    const store = new JobStore(service.pool, queue);
    const newJob = (subjectId: string) => store.createOrAttach({ subjectKind: 'tenant', subjectId, requestedBy: 'service:test', viewers: [], options: {}, steps: stepsFor('tenant') });
    const { job: running } = await newJob(randomUUID());
    const { job: waiting } = await newJob(randomUUID());
    // One job ran and stopped moving a minute ago; the other has waited in the queue for as long.
    await db.pool.query(`UPDATE erasure_jobs SET status = 'RUNNING', started_at = now() - interval '2 minutes', last_progress_at = now() - interval '1 minute' WHERE id = $1`, [running.id]);
    await db.pool.query(`UPDATE erasure_jobs SET created_at = now() - interval '1 minute' WHERE id = $1`, [waiting.id]);

    const config = { ...orchestratorConfig({}), stallAfterMs: 30_000 };
    // Resuming is not under test here: the replica says it cannot run jobs, so no executor is asked.
    const watchdog = new Watchdog(store, undefined as never, config, capture, () => false);
    await watchdog.pass();
    await watchdog.pass();
    const stalledLogs = lines.filter((line) => line.msg === 'job stalled: no progress recorded');
    t.deepEqual(stalledLogs.map((line) => [line.job_id, line.trace_id]), [[running.id, running.trace_id]], 'logged once, with the trace id');
    const { rows } = await db.pool.query(`SELECT id, stalled_since IS NOT NULL AS stalled FROM erasure_jobs ORDER BY created_at`);
    t.deepEqual(Object.fromEntries(rows.map((r) => [r.id, r.stalled])), { [waiting.id]: false, [running.id]: true }, 'only the RUNNING job is stalled (direct SQL)');

    const shown = toJobMessage((await store.get(running.id))!, await store.steps(running.id));
    t.true(shown.stalled);
    t.truthy(shown.stalledSince);
    t.truthy(shown.lastProgressTime);
    const queued = toJobMessage((await store.get(waiting.id))!, []);
    t.false(queued.stalled);
    t.true(Number(queued.queueAgeMs) >= 60_000, `queue age ${queued.queueAgeMs} ms`);

    // Progress (any step write) clears the mark.
    await store.updateStep(running.id, 'orders', { status: 'RUNNING', attempts: 1 });
    const { rows: after } = await db.pool.query(`SELECT stalled_since, last_progress_at > now() - interval '1 minute' AS recent FROM erasure_jobs WHERE id = $1`, [running.id]);
    t.deepEqual(after[0], { stalled_since: null, recent: true });
  } finally {
    await queue.stop();
    await service.close();
    await db.drop();
  }
});
