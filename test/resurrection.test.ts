/**
 * Erasure sticks: the resurrection sweep and the refusals around it. A real orchestrator database
 * (migrated) holds the tombstones; its TombstoneRegistry is served over real gRPC on loopback; the
 * orders service runs with the kit's sweep against its own database. Rows of erased subjects are
 * written behind the service's back (direct SQL), or come back with a database restored from a copy
 * taken before the erasure (CREATE DATABASE … TEMPLATE …). Every outcome is checked by direct SQL,
 * with control tenants proven untouched.
 */
import { randomUUID } from 'node:crypto';
import test, { type ExecutionContext } from 'ava';
import { credentials, status } from '@grpc/grpc-js';
import { Pool } from 'pg';
import { TombstoneRegistryClient } from '../gen/bakery/erasure/v1/tombstone_registry';
import { TENANT_DATA_DELETION } from '../mesh/catalog';
import type { Tombstones } from '../orchestrator/tombstones';
import { service as orders } from '../services/orders';
import { extension as tenantExtension, service as tenantService } from '../services/tenant';
import { dropDatabase, openServiceDatabase, withDatabase } from '../services/kit/database';
import { healthStatus } from '../services/kit/health-client';
import { migrate } from '../services/kit/migrations';
import type { SweepSettings } from '../services/kit/resurrection-sweep';
import { startService, type RunningService } from '../services/kit/run-service';
import type { RunningServer } from '../services/kit/server';
import { sleep } from '../services/kit/sleep';
import { bearerMetadata, unaryCall } from '../services/kit/unary';
import { createTestDatabase, testServerUrl, type TestDatabase } from './support/database';
import { cli } from './support/cli';
import { freePort } from './support/ports';
import { startTestRegistry, type TestRegistry } from './support/registry';
import { erasureClient, operatorToken, runDelete, serviceToken, silentLog, smallChunks, tenantSubject, testKeys } from './support/services';

let reg: TestRegistry;
let orch: TestDatabase;
let tombstones: Tombstones;
let registry: RunningServer;
const recordErased = (kind: 'tenant' | 'user', id: string) => reg.recordErased(kind, id);

test.before(async () => {
  reg = await startTestRegistry('resurrection_orch');
  ({ orch, tombstones, server: registry } = reg);
});
test.after.always(async () => reg?.close());

const quickSweep = (overrides: Partial<SweepSettings> = {}): SweepSettings => ({ batch: 2, intervalMs: 3_600_000, retryMs: 300, startupWaitMs: 10_000, ...overrides });

/** The orders service with the kit's sweep, asking the registry at `registryAddress` as itself. */
async function startOrders(t: ExecutionContext, databaseUrl: string, registryAddress: string, options: { address?: string; sweep?: SweepSettings } = {}): Promise<RunningService> {
  const client = reg.client('orders', registryAddress);
  const running = await startService(orders, {
    address: options.address ?? '127.0.0.1:0',
    databaseUrl,
    keys: (await testKeys()).processKeys('orders'),
    migrate: true,
    chunks: smallChunks,
    log: silentLog,
    tombstones: client,
    registry: client,
    sweep: options.sweep ?? quickSweep(),
  });
  t.teardown(() => running.stop(1000));
  return running;
}

/** A tenant's rows per table of the orders database, by direct SQL. */
async function tenantRows(pool: Pool, tenantId: string): Promise<{ customers: number; orders: number; items: number }> {
  const { rows } = await pool.query<{ customers: number; orders: number; items: number }>(
    `SELECT (SELECT count(*) FROM customers WHERE tenant_id = $1)::int AS customers,
            (SELECT count(*) FROM customer_orders WHERE tenant_id = $1)::int AS orders,
            (SELECT count(*) FROM order_items i JOIN customer_orders o ON o.id = i.order_id WHERE o.tenant_id = $1)::int AS items`,
    [tenantId],
  );
  return rows[0]!;
}
const total = (rows: { customers: number; orders: number; items: number }) => rows.customers + rows.orders + rows.items;

