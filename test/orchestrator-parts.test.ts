/**
 * Parts of the orchestrator on their own: the retry policy, and the job store, journal and watch
 * stream over a real PostgreSQL (its own migrated database, the real pg-boss queue and LISTEN/NOTIFY
 * bus). Rows are checked by direct SQL.
 */
import { randomUUID } from 'node:crypto';
import test from 'ava';
import pino from 'pino';
import { status } from '@grpc/grpc-js';
import { JobStatus, StepStatus, type JobEvent } from '../gen/bakery/erasure/v1/deletion_orchestrator';
import { openServiceDatabase } from '../services/kit/database';
import { migrate } from '../services/kit/migrations';
import { JobEvents } from '../orchestrator/events';
import { JobJournal } from '../orchestrator/journal';
import { toJobMessage } from '../orchestrator/mapper';
import { migrations } from '../orchestrator/migrations';
import { ErasureQueue } from '../orchestrator/queue';
import { NonRetryableError, RETRYABLE_CODES, RetriesExhausted, isRetryable, retryDelay, withRetry, type RetryPolicy } from '../orchestrator/retry';
import { stepsFor } from '../orchestrator/steps';
import { JobAlreadyOpen, JobStore, RESTORED_ERROR, RequestIdReused, oneMonthAfter } from '../orchestrator/store';
import { AT_ONCE, graceDuration, graceSchedule, parseGrace } from '../orchestrator/grace';
import { watchJob } from '../orchestrator/watch';
import { createTestDatabase } from './support/database';

const policy: RetryPolicy = { initialIntervalMs: 10, backoffCoefficient: 2, maximumIntervalMs: 40, budgetMs: 1000, retryableCodes: RETRYABLE_CODES };
const grpcError = (code: status) => Object.assign(new Error(status[code]), { code });

test('retry policy: delays grow by the coefficient with jitter and stop at the maximum interval', (t) => {
  t.is(retryDelay(policy, 1, () => 0), 5);
  t.is(retryDelay(policy, 1, () => 1), 10);
  t.is(retryDelay(policy, 2, () => 1), 20);
  t.is(retryDelay(policy, 3, () => 1), 40);
  t.is(retryDelay(policy, 9, () => 1), 40, 'capped');
  t.is(retryDelay(policy, 9, () => 0), 20, 'at least half the cap');
  t.true(isRetryable(policy, grpcError(status.UNAVAILABLE)));
  t.false(isRetryable(policy, grpcError(status.INVALID_ARGUMENT)));
  t.false(isRetryable(policy, Object.assign(new NonRetryableError('refused'), { code: status.UNAVAILABLE })));
  t.false(isRetryable(policy, new Error('plain')));
});

test('withRetry: retries retryable codes up to the attempt budget, calling its hooks', async (t) => {
  const seen: string[] = [];
  const signal = new AbortController().signal;
  const result = await withRetry(
    policy,
    signal,
    async (attempt) => {
      if (attempt < 3) throw grpcError(status.UNAVAILABLE);
      return 'ok';
    },
    { onAttempt: (n) => void seen.push(`attempt ${n}`), onRetry: (_e, n, delay) => void seen.push(`retry ${n} after ${delay >= 0 ? 'a delay' : '?'}`) },
  );
  t.is(result, 'ok');
  t.deepEqual(seen, ['attempt 1', 'retry 1 after a delay', 'attempt 2', 'retry 2 after a delay', 'attempt 3']);

  // The budget is time: a clock that moves 100 ms per attempt spends 1000 ms in ten attempts (the
  // tenth fails with 1000 ms gone, and no wait fits in what is left).
  let calls = 0;
  let now = 0;
  const exhausted = await t.throwsAsync(
    withRetry(
      policy,
      signal,
      async () => {
        calls++;
        now += 100;
        throw grpcError(status.DEADLINE_EXCEEDED);
      },
      {},
      { now: () => now, random: () => 1 },
    ),
    { instanceOf: RetriesExhausted },
  );
  t.is(calls, 10, 'attempts until the budget is spent');
  t.is((exhausted as RetriesExhausted).attempts, 10);
  t.regex(exhausted!.message, /10 attempts over 1\.0 s .*DEADLINE_EXCEEDED/, 'names attempts, elapsed time and the last error');

  calls = 0;
  await t.throwsAsync(withRetry(policy, signal, async () => {
    calls++;
    throw grpcError(status.FAILED_PRECONDITION);
  }));
  t.is(calls, 1, 'a non-retryable code fails at once');

  calls = 0;
  await t.throwsAsync(withRetry(policy, signal, async () => {
    calls++;
    throw new NonRetryableError('no');
  }));
  t.is(calls, 1, 'NonRetryableError fails at once');

  const controller = new AbortController();
  calls = 0;
  const slow: RetryPolicy = { ...policy, initialIntervalMs: 60_000, maximumIntervalMs: 60_000 };
  setTimeout(() => controller.abort(), 50);
  const started = Date.now();
  await t.throwsAsync(withRetry(slow, controller.signal, async () => {
    calls++;
    throw grpcError(status.UNAVAILABLE);
  }));
  t.is(calls, 1, 'an abort during the wait ends the retries');
  t.true(Date.now() - started < 5000);
});

