/**
 * Export against every service of the catalog (the twelve domain services, tenant and auth): what a
 * subject's export holds is compared with direct SQL, row by row, and a control tenant's rows never
 * appear. Small pages (EXPORT_PAGE_ROWS) make every entity take several keyset pages.
 */
process.env.EXPORT_PAGE_ROWS = '37';

import { randomUUID } from 'node:crypto';
import { status } from '@grpc/grpc-js';
import test, { type ExecutionContext } from 'ava';
import type { TenantDataDeletionClient } from '../gen/bakery/erasure/v1/tenant_data_deletion';
import { domainServiceDefinitions, identityServiceDefinitions } from '../services/definitions';
import type { ServiceExtension } from '../services/kit/run-service';
import type { DomainService } from '../services/kit/service-definition';
import { createTestDatabase, type TestDatabase } from './support/database';
import { erasureClient, operatorToken, runExport, serviceToken, startTestService, tenantSubject, userSubject, type ExportOutcome } from './support/services';
import { idsOfRowsContaining, tableNames } from './support/snapshot';

const users = (n: number) => Array.from({ length: n }, () => randomUUID());

/** Exported rows per entity, parsed, from the stream's row messages. */
function exportedRows(outcome: ExportOutcome): Map<string, Record<string, unknown>[]> {
  const byEntity = new Map<string, Record<string, unknown>[]>();
  for (const message of outcome.messages) {
    if (!message.rows) continue;
    const list = byEntity.get(message.rows.entity) ?? [];
    list.push(...message.rows.rows.map((row) => JSON.parse(row) as Record<string, unknown>));
    byEntity.set(message.rows.entity, list);
  }
  return byEntity;
}

/** The declared secret columns per table, read from the models (what must never leave). */
function secretColumns(definition: DomainService): Map<string, string[]> {
  return new Map((definition.deletionPolicy.schema ?? []).map((table) => [table.table, table.columns.filter((c) => c.secret).map((c) => c.column)]));
}

/** Every row of `table` whose id is in `ids`, as PostgreSQL renders it (row_to_json), secret columns dropped. */
async function rowsById(db: TestDatabase, table: string, ids: string[], secrets: string[]): Promise<Record<string, unknown>[]> {
  const { rows } = await db.pool.query<{ row: Record<string, unknown> }>(
    `SELECT row_to_json(t) AS row FROM "${table}" t WHERE t.id::text = ANY($1::text[]) ORDER BY t.id`,
    [ids],
  );
  return rows.map(({ row }) => {
    for (const secret of secrets) delete row[secret];
    return row;
  });
}

const byId = (a: Record<string, unknown>, b: Record<string, unknown>) => String(a.id).localeCompare(String(b.id));
/** The same object with its keys sorted: the export lists columns in model order, row_to_json in table order. */
const sortedKeys = (row: Record<string, unknown>) => Object.fromEntries(Object.entries(row).sort(([a], [b]) => a.localeCompare(b)));

/** Checks an export against direct SQL: per entity, exactly the expected ids, with their full content. */
async function sameRows(
  t: ExecutionContext,
  db: TestDatabase,
  definition: DomainService,
  outcome: ExportOutcome,
  expectedIds: Map<string, string[]>,
  label: string,
): Promise<void> {
  t.is(outcome.error, undefined, `${label}: export succeeded: ${outcome.error?.message}`);
  const result = outcome.messages.at(-1)?.result;
  t.truthy(result, `${label}: the result is the last message`);
  const exported = exportedRows(outcome);
  const secrets = secretColumns(definition);
  let total = 0;
  for (const [table, ids] of expectedIds) {
    const rows = exported.get(table) ?? [];
    total += ids.length;
    t.is(rows.length, ids.length, `${label}: ${table}: exported rows = direct SQL count`);
    const entity = result?.entities.find((e) => e.entity === table);
    if (ids.length) t.is(Number(entity?.rows), ids.length, `${label}: ${table}: the result counts its rows`);
    const direct = await rowsById(db, table, ids, secrets.get(table) ?? []);
    t.deepEqual([...rows].sort(byId).map(sortedKeys), direct.map(sortedKeys), `${label}: ${table}: exported content = direct SQL`);
    for (const secret of secrets.get(table) ?? []) {
      t.false(rows.some((row) => secret in row), `${label}: ${table}.${secret} is never exported`);
      t.false(entity?.columns.includes(secret), `${label}: ${table}.${secret} is not a listed column`);
    }
  }
  for (const table of exported.keys()) t.true(expectedIds.has(table), `${label}: ${table} exported only if it holds the subject's rows`);
  t.is(Number(result?.totalRows), total, `${label}: result total = direct SQL total`);
}

