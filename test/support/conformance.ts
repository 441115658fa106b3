/**
 * The conformance suite of TenantDataDeletion: one table-driven suite, run against every service that
 * implements the contract (test/conformance.test.ts for the domain services, the identity services'
 * tests for tenant and auth). Every check of rows is direct SQL, not the code under test.
 */
import { randomUUID } from 'node:crypto';
import test, { type ExecutionContext } from 'ava';
import { healthStatus } from '../../services/kit/health-client';
import type { ServiceExtension } from '../../services/kit/run-service';
import type { DomainService } from '../../services/kit/service-definition';
import { EntityAction, type Subject, type TenantDataDeletionClient } from '../../gen/bakery/erasure/v1/tenant_data_deletion';
import { createTestDatabase, type TestDatabase } from './database';
import {
  erasureClient,
  preview,
  runDelete,
  serviceToken,
  startTestService,
  tenantSubject,
  userSubject,
  type DeleteOutcome,
} from './services';
import { idsOfRowsContaining, rowsContaining, snapshot, tableColumns, tableState, type TableState } from './snapshot';

export { schemaDriftSuite, unclassifiedTableSuite, type ServiceUnderTest } from './fail-closed';

const chunkMessages = (outcome: DeleteOutcome) => outcome.messages.filter((m) => m.chunk).map((m) => m.chunk!);
const resultOf = (outcome: DeleteOutcome) => outcome.messages.find((m) => m.result)?.result;
const users = (n: number) => Array.from({ length: n }, () => randomUUID());

/** Tables whose tenant rule retains rows (they keep the tenant's rows, anonymized). */
function retainedTables(definition: DomainService): Map<string, string[]> {
  const retained = new Map<string, string[]>();
  for (const [table, policy] of Object.entries(definition.deletionPolicy.tables)) {
    if (policy.tenant && 'retain' in policy.tenant) retained.set(table, policy.tenant.retain.anonymize);
  }
  return retained;
}

async function conformance(t: ExecutionContext, definition: DomainService, extension?: ServiceExtension): Promise<void> {
  const db = await createTestDatabase(definition.name);
  const service = await startTestService(definition, db.url, extension);
  const client = erasureClient(service.address);
  const token = await serviceToken();
  try {
    // The models match the freshly migrated database: no drift, every table classified.
    t.deepEqual(await service.engine.problems(), [], 'the database matches the models');
    t.is(await healthStatus(service.address, 'bakery.erasure.v1.TenantDataDeletion'), 'SERVING');

    // Control tenant first: the snapshot taken now is what every table must look like again once the
    // target is gone (for retained tables: outside the target's rows).
    const control = randomUUID();
    await definition.seed(db.pool, { tenantId: control, userIds: users(3), rows: 300 });
    const baseline = await snapshot(db.pool);

    const holdsTenantData = Object.values(definition.deletionPolicy.tables).some((policy) => policy.tenant);
    if (holdsTenantData) await tenantErasure(t, definition, db, client, token, baseline);
    else t.is((await preview(client, tenantSubject(randomUUID()), token)).entities.length, 0, 'no tenant entities');

    await userErasure(t, definition, db, client, token);
  } finally {
    client.close();
    await service.stop(1000);
    await db.drop();
  }
}

