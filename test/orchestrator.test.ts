/**
 * The orchestrator end to end: all fourteen services and the orchestrator as real processes on
 * loopback, each with its own database; faults made by stopping and killing those processes. Every
 * check of rows is direct SQL against the services' databases.
 */
import { AT_ONCE } from '../orchestrator/grace';
import { randomUUID } from 'node:crypto';
import test from 'ava';
import { Pool } from 'pg';
import { status } from '@grpc/grpc-js';
import { JobStatus, StepStatus, type Job } from '../gen/bakery/erasure/v1/deletion_orchestrator';
import { domainServiceDefinitions, identityServiceDefinitions } from '../services/definitions';
import type { DomainService } from '../services/kit/service-definition';
import { seedTenant } from '../services/seed';
import { testServerUrl } from './support/database';
import { orchestratorClient, isFinal } from './support/orchestrator-client';
import { OtlpReceiver } from './support/otlp-receiver';
import { MESH_SERVICES, ProcessMesh, freePort } from './support/process-mesh';
import { operatorToken, userToken } from './support/services';
import { seedTenants } from './support/seed-tenants';
import { snapshot, type TableState } from './support/snapshot';
import { codeOf } from './support/identity';

const domainServices = domainServiceDefinitions();
const definitions: DomainService[] = [...domainServices, ...identityServiceDefinitions().map((s) => s.definition)];
const definition = (name: string) => definitions.find((d) => d.name === name)!;

let mesh: ProcessMesh;
let receiver: OtlpReceiver;
const pools = new Map<string, Pool>();
let orch: ReturnType<typeof orchestratorClient>;
let token: string;

test.before(async () => {
  receiver = new OtlpReceiver();
  await receiver.start();
  mesh = new ProcessMesh(testServerUrl(), `orch_${randomUUID().slice(0, 6)}`, {
    OTEL_EXPORTER_OTLP_ENDPOINT: receiver.endpoint,
    // SQL spans are opt-in: the trace test checks they hang beneath the chunks when turned on.
    ERASURE_TRACE_SQL: 'on',
    // Small, paced chunks: jobs last long enough to be interrupted.
    ERASURE_CHUNK_INITIAL_ROWS: '100',
    ERASURE_CHUNK_MAX_ROWS: '200',
    ERASURE_CHUNK_PAUSE_MS: '15',
    // A 25 s retry budget: a killed service restarted by a test is back well within it even on a busy
    // machine, and a service that stays down still fails its job in under a minute.
    ORCHESTRATOR_STEP_RETRY_BUDGET_MS: '25000',
    ORCHESTRATOR_BACKOFF_BASE_MS: '200',
    ORCHESTRATOR_BACKOFF_MAX_MS: '1500',
    ORCHESTRATOR_LEASE_MS: '3000',
    // Few services at once, so a job lasts long enough to be cancelled or cut off mid-run.
    ORCHESTRATOR_CONCURRENCY: '3',
  });
  await mesh.prepare();
  await mesh.startAll();
  for (const [name, url] of Object.entries(mesh.databases)) {
    const pool = new Pool({ connectionString: url, max: 1 });
    pool.on('error', () => undefined);
    pools.set(name, pool);
  }
  orch = orchestratorClient(mesh.addresses.orchestrator!);
  token = await operatorToken(); // the DeletionOrchestrator admits users and operators (mesh/caller-rules.ts)
  // A control bakery that every test's erasure must leave untouched.
  await seed(randomUUID(), 2000, 3);
});

test.after.always(async () => {
  orch?.close();
  await mesh?.stopAll();
  for (const pool of pools.values()) await pool.end().catch(() => undefined);
  await mesh?.dropDatabases();
  await receiver?.stop();
});

async function seed(tenantId: string, rows: number, users: number | string[]) {
  return seedTenant({
    tenantId,
    rows,
    ...(Array.isArray(users) ? { userIds: users } : { users }),
    identity: true,
    migrate: false,
    databaseUrl: async (name) => mesh.databases[name]!,
  });
}

