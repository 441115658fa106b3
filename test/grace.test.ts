/**
 * Grace period and restore (soft delete): all fourteen services and the orchestrator as real processes.
 * A scheduled erasure hides its subject at once and deletes nothing; a restore brings everything back
 * byte-identical; at the purge time the job runs by itself — after an orchestrator kill -9 and restart
 * during the grace too, and once with two replicas. Every check of rows is direct SQL.
 */
import { randomUUID } from 'node:crypto';
import test, { type ExecutionContext } from 'ava';
import type { Pool } from 'pg';
import { JobStatus, type Job } from '../gen/bakery/erasure/v1/deletion_orchestrator';
import { Role } from '../gen/bakery/tenant/v1/tenant_service';
import { AT_ONCE, graceDuration } from '../orchestrator/grace';
import { oneMonthAfter } from '../orchestrator/store';
import { seedTenant } from '../services/seed';
import { testServerUrl } from './support/database';
import { codeOf, authCaller, outcome, tenantCaller } from './support/identity';
import { changedTables, meshPools, meshSnapshot, rowsMentioning, waitForJobStatus } from './support/mesh-checks';
import { orchestratorClient } from './support/orchestrator-client';
import { ProcessMesh } from './support/process-mesh';
import { operatorToken, userToken } from './support/services';

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
/** The operator's range here: up to an hour (so "out of range" is cheap to ask for). */
const GRACE_MAX_SECONDS = 3600;
const RETRY_BUDGET_MS = 25_000;

let mesh: ProcessMesh;
let pools: Map<string, Pool>;
let orch: ReturnType<typeof orchestratorClient>;
let token: string;
let control: string;

test.before(async (t) => {
  t.timeout(300_000);
  mesh = new ProcessMesh(testServerUrl(), `grace_${randomUUID().slice(0, 6)}`, {
    ORCHESTRATOR_STEP_RETRY_BUDGET_MS: String(RETRY_BUDGET_MS),
    ORCHESTRATOR_BACKOFF_BASE_MS: '200',
    ORCHESTRATOR_BACKOFF_MAX_MS: '1500',
    ORCHESTRATOR_LEASE_MS: '3000',
    ORCHESTRATOR_WATCHDOG_INTERVAL_MS: '1000',
    ORCHESTRATOR_GRACE_MAX_SECONDS: String(GRACE_MAX_SECONDS),
    // A suspension is seen by every process within this (the "not erased" cache).
    TOMBSTONE_CLEAR_CACHE_MS: '500',
  });
  await mesh.prepare();
  await mesh.startAll();
  pools = meshPools(mesh.databases);
  orch = orchestratorClient(mesh.addresses.orchestrator!);
  token = await operatorToken();
  control = randomUUID();
  await seed(control, 400, 2);
});

test.after.always(async () => {
  orch?.close();
  await mesh?.stopAll();
  for (const pool of pools?.values() ?? []) await pool.end().catch(() => undefined);
  await mesh?.dropDatabases();
});

function seed(tenantId: string, rows: number, users: number) {
  return seedTenant({ tenantId, rows, users, identity: true, migrate: false, databaseUrl: async (name) => mesh.databases[name]! });
}

const sql = async <T>(database: string, text: string, params: unknown[] = []) => (await pools.get(database)!.query(text, params)).rows as T[];

async function jobRow(id: string) {
  const [row] = await sql<{ status: string; purge_at: Date | null; received_at: Date; due_at: Date; started_at: Date | null }>(
    'orchestrator',
    'SELECT status, purge_at, received_at, due_at, started_at FROM erasure_jobs WHERE id = $1',
    [id],
  );
  return row!;
}

const waitForStatus = (id: string, wanted: string, timeoutMs: number) => waitForJobStatus(pools.get('orchestrator')!, id, wanted, timeoutMs);

/** Rows that mention the tenant anywhere in the mesh, by direct SQL (retained rows and the outbox aside). */
async function rowsOf(tenantId: string): Promise<number> {
  return Object.values(await rowsMentioning(pools, [tenantId])).reduce((sum, n) => sum + n, 0);
}

async function tenantState(tenantId: string) {
  const [row] = await sql<{ status: string; sub: string }>(
    'tenant',
    'SELECT t.status, s.status AS sub FROM tenants t JOIN subscriptions s ON s.tenant_id = t.id WHERE t.id = $1',
    [tenantId],
  );
  return row;
}

