/**
 * Attacks on the orchestrator's side of the trust model, with every process real (fourteen services
 * and the orchestrator on loopback, each with its own database): an erased user's token tried on
 * every process (one restarted after the erasure too, and with the registry down), erased ids written
 * back, request ids shared across callers, the per-caller limits, a cancel before any row was removed,
 * and the erased user's personal data searched for in every database and every process's log.
 * Every check of state is direct SQL.
 */
import { AT_ONCE } from '../orchestrator/grace';
import { randomBytes, randomUUID } from 'node:crypto';
import test from 'ava';
import { Pool } from 'pg';
import { credentials, status, type ClientReadableStream, type ServiceError } from '@grpc/grpc-js';
import { DeletionOrchestratorClient, JobStatus, type JobEvent } from '../gen/bakery/erasure/v1/deletion_orchestrator';
import { TombstoneRegistryClient } from '../gen/bakery/erasure/v1/tombstone_registry';
import { Role } from '../gen/bakery/tenant/v1/tenant_service';
import { DATA_SERVICES, PROCESS_NAMES } from '../mesh/catalog';
import { healthStatus } from '../services/kit/health-client';
import { bearerMetadata, unaryCall } from '../services/kit/unary';
import { seedTenant } from '../services/seed';
import { testServerUrl } from './support/database';
import { authCaller, outcome, tenantCaller } from './support/identity';
import { orchestratorClient } from './support/orchestrator-client';
import { OtlpReceiver } from './support/otlp-receiver';
import { ProcessMesh } from './support/process-mesh';
import { erasureClient, operatorToken, preview, runDelete, serviceToken, userSubject, userToken } from './support/services';

let mesh: ProcessMesh;
let receiver: OtlpReceiver;
const pools = new Map<string, Pool>();
let orch: ReturnType<typeof orchestratorClient>;
let token: string;
/** The user the first test erases (and a control user it keeps), for the tests after it. */
let erasedUser = '';
let keptUser = '';

test.before(async () => {
  receiver = new OtlpReceiver();
  await receiver.start();
  mesh = new ProcessMesh(testServerUrl(), `attorch_${randomUUID().slice(0, 6)}`, {
    // Spans too are searched for the erased user's personal data.
    OTEL_EXPORTER_OTLP_ENDPOINT: receiver.endpoint,
    // With SQL spans (opt-in) too: their statements must not hold the values either.
    ERASURE_TRACE_SQL: 'on',
    // Info lines too: the search for personal data must see what an operator's log would hold.
    LOG_LEVEL: 'info',
    ORCHESTRATOR_TOMBSTONE_KEYS: `1:${randomBytes(36).toString('base64url')}`,
    // A "not erased" answer is trusted this long: the tests wait past it instead of for 5 s.
    TOMBSTONE_CLEAR_CACHE_MS: '300',
    ORCHESTRATOR_OPEN_JOBS_PER_CALLER: '2',
    ORCHESTRATOR_WATCHERS_PER_JOB: '3',
    ORCHESTRATOR_WATCHERS_PER_CALLER: '4',
    // A stopped service keeps its step retrying (the job stays open) within the default 15-minute budget.
    ORCHESTRATOR_BACKOFF_BASE_MS: '200',
    ORCHESTRATOR_BACKOFF_MAX_MS: '1000',
    ORCHESTRATOR_LEASE_MS: '3000',
  });
  await mesh.prepare();
  await mesh.startAll();
  for (const [name, url] of Object.entries(mesh.databases)) {
    const pool = new Pool({ connectionString: url, max: 1 });
    pool.on('error', () => undefined);
    pools.set(name, pool);
  }
  orch = orchestratorClient(mesh.addresses.orchestrator!);
  // An operator starts and steers jobs and creates tenants; the orchestrator's own identity is for what only it may do.
  token = await operatorToken();
});