/** Every table of every service database: count and checksum (direct SQL). */
async function meshSnapshot(): Promise<Map<string, Map<string, TableState>>> {
  const result = new Map<string, Map<string, TableState>>();
  for (const name of MESH_SERVICES) result.set(name, await snapshot(pools.get(name)!));
  return result;
}

/**
 * Tables that legitimately change during a tenant erasure: retained (anonymized) rows, outbox events
 * (they record the erasure; they hold ids only), and the auth service (users outlive their tenants).
 */
function exempt(service: string, table: string): boolean {
  if (service === 'auth') return true;
  const d = definition(service);
  const rule = d.deletionPolicy.tables[table]?.tenant;
  return (d.eventTables ?? []).includes(table) || !!(rule && 'retain' in rule);
}

function assertUnchanged(t: any, before: Map<string, Map<string, TableState>>, after: Map<string, Map<string, TableState>>, what: string) {
  for (const [service, tables] of after) {
    for (const [table, state] of tables) {
      if (exempt(service, table)) continue;
      t.deepEqual(state, before.get(service)!.get(table), `${service}.${table}: ${what}`);
    }
  }
}

/**
 * Rows anywhere in the mesh whose text contains `value` (a tenant or user id), by service. Outbox
 * events are left out: they record the erasure itself by id.
 */
async function rowsMentioning(value: string, options: { exemptRetained?: boolean } = {}): Promise<Record<string, number>> {
  const found: Record<string, number> = {};
  for (const name of MESH_SERVICES) {
    const pool = pools.get(name)!;
    const { rows: tables } = await pool.query<{ t: string }>(
      `SELECT relname AS t FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace WHERE n.nspname = 'public' AND relkind = 'r' AND relname <> 'SequelizeMeta'`,
    );
    for (const { t: table } of tables) {
      if ((options.exemptRetained && exempt(name, table)) || (definition(name).eventTables ?? []).includes(table)) continue;
      const { rows } = await pool.query<{ n: number }>(`SELECT count(*)::int AS n FROM "${table}" t WHERE strpos(t::text, $1) > 0`, [value]);
      if (rows[0]!.n > 0) found[`${name}.${table}`] = rows[0]!.n;
    }
  }
  return found;
}

/** Each step as service:expected/deleted/attempts, for assertion messages. */
const stepCounts = (job: Job) => job.steps.map((s) => `${s.service}:${s.expectedRows}/${s.rowsDeleted}/${s.attempts}`).join(' ');
const jobTotal = (job: Job) => job.steps.reduce((sum, s) => sum + Number(s.rowsDeleted), 0);

async function waitForJob(jobId: string, predicate: (job: Job) => boolean, timeoutMs = 60_000): Promise<Job> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const { job } = await orch.unary.getJob({ jobId }, token);
    if (predicate(job!)) return job!;
    if (Date.now() > deadline) throw new Error(`job ${jobId} did not reach the expected state: ${JSON.stringify(job)}`);
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}

