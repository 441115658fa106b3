/**
 * Model/schema drift, for every domain service: a database that differs from the models (a column's
 * type, a dropped column, a NOT NULL, a dropped foreign key, a table or a user-marked column no model
 * declares) makes Preview and Delete answer UNAVAILABLE naming the difference, deletes nothing (direct
 * SQL), turns the erasure health NOT_SERVING, and recovers once the difference is reverted.
 */
import { randomUUID } from 'node:crypto';
import test from 'ava';
import { status } from '@grpc/grpc-js';
import type { Pool } from 'pg';
import { domainServices } from '../services/registry';
import { SCHEMA_CHECK_TTL_MS } from '../services/kit/deletion/engine';
import { healthStatus } from '../services/kit/health-client';
import type { TableDefinition } from '../services/kit/models';
import { createTestDatabase } from './support/database';
import { erasureClient, preview, runDelete, serviceToken, startTestService, tenantSubject, userSubject } from './support/services';
import { snapshot } from './support/snapshot';

const ERASURE = 'bakery.erasure.v1.TenantDataDeletion';
const q = (name: string) => `"${name.replace(/"/g, '""')}"`;

interface Drift {
  label: string;
  apply: string;
  revert: string;
  /** What the refusal must name. */
  names: RegExp;
}

/** The drifts to try on a service, chosen from its own models and seeded rows. */
async function drifts(pool: Pool, tables: TableDefinition[]): Promise<Drift[]> {
  const root = tables.find((table) => table.erasure.tenant && 'delete' in table.erasure.tenant && !('parent' in table.erasure.tenant.delete))!;
  const named = (table: TableDefinition) => {
    const { tenant, user } = table.erasure;
    return new Set([
      ...(tenant && 'delete' in tenant ? [tenant.delete.column] : []),
      ...(tenant && 'retain' in tenant ? [tenant.retain.column, ...tenant.retain.anonymize] : []),
      ...(user && 'delete' in user ? [user.delete.column] : []),
      ...(user && 'anonymize' in user ? user.anonymize : []),
    ]);
  };
  // A plain nullable column: no key, no erasure rule names it (so dropping it is pure drift).
  const plain = tables
    .flatMap((table) => table.columns.map((column) => ({ table, column })))
    .find(({ table, column }) => column.nullable && !column.references && !named(table).has(column.column))!;
  // A nullable column without NULLs in the seeded rows, so SET NOT NULL succeeds (not the one dropped
  // and added back empty).
  let filled: { table: TableDefinition; column: string } | undefined;
  for (const table of tables) {
    for (const column of table.columns.filter((c) => c.nullable && c !== plain.column)) {
      const { rows } = await pool.query(`SELECT count(*)::int AS n, count(${q(column.column)})::int AS set FROM ${q(table.table)}`);
      if (!filled && rows[0].n > 0 && rows[0].n === rows[0].set) filled = { table, column: column.column };
    }
  }
  const child = tables.flatMap((table) => table.columns.filter((c) => c.references).map((column) => ({ table, column })))[0]!;
  const { rows: keys } = await pool.query<{ name: string }>(
    `SELECT conname AS name FROM pg_constraint WHERE contype = 'f' AND conrelid = $1::regclass AND conkey = ARRAY[(SELECT attnum FROM pg_attribute WHERE attrelid = $1::regclass AND attname = $2)]::smallint[]`,
    [child.table.table, child.column.column],
  );
  const key = keys[0]!.name;
  const list: Drift[] = [
    {
      label: 'a column type changed',
      apply: `ALTER TABLE ${q(root.table)} ALTER COLUMN tenant_id TYPE text`,
      revert: `ALTER TABLE ${q(root.table)} ALTER COLUMN tenant_id TYPE uuid USING tenant_id::uuid`,
      names: new RegExp(`"${root.table}\\.tenant_id": the model expects type uuid, the database has text`),
    },
    {
      label: 'a column dropped',
      apply: `ALTER TABLE ${q(plain.table.table)} DROP COLUMN ${q(plain.column.column)}`,
      revert: `ALTER TABLE ${q(plain.table.table)} ADD COLUMN ${q(plain.column.column)} ${plain.column.sqlType}`,
      names: new RegExp(`"${plain.table.table}\\.${plain.column.column}": the model expects ${plain.column.sqlType.replace(/[()]/g, '\\$&')} NULL, the database has no such column`),
    },
    {
      label: 'a foreign key dropped',
      apply: `ALTER TABLE ${q(child.table.table)} DROP CONSTRAINT ${q(key)}`,
      revert: `ALTER TABLE ${q(child.table.table)} ADD CONSTRAINT ${q(key)} FOREIGN KEY (${q(child.column.column)}) REFERENCES ${q(child.column.references!.table)} (${q(child.column.references!.column)})`,
      names: new RegExp(`"${child.table.table}\\.${child.column.column}": the model expects a foreign key to ${child.column.references!.table}\\.id, the database has none`),
    },
    {
      label: 'a table no model declares',
      apply: 'CREATE TABLE shelf_labels (id serial PRIMARY KEY, label text)',
      revert: 'DROP TABLE shelf_labels',
      names: /table "shelf_labels" is not declared by any model/,
    },
    {
      label: 'a user-marked column without a rule',
      apply: `ALTER TABLE ${q(root.table)} ADD COLUMN approved_by uuid`,
      revert: `ALTER TABLE ${q(root.table)} DROP COLUMN approved_by`,
      names: new RegExp(`"${root.table}\\.approved_by": .*pointing at a user`),
    },
  ];
  if (filled) {
    list.push({
      label: 'a NOT NULL added',
      apply: `ALTER TABLE ${q(filled.table.table)} ALTER COLUMN ${q(filled.column)} SET NOT NULL`,
      revert: `ALTER TABLE ${q(filled.table.table)} ALTER COLUMN ${q(filled.column)} DROP NOT NULL`,
      names: new RegExp(`"${filled.table.table}\\.${filled.column}": the model expects NULL, the database has NOT NULL`),
    });
  }
  return list;
}