test.after.always(async () => {
  orch?.close();
  await mesh?.stopAll();
  for (const pool of pools.values()) await pool.end().catch(() => undefined);
  await mesh?.dropDatabases();
  await receiver?.stop();
});

const sql = async <T = Record<string, unknown>>(service: string, text: string, params: unknown[] = []) =>
  (await pools.get(service)!.query(text, params)).rows as T[];
const count = async (service: string, text: string, params: unknown[] = []) => Number((await sql<{ n: number }>(service, text, params))[0]!.n);
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
const code = (error: { code?: number } | undefined) => status[error?.code ?? 0];

async function seed(tenantId: string, rows: number, userIds: string[]) {
  return seedTenant({ tenantId, rows, userIds, identity: true, migrate: false, databaseUrl: async (name) => mesh.databases[name]! });
}

async function allServing(): Promise<string[]> {
  const down: string[] = [];
  for (const name of PROCESS_NAMES) if ((await healthStatus(mesh.addresses[name]!, '', 5000)) !== 'SERVING') down.push(name);
  return down;
}

/** Rows of every table, in every schema, of every database of the mesh whose text holds `value`. */
async function everywhere(value: string): Promise<Record<string, number>> {
  const found: Record<string, number> = {};
  for (const [name, pool] of pools) {
    const { rows: tables } = await pool.query<{ s: string; t: string }>(
      `SELECT n.nspname AS s, c.relname AS t FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
        WHERE c.relkind IN ('r', 'p') AND n.nspname NOT IN ('pg_catalog', 'information_schema') AND n.nspname NOT LIKE 'pg_toast%'`,
    );
    for (const { s, t } of tables) {
      const { rows } = await pool.query<{ n: number }>(`SELECT count(*)::int AS n FROM "${s}"."${t}" x WHERE strpos(lower(x::text), lower($1)) > 0`, [value]);
      if (rows[0]!.n > 0) found[`${name}.${s}.${t}`] = rows[0]!.n;
    }
  }
  return found;
}

/** Log lines of every process (the last ones each keeps) that hold `value`. */
function logLinesWith(value: string): string[] {
  return [...mesh.logs.entries()].flatMap(([name, lines]) => lines.filter((line) => line.toLowerCase().includes(value.toLowerCase())).map((line) => `${name}: ${line.slice(0, 300)}`));
}

async function waitForJob(jobId: string, predicate: (s: string) => boolean, timeoutMs = 90_000): Promise<string> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const rows = await sql<{ status: string }>('orchestrator', 'SELECT status FROM erasure_jobs WHERE id = $1', [jobId]);
    if (rows[0] && predicate(rows[0].status)) return rows[0].status;
    if (Date.now() > deadline) throw new Error(`job ${jobId} stayed ${rows[0]?.status}`);
    await sleep(200);
  }
}