test.serial('tenant erasure end to end: snapshot, progress from every service, COMPLETED, nothing left, control intact, totals add up', async (t) => {
  const before = await meshSnapshot();
  const tenantId = randomUUID();
  await seed(tenantId, 6000, 4);
  const preview = await orch.unary.previewTenantDeletion({ tenantId }, token);
  t.deepEqual(preview.unreachableServices, []);
  t.is(preview.services.length, 14);
  const previewTotal = Number(preview.totalRows);
  t.true(previewTotal > 5000, `preview total ${previewTotal}`);

  const run = await orch.deleteTenant({ gracePeriod: AT_ONCE, tenantId }, token);
  t.is(run.error, undefined, run.error?.message);
  t.truthy(run.events[0]?.snapshot, 'the stream starts with a snapshot');
  const progressFrom = new Set(run.events.filter((e) => e.progress).map((e) => e.progress!.service));
  for (const service of domainServices.map((d) => d.name)) t.true(progressFrom.has(service), `progress from ${service}`);
  t.truthy(run.events.some((e) => e.stepUpdate), 'step changes are streamed');
  const job = run.finished!;
  t.is(job.status, JobStatus.JOB_STATUS_COMPLETED, job.error);
  t.truthy(job.verifiedTime, 'verified before COMPLETED');
  t.true(job.steps.every((s) => s.status === StepStatus.STEP_STATUS_SUCCEEDED));
  t.is(Number(job.totalRowsDeleted), jobTotal(job), 'job total = sum of steps');
  t.is(Number(job.totalRowsDeleted), previewTotal, 'job total = preview total');
  t.regex(job.traceId, /^[0-9a-f]{32}$/);

  assertUnchanged(t, before, await meshSnapshot(), 'target gone, control unchanged');
  t.deepEqual(await rowsMentioning(tenantId, { exemptRetained: true }), {}, 'no row mentions the tenant (outside retained invoices and the outbox)');
  const { rows: retained } = await pools.get('sales')!.query(
    `SELECT count(*)::int AS n FROM invoices WHERE tenant_id = $1 AND (customer_name IS NOT NULL OR customer_email IS NOT NULL OR billing_address IS NOT NULL)`,
    [tenantId],
  );
  t.is(retained[0].n, 0, 'retained invoices are anonymized');
  const { rows: events } = await pools.get('tenant')!.query(`SELECT count(*)::int AS n FROM outbox_events WHERE event_type = 'tenant.deleted' AND aggregate_id = $1`, [tenantId]);
  t.is(events[0].n, 1, 'tenant.deleted recorded');

  // The whole run is one trace: spans from every service and the orchestrator share the job's trace id.
  const everyone = ['orchestrator', ...MESH_SERVICES];
  const arrived = await receiver.waitFor((spans) => everyone.every((s) => spans.some((span) => span.service === s && span.traceId === job.traceId)));
  const inTrace = new Set(receiver.spans.filter((s) => s.traceId === job.traceId).map((s) => s.service));
  t.true(arrived, `spans of the job's trace came from: ${[...inTrace].sort().join(', ')}`);
  const jobSpans = receiver.spans.filter((s) => s.traceId === job.traceId);
  t.truthy(jobSpans.find((s) => s.name === 'erasure.job' && s.attributes['erasure.job.id'] === job.id), 'root span of the job');
  t.true(jobSpans.filter((s) => s.name === 'erasure.step').length >= 13, 'a span per service step');
  t.truthy(jobSpans.find((s) => s.name === 'erasure.chunk' && s.service === 'orders'), 'chunk spans inside the services');
  t.truthy(jobSpans.find((s) => s.service === 'orders' && /^pg\.query|DELETE|WITH/.test(s.name)), 'pg spans beneath');
});

test.serial('a repeated request attaches: same request_id returns the same job, and 20 concurrent DeleteTenant calls make one job', async (t) => {
  const tenantId = randomUUID();
  await seed(tenantId, 1200, 3);
  const streams = await Promise.all(Array.from({ length: 20 }, () => orch.deleteTenant({ gracePeriod: AT_ONCE, tenantId, detach: true }, token)));
  const ids = new Set(streams.map((s) => s.snapshot?.id));
  t.is(ids.size, 1, 'one job for twenty requests');
  const { rows } = await pools.get('orchestrator')!.query(`SELECT count(*)::int AS n FROM erasure_jobs WHERE subject_id = $1`, [tenantId]);
  t.is(rows[0].n, 1, 'one job row (direct SQL)');
  const jobId = [...ids][0]!;
  const done = await waitForJob(jobId, isFinal);
  t.is(done.status, JobStatus.JOB_STATUS_COMPLETED);
  const again = await orch.deleteTenant({ gracePeriod: AT_ONCE, tenantId: randomUUID(), requestId: `req-${jobId}` }, token).catch((e) => e);
  t.is(again.error?.code, status.NOT_FOUND, 'an unknown tenant is NOT_FOUND for a service');
});