for (const definition of domainServices) {
  test(`${definition.name}: model/schema drift fails closed, named, and recovers`, async (t) => {
    const db = await createTestDatabase(`${definition.name}_drift`);
    const service = await startTestService(definition, db.url);
    const client = erasureClient(service.address);
    try {
      const tenantId = randomUUID();
      const userIds = [randomUUID(), randomUUID()];
      await definition.seed(db.pool, { tenantId, userIds, rows: 200 });
      const token = await serviceToken();
      t.deepEqual(await service.engine.problems(), [], 'the freshly migrated database matches the models');
      t.is(await healthStatus(service.address, ERASURE), 'SERVING');

      const cases = await drifts(db.pool, definition.tables!);
      t.is(cases.length, 6, 'every kind of drift has a column to try it on');
      for (const drift of cases) {
        await db.pool.query(drift.apply);
        // A check that passed is trusted briefly; past that, the next call sees the change.
        await new Promise((resolve) => setTimeout(resolve, SCHEMA_CHECK_TTL_MS + 100));
        const before = await snapshot(db.pool);
        for (const subject of [tenantSubject(tenantId), userSubject(userIds[0]!)]) {
          const refused = await t.throwsAsync(preview(client, subject, token), undefined, drift.label);
          t.is((refused as { code?: number }).code, status.UNAVAILABLE, `${drift.label}: Preview UNAVAILABLE`);
          t.regex(refused!.message, drift.names, `${drift.label}: Preview names it`);
          const deleted = await runDelete(client, subject, token);
          t.is(deleted.error?.code, status.UNAVAILABLE, `${drift.label}: Delete UNAVAILABLE`);
          t.regex(deleted.error!.message, drift.names, `${drift.label}: Delete names it`);
          t.is(deleted.messages.length, 0, `${drift.label}: no progress`);
        }
        t.deepEqual(await snapshot(db.pool), before, `${drift.label}: nothing deleted (direct SQL)`);
        t.is(await healthStatus(service.address, ERASURE), 'NOT_SERVING', `${drift.label}: erasure health NOT_SERVING`);
        t.is(await healthStatus(service.address, ''), 'SERVING', 'the process itself stays up');

        await db.pool.query(drift.revert);
        t.true(Number((await preview(client, tenantSubject(tenantId), token)).totalRows) > 0, `${drift.label} reverted: Preview works`);
        t.is(await healthStatus(service.address, ERASURE), 'SERVING', `${drift.label} reverted: health SERVING`);
      }
    } finally {
      client.close();
      await service.stop(1000);
      await db.drop();
    }
  });
}