test.serial("an erased user's token is refused by the orchestrator and by every service; their id cannot be written back; nothing of them is left in any database or log", async (t) => {
  const tenantId = randomUUID();
  const controlTenant = randomUUID();
  const [owner, admin, member, control] = [randomUUID(), randomUUID(), randomUUID(), randomUUID()];
  await seed(tenantId, 600, [owner!, admin!, member!, control!]);
  await seed(controlTenant, 300, [randomUUID(), randomUUID()]);
  const [{ email }] = await sql<{ email: string }>('auth', 'SELECT email FROM users WHERE id = $1', [member]);
  const [{ email: controlEmail }] = await sql<{ email: string }>('auth', 'SELECT email FROM users WHERE id = $1', [control]);
  const memberToken = await userToken(member!);
  const tenant = tenantCaller(mesh.addresses.tenant!);
  const auth = authCaller(mesh.addresses.auth!);
  const orders = erasureClient(mesh.addresses.orders!);
  t.teardown(() => {
    tenant.close();
    auth.close();
    orders.close();
  });

  // Before: the token works where a user may act, and a domain service refuses it only as a user token.
  t.is((await outcome(tenant.getTenant({ tenantId }, memberToken))).code, status.OK);
  t.is((await outcome(auth.getUser({ userId: member! }, memberToken))).code, status.OK);
  t.is(code((await runDelete(orders, userSubject(member!), memberToken)).error), 'PERMISSION_DENIED');

  const run = await orch.deleteUser({ gracePeriod: AT_ONCE, userId: member!, requestId: `erase-${member}` }, token);
  t.is(run.finished?.status, JobStatus.JOB_STATUS_COMPLETED, run.error?.message ?? run.finished?.error);
  const jobId = run.finished!.id;
  erasedUser = member!;
  keptUser = control!;
  t.is(await count('orchestrator', `SELECT count(*)::int AS n FROM erasure_tombstones WHERE job_id = $1 AND subject_kind = 'user'`, [jobId]), 1, 'a tombstone');
  t.is(await count('orchestrator', 'SELECT count(*)::int AS n FROM erasure_tombstones WHERE strpos(subject_ref, $1) > 0', [member]), 0, 'holding no raw id');
  await sleep(400); // past the "not erased" cache of every process

  // After: refused everywhere, as an erased user, with nothing changed.
  const tenantsBefore = await count('tenant', 'SELECT count(*)::int AS n FROM tenants');
  const membersBefore = await count('tenant', 'SELECT count(*)::int AS n FROM tenant_members');
  const usersBefore = await count('auth', 'SELECT count(*)::int AS n FROM users');
  const jobsBefore = await count('orchestrator', 'SELECT count(*)::int AS n FROM erasure_jobs');
  const refusedAsErased = (o: { code: status; message: string }, what: string) => {
    t.is(status[o.code], 'UNAUTHENTICATED', what);
    t.regex(o.message, /user is erased/, what);
  };
  refusedAsErased(await outcome(tenant.createTenant({ name: 'Back again', ownerId: '', plan: '' }, memberToken)), 'tenant: CreateTenant');
  refusedAsErased(await outcome(tenant.getTenant({ tenantId }, memberToken)), 'tenant: GetTenant');
  refusedAsErased(await outcome(tenant.addMember({ tenantId, userId: member!, role: Role.ROLE_MEMBER }, memberToken)), 'tenant: AddMember');
  refusedAsErased(await outcome(auth.getUser({ userId: member! }, memberToken)), 'auth: GetUser');
  const deleted = await runDelete(orders, userSubject(member!), memberToken);
  t.is(code(deleted.error), 'UNAUTHENTICATED', 'orders: Delete');
  t.regex(deleted.error!.details, /user is erased/);
  // Every one of the 14 data services refuses the dead token, whatever the RPC.
  for (const name of DATA_SERVICES) {
    const client = erasureClient(mesh.addresses[name]!);
    refusedAsErased(await outcome(preview(client, userSubject(member!), memberToken)), `${name}: Preview`);
    client.close();
  }
  refusedAsErased(await outcome(orch.unary.getJob({ jobId }, memberToken)), 'orchestrator: GetJob');
  const again = await orch.deleteUser({ gracePeriod: AT_ONCE, userId: member! }, memberToken);
  t.is(code(again.error), 'UNAUTHENTICATED', 'orchestrator: DeleteUser');

  // Nor can an operator (who may create tenants and add members) write the erased id back.
  const svc = await operatorToken('resurrector');
  const writeBack = [
    await outcome(tenant.createTenant({ name: 'Resurrection', ownerId: member!, plan: '' }, svc)),
    await outcome(tenant.addMember({ tenantId: controlTenant, userId: member!, role: Role.ROLE_MEMBER }, svc)),
  ];
  for (const o of writeBack) {
    t.is(status[o.code], 'FAILED_PRECONDITION');
    t.notRegex(o.message, new RegExp(member!), 'the refusal does not repeat the id');
  }

  // A process restarted after the erasure (it never saw it) refuses the token as well.
  await mesh.stop('orders');
  await mesh.start('orders');
  const restarted = erasureClient(mesh.addresses.orders!);
  t.teardown(() => restarted.close());
  t.is(code((await runDelete(restarted, userSubject(member!), memberToken)).error), 'UNAUTHENTICATED', 'a restarted service');

  t.is(await count('tenant', 'SELECT count(*)::int AS n FROM tenants'), tenantsBefore, 'no tenant created');
  t.is(await count('tenant', 'SELECT count(*)::int AS n FROM tenant_members'), membersBefore, 'no membership added');
  t.is(await count('tenant', 'SELECT count(*)::int AS n FROM tenants WHERE owner_id = $1', [member]), 0);
  t.is(await count('auth', 'SELECT count(*)::int AS n FROM users'), usersBefore);
  t.is(await count('orchestrator', 'SELECT count(*)::int AS n FROM erasure_jobs'), jobsBefore, 'no job recorded');
  t.deepEqual(await allServing(), [], 'every process still SERVING');

  // Nothing of the erased user in any table of any database (the orchestrator's and pg-boss's too), nor in any log.
  t.deepEqual(await everywhere(member!), {}, 'the raw id is nowhere');
  t.deepEqual(await everywhere(email), {}, 'the e-mail is nowhere');
  t.true(logLinesWith(jobId).length > 0, 'the logs searched are there (they name the job)');
  t.deepEqual(logLinesWith(member!), [], 'no log line holds the raw id');
  t.deepEqual(logLinesWith(email), [], 'no log line holds the e-mail');
  const traceId = run.finished!.traceId;
  t.true(await receiver.waitFor((spans) => spans.some((s) => s.traceId === traceId && s.service === 'orchestrator')), "the job's spans arrived");
  const spansWith = (value: string) =>
    receiver.spans.filter((s) => `${s.name} ${JSON.stringify(s.attributes)}`.toLowerCase().includes(value.toLowerCase())).map((s) => `${s.service}: ${s.name}`);
  t.deepEqual(spansWith(member!), [], 'no span name or attribute holds the raw id');
  t.deepEqual(spansWith(email), [], 'no span name or attribute holds the e-mail');
  const [job] = await sql<{ subject_id: string | null; subject_ref: string; requested_by: string; request_id: string; viewers: string[] }>(
    'orchestrator',
    'SELECT subject_id, subject_ref, requested_by, request_id, viewers FROM erasure_jobs WHERE id = $1',
    [jobId],
  );
  t.is(job!.subject_id, null);
  t.regex(job!.subject_ref, /^erased:k1:[A-Za-z0-9_-]{43}$/, 'the job keeps the keyed hash');
  t.is(job!.request_id, `erase-${job!.subject_ref}`, 'even the request id that named the user');
  t.deepEqual(job!.viewers, []);
  const listed = await orch.unary.listJobs({ status: JobStatus.JOB_STATUS_UNSPECIFIED, subject: { userId: member! }, pageSize: 10, pageToken: '' }, token);
  t.deepEqual(listed.jobs.map((j) => j.id), [jobId], 'a service listing by the id finds the job through its keyed hash');
  t.is(listed.jobs[0]!.subject?.userId, job!.subject_ref, "the job shows the keyed hash in place of the user's id");
  t.is(listed.jobs[0]!.requestedBy, 'operator:test-operator');

  // The control user is intact everywhere, and the token of a user who was not erased still works.
  t.is(await count('auth', 'SELECT count(*)::int AS n FROM users WHERE id = $1 AND email = $2', [control, controlEmail]), 1);
  t.is(await count('tenant', 'SELECT count(*)::int AS n FROM tenant_members WHERE user_id = $1 AND tenant_id = $2', [control, tenantId]), 1);
  t.true(Object.keys(await everywhere(control!)).length > 2, 'the control user still has rows in several services');
  t.is((await outcome(tenant.getTenant({ tenantId }, await userToken(control!)))).code, status.OK);

  // Fail closed: with the registry down, a user's call is refused UNAVAILABLE (retryable); services are unaffected.
  await mesh.stop('orchestrator');
  try {
    await sleep(400);
    const down = await outcome(tenant.getTenant({ tenantId }, await userToken(control!)));
    t.is(status[down.code], 'UNAVAILABLE', 'no answer from the registry: refused, retryable');
    t.is((await outcome(tenant.getTenant({ tenantId }, svc))).code, status.OK, 'service tokens are not subjects');
  } finally {
    await mesh.start('orchestrator');
  }
  // UNAVAILABLE is retryable: a caller that retries is answered once the registry is back (bounded).
  let back = await outcome(tenant.getTenant({ tenantId }, await userToken(control!)));
  for (let i = 0; i < 50 && back.code === status.UNAVAILABLE; i++) {
    await sleep(200);
    back = await outcome(tenant.getTenant({ tenantId }, await userToken(control!)));
  }
  t.is(status[back.code], 'OK', 'answered again once it is back');
});

