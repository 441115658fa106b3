/**
 * Legal holds (orchestrator/holds.ts): all fourteen services and the orchestrator as real processes on
 * loopback, one mesh for the file. A whole-subject hold stops the tenant's erasure before any row
 * changes (ON_HOLD, audited `job.on_hold`), survives an orchestrator kill -9, and cannot be released by
 * the operator who placed it; another operator's release completes the job. A hold on one service's
 * entity keeps exactly those rows while the rest is erased. The retention purge skips held rows. Bad
 * input changes nothing. A control tenant is checked untouched throughout; every check is direct SQL.
 */
import { randomUUID } from 'node:crypto';
import test from 'ava';
import { credentials, status, type ServiceError } from '@grpc/grpc-js';
import type { Pool } from 'pg';
import { DeletionOrchestratorClient, JobStatus, StepStatus, type PlaceHoldRequest } from '../gen/bakery/erasure/v1/deletion_orchestrator';
import { AT_ONCE } from '../orchestrator/grace';
import { seedTenant } from '../services/seed';
import { bearerMetadata, unaryCall } from '../services/kit/unary';
import { testServerUrl } from './support/database';
import { changedTables, meshPools, meshSnapshot, rowsMentioning, waitForJobStatus } from './support/mesh-checks';
import { orchestratorClient } from './support/orchestrator-client';
import { ProcessMesh } from './support/process-mesh';
import { cli } from './support/cli';
import { operatorToken, serviceToken, userToken } from './support/services';

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

let mesh: ProcessMesh;
let pools: Map<string, Pool>;
let orch: ReturnType<typeof orchestratorClient>;
let holdsClient: DeletionOrchestratorClient;
/** Two operators: one places a hold, the other releases it. */
let alice: string;
let bob: string;
let control: string;

test.before(async (t) => {
  t.timeout(300_000);
  mesh = new ProcessMesh(testServerUrl(), `holds_${randomUUID().slice(0, 6)}`, {
    ORCHESTRATOR_STEP_RETRY_BUDGET_MS: '25000',
    ORCHESTRATOR_BACKOFF_BASE_MS: '200',
    ORCHESTRATOR_BACKOFF_MAX_MS: '1500',
    ORCHESTRATOR_LEASE_MS: '3000',
    ORCHESTRATOR_WATCHDOG_INTERVAL_MS: '1000',
    // Small, paced chunks: a hold placed while a job runs lands between chunks, long before the end.
    ERASURE_CHUNK_MIN_ROWS: '10',
    ERASURE_CHUNK_INITIAL_ROWS: '20',
    ERASURE_CHUNK_MAX_ROWS: '40',
    ERASURE_CHUNK_PAUSE_MS: '25',
  });
  await mesh.prepare();
  await mesh.startAll();
  pools = meshPools(mesh.databases);
  connect();
  alice = await operatorToken('alice');
  bob = await operatorToken('bob');
  control = randomUUID();
  await seed(control, 600);
});

test.after.always(async () => {
  orch?.close();
  holdsClient?.close();
  await mesh?.stopAll();
  for (const pool of pools?.values() ?? []) await pool.end().catch(() => undefined);
  await mesh?.dropDatabases();
});

function connect(): void {
  orch?.close();
  holdsClient?.close();
  orch = orchestratorClient(mesh.addresses.orchestrator!);
  holdsClient = new DeletionOrchestratorClient(mesh.addresses.orchestrator!, credentials.createInsecure());
}

const seed = (tenantId: string, rows: number) =>
  seedTenant({ tenantId, rows, users: 2, identity: true, migrate: false, databaseUrl: async (name) => mesh.databases[name]! });

const sql = async <T>(database: string, text: string, params: unknown[] = []) => (await pools.get(database)!.query(text, params)).rows as T[];

const place = (request: Partial<PlaceHoldRequest>, token: string) =>
  unaryCall(holdsClient, 'placeHold', { services: [], entities: [], reason: '', ...request }, { metadata: bearerMetadata(token) });