test('store, journal and watch: one transaction records job, steps and queue entry; step changes reach watchers; domain errors', async (t) => {
  const db = await createTestDatabase('orch_parts');
  const log = pino({ level: 'silent' });
  const service = openServiceDatabase(db.url, 3);
  const queue = new ErasureQueue(db.url, log);
  const events = new JobEvents(db.url, log);
  try {
    await migrate(db.url, service.sequelize, migrations, log);
    await queue.start();
    await events.start();
    const store = new JobStore(service.pool, queue);
    const journal = new JobJournal(store, events);

    const tenantId = randomUUID();
    const input = { subjectKind: 'tenant' as const, subjectId: tenantId, requestedBy: 'service:test', requestId: 'req-1', viewers: [], options: {}, steps: stepsFor('tenant') };
    const { job, created } = await store.createOrAttach(input);
    t.true(created);
    t.regex(job.trace_id, /^[0-9a-f]{32}$/);
    t.regex(job.trace_parent ?? '', new RegExp(`^00-${job.trace_id}-[0-9a-f]{16}-0[01]$`), 'the root context is stored as a traceparent');
    const { rows: stepRows } = await db.pool.query(`SELECT name, kind, phase FROM erasure_job_steps WHERE job_id = $1 ORDER BY position`, [job.id]);
    t.deepEqual(stepRows, stepsFor('tenant').map((s) => ({ name: s.name, kind: s.kind, phase: s.phase })), 'steps recorded with their kinds');
    const { rows: queued } = await db.pool.query(`SELECT count(*)::int AS n FROM pgboss.job WHERE data->>'jobId' = $1`, [job.id]);
    t.is(queued[0].n, 1, 'queued in the same transaction');

    t.is((await store.createOrAttach({ ...input, requestId: undefined })).job.id, job.id, 'the open job answers a repeated request');
    await t.throwsAsync(store.createOrAttach({ ...input, subjectId: randomUUID() }), { instanceOf: RequestIdReused });

    // A watcher sees the snapshot, a step change built from the event, and the end.
    const controller = new AbortController();
    const load = async (id: string) => toJobMessage((await store.get(id))!, await store.steps(id));
    const stream = watchJob(events, job.id, controller.signal, { load, recheckMs: 60_000 });
    const first = await stream.next();
    t.truthy((first.value as JobEvent).snapshot, 'the snapshot comes first');
    const [step] = await store.steps(job.id);
    await journal.start((await store.get(job.id))!);
    await journal.recordStep(step!, { status: 'RUNNING', attempts: 1, startedAt: new Date() });
    const received: JobEvent[] = [];
    for (;;) {
      const next = await stream.next();
      if (next.done) break;
      received.push(next.value);
      if (next.value.stepUpdate) break;
    }
    const update = received.find((e) => e.stepUpdate)!.stepUpdate!;
    t.is(update.step?.service, step!.name);
    t.is(update.step?.status, StepStatus.STEP_STATUS_RUNNING);
    t.true(update.step?.startTime instanceof Date, 'times survive the bus');
    const { rows: recorded } = await db.pool.query(`SELECT status, attempts FROM erasure_job_steps WHERE job_id = $1 AND name = $2`, [job.id, step!.name]);
    t.deepEqual(recorded[0], { status: 'RUNNING', attempts: 1 }, 'the change is recorded');

    // Progress is written without waiting; a step's writes still go one at a time, in order, so a
    // late progress write never overwrites the final count. A row lock held here makes them queue.
    const holder = await db.pool.connect();
    await holder.query('BEGIN');
    await holder.query(`SELECT 1 FROM erasure_job_steps WHERE job_id = $1 AND name = $2 FOR UPDATE`, [job.id, step!.name]);
    for (let rows = 1; rows <= 40; rows++) {
      step!.rowsDeleted = rows;
      void journal.recordCounts(step!);
    }
    step!.rowsDeleted = 41;
    const succeeded = journal.recordStep(step!, { status: 'SUCCEEDED', finishedAt: new Date() });
    await new Promise((resolve) => setTimeout(resolve, 300));
    const { rows: waiting } = await db.pool.query(
      `SELECT count(*)::int AS n FROM pg_stat_activity WHERE datname = current_database() AND wait_event_type = 'Lock' AND query LIKE '%UPDATE erasure_job_steps%'`,
    );
    t.is(waiting[0].n, 1, 'one write of a step in flight at a time');
    await holder.query('COMMIT');
    holder.release();
    await succeeded;
    const { rows: final } = await db.pool.query(`SELECT status, rows_deleted::int AS n FROM erasure_job_steps WHERE job_id = $1 AND name = $2`, [job.id, step!.name]);
    t.deepEqual(final[0], { status: 'SUCCEEDED', n: 41 }, 'the last write wins');

    await journal.finish((await store.get(job.id))!, 'FAILED', 'test');
    let finished: JobEvent | undefined;
    for await (const event of { [Symbol.asyncIterator]: () => stream }) if (event.finished) finished = event;
    t.is(finished?.finished?.status, JobStatus.JOB_STATUS_FAILED, 'the stream ends with the final state');

    // Re-opening while the subject has another open job is a domain error, not a database code.
    const other = await store.createOrAttach({ ...input, requestId: undefined });
    t.true(other.created);
    await t.throwsAsync(store.reopen(job.id), { instanceOf: JobAlreadyOpen });
    const { rows: still } = await db.pool.query(`SELECT status FROM erasure_jobs WHERE id = $1`, [job.id]);
    t.is(still[0].status, 'FAILED', 'nothing changed');
  } finally {
    await events.stop();
    await queue.stop();
    await service.close();
    await db.drop();
  }
});