test.serial('user erasure: a plain member', async (t) => {
  const tenantId = randomUUID();
  const [owner, admin, member] = [randomUUID(), randomUUID(), randomUUID()];
  await seed(tenantId, 1200, [owner!, admin!, member!]);
  t.true(Object.keys(await rowsMentioning(member!)).length > 0);
  const run = await orch.deleteUser({ gracePeriod: AT_ONCE, userId: member! }, await userToken(member!));
  t.is(run.finished?.status, JobStatus.JOB_STATUS_COMPLETED, run.error?.message ?? run.finished?.error);
  t.deepEqual(await rowsMentioning(member!), {}, 'no row anywhere mentions the user');
  const { rows } = await pools.get('tenant')!.query(`SELECT owner_id FROM tenants WHERE id = $1`, [tenantId]);
  t.is(rows[0]?.owner_id, owner, 'the tenant and its owner stay');
  const login = await pools.get('auth')!.query(`SELECT count(*)::int AS n FROM users WHERE id = $1`, [member]);
  t.is(login.rows[0].n, 0, 'the auth record is gone');
});

test.serial('user erasure: an owner with another admin hands ownership to that admin', async (t) => {
  const tenantId = randomUUID();
  const [owner, admin, member] = [randomUUID(), randomUUID(), randomUUID()];
  await seed(tenantId, 1200, [owner!, admin!, member!]);
  const run = await orch.deleteUser({ gracePeriod: AT_ONCE, userId: owner! }, token);
  t.is(run.finished?.status, JobStatus.JOB_STATUS_COMPLETED, run.error?.message ?? run.finished?.error);
  const { rows } = await pools.get('tenant')!.query(`SELECT owner_id, status FROM tenants WHERE id = $1`, [tenantId]);
  t.is(rows[0].owner_id, admin, 'ownership moved to the admin');
  t.is(rows[0].status, 'ACTIVE');
  const roles = await pools.get('tenant')!.query(`SELECT user_id, role FROM tenant_members WHERE tenant_id = $1 AND role = 'OWNER'`, [tenantId]);
  t.deepEqual(roles.rows, [{ user_id: admin, role: 'OWNER' }], 'exactly one owner, the former admin');
  t.deepEqual(await rowsMentioning(owner!), {}, 'no row anywhere mentions the former owner');
});

test.serial('user erasure: an owner who is the only member erases the tenant too', async (t) => {
  const before = await meshSnapshot();
  const tenantId = randomUUID();
  const owner = randomUUID();
  await seed(tenantId, 1200, [owner]);
  const run = await orch.deleteUser({ gracePeriod: AT_ONCE, userId: owner }, await userToken(owner));
  t.is(run.finished?.status, JobStatus.JOB_STATUS_COMPLETED, run.error?.message ?? run.finished?.error);
  const child = await pools.get('orchestrator')!.query(`SELECT status, parent_job_id FROM erasure_jobs WHERE subject_id = $1`, [tenantId]);
  t.deepEqual(child.rows, [{ status: 'COMPLETED', parent_job_id: run.finished!.id }], 'a tenant job ran for the tenant');
  assertUnchanged(t, before, await meshSnapshot(), 'tenant and user gone, control unchanged');
  t.deepEqual(await rowsMentioning(tenantId, { exemptRetained: true }), {});
});

test.serial('user erasure: an owner whose tenant has members but no other admin is refused, nothing changed', async (t) => {
  const tenantId = randomUUID();
  const owner = randomUUID();
  await seed(tenantId, 600, [owner]);
  await pools.get('tenant')!.query(`INSERT INTO tenant_members (tenant_id, user_id, role, joined_at) VALUES ($1, $2, 'MEMBER', now())`, [tenantId, randomUUID()]);
  const before = await meshSnapshot();
  const run = await orch.deleteUser({ gracePeriod: AT_ONCE, userId: owner }, token);
  t.is(run.error?.code, status.FAILED_PRECONDITION);
  t.regex(run.error!.details, new RegExp(tenantId));
  t.deepEqual(await meshSnapshot(), before, 'nothing changed');
  const jobs = await pools.get('orchestrator')!.query(`SELECT count(*)::int AS n FROM erasure_jobs WHERE subject_id = $1`, [owner]);
  t.is(jobs.rows[0].n, 0, 'no job recorded');
});