const release = (holdId: string, token: string) => unaryCall(holdsClient, 'releaseHold', { holdId }, { metadata: bearerMetadata(token) });
const codeOf = async (call: Promise<unknown>): Promise<number | undefined> => call.then(() => undefined, (error: ServiceError) => error.code);

async function jobRow(id: string) {
  const [row] = await sql<{ status: string; hold_ids: string[]; held: { hold_id: string; service: string; rows: number }[] }>(
    'orchestrator',
    'SELECT status, hold_ids, held FROM erasure_jobs WHERE id = $1',
    [id],
  );
  return row!;
}

const waitForStatus = (id: string, wanted: string, timeoutMs: number) => waitForJobStatus(pools.get('orchestrator')!, id, wanted, timeoutMs);

const auditKinds = async (jobId: string) => (await sql<{ kind: string }>('orchestrator', 'SELECT kind FROM erasure_audit_log WHERE job_id = $1 ORDER BY seq', [jobId])).map((r) => r.kind);
const rowsOf = async (tenantId: string) => Object.values(await rowsMentioning(pools, [tenantId])).reduce((sum, n) => sum + n, 0);
const summaries = async (tenantId: string) =>
  (await sql<{ s: string }>('sales', `SELECT count(*) || ':' || md5(coalesce(string_agg(d::text, ',' ORDER BY d.id), '')) AS s FROM daily_sales_summaries d WHERE tenant_id = $1`, [tenantId]))[0]!.s;

test.serial('bad input gets the right status and places nothing; user and service tokens are refused', async (t) => {
  const tenantId = randomUUID();
  const subject = { tenantId };
  const count = async () => (await sql<{ n: number }>('orchestrator', 'SELECT count(*)::int AS n FROM legal_holds'))[0]!.n;
  const before = await count();
  t.is(await codeOf(place({ subject, reason: 'case 1' }, await userToken(randomUUID()))), status.PERMISSION_DENIED);
  t.is(await codeOf(place({ subject, reason: 'case 1' }, await serviceToken('orders'))), status.PERMISSION_DENIED);
  t.is(await codeOf(place({ subject, reason: '  ' }, alice)), status.INVALID_ARGUMENT, 'a reason is required');
  t.is(await codeOf(place({ reason: 'case 1' }, alice)), status.INVALID_ARGUMENT, 'a subject is required');
  t.is(await codeOf(place({ subject: { tenantId: 'not-a-uuid' }, reason: 'case 1' }, alice)), status.INVALID_ARGUMENT);
  t.is(await codeOf(place({ subject, reason: 'case 1', services: ['bakery-of-doom'] }, alice)), status.INVALID_ARGUMENT, 'unknown service');
  t.is(await codeOf(place({ subject, reason: 'case 1', entities: ['sales/no_such_table'] }, alice)), status.INVALID_ARGUMENT, 'unknown entity');
  t.is(await codeOf(place({ subject, reason: 'case 1', entities: ['daily_sales_summaries'] }, alice)), status.INVALID_ARGUMENT, 'entity without its service');
  t.is(await codeOf(place({ subject, reason: 'case 1', endTime: new Date(Date.now() - 1000) }, alice)), status.INVALID_ARGUMENT, 'end in the past');
  const error = await place({ subject: { userId: 'x' }, reason: 'case 1' }, alice).catch((e: ServiceError) => e);
  t.false(JSON.stringify(error).includes(tenantId));
  t.is(await count(), before, 'nothing was placed');
  t.is(await codeOf(release(randomUUID(), bob)), status.NOT_FOUND);

  // A user's hold keeps no trace of the user's id: only keyed hashes.
  const userId = randomUUID();
  const { hold } = await place({ subject: { userId }, reason: 'case 2', entities: ['sales/sales_transactions'] }, alice);
  t.truthy(hold);
  const [row] = await sql<{ text: string }>('orchestrator', 'SELECT l::text AS text FROM legal_holds l WHERE id = $1', [hold!.id]);
  t.false(row!.text.includes(userId), 'the user id is not stored');
  t.false(row!.text.includes('alice'), 'nor the operator name');
  await release(hold!.id, bob);
});