async function schedule(t: ExecutionContext, tenantId: string, graceMs: number, client = orch): Promise<Job> {
  const run = await client.deleteTenant({ tenantId, gracePeriod: graceDuration(graceMs) }, token);
  t.falsy(run.error, run.error?.details);
  const job = run.snapshot!;
  t.is(job.status, JobStatus.JOB_STATUS_SCHEDULED);
  t.true(run.events.length === 1, 'a scheduled job is answered with its snapshot, not streamed through its grace');
  return job;
}

test.serial('a tenant in its grace period is SCHEDULED, hidden, nothing deleted; a restore brings it back byte-identical', async (t) => {
  const tenantId = randomUUID();
  const seeded = await seed(tenantId, 600, 3);
  const owner = seeded.userIds[0]!;
  const before = await meshSnapshot(pools);
  const rowsBefore = await rowsOf(tenantId);
  t.true(rowsBefore > 0);

  const requestedAt = Date.now();
  const job = await schedule(t, tenantId, 600_000);
  t.true(Math.abs(job.purgeTime!.getTime() - (requestedAt + 600_000)) < 5_000, 'purge time is the grace after the request');
  t.true(Math.abs(job.receivedTime!.getTime() - requestedAt) < 5_000);
  t.deepEqual(job.dueTime, oneMonthAfter(job.receivedTime!), 'due one month after receipt');
  const row = await jobRow(job.id);
  t.is(row.status, 'SCHEDULED');
  t.is(row.started_at, null, 'not started');
  t.deepEqual(await tenantState(tenantId), { status: 'DELETING', sub: 'SUSPENDED' }, 'hidden at once; subscription suspended, not cancelled');

  // Refused for use: the owner can neither read its members nor add one.
  const tenants = tenantCaller(mesh.addresses.tenant!);
  const ownerToken = await userToken(owner);
  t.is(await codeOf(tenants.listMembers({ tenantId }, ownerToken)), 'FAILED_PRECONDITION');
  t.is(await codeOf(tenants.addMember({ tenantId, userId: randomUUID(), role: Role.ROLE_MEMBER }, ownerToken)), 'FAILED_PRECONDITION');

  // Nothing deleted: every table of every service is unchanged, apart from the tenant's own row and
  // subscription (status) and the outbox.
  t.deepEqual(changedTables(before, await meshSnapshot(pools)).sort(), ['tenant.subscriptions', 'tenant.tenants']);
  t.is(await rowsOf(tenantId), rowsBefore);

  // GetJob and ListJobs show it with its purge time.
  const got = (await orch.unary.getJob({ jobId: job.id }, token)).job!;
  t.is(got.status, JobStatus.JOB_STATUS_SCHEDULED);
  t.deepEqual(got.purgeTime, job.purgeTime);
  const listed = await orch.unary.listJobs({ status: JobStatus.JOB_STATUS_SCHEDULED, subject: { tenantId }, pageSize: 10, pageToken: '' }, token);
  t.deepEqual(listed.jobs.map((j) => j.id), [job.id]);
  t.deepEqual(listed.jobs[0]!.purgeTime, job.purgeTime);

  // A second request during the grace attaches; the earlier purge time wins.
  const second = await orch.deleteTenant({ tenantId, gracePeriod: graceDuration(300_000) }, token);
  t.is(second.snapshot?.id, job.id, 'attached to the scheduled job');
  t.true(second.snapshot!.purgeTime!.getTime() < job.purgeTime!.getTime() - 200_000, 'the earliest purge time wins');
  const later = await orch.deleteTenant({ tenantId, gracePeriod: graceDuration(900_000) }, token);
  t.deepEqual(later.snapshot!.purgeTime, second.snapshot!.purgeTime, 'a later grace does not move it');

  // A member who is no admin may not restore; the owner may.
  const member = await userToken(seeded.userIds[seeded.userIds.length - 1]!);
  t.is(await codeOf(orch.unary.restoreTenant({ tenantId }, member)), 'PERMISSION_DENIED');
  const restored = (await orch.unary.restoreTenant({ tenantId }, ownerToken)).job!;
  t.is(restored.status, JobStatus.JOB_STATUS_CANCELLED);
  t.is((await jobRow(job.id)).status, 'CANCELLED');
  t.deepEqual(await tenantState(tenantId), { status: 'ACTIVE', sub: 'ACTIVE' });
  t.deepEqual(changedTables(before, await meshSnapshot(pools)), [], 'byte-identical: every table has its count and checksum of before');
  t.is((await tenants.listMembers({ tenantId }, ownerToken)).members.length, 3, 'in full use again');
  t.is(await codeOf(orch.unary.restoreTenant({ tenantId }, ownerToken)), 'OK', 'a second restore answers the same job');
  t.is(await codeOf(orch.unary.retryJob({ jobId: job.id }, token)), 'FAILED_PRECONDITION', 'a restored job is not retried');
  t.is((await jobRow(job.id)).status, 'CANCELLED');

  // Cancelling a SCHEDULED job is a restore too.
  const again = await schedule(t, tenantId, 600_000);
  const cancelled = (await orch.unary.cancelJob({ jobId: again.id }, token)).job!;
  t.is(cancelled.status, JobStatus.JOB_STATUS_CANCELLED);
  t.deepEqual(await tenantState(tenantId), { status: 'ACTIVE', sub: 'ACTIVE' });
  t.deepEqual(changedTables(before, await meshSnapshot(pools)), []);
});