test.serial('TombstoneRegistry.CheckSubjects answers services in order, refuses users and oversized requests', async (t) => {
  const client = new TombstoneRegistryClient(mesh.addresses.orchestrator!, credentials.createInsecure());
  t.teardown(() => client.close());
  const [erasedRef] = await sql<{ subject_ref: string }>('orchestrator', `SELECT subject_ref FROM erasure_tombstones WHERE subject_kind = 'user' LIMIT 1`);
  t.truthy(erasedRef, 'the first test erased a user');
  const fresh = randomUUID();
  const check = (subjects: { userId?: string; tenantId?: string }[], tok?: string) =>
    unaryCall(client, 'checkSubjects', { subjects }, { metadata: bearerMetadata(tok) });
  t.truthy(erasedUser, 'the first test erased a user');
  const answer = await check([{ userId: fresh }, { userId: erasedUser }, { tenantId: fresh }, { userId: keptUser }], token);
  t.deepEqual(answer.statuses.map((s) => s.erased), [false, true, false, false]);
  t.truthy(answer.statuses[1]!.erasedAt);
  t.is(code(await outcome(check([{ userId: fresh }], await userToken(fresh)))), 'PERMISSION_DENIED');
  t.is(code(await outcome(check(Array.from({ length: 101 }, () => ({ userId: fresh })), token))), 'INVALID_ARGUMENT');
  const bad = await outcome(check([{ userId: 'someone@example.com' }], token));
  t.is(code(bad), 'INVALID_ARGUMENT');
  t.notRegex(bad.message, /someone@example\.com/, 'the input is not echoed');
  t.regex(erasedRef!.subject_ref, /^erased:k1:/);
});