test.serial('fault: a service stopped during a job is retried and the job completes once it is back', async (t) => {
  const before = await meshSnapshot();
  const tenantId = randomUUID();
  await seed(tenantId, 3000, 3);
  const expected = Number((await orch.unary.previewTenantDeletion({ tenantId }, token)).totalRows);
  await mesh.stop('inventory', 'SIGKILL');
  const stream = orch.deleteTenant({ gracePeriod: AT_ONCE, tenantId }, token);
  const snapshotSeen = await orch.unary.listJobs({ status: JobStatus.JOB_STATUS_UNSPECIFIED, subject: { tenantId }, pageSize: 1, pageToken: '' }, token);
  const jobId = snapshotSeen.jobs[0]?.id ?? (await waitForAny(tenantId));
  await waitForJob(jobId, (job) => job.steps.some((s) => s.service === 'inventory' && s.status === StepStatus.STEP_STATUS_RETRYING));
  await mesh.start('inventory');
  const run = await stream;
  const job = run.finished!;
  t.is(job.status, JobStatus.JOB_STATUS_COMPLETED, `${job.error} (${stepCounts(job)})`);
  const inventory = job.steps.find((s) => s.service === 'inventory')!;
  t.true(inventory.attempts >= 2, `inventory took ${inventory.attempts} attempts`);
  t.regex(inventory.lastError, /^$/);
  t.is(Number(job.totalRowsDeleted), expected, `correct totals: ${stepCounts(job)}`);
  assertUnchanged(t, before, await meshSnapshot(), 'target gone, control unchanged');
});