test('grace schedule: defaults, the operator range (zero always for services), received time, the due date', (t) => {
  const settings = { tenantDefaultMs: 30 * 86_400_000, userDefaultMs: 7 * 86_400_000, minMs: 3_600_000, maxMs: 90 * 86_400_000 };
  const now = new Date('2026-01-31T12:00:00Z');
  const operator = { kind: 'operator' as const, operator: 'alice' };
  const service = { kind: 'service' as const, service: 'orchestrator' };
  const budget = 15 * 60_000;
  const at = (input: Parameters<typeof graceSchedule>[0], kind: 'tenant' | 'user' = 'tenant', who: Parameters<typeof graceSchedule>[2] = operator) =>
    graceSchedule(input, kind, who, settings, budget, now);
  const code = (fn: () => unknown) => (t.throws(fn) as unknown as { code: number }).code;

  t.deepEqual(at({}), { receivedAt: now, dueAt: new Date('2026-02-28T12:00:00Z'), purgeAt: new Date(now.getTime() + settings.tenantDefaultMs) }, 'absent: the tenant default; due one calendar month later (clamped)');
  t.deepEqual(at({}, 'user').purgeAt, new Date(now.getTime() + settings.userDefaultMs), 'absent: the user default');
  t.is(at({ gracePeriod: AT_ONCE }, 'tenant', service).purgeAt, undefined, 'services may always ask for zero');
  t.is(code(() => at({ gracePeriod: AT_ONCE })), status.INVALID_ARGUMENT, 'zero below the range for an operator');
  t.is(code(() => at({ gracePeriod: { seconds: '-1', nanos: 0 } }, 'tenant', service)), status.INVALID_ARGUMENT, 'negative');
  t.is(code(() => at({ gracePeriod: graceDuration(settings.maxMs + 1000) })), status.INVALID_ARGUMENT, 'above the range');
  t.is(code(() => at({ gracePeriod: AT_ONCE, receivedTime: new Date(now.getTime() + 1000) }, 'tenant', service)), status.INVALID_ARGUMENT, 'received in the future');
  const received = new Date('2026-01-10T12:00:00Z');
  t.deepEqual(at({ gracePeriod: graceDuration(2 * 3_600_000), receivedTime: received }, 'user').dueAt, new Date('2026-02-10T12:00:00Z'), 'due from the receipt');
  // Received 10 Jan: due 10 Feb, so a user grace may end no later than 10 Feb minus the budget.
  const latest = new Date('2026-02-10T12:00:00Z').getTime() - budget - now.getTime();
  t.truthy(at({ gracePeriod: graceDuration(latest), receivedTime: received }, 'user').purgeAt);
  t.is(code(() => at({ gracePeriod: graceDuration(latest + 1000), receivedTime: received }, 'user')), status.FAILED_PRECONDITION, 'a user grace past the due date minus the retry budget');
  t.truthy(at({ gracePeriod: graceDuration(latest + 1000), receivedTime: received }, 'tenant').purgeAt, 'a tenant grace is bounded by the range only');
  t.deepEqual(oneMonthAfter(new Date('2024-01-31T00:00:00Z')), new Date('2024-02-29T00:00:00Z'));
  t.deepEqual([parseGrace('30d'), parseGrace('12h'), parseGrace('90m'), parseGrace('45s'), parseGrace('0'), parseGrace('-1d'), parseGrace('1w')], [2_592_000_000, 43_200_000, 5_400_000, 45_000, 0, undefined, undefined]);
});