test.serial('request ids belong to their caller: the same id from two callers makes two jobs; the same caller gets its job back', async (t) => {
  const [a, b] = [randomUUID(), randomUUID()];
  await seed(a, 200, [randomUUID()]);
  await seed(b, 200, [randomUUID()]);
  const requestId = `shared-${randomUUID()}`;
  const callerA = await operatorToken('caller-a');
  const callerB = await operatorToken('caller-b');
  const first = await orch.deleteTenant({ gracePeriod: AT_ONCE, tenantId: a, requestId, detach: true }, callerA);
  const second = await orch.deleteTenant({ gracePeriod: AT_ONCE, tenantId: b, requestId, detach: true }, callerB);
  t.is(first.error, undefined, first.error?.message);
  t.is(second.error, undefined, second.error?.message);
  t.not(first.snapshot!.id, second.snapshot!.id, 'two jobs');
  const rows = await sql<{ requested_by: string; subject_id: string }>('orchestrator', 'SELECT requested_by, subject_id::text FROM erasure_jobs WHERE request_id = $1 ORDER BY requested_by', [requestId]);
  t.deepEqual(rows, [
    { requested_by: 'operator:caller-a', subject_id: a },
    { requested_by: 'operator:caller-b', subject_id: b },
  ]);
  // The same caller: the same subject returns its job, another subject is refused and changes nothing.
  const repeat = await orch.deleteTenant({ gracePeriod: AT_ONCE, tenantId: a, requestId, detach: true }, callerA);
  t.is(repeat.snapshot?.id, first.snapshot!.id);
  const other = randomUUID();
  await seed(other, 100, [randomUUID()]);
  const reused = await orch.deleteTenant({ gracePeriod: AT_ONCE, tenantId: other, requestId, detach: true }, callerA);
  t.is(code(reused.error), 'ALREADY_EXISTS');
  t.notRegex(reused.error!.details, new RegExp(requestId), 'the request id is not echoed');
  t.is(await count('orchestrator', 'SELECT count(*)::int AS n FROM erasure_jobs WHERE subject_id = $1', [other]), 0);
  t.is((await sql<{ status: string }>('tenant', 'SELECT status FROM tenants WHERE id = $1', [other]))[0]?.status, 'ACTIVE');
  for (const id of [first.snapshot!.id, second.snapshot!.id]) t.is(await waitForJob(id, (s) => s !== 'PENDING' && s !== 'RUNNING'), 'COMPLETED');
});