/** Counts and a checksum of every row of a tenant: a control tenant must come out byte-identical. */
async function snapshot(pool: Pool, tenantId: string): Promise<string> {
  const { rows } = await pool.query<{ s: string }>(
    `SELECT concat_ws('|',
       (SELECT count(*) || ':' || md5(coalesce(string_agg(c::text, ',' ORDER BY c.id), '')) FROM customers c WHERE tenant_id = $1),
       (SELECT count(*) || ':' || md5(coalesce(string_agg(o::text, ',' ORDER BY o.id), '')) FROM customer_orders o WHERE tenant_id = $1),
       (SELECT count(*) || ':' || md5(coalesce(string_agg(i::text, ',' ORDER BY i.id), '')) FROM order_items i JOIN customer_orders o ON o.id = i.order_id WHERE o.tenant_id = $1)) AS s`,
    [tenantId],
  );
  return rows[0]!.s;
}

async function resurrectionsOf(ref: string): Promise<{ service: string; rows: number }[]> {
  const { rows } = await orch.pool.query<{ service: string; rows: number }>(
    'SELECT service, rows::int AS rows FROM erasure_resurrections WHERE subject_ref = $1 ORDER BY id',
    [ref],
  );
  return rows;
}

/** Whether a raw id appears anywhere in the registry's tables (it must not). */
async function registryHolds(id: string): Promise<boolean> {
  const { rows } = await orch.pool.query<{ n: number }>(
    `SELECT ((SELECT count(*) FROM erasure_tombstones t WHERE t::text ILIKE '%' || $1 || '%')
           + (SELECT count(*) FROM erasure_resurrections r WHERE r::text ILIKE '%' || $1 || '%'))::int AS n`,
    [id],
  );
  return rows[0]!.n > 0;
}

test.serial("rows of an erased tenant and user written behind the service's back are found by the sweep, erased in chunks and counted; controls untouched", async (t) => {
  const db = await createTestDatabase('resurrection_orders');
  t.teardown(() => db.drop());
  const running = await startOrders(t, db.url, registry.address);
  t.deepEqual(running.sweep?.last, { checked: 0, resurrected: 0, rows: 0, refused: 0 }, 'the start-up sweep ran on the empty database');

  const [erasedTenant, liveTenant, control] = [randomUUID(), randomUUID(), randomUUID()];
  const [erasedUser, liveUser, otherUser] = [randomUUID(), randomUUID(), randomUUID()];
  await recordErased('tenant', erasedTenant);
  await recordErased('user', erasedUser);
  // Behind the service's back: set-based INSERTs straight into its database (a late writer, a replayed queue).
  await orders.seed(db.pool, { tenantId: erasedTenant, userIds: [otherUser], rows: 180 });
  await orders.seed(db.pool, { tenantId: liveTenant, userIds: [erasedUser, liveUser], rows: 180 });
  await orders.seed(db.pool, { tenantId: control, userIds: [liveUser], rows: 180 });

  const erasedRows = total(await tenantRows(db.pool, erasedTenant));
  const { rows: userRefs } = await db.pool.query<{ n: number }>(
    `SELECT ((SELECT count(*) FROM customers WHERE created_by = $1) + (SELECT count(*) FROM customer_orders WHERE $1 IN (created_by, updated_by)))::int AS n`,
    [erasedUser],
  );
  const erasedUserRows = userRefs[0]!.n;
  t.true(erasedRows > 100 && erasedUserRows > 10, `rows to find: ${erasedRows} of the tenant, ${erasedUserRows} referencing the user`);
  const liveBefore = await tenantRows(db.pool, liveTenant);
  const controlBefore = await snapshot(db.pool, control);

  const result = await running.sweep!.runNow();
  // Tenants are swept first: the erased tenant's rows (and with them its only user's references) are
  // gone before the users are listed, so three tenants and two users are asked about, in batches of two.
  t.deepEqual(result, { checked: 5, resurrected: 2, rows: erasedRows + erasedUserRows, refused: 0 });

  t.deepEqual(await tenantRows(db.pool, erasedTenant), { customers: 0, orders: 0, items: 0 }, "nothing of the erased tenant is left");
  const { rows: left } = await db.pool.query<{ n: number }>(
    `SELECT ((SELECT count(*) FROM customers WHERE created_by = $1) + (SELECT count(*) FROM customer_orders WHERE $1 IN (created_by, updated_by)))::int AS n`,
    [erasedUser],
  );
  t.is(left[0]!.n, 0, "the erased user's references are cleared");
  t.deepEqual(await tenantRows(db.pool, liveTenant), liveBefore, 'the live tenant keeps every row (only the references were cleared)');
  t.is(await snapshot(db.pool, control), controlBefore, 'the control tenant is byte-identical');

  t.deepEqual(await resurrectionsOf(tombstones.keys.ref('tenant', erasedTenant)), [{ service: 'orders', rows: erasedRows }]);
  t.deepEqual(await resurrectionsOf(tombstones.keys.ref('user', erasedUser)), [{ service: 'orders', rows: erasedUserRows }]);
  // Each resurrection is also an entry of the audit chain, under the keyed hash (direct SQL).
  const { rows: audited } = await orch.pool.query<{ subject_ref: string; rows: number }>(
    `SELECT subject_ref, (details->>'rows')::int AS rows FROM erasure_audit_log WHERE kind = 'resurrection.swept' AND subject_ref = ANY($1) ORDER BY seq`,
    [[tombstones.keys.ref('tenant', erasedTenant), tombstones.keys.ref('user', erasedUser)]],
  );
  t.deepEqual(audited.map((a) => a.rows).sort((a, b) => a - b), [erasedRows, erasedUserRows].sort((a, b) => a - b), 'each resurrection is in the audit chain');
  for (const id of [erasedTenant, erasedUser]) t.false(await registryHolds(id), 'the registry holds keyed hashes, no raw id');

  t.deepEqual(await running.sweep!.runNow(), { checked: 3, resurrected: 0, rows: 0, refused: 0 }, 'a second sweep finds nothing (two tenants, one user left)');
  const { rows: recorded } = await orch.pool.query<{ n: number }>('SELECT count(*)::int AS n FROM erasure_resurrections');
  t.is(recorded[0]!.n, 2, 'and records nothing more');
});