test.serial('a scheduled job runs by itself at its purge time, also when the orchestrator was killed and restarted during the grace', async (t) => {
  const controlBefore = await rowsOf(control);
  const plain = randomUUID();
  const killed = randomUUID();
  await seed(plain, 300, 2);
  await seed(killed, 300, 2);
  const first = await schedule(t, plain, 3_000);
  const second = await schedule(t, killed, 8_000);

  await mesh.stop('orchestrator', 'SIGKILL');
  t.is((await jobRow(second.id)).status, 'SCHEDULED');
  // Past both purge times while no orchestrator runs: until the later one by the database's clock, and
  // half a second more (it was a fixed 10 s for the 3 s and 8 s graces).
  const [{ ms }] = await sql<{ ms: number }>('orchestrator', 'SELECT greatest(0, extract(epoch FROM purge_at - now()) * 1000)::int AS ms FROM erasure_jobs WHERE id = $1', [second.id]);
  await sleep(ms + 500);
  t.is((await jobRow(first.id)).status, 'SCHEDULED', 'nothing purges without an orchestrator');
  await mesh.start('orchestrator');
  orch.close();
  orch = orchestratorClient(mesh.addresses.orchestrator!);

  for (const [job, tenantId] of [[first, plain], [second, killed]] as const) {
    t.is(await waitForStatus(job.id, 'COMPLETED', 90_000), 'COMPLETED', `job for ${tenantId}`);
    const row = await jobRow(job.id);
    t.true(row.started_at! >= row.purge_at!, 'started no earlier than its purge time');
    t.is(await rowsOf(tenantId), 0, 'nothing of the tenant is left (direct SQL)');
  }
  t.is(await rowsOf(control), controlBefore, 'the control tenant is untouched');
});

test.serial('with two orchestrator replicas a scheduled job runs once', async (t) => {
  const address = await mesh.freeAddress();
  await mesh.start('orchestrator', { key: 'orchestrator-2', address });
  const other = orchestratorClient(address);
  try {
    const targets = [randomUUID(), randomUUID(), randomUUID()];
    for (const id of targets) await seed(id, 200, 2);
    const controlBefore = await rowsOf(control);
    const jobs = [];
    for (const [i, id] of targets.entries()) jobs.push(await schedule(t, id, 3_000, i % 2 ? other : orch));
    for (const job of jobs) {
      t.is(await waitForStatus(job.id, 'COMPLETED', 90_000), 'COMPLETED');
      const final = (await orch.unary.getJob({ jobId: job.id }, token)).job!;
      t.true(final.steps.every((s) => s.attempts === 1), `every step ran exactly once: ${final.steps.map((s) => `${s.service}:${s.attempts}`).join(' ')}`);
      t.is(Number(final.totalRowsDeleted), Number(final.expectedRows));
    }
    for (const id of targets) t.is(await rowsOf(id), 0);
    t.is(await rowsOf(control), controlBefore, 'the control tenant is untouched');
  } finally {
    other.close();
    await mesh.stop('orchestrator-2');
  }
});