test.serial('a whole-subject hold stops the job before any row changes, survives a restart, cannot be released by its placer, and its release completes the job', async (t) => {
  const tenantId = randomUUID();
  await seed(tenantId, 600);
  const { hold } = await place({ subject: { tenantId }, reason: 'litigation hold, case 2026-17' }, alice);
  const before = await meshSnapshot(pools);
  const controlBefore = await rowsOf(control);

  const run = await orch.deleteTenant({ tenantId, gracePeriod: AT_ONCE }, alice);
  t.falsy(run.error, run.error?.details);
  const last = run.events.at(-1)?.snapshot ?? run.events.at(-1)?.finished;
  t.is(last?.status, JobStatus.JOB_STATUS_ON_HOLD, 'the stream ends showing the job ON_HOLD');
  t.deepEqual(last?.holdIds, [hold!.id]);
  const jobId = run.snapshot!.id;
  t.is((await jobRow(jobId)).status, 'ON_HOLD');
  t.deepEqual(changedTables(before, await meshSnapshot(pools)), [], 'no row changed anywhere (direct SQL)');
  const kinds = await auditKinds(jobId);
  t.true(kinds.includes('job.on_hold'), kinds.join(','));
  t.false(kinds.some((k) => k.startsWith('step.')), 'no step ran');

  // The placer alone cannot release it.
  t.is(await codeOf(release(hold!.id, alice)), status.PERMISSION_DENIED);
  t.is((await sql<{ status: string }>('orchestrator', 'SELECT status FROM legal_holds WHERE id = $1', [hold!.id]))[0]!.status, 'ACTIVE');

  // kill -9 and restart: nothing is lost, nothing runs.
  await mesh.stop('orchestrator', 'SIGKILL');
  await mesh.start('orchestrator');
  connect();
  await sleep(2_500); // a few watchdog passes and queue polls
  t.is((await jobRow(jobId)).status, 'ON_HOLD', 'still ON_HOLD after the restart');
  t.deepEqual(changedTables(before, await meshSnapshot(pools)), [], 'still nothing changed');

  const released = await release(hold!.id, bob);
  t.is(released.hold?.status, 'RELEASED');
  t.is(await waitForStatus(jobId, 'COMPLETED', 60_000), 'COMPLETED');
  t.is(await rowsOf(tenantId), 0, 'the tenant is erased once released');
  t.is(await rowsOf(control), controlBefore, 'the control tenant is untouched');
  const after = await auditKinds(jobId);
  t.true(after.includes('hold.released') && after.includes('job.pending') && after.includes('job.completed'), after.join(','));
  const certificate = await orch.unary.getCertificate({ jobId }, bob);
  t.is(JSON.parse(certificate.payloadJson).legal_holds[0].hold_id, hold!.id, 'the certificate names the hold');
});