test.serial('a database restored from a copy taken before the erasure is swept at start-up, before the service reports SERVING', async (t) => {
  const source = await createTestDatabase('resurrection_source');
  t.teardown(() => source.drop());
  const backupName = `${source.name}_backup`;
  t.teardown(() => dropDatabase(testServerUrl(), backupName));
  const [erased, control] = [randomUUID(), randomUUID()];

  // The live database with two tenants; then its backup (the service stopped, so nobody is connected).
  {
    const live = await startOrders(t, source.url, registry.address);
    await orders.seed(live.db.pool, { tenantId: erased, userIds: [randomUUID()], rows: 900 });
    await orders.seed(live.db.pool, { tenantId: control, userIds: [randomUUID()], rows: 300 });
    await live.stop(1000);
  }
  const admin = new Pool({ connectionString: testServerUrl(), max: 1 });
  t.teardown(() => admin.end());
  await admin.query(`CREATE DATABASE "${backupName}" TEMPLATE "${source.name}"`);

  // The erasure runs on the live database and leaves its tombstone.
  {
    const live = await startOrders(t, source.url, registry.address);
    const deleted = await runDelete(erasureClient(live.address), tenantSubject(erased), await serviceToken('orchestrator'));
    t.falsy(deleted.error, deleted.error?.message);
    t.is(total(await tenantRows(source.pool, erased)), 0);
    await recordErased('tenant', erased);
    await live.stop(1000);
  }

  // The restore: the service starts on the copy, which still holds the erased tenant.
  const backupUrl = withDatabase(testServerUrl(), backupName);
  const backup = new Pool({ connectionString: backupUrl, max: 2 });
  t.teardown(() => backup.end());
  const restoredRows = total(await tenantRows(backup, erased));
  t.true(restoredRows > 500, `the copy holds ${restoredRows} rows of the erased tenant`);
  const controlBefore = await snapshot(backup, control);

  const address = `127.0.0.1:${await freePort()}`;
  let rowsWhenServing: number | undefined;
  let sawNotServing = false;
  let started = false;
  const watcher = (async () => {
    // Polls health from before the start: the first SERVING answer must find the rows already gone.
    while (rowsWhenServing === undefined) {
      const [whole, erasure] = await Promise.all([healthStatus(address, '', 500), healthStatus(address, TENANT_DATA_DELETION, 500)]);
      if (whole === 'SERVING' || erasure === 'SERVING') rowsWhenServing = total(await tenantRows(backup, erased));
      else if (whole === 'NOT_SERVING') sawNotServing = true;
      else if (started) break;
      await sleep(5);
    }
  })();
  const restored = await startOrders(t, backupUrl, registry.address, { address });
  started = true;
  await watcher;
  t.true(sawNotServing, 'the service answered NOT_SERVING while it swept');
  t.is(rowsWhenServing, 0, 'at the first SERVING answer, nothing of the erased tenant was left');
  t.is(restored.sweep?.last?.rows, restoredRows, 'the start-up sweep erased every restored row');
  t.is(await snapshot(backup, control), controlBefore, 'the control tenant is byte-identical');
  t.deepEqual(await resurrectionsOf(tombstones.keys.ref('tenant', erased)), [{ service: 'orders', rows: restoredRows }], 'counted as resurrections');
  t.false(await registryHolds(erased));
});