async function exportConformance(t: ExecutionContext, definition: DomainService, extension?: ServiceExtension): Promise<void> {
  const db = await createTestDatabase(definition.name);
  const service = await startTestService(definition, db.url, extension);
  const client: TenantDataDeletionClient = erasureClient(service.address);
  const token = await serviceToken();
  try {
    const control = randomUUID();
    const controlUsers = users(3);
    await definition.seed(db.pool, { tenantId: control, userIds: controlUsers, rows: 300 });
    const idsBefore = new Map<string, Set<string>>();
    for (const table of await tableNames(db.pool)) {
      const { rows } = await db.pool.query<{ id: string }>(`SELECT id::text AS id FROM "${table}"`);
      idsBefore.set(table, new Set(rows.map((r) => r.id)));
    }

    // --- Tenant export: exactly the rows the target's seed added (direct SQL), none of the control ---
    const target = randomUUID();
    const [otherUser, exportedUser] = users(2);
    await definition.seed(db.pool, { tenantId: target, userIds: [otherUser!, exportedUser!], rows: 600 });
    const added = new Map<string, string[]>();
    for (const table of await tableNames(db.pool)) {
      if (definition.eventTables?.includes(table)) continue;
      const { rows } = await db.pool.query<{ id: string }>(`SELECT id::text AS id FROM "${table}"`);
      const ids = rows.map((r) => r.id).filter((id) => !idsBefore.get(table)!.has(id));
      if (ids.length) added.set(table, ids);
    }
    const holdsTenantData = Object.values(definition.deletionPolicy.tables).some((policy) => policy.tenant);
    const tenantExport = await runExport(client, tenantSubject(target), token);
    if (holdsTenantData) {
      // Tables the seed writes that hold no tenant data (auth's users) are not part of a tenant's export.
      const tenantTables = new Map([...added].filter(([table]) => definition.deletionPolicy.tables[table]?.tenant));
      t.true(tenantTables.size > 0, 'the seed wrote tenant rows');
      await sameRows(t, db, definition, tenantExport, tenantTables, 'tenant');
    } else {
      t.is(tenantExport.error, undefined);
      t.is(tenantExport.messages.filter((m) => m.rows).length, 0, 'a service without tenant data exports no tenant rows');
    }
    const controlIds = [...idsBefore]
      .filter(([table]) => !definition.eventTables?.includes(table))
      .flatMap(([, ids]) => [...ids]);
    const exportedText = tenantExport.messages.flatMap((m) => m.rows?.rows ?? []).join('\n');
    t.false(controlIds.some((id) => exportedText.includes(id)), 'no row of the control tenant is exported');

    // --- User export: the user's own rows and the rows that reference the user, nothing else ---
    const referencing = new Map<string, string[]>();
    for (const table of await tableNames(db.pool)) {
      const { rows } = await db.pool.query<{ id: string }>(`SELECT id::text AS id FROM "${table}" t WHERE strpos(t::text, $1) > 0`, [exportedUser]);
      if (rows.length) referencing.set(table, rows.map((r) => r.id));
    }
    t.is([...referencing.values()].flat().length, (await idsOfRowsContaining(db.pool, exportedUser!)).length);
    const userExport = await runExport(client, userSubject(exportedUser!), token);
    await sameRows(t, db, definition, userExport, referencing, 'user');

    // Secrets never leave, checked against their stored values too (not only by column name).
    for (const [table, secrets] of secretColumns(definition)) {
      for (const secret of secrets) {
        const { rows } = await db.pool.query<{ v: string }>(`SELECT "${secret}"::text AS v FROM "${table}" WHERE "${secret}" IS NOT NULL`);
        const text = [...tenantExport.messages, ...userExport.messages].flatMap((m) => m.rows?.rows ?? []).join('\n');
        t.false(rows.some(({ v }) => text.includes(v)), `${table}.${secret}: no stored value appears in any export`);
      }
    }

    // --- Only the orchestrator may export; bad input changes nothing and names the field ---
    const byOperator = await runExport(client, tenantSubject(target), await operatorToken());
    t.is(byOperator.error?.code, status.PERMISSION_DENIED);
    t.is(byOperator.messages.length, 0);
    const byOtherService = await runExport(client, tenantSubject(target), await serviceToken('orders'));
    t.is(byOtherService.error?.code, status.PERMISSION_DENIED);
    const bad = await runExport(client, { tenantId: 'not-a-uuid' }, token);
    t.is(bad.error?.code, status.INVALID_ARGUMENT);
    t.regex(bad.error?.details ?? '', /subject\.tenant_id/);
    const none = await runExport(client, undefined, token);
    t.is(none.error?.code, status.INVALID_ARGUMENT);
  } finally {
    client.close();
    await service.stop(1000);
    await db.drop();
  }
}

const services: { definition: DomainService; extension?: ServiceExtension }[] = [
  ...domainServiceDefinitions().map((definition) => ({ definition })),
  ...identityServiceDefinitions(),
];
for (const { definition, extension } of services) {
  test(`${definition.name} exports a subject's rows through TenantDataDeletion`, (t) => exportConformance(t, definition, extension));
}