test.serial('a hold on one service entity keeps exactly those rows while the rest is erased; Preview and GetJob report it; release completes the job', async (t) => {
  const tenantId = randomUUID();
  await seed(tenantId, 900);
  const kept = await summaries(tenantId);
  t.not(kept.split(':')[0], '0', 'the tenant has daily sales summaries');
  const controlSummaries = await summaries(control);
  const controlBefore = await rowsOf(control);
  const { hold } = await place({ subject: { tenantId }, reason: 'tax audit 2026', entities: ['sales/daily_sales_summaries'] }, alice);

  const preview = await orch.unary.previewTenantDeletion({ tenantId }, alice);
  const shown = preview.services.find((s) => s.service === 'sales')!.entities.find((e) => e.entity === 'daily_sales_summaries')!;
  t.is(shown.heldRowCount, kept.split(':')[0], 'Preview reports the held rows');
  t.is(shown.rowCount, '0');

  const run = await orch.deleteTenant({ tenantId, gracePeriod: AT_ONCE }, alice);
  t.falsy(run.error, run.error?.details);
  const jobId = run.snapshot!.id;
  t.is(await waitForStatus(jobId, 'ON_HOLD', 60_000), 'ON_HOLD');
  t.is(await summaries(tenantId), kept, 'the held rows are byte-identical');
  t.deepEqual(await rowsMentioning(pools, [tenantId]), { 'sales.daily_sales_summaries': Number(kept.split(':')[0]) }, 'everything else of the tenant is erased');
  const { job } = await orch.unary.getJob({ jobId }, alice);
  t.is(job!.steps.find((s) => s.service === 'sales')!.status, StepStatus.STEP_STATUS_ON_HOLD);
  t.true(job!.steps.filter((s) => s.service !== 'sales').every((s) => s.status === StepStatus.STEP_STATUS_SUCCEEDED));
  t.deepEqual(job!.held.map((p) => [p.holdId, p.service, p.entities, p.rows, p.reason]), [[hold!.id, 'sales', ['daily_sales_summaries'], kept.split(':')[0], 'tax audit 2026']]);

  await release(hold!.id, bob);
  t.is(await waitForStatus(jobId, 'COMPLETED', 60_000), 'COMPLETED');
  t.is(await rowsOf(tenantId), 0, 'released: the held rows are erased too');
  t.is(await summaries(control), controlSummaries);
  t.is(await rowsOf(control), controlBefore, 'the control tenant is untouched');
  const certificate = JSON.parse((await orch.unary.getCertificate({ jobId }, bob)).payloadJson);
  t.deepEqual(certificate.legal_holds, [{ hold_id: hold!.id, service: 'sales', entities: ['daily_sales_summaries'], rows: Number(kept.split(':')[0]), reason: 'tax audit 2026' }]);
});

test.serial('the retention purge skips held rows', async (t) => {
  const [held, free] = [randomUUID(), randomUUID()];
  for (const tenantId of [held, free]) {
    await seed(tenantId, 1500);
    const run = await orch.deleteTenant({ tenantId, gracePeriod: AT_ONCE }, alice);
    t.is(run.finished?.status, JobStatus.JOB_STATUS_COMPLETED, run.error?.details);
  }
  // Every retained invoice of both erased tenants, and of the live control, is past its ten years.
  for (const tenantId of [held, free, control]) await sql('sales', `UPDATE invoices SET issued_at = now() - interval '11 years' WHERE tenant_id = $1`, [tenantId]);
  const invoices = async (tenantId: string) =>
    (await sql<{ s: string }>('sales', `SELECT count(*) || ':' || md5(coalesce(string_agg(i::text, ',' ORDER BY i.id), '')) AS s FROM invoices i WHERE tenant_id = $1`, [tenantId]))[0]!.s;
  const heldBefore = await invoices(held);
  const controlBefore = await invoices(control);
  t.not(heldBefore.split(':')[0], '0');
  t.not((await invoices(free)).split(':')[0], '0');
  // Through the CLI this time: `erasure hold place|release|list`.
  const as = (token: string) => ({ ERASURE_TOKEN: token, ORCHESTRATOR_ADDR: mesh.addresses.orchestrator! });
  const placed = await cli(['hold', 'place', '--tenant', held, '--entities', 'sales/invoices', '--reason', 'regulator inquiry', '--json'], as(alice));
  t.is(placed.code, 0, placed.stderr);
  const [hold] = JSON.parse(placed.stdout) as { id: string; status: string }[];
  t.is(hold!.status, 'ACTIVE');

  const purge = await unaryCall(holdsClient, 'purgeExpiredRetention', {}, { metadata: bearerMetadata(bob) });
  t.is(purge.purge?.status, 'COMPLETED', purge.purge?.error);
  t.is(await invoices(held), heldBefore, 'the held tenant\'s expired invoices stay, byte-identical');
  t.is((await invoices(free)).split(':')[0], '0', 'the other erased tenant\'s expired invoices are purged');
  t.is(await invoices(control), controlBefore, 'a live tenant\'s invoices are untouched');

  const self = await cli(['hold', 'release', hold!.id], as(alice));
  t.is(self.code, 1, 'the placer cannot release it');
  t.regex(self.stderr, /another operator/);
  t.is((await cli(['hold', 'release', hold!.id, '--json'], as(bob))).code, 0);
  const listed = JSON.parse((await cli(['hold', 'list', '--tenant', held, '--all', '--json'], as(bob))).stdout) as { id: string; status: string }[];
  t.deepEqual(listed.map((h) => [h.id, h.status]), [[hold!.id, 'RELEASED']]);
  await unaryCall(holdsClient, 'purgeExpiredRetention', {}, { metadata: bearerMetadata(bob) });
  t.is((await invoices(held)).split(':')[0], '0', 'released: purged by the next run');
});