test.serial('registry unreachable at start-up: the service waits a bounded time, serves with a warning, and sweeps once the registry answers', async (t) => {
  const db = await createTestDatabase('resurrection_late');
  t.teardown(() => db.drop());
  const erased = randomUUID();
  const control = randomUUID();
  const database = openServiceDatabase(db.url, 1);
  await migrate(db.url, database.sequelize, orders.migrations, silentLog);
  await database.close();
  await orders.seed(db.pool, { tenantId: erased, userIds: [randomUUID()], rows: 90 });
  await orders.seed(db.pool, { tenantId: control, userIds: [randomUUID()], rows: 90 });
  await recordErased('tenant', erased);
  const controlBefore = await snapshot(db.pool, control);
  const before = total(await tenantRows(db.pool, erased));

  const registryAddress = `127.0.0.1:${await freePort()}`;
  const startedAt = Date.now();
  const running = await startOrders(t, db.url, registryAddress, { sweep: quickSweep({ startupWaitMs: 1000, retryMs: 300 }) });
  const waited = Date.now() - startedAt;
  t.true(waited >= 1000 && waited < 8000, `start-up waited ${waited} ms, bounded`);
  t.is(await healthStatus(running.address, ''), 'SERVING');
  t.is(total(await tenantRows(db.pool, erased)), before, 'nothing could be checked yet');

  const late = await reg.serve(registryAddress);
  t.teardown(() => late.shutdown(1000));
  for (let i = 0; i < 100 && total(await tenantRows(db.pool, erased)) > 0; i++) await sleep(100);
  t.is(total(await tenantRows(db.pool, erased)), 0, 'the retried sweep erased the rows once the registry answered');
  for (let i = 0; i < 50 && !(await resurrectionsOf(tombstones.keys.ref('tenant', erased))).length; i++) await sleep(100);
  t.deepEqual(await resurrectionsOf(tombstones.keys.ref('tenant', erased)), [{ service: 'orders', rows: before }]);
  t.is(await snapshot(db.pool, control), controlBefore);
});

/** The CLI as an operator. */
const operatorCli = async (args: string[], env: Record<string, string>) => cli(args, { ERASURE_TOKEN: await operatorToken(), ...env });