async function tenantErasure(
  t: ExecutionContext,
  definition: DomainService,
  db: TestDatabase,
  client: TenantDataDeletionClient,
  token: string,
  baseline: Map<string, TableState>,
): Promise<void> {
  const retained = retainedTables(definition);
  const events = new Set(definition.eventTables ?? []);
  {
    // --- Tenant erasure ---------------------------------------------------------------------------
    const target = randomUUID();
    await definition.seed(db.pool, { tenantId: target, userIds: users(3), rows: 600 });
    const seeded = await snapshot(db.pool);
    const added = (table: string) => seeded.get(table)!.count - baseline.get(table)!.count;

    const before = await preview(client, tenantSubject(target), token);
    t.is(before.service, definition.name);
    let previewTotal = 0;
    for (const entity of before.entities) {
      const rows = Number(entity.rowCount);
      previewTotal += rows;
      if (entity.action === EntityAction.ENTITY_ACTION_RETAIN) {
        t.is(Number(entity.retainedRowCount), added(entity.entity), `${entity.entity}: retained rows = rows present`);
        t.true(entity.retainReason.length > 10, `${entity.entity}: retain reason given`);
        const personal = retained.get(entity.entity)!;
        const holding = personal.length ? personal.map((c) => `"${c}" IS NOT NULL`).join(' OR ') : 'false';
        const { rows: direct } = await db.pool.query(`SELECT count(*)::int AS n FROM "${entity.entity}" WHERE tenant_id = $1 AND (${holding})`, [target]);
        t.is(rows, direct[0].n, `${entity.entity}: rows to anonymize = rows holding personal data`);
      } else {
        t.is(rows, added(entity.entity), `${entity.entity}: preview count = rows present (direct SQL)`);
      }
    }
    t.is(Number(before.totalRows), previewTotal, 'preview total = sum of entities');
    for (const [table] of seeded) {
      if (added(table) > 0) t.truthy(before.entities.find((e) => e.entity === table), `${table} appears in the preview`);
    }
    t.true(previewTotal > 0);

    // stop_if_found: a call that finds rows reports them and changes nothing.
    const probe = await runDelete(client, tenantSubject(target), token, { stopIfFound: true });
    t.is(probe.error, undefined);
    t.is(Number(probe.messages[0]!.started?.expectedTotalRows), previewTotal, 'a stop_if_found call reports what it found');
    t.is(resultOf(probe)?.totalRows, '0', '... and acts on nothing');
    t.is(chunkMessages(probe).length, 0);
    t.deepEqual(await snapshot(db.pool), seeded, 'a stop_if_found call that found rows changed nothing (direct SQL)');

    const erased = await runDelete(client, tenantSubject(target), token);
    t.is(erased.error, undefined, `delete succeeded: ${erased.error?.message}`);
    const result = resultOf(erased)!;
    t.truthy(result, 'final result message');
    t.is(erased.messages.at(-1)!.result, result, 'the result is the last message');
    t.is(Number(erased.messages[0]!.started?.expectedTotalRows), previewTotal, 'the first message says what the call found to erase: the preview total');
    t.is(erased.messages.filter((m) => m.started).length, 1, 'one start message');
    const chunks = chunkMessages(erased);
    t.true(chunks.length >= 2, 'several chunks');
    t.true(chunks.every((c) => Number(c.chunkRows) > 0 && Number(c.expectedTotalRows) === previewTotal));
    t.is(chunks.reduce((s, c) => s + Number(c.chunkRows), 0), Number(result.totalRows), 'one progress message per chunk');
    t.is(chunks.length, result.entities.reduce((s, e) => s + Number(e.chunks), 0), 'chunk messages = chunks reported');
    t.is(Number(chunks.at(-1)!.totalRowsDone), Number(result.totalRows));
    t.is(Number(result.totalRows), previewTotal, 'delete total = preview total');
    for (const entity of before.entities) {
      const done = result.entities.find((e) => e.entity === entity.entity);
      t.is(Number(done?.rows ?? 0), Number(entity.rowCount), `${entity.entity}: delete count = preview count`);
    }
    t.deepEqual(result.errors, []);
    t.truthy(result.startedAt && result.finishedAt && result.finishedAt >= result.startedAt);

    const after = await snapshot(db.pool);
    for (const [table, state] of after) {
      if (retained.has(table)) continue;
      if (events.has(table)) {
        t.true(state.count >= baseline.get(table)!.count, `${table}: event table only grows`);
        continue;
      }
      t.deepEqual(state, baseline.get(table), `${table}: target gone, control unchanged (count and checksum)`);
      if ((await tableColumns(db.pool, table)).includes('tenant_id')) {
        const { rows } = await db.pool.query(`SELECT count(*)::int AS n FROM "${table}" WHERE tenant_id = $1`, [target]);
        t.is(rows[0].n, 0, `${table}: zero target rows`);
      }
    }
    for (const [table, personal] of retained) {
      const outside = await tableState(db.pool, table, 't.tenant_id <> $1', target);
      t.deepEqual(outside, baseline.get(table), `${table}: control's retained rows unchanged`);
      const { rows } = await db.pool.query(`SELECT count(*)::int AS n FROM "${table}" WHERE tenant_id = $1`, [target]);
      t.is(rows[0].n, added(table), `${table}: retained rows kept`);
      for (const column of personal) {
        const { rows: left } = await db.pool.query(`SELECT count(*)::int AS n FROM "${table}" WHERE tenant_id = $1 AND "${column}" IS NOT NULL`, [target]);
        t.is(left[0].n, 0, `${table}.${column}: anonymized`);
      }
    }

    const again = await runDelete(client, tenantSubject(target), token);
    t.is(again.error, undefined);
    t.is(resultOf(again)?.totalRows, '0', 'second delete removes nothing');
    t.is(chunkMessages(again).length, 0);
    t.is(again.messages[0]!.started?.expectedTotalRows, '0', 'a second delete starts with nothing to erase');
    const emptyProbe = await runDelete(client, tenantSubject(target), token, { stopIfFound: true });
    t.is(emptyProbe.error, undefined);
    t.is(resultOf(emptyProbe)?.totalRows, '0', 'stop_if_found with nothing found runs to its (empty) end');
    t.truthy(resultOf(emptyProbe)?.policyFingerprint, 'with the policy it applied');
    t.is((await preview(client, tenantSubject(target), token)).totalRows, '0', 'preview after delete is zero');

    // --- Cancelled delete, then resumed ------------------------------------------------------------
    const interrupted = randomUUID();
    await definition.seed(db.pool, { tenantId: interrupted, userIds: users(2), rows: 600 });
    const expected = Number((await preview(client, tenantSubject(interrupted), token)).totalRows);
    const cancelled = await runDelete(client, tenantSubject(interrupted), token, { cancelAfter: 1 });
    t.is(cancelled.error?.code, 1 /* CANCELLED */, 'client cancelled the stream');
    t.is(resultOf(cancelled), undefined);
    const left = await settledTotal(client, tenantSubject(interrupted), token);
    const receivedRows = chunkMessages(cancelled).reduce((s, c) => s + Number(c.chunkRows), 0);
    t.true(left < expected && left > 0, `cancel stopped between chunks (${expected} → ${left})`);
    t.true(expected - left >= receivedRows, 'every reported chunk was committed');
    const resumed = await runDelete(client, tenantSubject(interrupted), token);
    t.is(resumed.error, undefined);
    t.is(Number(resultOf(resumed)!.totalRows), left, 'the second run removes exactly what was left');
    const afterResume = await snapshot(db.pool);
    for (const [table, state] of afterResume) {
      if (!retained.has(table) && !events.has(table)) t.deepEqual(state, baseline.get(table), `${table}: nothing left after resume, control unchanged`);
    }

  }
}