test.serial('a user in grace cannot log in and their tokens are refused everywhere; a restore re-enables both', async (t) => {
  const auth = authCaller(mesh.addresses.auth!);
  const email = `grace-${randomUUID().slice(0, 8)}@example.test`;
  const password = 'correct horse battery';
  const { user } = await auth.createUser({ email, fullName: 'Grace Period', password }, token);
  const userId = user!.id;
  const own = await userToken(userId);
  t.is(await codeOf(auth.login({ email, password })), 'OK');

  const run = await orch.deleteUser({ userId, gracePeriod: graceDuration(600_000) }, token);
  t.is(run.snapshot?.status, JobStatus.JOB_STATUS_SCHEDULED, run.error?.details);
  const jobId = run.snapshot!.id;
  await sleep(1_000); // the "not erased" answer cached before is at most TOMBSTONE_CLEAR_CACHE_MS old
  const login = await outcome(auth.login({ email, password }));
  t.is(login.code, 16 /* UNAUTHENTICATED */);
  t.regex(login.message, /suspended/);
  t.is(await codeOf(auth.getUser({ userId }, own)), 'UNAUTHENTICATED', 'auth refuses the token');
  t.is(await codeOf(orch.unary.getJob({ jobId }, own)), 'UNAUTHENTICATED', 'the orchestrator refuses the token');
  t.is(await codeOf(tenantCaller(mesh.addresses.tenant!).listUserMemberships({ userId }, own)), 'UNAUTHENTICATED', 'the tenant service refuses the token');
  const [users] = await sql<{ n: number }>('auth', 'SELECT count(*)::int AS n FROM users WHERE id = $1', [userId]);
  t.is(users!.n, 1, 'nothing deleted');

  t.is(await codeOf(orch.unary.restoreUser({ userId }, own)), 'UNAUTHENTICATED', 'a suspended user cannot restore themself');
  const restored = (await orch.unary.restoreUser({ userId }, token)).job!;
  t.is(restored.status, JobStatus.JOB_STATUS_CANCELLED);
  await sleep(1_000);
  t.is(await codeOf(auth.login({ email, password })), 'OK', 'login works again');
  t.is(await codeOf(auth.getUser({ userId }, own)), 'OK', 'and the old token');
  auth.close();
});

/** A receipt time whose due date (one calendar month later) is ten minutes from now. */
function dueInTenMinutes(): Date {
  const received = new Date(Date.now() + 600_000);
  received.setUTCMonth(received.getUTCMonth() - 1);
  return received;
}

test.serial('bad grace inputs are refused and change nothing', async (t) => {
  const tenantId = randomUUID();
  await seed(tenantId, 50, 1);
  const jobsBefore = (await sql<{ n: number }>('orchestrator', 'SELECT count(*)::int AS n FROM erasure_jobs'))[0]!.n;
  const cases: [string, Promise<{ error?: { code: number; details: string } }>, string][] = [
    ['negative', orch.deleteTenant({ tenantId, gracePeriod: { seconds: '-5', nanos: 0 } }, token), 'INVALID_ARGUMENT'],
    ['out of range', orch.deleteTenant({ tenantId, gracePeriod: graceDuration((GRACE_MAX_SECONDS + 1) * 1000) }, token), 'INVALID_ARGUMENT'],
    ['received in the future', orch.deleteTenant({ tenantId, gracePeriod: AT_ONCE, receivedTime: new Date(Date.now() + 3_600_000) }, token), 'INVALID_ARGUMENT'],
    [
      'user grace past the due date',
      orch.deleteUser({ userId: randomUUID(), gracePeriod: graceDuration(1_800_000), receivedTime: dueInTenMinutes() }, token),
      'FAILED_PRECONDITION',
    ],
  ];
  const codes = ['OK', 'CANCELLED', 'UNKNOWN', 'INVALID_ARGUMENT', 'DEADLINE_EXCEEDED', 'NOT_FOUND', 'ALREADY_EXISTS', 'PERMISSION_DENIED', 'RESOURCE_EXHAUSTED', 'FAILED_PRECONDITION'];
  for (const [name, call, wanted] of cases) {
    const run = await call;
    t.is(codes[run.error?.code ?? 0], wanted, `${name}: ${run.error?.details}`);
    t.false((run.error?.details ?? '').includes(tenantId), 'the message does not echo the subject');
  }
  t.is((await sql<{ n: number }>('orchestrator', 'SELECT count(*)::int AS n FROM erasure_jobs'))[0]!.n, jobsBefore, 'no job recorded');
  t.deepEqual(await tenantState(tenantId), { status: 'ACTIVE', sub: 'ACTIVE' }, 'the tenant untouched');
});