async function waitForAny(subjectId: string): Promise<string> {
  for (;;) {
    const { rows } = await pools.get('orchestrator')!.query(`SELECT id FROM erasure_jobs WHERE subject_id = $1`, [subjectId]);
    if (rows[0]) return rows[0].id;
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

test.serial('fault: a service that stays down fails the job naming it, everything else done; RetryJob after it returns completes', async (t) => {
  const before = await meshSnapshot();
  const tenantId = randomUUID();
  await seed(tenantId, 2400, 3);
  const expected = Number((await orch.unary.previewTenantDeletion({ tenantId }, token)).totalRows);
  await mesh.stop('recipes', 'SIGTERM');
  const run = await orch.deleteTenant({ gracePeriod: AT_ONCE, tenantId }, token);
  const failed = run.finished!;
  t.is(failed.status, JobStatus.JOB_STATUS_FAILED);
  t.regex(failed.error, /recipes/);
  const recipes = failed.steps.find((s) => s.service === 'recipes')!;
  t.is(recipes.status, StepStatus.STEP_STATUS_FAILED);
  t.regex(recipes.lastError, /UNAVAILABLE/);
  for (const step of failed.steps.filter((s) => s.phase === 'domain' && s.service !== 'recipes')) {
    t.is(step.status, StepStatus.STEP_STATUS_SUCCEEDED, `${step.service} done`);
  }
  t.is(failed.steps.find((s) => s.service === 'tenant')!.status, StepStatus.STEP_STATUS_PENDING, 'identity waits for every domain service');
  const { rows: stillThere } = await pools.get('tenant')!.query(`SELECT status FROM tenants WHERE id = $1`, [tenantId]);
  t.is(stillThere[0]?.status, 'DELETING', 'the tenant is hidden but kept until every domain service confirmed');

  await mesh.start('recipes');
  const { job: reopened } = await orch.unary.retryJob({ jobId: failed.id }, token);
  t.true([JobStatus.JOB_STATUS_PENDING, JobStatus.JOB_STATUS_RUNNING, JobStatus.JOB_STATUS_COMPLETED].includes(reopened!.status));
  const done = await waitForJob(failed.id, isFinal);
  t.is(done.status, JobStatus.JOB_STATUS_COMPLETED, done.error);
  t.is(done.steps.find((s) => s.service === 'orders')!.attempts, 1, 'steps already done are not re-run');
  t.is(Number(done.totalRowsDeleted), expected, `correct totals: ${stepCounts(done)}`);
  assertUnchanged(t, before, await meshSnapshot(), 'target gone, control unchanged');
  t.is(await codeOf(orch.unary.cancelJob({ jobId: done.id }, token)), 'FAILED_PRECONDITION', 'cancelling a finished job');
  t.is(await codeOf(orch.unary.retryJob({ jobId: done.id }, token)), 'FAILED_PRECONDITION', 'retrying a completed job');
});

test.serial('fault: the orchestrator killed with kill -9 mid-job; a new orchestrator resumes and completes it with correct totals', async (t) => {
  const before = await meshSnapshot();
  const tenantId = randomUUID();
  await seed(tenantId, 30000, 3);
  const expected = Number((await orch.unary.previewTenantDeletion({ tenantId }, token)).totalRows);
  let jobId = '';
  const firstProgress = new Promise<void>((resolve) => {
    void orch.deleteTenant({ gracePeriod: AT_ONCE, tenantId }, token, (event) => {
      jobId ||= event.snapshot?.id ?? '';
      if (event.progress) resolve();
    });
  });
  await firstProgress;
  // The job's root span is ended when the job is recorded; let it reach the receiver before the kill.
  t.true(await receiver.waitFor((spans) => spans.some((s) => s.name === 'erasure.job' && s.attributes['erasure.job.id'] === jobId)), 'root span exported');
  await mesh.stop('orchestrator', 'SIGKILL');
  const { rows } = await pools.get('orchestrator')!.query(`SELECT status FROM erasure_jobs WHERE id = $1`, [jobId]);
  t.is(rows[0].status, 'RUNNING', 'the job was cut off mid-run');
  const remaining = Number((await orchPreviewDirect(tenantId)));
  t.true(remaining > 0 && remaining < expected, `some rows done, some left (${remaining} of ${expected})`);

  await mesh.start('orchestrator');
  orch.close();
  orch = orchestratorClient(mesh.addresses.orchestrator!);
  const watched = await orch.watchJob(jobId, token);
  t.truthy(watched.events[0]?.snapshot, 'a reconnecting watcher gets a fresh snapshot');
  const job = watched.finished!;
  t.is(job.status, JobStatus.JOB_STATUS_COMPLETED, job.error);
  t.is(Number(job.totalRowsDeleted), expected, `totals are exact after the crash: ${job.steps.map((s) => `${s.service}:${s.expectedRows}/${s.rowsDeleted}/${s.attempts}`).join(' ')}`);
  assertUnchanged(t, before, await meshSnapshot(), 'target gone, control unchanged');

  // The resumed run continues the job's trace: one trace id, exactly one root span, the new run beneath it.
  const resumedRun = (s: { traceId: string; name: string; attributes: Record<string, unknown> }) =>
    s.traceId === job.traceId && s.name === 'erasure.run' && s.attributes['erasure.run.resumed'] === true;
  t.true(await receiver.waitFor((spans) => spans.some(resumedRun)), 'the resumed run reported its span');
  const jobSpans = receiver.spans.filter((s) => s.traceId === job.traceId);
  const roots = jobSpans.filter((s) => s.parentSpanId === '');
  t.deepEqual(roots.map((s) => `${s.service}/${s.name}`), ['orchestrator/erasure.job'], 'exactly one root span in the job\'s trace');
  t.is(roots[0]?.attributes['erasure.job.id'], jobId);
  const resumed = jobSpans.filter(resumedRun);
  t.true(resumed.length >= 1 && resumed.every((s) => s.parentSpanId === roots[0]?.spanId), 'the resumed run is a child of the stored root context');
  t.true(jobSpans.some((s) => s.name === 'erasure.step' && resumed.some((r) => r.spanId === s.parentSpanId)), 'steps of the resumed run are in the same trace');
  t.is(new Set(receiver.spans.filter((s) => s.name === 'erasure.job' && s.attributes['erasure.job.id'] === jobId).map((s) => s.traceId)).size, 1, 'one trace for the job');
});

/** Rows of the tenant still present in the domain services, by direct SQL. */
async function orchPreviewDirect(tenantId: string): Promise<number> {
  let total = 0;
  for (const name of domainServices.map((d) => d.name)) {
    const pool = pools.get(name)!;
    for (const [table, rule] of Object.entries(definition(name).deletionPolicy.tables)) {
      if (!rule.tenant || !('delete' in rule.tenant) || 'parent' in rule.tenant.delete) continue;
      const { rows } = await pool.query(`SELECT count(*)::int AS n FROM "${table}" WHERE "${rule.tenant.delete.column}" = $1`, [tenantId]);
      total += rows[0].n;
    }
  }
  return total;
}

test.serial('two orchestrators on one database run a job once', async (t) => {
  const tenantId = randomUUID();
  await seed(tenantId, 6000, 3);
  const address = `127.0.0.1:${await freePort()}`;
  await mesh.start('orchestrator', { key: 'orchestrator-2', address });
  const other = orchestratorClient(address);
  try {
    const first = await orch.deleteTenant({ gracePeriod: AT_ONCE, tenantId, detach: true }, token);
    const attached = await other.deleteTenant({ gracePeriod: AT_ONCE, tenantId }, token);
    t.is(attached.snapshot?.id, first.snapshot?.id, 'the second orchestrator attaches to the same job');
    t.true(attached.events.some((e) => e.progress || e.stepUpdate), 'a watcher on the replica that is not running the job sees its progress');
    const job = attached.finished!;
    t.is(job.status, JobStatus.JOB_STATUS_COMPLETED, job.error);
    t.true(job.steps.every((s) => s.attempts === 1), 'every step ran exactly once');
    t.is(Number(job.totalRowsDeleted), Number(job.expectedRows));
  } finally {
    other.close();
  }
});

test.serial('50 small tenants erased at once all complete, the control intact', async (t) => {
  const before = await meshSnapshot();
  const tenants = Array.from({ length: 50 }, () => randomUUID());
  // 120 rows each across the twelve domain services, two users; seeded per database, not per tenant.
  await seedTenants(pools, tenants, { rowsPerService: 10, users: 2 });
  const runs = await Promise.all(tenants.map((tenantId) => orch.deleteTenant({ gracePeriod: AT_ONCE, tenantId }, token)));
  for (const run of runs) t.is(run.finished?.status, JobStatus.JOB_STATUS_COMPLETED, run.error?.message ?? run.finished?.error);
  assertUnchanged(t, before, await meshSnapshot(), 'all fifty gone, control unchanged');
});

test.serial('bad input and authorization are refused with the right status, nothing deleted', async (t) => {
  const tenantId = randomUUID();
  const [owner, admin, member] = [randomUUID(), randomUUID(), randomUUID()];
  await seed(tenantId, 600, [owner!, admin!, member!]);
  const before = await meshSnapshot();
  const memberToken = await userToken(member!);
  const code = async (p: Promise<{ error?: { code: number } }>) => status[(await p).error?.code ?? 0];

  t.is(await code(orch.deleteTenant({ gracePeriod: AT_ONCE, tenantId: 'nope' }, token)), 'INVALID_ARGUMENT');
  t.is(await code(orch.deleteUser({ gracePeriod: AT_ONCE, userId: '123' }, token)), 'INVALID_ARGUMENT');
  t.is(await code(orch.deleteTenant({ gracePeriod: AT_ONCE, tenantId }, undefined)), 'UNAUTHENTICATED');
  t.is(await code(orch.deleteTenant({ gracePeriod: AT_ONCE, tenantId }, 'not.a.token')), 'UNAUTHENTICATED');
  t.is(await code(orch.deleteTenant({ gracePeriod: AT_ONCE, tenantId }, memberToken)), 'PERMISSION_DENIED', 'a member without admin rights');
  t.is(await code(orch.deleteTenant({ gracePeriod: AT_ONCE, tenantId: randomUUID() }, memberToken)), 'PERMISSION_DENIED', 'a user cannot probe unknown tenants');
  t.is(await code(orch.deleteTenant({ gracePeriod: AT_ONCE, tenantId: randomUUID() }, token)), 'NOT_FOUND', 'unknown tenant, authorized caller');
  t.is(await code(orch.deleteUser({ gracePeriod: AT_ONCE, userId: owner! }, memberToken)), 'PERMISSION_DENIED', 'a user may only erase themself');
  t.is(await codeOf(orch.unary.previewTenantDeletion({ tenantId }, memberToken)), 'PERMISSION_DENIED');
  t.is(await codeOf(orch.unary.getJob({ jobId: 'x' }, token)), 'INVALID_ARGUMENT');
  t.is(await codeOf(orch.unary.getJob({ jobId: randomUUID() }, token)), 'NOT_FOUND');
  t.is(await codeOf(orch.unary.listJobs({ status: JobStatus.JOB_STATUS_UNSPECIFIED, pageSize: 9999, pageToken: '' }, token)), 'INVALID_ARGUMENT');
  t.is(await codeOf(orch.unary.listJobs({ status: JobStatus.JOB_STATUS_UNSPECIFIED, pageSize: 5, pageToken: 'garbage' }, token)), 'INVALID_ARGUMENT');
  t.deepEqual(await meshSnapshot(), before, 'nothing deleted');

  // An admin may erase the tenant and then see the job; the member may not see it.
  const run = await orch.deleteTenant({ gracePeriod: AT_ONCE, tenantId }, await userToken(admin!));
  t.is(run.finished?.status, JobStatus.JOB_STATUS_COMPLETED, run.error?.message);
  t.is((await orch.unary.getJob({ jobId: run.finished!.id }, await userToken(owner!))).job?.id, run.finished!.id, 'the owner may see it');
  t.is(await codeOf(orch.unary.getJob({ jobId: run.finished!.id }, memberToken)), 'PERMISSION_DENIED');
  const listed = await orch.unary.listJobs({ status: JobStatus.JOB_STATUS_COMPLETED, subject: { tenantId }, pageSize: 10, pageToken: '' }, await userToken(admin!));
  t.deepEqual(listed.jobs.map((j) => j.id), [run.finished!.id]);
  const page = await orch.unary.listJobs({ status: JobStatus.JOB_STATUS_UNSPECIFIED, pageSize: 2, pageToken: '' }, token);
  t.is(page.jobs.length, 2);
  const next = await orch.unary.listJobs({ status: JobStatus.JOB_STATUS_UNSPECIFIED, pageSize: 2, pageToken: page.nextPageToken }, token);
  t.notDeepEqual(next.jobs.map((j) => j.id), page.jobs.map((j) => j.id), 'pagination moves on');
});

test.serial('CancelJob stops a running job between chunks; work done stays done; RetryJob finishes it', async (t) => {
  const tenantId = randomUUID();
  await seed(tenantId, 30000, 3);
  const expected = Number((await orch.unary.previewTenantDeletion({ tenantId }, token)).totalRows);
  let jobId = '';
  const stream = orch.deleteTenant({ gracePeriod: AT_ONCE, tenantId }, token, (event) => {
    jobId ||= event.snapshot?.id ?? '';
  });
  await waitForAny(tenantId).then((id) => waitForJob(id, (job) => Number(job.totalRowsDeleted) > 0));
  const { job } = await orch.unary.cancelJob({ jobId: jobId || (await waitForAny(tenantId)) }, token);
  const final = (await stream).finished ?? job!;
  t.is(final.status, JobStatus.JOB_STATUS_CANCELLED);
  const left = await orchPreviewDirect(tenantId);
  t.true(left > 0, 'stopped before the end');
  const { job: retried } = await orch.unary.retryJob({ jobId: final.id }, token);
  t.truthy(retried);
  const done = await waitForJob(final.id, isFinal);
  t.is(done.status, JobStatus.JOB_STATUS_COMPLETED, done.error);
  t.is(Number(done.totalRowsDeleted), expected);
});