/**
 * The preview total once it stops changing: after a client cancels, the server may still commit the
 * chunk that was running when the cancel arrived (committed chunks stay committed), and only then stops.
 */
async function settledTotal(client: TenantDataDeletionClient, subject: Subject, token: string): Promise<number> {
  let last = Number((await preview(client, subject, token)).totalRows);
  for (let i = 0; i < 50; i++) {
    await new Promise((resolve) => setTimeout(resolve, 40));
    const now = Number((await preview(client, subject, token)).totalRows);
    if (now === last) return now;
    last = now;
  }
  return last;
}

async function userErasure(
  t: ExecutionContext,
  definition: DomainService,
  db: TestDatabase,
  client: TenantDataDeletionClient,
  token: string,
): Promise<void> {
  {
    // --- User erasure ------------------------------------------------------------------------------
    const tenantOfUser = randomUUID();
    // The erased user is the last of the plan: seeds that give roles make the first user the owner,
    // and an owner cannot be erased before the ownership is resolved.
    const [erasedUser, ...otherUsers] = users(3);
    await definition.seed(db.pool, { tenantId: tenantOfUser, userIds: [...otherUsers, erasedUser!], rows: 600 });
    const referencing = await rowsContaining(db.pool, erasedUser!);
    const referencingIds = await idsOfRowsContaining(db.pool, erasedUser!);
    const otherRows = 'NOT (t.id::text = ANY($1::text[]))';
    const untouched = await snapshot(db.pool, otherRows, referencingIds);
    const userPreview = await preview(client, userSubject(erasedUser!), token);
    const referencingTotal = [...referencing.values()].reduce((s, n) => s + n, 0);
    t.true(referencingTotal > 0, 'the seed references the user');
    t.is(Number(userPreview.totalRows), referencingTotal, 'user preview = rows referencing the user (direct SQL)');
    const userErased = await runDelete(client, userSubject(erasedUser!), token);
    t.is(userErased.error, undefined);
    t.is(Number(resultOf(userErased)!.totalRows), referencingTotal);
    const afterUser = await rowsContaining(db.pool, erasedUser!);
    t.deepEqual([...afterUser.values()].filter((n) => n > 0), [], 'no row references the user any more');
    t.deepEqual(await snapshot(db.pool, otherRows, referencingIds), untouched, 'rows that did not reference the user are unchanged');
    for (const entity of userPreview.entities) {
      const countAfter = (await snapshot(db.pool)).get(entity.entity)!.count;
      const expectedCount =
        entity.action === EntityAction.ENTITY_ACTION_DELETE
          ? untouched.get(entity.entity)!.count
          : untouched.get(entity.entity)!.count + referencing.get(entity.entity)!;
      t.is(countAfter, expectedCount, `${entity.entity}: user rows ${entity.action === EntityAction.ENTITY_ACTION_DELETE ? 'deleted' : 'kept, anonymized'}`);
    }
  }
}

/** Registers one conformance test per service; `extension` adds a service's own API (tenant, auth). */
export function conformanceSuite(services: { definition: DomainService; extension?: ServiceExtension }[]): void {
  for (const { definition, extension } of services) {
    test(`${definition.name} conforms to TenantDataDeletion`, (t) => conformance(t, definition, extension));
  }
}