test.serial('erasure seed refuses an erased tenant or user id (and when the registry cannot answer); erasure tombstone says whether and when an id was erased', async (t) => {
  const db = await createTestDatabase('resurrection_seed');
  t.teardown(() => db.drop());
  const [erasedTenant, erasedUser, fresh] = [randomUUID(), randomUUID(), randomUUID()];
  await recordErased('tenant', erasedTenant);
  await recordErased('user', erasedUser);
  const env = { DATABASE_URL: testServerUrl(), ORDERS_DATABASE_URL: db.url, ORCHESTRATOR_ADDR: registry.address };
  const seed = (tenant: string, users: string[], extra: Record<string, string> = {}) =>
    operatorCli(['seed', '--tenant', tenant, '--user', users.join(','), '--services', 'orders', '--no-identity', '--rows', '90'], { ...env, ...extra });
  const rowsIn = async () => {
    const { rows: exists } = await db.pool.query<{ t: string | null }>(`SELECT to_regclass('customers')::text AS t`);
    if (!exists[0]!.t) return 0;
    const { rows } = await db.pool.query<{ n: number }>('SELECT count(*)::int AS n FROM customers');
    return rows[0]!.n;
  };

  const tenantRefused = await seed(erasedTenant, [randomUUID()]);
  t.is(tenantRefused.code, 1);
  t.regex(tenantRefused.stderr, /FAILED_PRECONDITION|the tenant id names an erased tenant/);
  t.false(tenantRefused.stderr.includes(erasedTenant), 'the message does not echo the id');
  const userRefused = await seed(fresh, [randomUUID(), erasedUser]);
  t.is(userRefused.code, 1);
  t.regex(userRefused.stderr, /user id number 2 of 2 names an erased user/);
  t.false(userRefused.stderr.includes(erasedUser));
  const down = await seed(fresh, [randomUUID()], { ORCHESTRATOR_ADDR: `127.0.0.1:${await freePort()}` });
  t.is(down.code, 1, 'fail closed: nobody could say whether the ids were erased');
  t.is(await rowsIn(), 0, 'nothing was written by a refused seed');

  const accepted = await seed(fresh, [randomUUID()]);
  t.is(accepted.code, 0, accepted.stderr);
  t.true((await rowsIn()) > 0);

  const asked = await operatorCli(['tombstone', erasedTenant, '--json'], env);
  t.is(asked.code, 0, asked.stderr);
  const answer = JSON.parse(asked.stdout) as { erased: boolean; tombstones: { kind: string; erasedAt: string }[] };
  t.true(answer.erased);
  t.is(answer.tombstones.length, 1);
  t.is(answer.tombstones[0]!.kind, 'tenant');
  t.true(Math.abs(Date.parse(answer.tombstones[0]!.erasedAt) - Date.now()) < 120_000);
  const text = await operatorCli(['tombstone', erasedUser], env);
  t.regex(text.stdout, new RegExp(`^user ${erasedUser} was erased at \\d{4}-`));
  const never = await operatorCli(['tombstone', fresh, '--kind', 'tenant'], env);
  t.regex(never.stdout, /was not erased \(no tenant tombstone\)/);
  t.is((await operatorCli(['tombstone', 'not-a-uuid'], env)).code, 2);
});

test.serial('ReportResurrections: services only, each reports as itself; bad input changes nothing', async (t) => {
  const client = new TombstoneRegistryClient(registry.address, credentials.createInsecure());
  t.teardown(() => client.close());
  const erased = randomUUID();
  await recordErased('tenant', erased);
  const ref = tombstones.keys.ref('tenant', erased);
  const report = (token: string, rows = '3', subject: object = { tenantId: erased }) =>
    unaryCall(client, 'reportResurrections', { resurrections: [{ subject, rows, entities: [] }] }, { metadata: bearerMetadata(token) }).then(
      (response) => ({ code: status.OK, recorded: response.recorded }),
      (error: { code: number; details: string }) => ({ code: error.code, details: error.details }),
    );
  t.is((await report(await operatorToken())).code, status.PERMISSION_DENIED, 'operators do not report sweeps');
  t.is((await report(await serviceToken('orchestrator'))).code, status.PERMISSION_DENIED, 'the orchestrator sweeps nothing');
  const bad = await report(await serviceToken('sales'), '0');
  t.is(bad.code, status.INVALID_ARGUMENT);
  t.is((await report(await serviceToken('sales'), '1', { tenantId: 'nope' })).code, status.INVALID_ARGUMENT);
  t.deepEqual(await resurrectionsOf(ref), [], 'nothing recorded by refused calls');
  t.deepEqual(await report(await serviceToken('sales')), { code: status.OK, recorded: 1 });
  t.deepEqual(await report(await serviceToken('sales'), '2', { tenantId: randomUUID() }), { code: status.OK, recorded: 0 }, 'a subject without a tombstone is not recorded');
  t.deepEqual(await resurrectionsOf(ref), [{ service: 'sales', rows: 3 }], 'recorded under the caller, by keyed hash');
});

