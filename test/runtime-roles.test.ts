/**
 * Least privilege in the database (issue 9, "Deployment"): `erasure db provision` (mesh/provision.ts)
 * migrates every process's database as the administrator and gives each process a runtime role; the
 * whole mesh then runs as those roles with MIGRATE=false and erases a tenant end to end, while each role
 * is refused DDL, other services' databases, and rewriting the orchestrator's tombstones. Checks of rows
 * are direct SQL as the administrator.
 */
import { AT_ONCE } from '../orchestrator/grace';
import { randomBytes, randomUUID } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import test from 'ava';
import { Client, type Pool } from 'pg';
import { JobStatus } from '../gen/bakery/erasure/v1/deletion_orchestrator';
import { PROCESS_NAMES } from '../mesh/catalog';
import { provisionProcessDatabase, runtimeUrl } from '../mesh/provision';
import { resolveServiceDatabaseUrl } from '../services/kit/database';
import { createLogger } from '../services/kit/logger';
import { seedTenant } from '../services/seed';
import { changedTables, meshPools, meshSnapshot, rowsMentioning } from './support/mesh-checks';
import { orchestratorClient } from './support/orchestrator-client';
import { ProcessMesh } from './support/process-mesh';
import { operatorToken } from './support/services';

const label = `roles_${randomUUID().slice(0, 6)}`;
const serverUrl = process.env.TEST_DATABASE_URL!;
let mesh: ProcessMesh;
/** The administrator's view of every process's database, for seeding and direct checks. */
const adminUrls: Record<string, string> = {};
const roles: Record<string, { role: string; password: string; url: string }> = {};
let pools: Map<string, Pool>;
let orch: ReturnType<typeof orchestratorClient>;
const log = createLogger('provision-test');
log.level = 'warn';

/** Connects as a process's runtime role to `database` (its own unless given). */
async function connectAs(name: string, database?: string): Promise<Client> {
  const url = new URL(roles[name]!.url);
  if (database) url.pathname = `/${database}`;
  const client = new Client({ connectionString: url.toString() });
  await client.connect();
  return client;
}

const errorCode = (promise: Promise<unknown>) => promise.then(() => 'ok', (error: { code?: string }) => error.code ?? String(error));

test.before(async (t) => {
  t.timeout(300_000);
  mesh = new ProcessMesh(serverUrl, label, { MIGRATE: 'false' });
  await mesh.prepare(); // free ports and empty databases, as the administrator
  for (const name of PROCESS_NAMES) {
    adminUrls[name] = mesh.databases[name]!;
    const role = `${label}_${name.replace(/-/g, '_')}_rt`;
    const password = randomBytes(12).toString('base64url');
    await provisionProcessDatabase({ name, adminUrl: adminUrls[name]!, role, password }, log);
    const url = new URL(runtimeUrl(adminUrls[name]!, role));
    url.password = password;
    roles[name] = { role, password, url: url.toString() };
    // Every process of the mesh connects as its runtime role, not as the administrator.
    mesh.databases[name] = url.toString();
  }
  await mesh.startAll();
  pools = meshPools(adminUrls);
  orch = orchestratorClient(mesh.addresses.orchestrator!);
});

test.after.always(async () => {
  orch?.close();
  await mesh?.stopAll();
  for (const pool of pools?.values() ?? []) await pool.end().catch(() => undefined);
  Object.assign(mesh.databases, adminUrls);
  await mesh?.dropDatabases();
  const admin = new Client({ connectionString: serverUrl });
  await admin.connect();
  for (const { role } of Object.values(roles)) await admin.query(`DROP ROLE IF EXISTS "${role}"`).catch(() => undefined);
  await admin.end();
});