/** Opens a WatchJob stream and resolves once it holds (its first message) or was refused. */
function openWatch(client: DeletionOrchestratorClient, jobId: string, tok: string): Promise<{ call: ClientReadableStream<JobEvent>; error?: ServiceError }> {
  return new Promise((resolve) => {
    const call = client.watchJob({ jobId }, bearerMetadata(tok));
    call.once('data', () => resolve({ call }));
    call.on('error', (error: ServiceError) => resolve({ call, error }));
  });
}

test.serial('limits: open jobs per caller, watchers per job and per caller (RESOURCE_EXHAUSTED, nothing changed); a cancel before any row was removed returns the tenant to ACTIVE, after rows were removed it stays DELETING', async (t) => {
  // A stopped domain service keeps every job open (its step retries).
  await mesh.stop('training');
  const client = new DeletionOrchestratorClient(mesh.addresses.orchestrator!, credentials.createInsecure());
  const streams: ClientReadableStream<JobEvent>[] = [];
  t.teardown(() => {
    for (const call of streams) call.cancel();
    client.close();
  });
  try {
    const withData = randomUUID();
    await seed(withData, 1200, [randomUUID()]);
    // A tenant with no rows in any domain service (created through the tenant service): no Delete has anything to remove.
    const tenant = tenantCaller(mesh.addresses.tenant!);
    t.teardown(() => tenant.close());
    const { tenant: empty } = await tenant.createTenant({ name: 'Empty bakery', ownerId: randomUUID(), plan: '' }, token);
    const third = randomUUID();
    await seed(third, 100, [randomUUID()]);

    const limited = await operatorToken('limited-caller');
    const job1 = await orch.deleteTenant({ gracePeriod: AT_ONCE, tenantId: withData, detach: true }, limited);
    const job2 = await orch.deleteTenant({ gracePeriod: AT_ONCE, tenantId: empty!.id, detach: true }, limited);
    t.is(job1.error, undefined, job1.error?.message);
    t.is(job2.error, undefined, job2.error?.message);
    const over = await orch.deleteTenant({ gracePeriod: AT_ONCE, tenantId: third, detach: true }, limited);
    t.is(code(over.error), 'RESOURCE_EXHAUSTED');
    t.regex(over.error!.details, /open jobs per caller limit reached \(2\)/);
    t.is(await count('orchestrator', 'SELECT count(*)::int AS n FROM erasure_jobs WHERE subject_id = $1', [third]), 0, 'no job recorded');
    t.is((await sql<{ status: string }>('tenant', 'SELECT status FROM tenants WHERE id = $1', [third]))[0]?.status, 'ACTIVE');
    const attach = await orch.deleteTenant({ gracePeriod: AT_ONCE, tenantId: withData, detach: true }, limited);
    t.is(attach.snapshot?.id, job1.snapshot!.id, 'attaching to an open job is not a new job');
    const otherCaller = await orch.deleteTenant({ gracePeriod: AT_ONCE, tenantId: third, detach: true }, await operatorToken('other-caller'));
    t.is(otherCaller.error, undefined, 'another caller is not limited by it');

    // Watchers per job (3) and per caller (4).
    const id1 = job1.snapshot!.id;
    const id2 = job2.snapshot!.id;
    const w1 = await operatorToken('watcher-1');
    for (let i = 0; i < 3; i++) {
      const held = await openWatch(client, id1, w1);
      t.is(held.error, undefined);
      streams.push(held.call);
    }
    const fourth = await openWatch(client, id1, await operatorToken('watcher-2'));
    t.is(code(fourth.error), 'RESOURCE_EXHAUSTED');
    t.regex(fourth.error!.details, /watchers per job limit reached \(3/);
    const held = await openWatch(client, id2, w1);
    t.is(held.error, undefined);
    streams.push(held.call);
    const fifth = await openWatch(client, id2, w1);
    t.is(code(fifth.error), 'RESOURCE_EXHAUSTED');
    t.regex(fifth.error!.details, /watchers per caller limit reached \(4/);
    const viaDelete = await orch.deleteTenant({ gracePeriod: AT_ONCE, tenantId: withData, detach: true }, w1);
    t.is(code(viaDelete.error), 'RESOURCE_EXHAUSTED', 'DeleteTenant streams count as watchers too');
    // A closed stream gives its slot back.
    streams.shift()!.cancel();
    await sleep(300);
    const again = await openWatch(client, id1, w1);
    t.is(again.error, undefined, 'a slot freed by a closed stream is used again');
    streams.push(again.call);

    // Wait until the other domain services removed the first tenant's rows (the stopped one cannot).
    const deadline = Date.now() + 60_000;
    while ((await count('orders', 'SELECT count(*)::int AS n FROM customers WHERE tenant_id = $1', [withData])) > 0 && Date.now() < deadline) await sleep(200);
    t.is((await sql<{ status: string }>('tenant', 'SELECT status FROM tenants WHERE id = $1', [empty!.id]))[0]?.status, 'DELETING');

    const cancelled = await orch.unary.cancelJob({ jobId: id2 }, token);
    t.is(cancelled.job?.status, JobStatus.JOB_STATUS_CANCELLED);
    await waitForJob(id2, (s) => s === 'CANCELLED');
    const [restored] = await sql<{ status: string; plan_status: string }>(
      'tenant',
      `SELECT t.status, s.status AS plan_status FROM tenants t JOIN subscriptions s ON s.tenant_id = t.id WHERE t.id = $1`,
      [empty!.id],
    );
    t.deepEqual(restored, { status: 'ACTIVE', plan_status: 'ACTIVE' }, 'nothing was removed: the tenant and its subscription are ACTIVE again');

    await orch.unary.cancelJob({ jobId: id1 }, token);
    await waitForJob(id1, (s) => s === 'CANCELLED');
    t.is((await sql<{ status: string }>('tenant', 'SELECT status FROM tenants WHERE id = $1', [withData]))[0]?.status, 'DELETING', 'rows were removed: it stays DELETING');
  } finally {
    await mesh.start('training');
  }
  t.deepEqual(await allServing(), [], 'every process SERVING');
  // Jobs left open by this test finish once the service is back.
  const open = await sql<{ id: string }>('orchestrator', `SELECT id FROM erasure_jobs WHERE status IN ('PENDING', 'RUNNING')`);
  for (const { id } of open) await waitForJob(id, (s) => !['PENDING', 'RUNNING'].includes(s), 120_000);
  t.pass();
});