test.serial("tenant service: an erased tenant and an erased user's membership written back are swept; an erased user who still owns an ACTIVE tenant is refused and left for an operator", async (t) => {
  const db = await createTestDatabase('resurrection_tenant');
  t.teardown(() => db.drop());
  const client = reg.client('tenant');
  const running = await startService(tenantService, {
    address: '127.0.0.1:0',
    databaseUrl: db.url,
    keys: (await testKeys()).processKeys('tenant'),
    chunks: smallChunks,
    log: silentLog,
    extension: tenantExtension,
    tombstones: client,
    registry: client,
    sweep: quickSweep(),
  });
  t.teardown(() => running.stop(1000));

  const [erasedTenant, live, owned, control] = [randomUUID(), randomUUID(), randomUUID(), randomUUID()];
  const [erasedUser, erasedOwner] = [randomUUID(), randomUUID()];
  await recordErased('tenant', erasedTenant);
  await recordErased('user', erasedUser);
  await recordErased('user', erasedOwner);
  await tenantService.seed(db.pool, { tenantId: erasedTenant, userIds: [randomUUID(), randomUUID()], rows: 8 });
  await tenantService.seed(db.pool, { tenantId: live, userIds: [randomUUID(), randomUUID(), erasedUser], rows: 8 });
  await tenantService.seed(db.pool, { tenantId: owned, userIds: [erasedOwner, randomUUID()], rows: 6 });
  await tenantService.seed(db.pool, { tenantId: control, userIds: [randomUUID(), randomUUID()], rows: 8 });
  const rowsOf = async (tenantId: string) => {
    const { rows } = await db.pool.query<{ s: string }>(
      `SELECT concat_ws('|',
         (SELECT md5(coalesce(string_agg(x::text, ',' ORDER BY x.id), '')) FROM tenants x WHERE id = $1),
         (SELECT count(*) || ':' || md5(coalesce(string_agg(m::text, ',' ORDER BY m.user_id), '')) FROM tenant_members m WHERE tenant_id = $1),
         (SELECT md5(coalesce(string_agg(s::text, ','), '')) FROM subscriptions s WHERE tenant_id = $1)) AS s`,
      [tenantId],
    );
    return rows[0]!.s;
  };
  const [ownedBefore, controlBefore] = [await rowsOf(owned), await rowsOf(control)];
  const { rows: erasedRows } = await db.pool.query<{ n: number }>(
    `SELECT ((SELECT count(*) FROM tenants WHERE id = $1) + (SELECT count(*) FROM tenant_members WHERE tenant_id = $1) + (SELECT count(*) FROM subscriptions WHERE tenant_id = $1))::int AS n`,
    [erasedTenant],
  );
  const { rows: liveMembers } = await db.pool.query<{ n: number }>('SELECT count(*)::int AS n FROM tenant_members WHERE tenant_id = $1', [live]);

  const result = await running.sweep!.runNow();
  t.like(result, { resurrected: 2, rows: erasedRows[0]!.n + 1, refused: 1 });
  const { rows: left } = await db.pool.query<{ tenant: number; member: number }>(
    `SELECT ((SELECT count(*) FROM tenants WHERE id = $1) + (SELECT count(*) FROM tenant_members WHERE tenant_id = $1) + (SELECT count(*) FROM subscriptions WHERE tenant_id = $1))::int AS tenant,
            (SELECT count(*) FROM tenant_members WHERE user_id = $2)::int AS member`,
    [erasedTenant, erasedUser],
  );
  t.deepEqual(left[0], { tenant: 0, member: 0 }, "the erased tenant and the erased user's membership are gone");
  const { rows: liveAfter } = await db.pool.query<{ n: number }>('SELECT count(*)::int AS n FROM tenant_members WHERE tenant_id = $1', [live]);
  t.is(liveAfter[0]!.n, liveMembers[0]!.n - 1, 'the live tenant lost only that membership');
  t.is(await rowsOf(owned), ownedBefore, 'a tenant still owned by an erased user is left as it is (ownership needs a decision first)');
  t.is(await rowsOf(control), controlBefore, 'the control tenant is byte-identical');
  t.deepEqual(await resurrectionsOf(tombstones.keys.ref('user', erasedUser)), [{ service: 'tenant', rows: 1 }]);
  t.deepEqual(await resurrectionsOf(tombstones.keys.ref('user', erasedOwner)), [], 'nothing erased, nothing counted');
});