test.serial('the whole mesh runs as per-process runtime roles without migrating, and erases a tenant end to end', async (t) => {
  t.timeout(180_000);
  const target = randomUUID();
  const control = randomUUID();
  const seed = (tenantId: string) => seedTenant({ tenantId, rows: 300, users: 2, identity: true, migrate: false, databaseUrl: async (name) => adminUrls[name]! });
  await seed(control);
  const before = await meshSnapshot(pools);
  await seed(target);
  const token = await operatorToken();
  const expected = Number((await orch.unary.previewTenantDeletion({ tenantId: target }, token)).totalRows);
  t.true(expected > 0, 'the preview finds the seeded rows');
  const run = await orch.deleteTenant({ gracePeriod: AT_ONCE, tenantId: target }, token);
  t.is(run.error, undefined, run.error?.message);
  t.is(run.finished?.status, JobStatus.JOB_STATUS_COMPLETED, run.finished?.error);
  t.is(Number(run.finished?.totalRowsDeleted), expected, `every previewed row was erased: ${run.finished?.steps.map((s) => `${s.service}:${s.expectedRows}/${s.rowsDeleted}`).join(' ')}`);
  t.deepEqual(await rowsMentioning(pools, [target]), {}, 'nothing of the tenant left (direct SQL)');
  t.deepEqual(changedTables(before, await meshSnapshot(pools)), [], 'the control tenant is untouched');
  const { rows } = await pools.get('orchestrator')!.query(`SELECT count(*)::int AS n FROM erasure_tombstones WHERE job_id = $1`, [run.finished!.id]);
  t.is(rows[0].n, 1, 'the tombstone was written by the runtime role');
});

test.serial('each runtime role: rows of its own database only, no DDL, tombstones insert-only', async (t) => {
  const orchestrator = await connectAs('orchestrator');
  try {
    t.is(await errorCode(orchestrator.query('CREATE TABLE sneaky (id int)')), '42501', 'no CREATE');
    t.is(await errorCode(orchestrator.query('ALTER TABLE erasure_jobs ADD COLUMN x int')), '42501', 'no ALTER');
    t.is(await errorCode(orchestrator.query('TRUNCATE erasure_job_steps')), '42501', 'no TRUNCATE');
    t.is(await errorCode(orchestrator.query(`UPDATE erasure_tombstones SET key_version = key_version + 1`)), '42501', 'tombstones cannot be rewritten');
    t.is(await errorCode(orchestrator.query('DELETE FROM erasure_tombstones')), '42501', 'tombstones cannot be deleted');
    t.is(await errorCode(orchestrator.query('SELECT count(*) FROM erasure_tombstones')), 'ok', 'tombstones can be read');
    t.is(await errorCode(orchestrator.query('SELECT count(*) FROM pgboss.job')), 'ok', 'the queue is usable');
  } finally {
    await orchestrator.end();
  }
  for (const [name, other] of [['orders', 'tenant'], ['tenant', 'orchestrator'], ['orchestrator', 'auth']] as const) {
    const database = new URL(adminUrls[other]!).pathname.slice(1);
    t.is(await errorCode(connectAs(name, database).then((client) => client.end())), '42501', `${name} cannot connect to ${other}'s database`);
  }
  const orders = await connectAs('orders');
  try {
    t.is(await errorCode(orders.query('DROP TABLE customers')), '42501', 'a domain service cannot drop its tables');
  } finally {
    await orders.end();
  }
  // Nothing above changed a table's shape: the erasure health of every service still says SERVING.
  const { rows } = await pools.get('orders')!.query(`SELECT count(*)::int AS n FROM information_schema.tables WHERE table_name = 'sneaky'`);
  t.is(rows[0].n, 0);
});

test.serial('a process reads its runtime password from its own file (ERASURE_DATABASE_PASSWORD_FILE)', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'erasure-db-password-'));
  try {
    const file = join(dir, 'orders.password');
    writeFileSync(file, `${roles.orders!.password}\n`, { mode: 0o600 });
    const withoutPassword = new URL(roles.orders!.url);
    withoutPassword.password = '';
    const { url } = await resolveServiceDatabaseUrl('orders', { ORDERS_DATABASE_URL: withoutPassword.toString(), ERASURE_DATABASE_PASSWORD_FILE: file });
    const client = new Client({ connectionString: url });
    await client.connect();
    const { rows } = await client.query('SELECT current_user AS who');
    await client.end();
    t.is(rows[0].who, roles.orders!.role);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