test('store: a scheduled job is its own timer; claimed only when due (turning PENDING), restored only while SCHEDULED; the earliest purge wins', async (t) => {
  const db = await createTestDatabase('orch_grace');
  const log = pino({ level: 'silent' });
  const service = openServiceDatabase(db.url, 3);
  const queue = new ErasureQueue(db.url, log);
  try {
    await migrate(db.url, service.sequelize, migrations, log);
    await queue.start();
    const store = new JobStore(service.pool, queue);
    const input = { subjectKind: 'tenant' as const, subjectId: randomUUID(), requestedBy: 'service:test', viewers: [], options: {}, steps: stepsFor('tenant') };
    const purgeAt = new Date(Date.now() + 3_600_000);
    const { job } = await store.createOrAttach({ ...input, purgeAt });
    t.is(job.status, 'SCHEDULED');
    const entries = async () =>
      (await db.pool.query<{ start_after: Date }>(`SELECT start_after FROM pgboss.job WHERE data->>'jobId' = $1 ORDER BY start_after`, [job.id])).rows.map((r) => r.start_after.getTime());
    t.deepEqual(await entries(), [purgeAt.getTime()], 'the queue entry starts at the purge time');
    t.is(await store.claim(job.id, 'replica-a', 3000), undefined, 'not claimed before its purge time');

    const earlier = new Date(Date.now() + 600_000);
    const attached = await store.createOrAttach({ ...input, purgeAt: earlier });
    t.false(attached.created);
    t.deepEqual(attached.job.purge_at, earlier, 'the earlier purge wins');
    t.deepEqual(await entries(), [earlier.getTime(), purgeAt.getTime()], 'with an entry of its own');
    t.deepEqual((await store.createOrAttach({ ...input, purgeAt })).job.purge_at, earlier, 'a later one does not move it');

    // Due now: the claim turns it PENDING, after which a restore cannot win.
    await db.pool.query(`UPDATE erasure_jobs SET purge_at = now() - interval '1 second' WHERE id = $1`, [job.id]);
    t.deepEqual(await store.openJobs(), [job.id], 'the watchdog sees a due scheduled job');
    t.is((await store.claim(job.id, 'replica-a', 3000))?.status, 'PENDING');
    t.is(await store.restore(job.id), undefined);
    const { rows } = await db.pool.query(`SELECT status FROM erasure_jobs WHERE id = $1`, [job.id]);
    t.is(rows[0].status, 'PENDING', 'the purge won; the restore changed nothing');

    const other = await store.createOrAttach({ ...input, subjectId: randomUUID(), purgeAt });
    const restored = await store.restore(other.job.id);
    t.is(restored?.status, 'CANCELLED');
    t.is(restored?.error, RESTORED_ERROR);
    t.is(await store.claim(other.job.id, 'replica-a', 3000), undefined, 'a restored job is never claimed');
    t.false(await store.reopen(other.job.id), 'nor retried');
    const { rows: steps } = await db.pool.query(`SELECT DISTINCT status FROM erasure_job_steps WHERE job_id = $1`, [other.job.id]);
    t.deepEqual(steps, [{ status: 'CANCELLED' }]);

    // Unfinished requests by time left (the metric of the near-due alert), from each job's due date.
    const due = (inDays: number) => ({ ...input, subjectId: randomUUID(), receivedAt: new Date(Date.now() - 40 * 86_400_000), dueAt: new Date(Date.now() + inDays * 86_400_000) });
    await store.createOrAttach({ ...due(-1), purgeAt });
    await store.createOrAttach({ ...due(0.5), purgeAt });
    await store.createOrAttach({ ...due(3), purgeAt });
    const gauges = await store.jobGauges();
    // The first job (PENDING, received now) is due in a month: later.
    t.deepEqual(gauges.openByTimeLeft, { overdue: 1, '1d': 1, '7d': 1, later: 1 });
  } finally {
    await queue.stop();
    await service.close();
    await db.drop();
  }
});