test.serial('a hold placed while the job runs stops it between chunks; nothing more is deleted until its release', async (t) => {
  const tenantId = randomUUID();
  await seed(tenantId, 4000);
  const controlBefore = await rowsOf(control);
  const rowsBefore = await rowsOf(tenantId);
  let placed: Promise<{ hold?: { id: string } }> | undefined;
  const run = await orch.deleteTenant({ tenantId, gracePeriod: AT_ONCE }, alice, (event) => {
    // The first committed chunk: the job is running; the hold arrives mid-run.
    if (event.progress && !placed) placed = place({ subject: { tenantId }, reason: 'hold mid-run' }, alice);
  });
  t.falsy(run.error, run.error?.details);
  const { hold } = await placed!;
  const jobId = run.snapshot!.id;
  t.is(await waitForStatus(jobId, 'ON_HOLD', 30_000), 'ON_HOLD');
  const left = await rowsOf(tenantId);
  t.true(left > 0 && left < rowsBefore, `stopped part-way: ${left} of ${rowsBefore} rows left`);
  const held = await meshSnapshot(pools);
  await sleep(2_000);
  t.deepEqual(changedTables(held, await meshSnapshot(pools)), [], 'nothing is deleted while on hold');
  t.true((await auditKinds(jobId)).includes('job.on_hold'));

  await release(hold!.id, bob);
  t.is(await waitForStatus(jobId, 'COMPLETED', 60_000), 'COMPLETED');
  t.is(await rowsOf(tenantId), 0);
  t.is(await rowsOf(control), controlBefore, 'the control tenant is untouched');
});

test.serial('a hold whose end passes expires by itself (audited) and the job it stopped completes', async (t) => {
  const tenantId = randomUUID();
  await seed(tenantId, 300);
  const controlBefore = await rowsOf(control);
  const { hold } = await place({ subject: { tenantId }, reason: 'short hold', endTime: new Date(Date.now() + 4_000) }, alice);
  const run = await orch.deleteTenant({ tenantId, gracePeriod: AT_ONCE }, alice);
  const jobId = run.snapshot!.id;
  t.is(await waitForStatus(jobId, 'ON_HOLD', 10_000), 'ON_HOLD');
  t.is(await waitForStatus(jobId, 'COMPLETED', 60_000), 'COMPLETED', 'resumed when the hold ended');
  t.is((await sql<{ status: string }>('orchestrator', 'SELECT status FROM legal_holds WHERE id = $1', [hold!.id]))[0]!.status, 'EXPIRED');
  t.true((await auditKinds(jobId)).includes('hold.expired'));
  t.is(await rowsOf(tenantId), 0);
  t.is(await rowsOf(control), controlBefore, 'the control tenant is untouched');
});
