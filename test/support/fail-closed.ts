/**
 * Fail closed, for every service that implements TenantDataDeletion (table-driven, like the conformance
 * suite): a database that does not match the service's models answers Preview and Delete with
 * UNAVAILABLE (retryable: during a rolling deploy it is the next version's schema) naming the
 * difference, deletes nothing (direct SQL), turns the erasure health NOT_SERVING, and recovers once the
 * database matches again.
 *
 * - unclassifiedTableSuite: a table no model declares (with or without subject columns).
 * - schemaDriftSuite: a column's type, a dropped column, a NOT NULL, a dropped foreign key, a table or a
 *   user-marked column no model declares.
 */
import { randomUUID } from 'node:crypto';
import test from 'ava';
import { status } from '@grpc/grpc-js';
import type { Pool } from 'pg';
import { healthStatus } from '../../services/kit/health-client';
import type { TableDefinition } from '../../services/kit/models';
import type { ServiceExtension } from '../../services/kit/run-service';
import type { DomainService } from '../../services/kit/service-definition';
import { createTestDatabase } from './database';
import { erasureClient, preview, runDelete, serviceToken, startTestService, tenantSubject, userSubject } from './services';
import { snapshot } from './snapshot';

/** Twelve services check their health at once on two cores: a generous deadline, so a slow answer is not read as a wrong one. */
const HEALTH_TIMEOUT_MS = 15_000;

export interface ServiceUnderTest {
  definition: DomainService;
  extension?: ServiceExtension;
}

export function unclassifiedTableSuite(services: ServiceUnderTest[]): void {
  for (const { definition, extension } of services) {
    test(`${definition.name}: an unclassified table fails Preview and Delete closed`, async (t) => {
      const db = await createTestDatabase(`${definition.name}_closed`);
      const service = await startTestService(definition, db.url, extension);
      const client = erasureClient(service.address);
      try {
        const tenantId = randomUUID();
        // The second user: the first owns the tenant, and the tenant service refuses to erase an owner.
        const userIds = [randomUUID(), randomUUID()];
        await definition.seed(db.pool, { tenantId, userIds, rows: 200 });
        t.is(await healthStatus(service.address, 'bakery.erasure.v1.TenantDataDeletion', HEALTH_TIMEOUT_MS), 'SERVING');

        // Someone adds a table no model declares (a migration without a model, a manual fix …).
        await db.pool.query(`CREATE TABLE loyalty_points (id serial PRIMARY KEY, tenant_id uuid NOT NULL, points int)`);
        await db.pool.query(`INSERT INTO loyalty_points (tenant_id, points) VALUES ($1, 10)`, [tenantId]);
        const before = await snapshot(db.pool);
        const token = await serviceToken();

        for (const subject of [tenantSubject(tenantId), userSubject(userIds[1]!)]) {
          const refused = await t.throwsAsync(preview(client, subject, token));
          t.is((refused as { code?: number }).code, status.UNAVAILABLE);
          t.regex(refused!.message, /loyalty_points/);
          const deleted = await runDelete(client, subject, token);
          t.is(deleted.error?.code, status.UNAVAILABLE);
          t.regex(deleted.error!.message, /loyalty_points/);
          t.is(deleted.messages.length, 0, 'no progress: nothing was deleted');
        }
        t.deepEqual(await snapshot(db.pool), before, 'nothing deleted (direct SQL)');
        t.is(await healthStatus(service.address, 'bakery.erasure.v1.TenantDataDeletion', HEALTH_TIMEOUT_MS), 'NOT_SERVING');
        t.is(await healthStatus(service.address, '', HEALTH_TIMEOUT_MS), 'SERVING', 'the process itself stays up');

        // A table that references a declared table is subject data too, even without tenant_id.
        await db.pool.query('DROP TABLE loyalty_points');
        const table = Object.keys(definition.deletionPolicy.tables)[0]!;
        await db.pool.query(`CREATE TABLE audit_notes (id serial PRIMARY KEY, ref uuid REFERENCES "${table}" (id), note text)`);
        const referencing = await t.throwsAsync(preview(client, tenantSubject(tenantId), token));
        t.regex(referencing!.message, /audit_notes/);

        // Declared again: erasure works and health recovers.
        await db.pool.query('DROP TABLE audit_notes');
        const holdsTenantRows = Object.values(definition.deletionPolicy.tables).some((table) => table.tenant);
        const recovered = Number((await preview(client, tenantSubject(tenantId), token)).totalRows);
        t.true(holdsTenantRows ? recovered > 0 : recovered === 0, 'Preview works again and counts the tenant');
        t.is(await healthStatus(service.address, 'bakery.erasure.v1.TenantDataDeletion', HEALTH_TIMEOUT_MS), 'SERVING');
      } finally {
        client.close();
        await service.stop(1000);
        await db.drop();
      }
    });
  }
}

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
  const first = tables[0]!;
  const named = (table: TableDefinition) => {
    const { tenant, user } = table.erasure;
    return new Set([
      ...(tenant && 'delete' in tenant ? [tenant.delete.column] : []),
      ...(tenant && 'retain' in tenant ? [tenant.retain.column, ...tenant.retain.anonymize] : []),
      ...(user && 'delete' in user ? [user.delete.column] : []),
      ...(user && 'anonymize' in user ? user.anonymize : []),
      ...(user && 'keep' in user ? [user.keep.column] : []),
    ]);
  };
  // A plain nullable column: no key, no erasure rule names it (so dropping it is pure drift).
  const columns = tables.flatMap((table) => table.columns.map((column) => ({ table, column })));
  const plain = columns.find(({ table, column }) => column.nullable && !column.references && !named(table).has(column.column));
  // A nullable column without NULLs (preferably in a table with rows), so SET NOT NULL succeeds; not
  // the one dropped and added back empty.
  let filled: { table: TableDefinition; column: string } | undefined;
  let filledRows = -1;
  for (const { table, column } of columns.filter(({ column }) => column.nullable && column !== plain?.column)) {
    const { rows } = await pool.query(`SELECT count(*)::int AS n, count(${q(column.column)})::int AS set FROM ${q(table.table)}`);
    if (rows[0].n === rows[0].set && rows[0].n > filledRows) {
      filled = { table, column: column.column };
      filledRows = rows[0].n;
    }
  }
  // A uuid column that is neither a key nor referenced: its type can change and change back.
  // Else a text column that is no key: text → varchar changes its type as well.
  const retyped = columns.find(({ column }) => column.sqlType === 'uuid' && !column.options.primaryKey && !column.references);
  const retext = columns.find(({ column }) => column.sqlType === 'text' && !column.options.primaryKey && !column.options.unique);
  const child = columns.find(({ column }) => column.references);
  const list: Drift[] = [];
  if (retyped) {
    list.push({
      label: 'a column type changed',
      apply: `ALTER TABLE ${q(retyped.table.table)} ALTER COLUMN ${q(retyped.column.column)} TYPE text`,
      revert: `ALTER TABLE ${q(retyped.table.table)} ALTER COLUMN ${q(retyped.column.column)} TYPE uuid USING ${q(retyped.column.column)}::uuid`,
      names: new RegExp(`"${retyped.table.table}\\.${retyped.column.column}": the model expects type uuid, the database has text`),
    });
  } else if (retext) {
    list.push({
      label: 'a column type changed',
      apply: `ALTER TABLE ${q(retext.table.table)} ALTER COLUMN ${q(retext.column.column)} TYPE varchar(300)`,
      revert: `ALTER TABLE ${q(retext.table.table)} ALTER COLUMN ${q(retext.column.column)} TYPE text`,
      names: new RegExp(`"${retext.table.table}\\.${retext.column.column}": the model expects type text, the database has character varying\\(300\\)`),
    });
  }
  if (plain) {
    list.push({
      label: 'a column dropped',
      apply: `ALTER TABLE ${q(plain.table.table)} DROP COLUMN ${q(plain.column.column)}`,
      revert: `ALTER TABLE ${q(plain.table.table)} ADD COLUMN ${q(plain.column.column)} ${plain.column.sqlType}`,
      names: new RegExp(`"${plain.table.table}\\.${plain.column.column}": the model expects ${plain.column.sqlType.replace(/[()]/g, '\\$&')} NULL, the database has no such column`),
    });
  }
  list.push(
    {
      label: 'a table no model declares',
      apply: 'CREATE TABLE shelf_labels (id serial PRIMARY KEY, label text)',
      revert: 'DROP TABLE shelf_labels',
      names: /table "shelf_labels" is not declared by any model/,
    },
    {
      label: 'a user-marked column without a rule',
      apply: `ALTER TABLE ${q(first.table)} ADD COLUMN approved_by uuid`,
      revert: `ALTER TABLE ${q(first.table)} DROP COLUMN approved_by`,
      names: new RegExp(`"${first.table}\\.approved_by": .*pointing at a user`),
    },
  );
  if (child) {
    const { rows: keys } = await pool.query<{ name: string }>(
      `SELECT conname AS name FROM pg_constraint WHERE contype = 'f' AND conrelid = $1::regclass
          AND conkey = ARRAY[(SELECT attnum FROM pg_attribute WHERE attrelid = $1::regclass AND attname = $2)]::smallint[]`,
      [child.table.table, child.column.column],
    );
    const key = keys[0]!.name;
    const { table, column } = child;
    const parent = column.references!;
    list.push({
      label: 'a foreign key dropped',
      apply: `ALTER TABLE ${q(table.table)} DROP CONSTRAINT ${q(key)}`,
      revert: `ALTER TABLE ${q(table.table)} ADD CONSTRAINT ${q(key)} FOREIGN KEY (${q(column.column)}) REFERENCES ${q(parent.table)} (${q(parent.column)})`,
      names: new RegExp(`"${table.table}\\.${column.column}": the model expects a foreign key to ${parent.table}\\.${parent.column}, the database has none`),
    });
  }
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

export function schemaDriftSuite(services: ServiceUnderTest[]): void {
  for (const { definition, extension } of services) {
    test(`${definition.name}: model/schema drift fails closed, named, and recovers`, async (t) => {
      const db = await createTestDatabase(`${definition.name}_drift`);
      const service = await startTestService(definition, db.url, extension);
      const client = erasureClient(service.address);
      try {
        const tenantId = randomUUID();
        // The second user: the first owns the tenant, and the tenant service refuses to erase an owner.
        const userIds = [randomUUID(), randomUUID()];
        await definition.seed(db.pool, { tenantId, userIds, rows: 200 });
        const token = await serviceToken();
        t.deepEqual(await service.engine.problems(), [], 'the freshly migrated database matches the models');
        t.is(await healthStatus(service.address, ERASURE, HEALTH_TIMEOUT_MS), 'SERVING');

        if (!definition.tables) throw new Error(`${definition.name}: declare its tables with defineTable to run the drift suite`);
        const cases = await drifts(db.pool, definition.tables);
        const hasForeignKeys = definition.tables.some((table) => table.columns.some((c) => c.references));
        const labels = cases.map((drift) => drift.label);
        for (const kind of ['a column type changed', 'a table no model declares', 'a user-marked column without a rule']) {
          t.true(labels.includes(kind), `${kind}: the models offer a column to try it on`);
        }
        if (hasForeignKeys) t.true(labels.includes('a foreign key dropped'), 'a foreign key to drop');
        for (const drift of cases) {
          await db.pool.query(drift.apply);
          // No wait: the very next call sees the change (the engine fingerprints the catalog on every call).
          const before = await snapshot(db.pool);
          for (const subject of [tenantSubject(tenantId), userSubject(userIds[1]!)]) {
            const refused = await t.throwsAsync(preview(client, subject, token), undefined, drift.label);
            t.is((refused as { code?: number }).code, status.UNAVAILABLE, `${drift.label}: Preview UNAVAILABLE`);
            t.regex(refused!.message, drift.names, `${drift.label}: Preview names it`);
            const deleted = await runDelete(client, subject, token);
            t.is(deleted.error?.code, status.UNAVAILABLE, `${drift.label}: Delete UNAVAILABLE`);
            t.regex(deleted.error!.message, drift.names, `${drift.label}: Delete names it`);
            t.is(deleted.messages.length, 0, `${drift.label}: no progress`);
          }
          t.deepEqual(await snapshot(db.pool), before, `${drift.label}: nothing deleted (direct SQL)`);
          t.is(await healthStatus(service.address, ERASURE, HEALTH_TIMEOUT_MS), 'NOT_SERVING', `${drift.label}: erasure health NOT_SERVING`);
          t.is(await healthStatus(service.address, '', HEALTH_TIMEOUT_MS), 'SERVING', 'the process itself stays up');

          await db.pool.query(drift.revert);
          await t.notThrowsAsync(preview(client, tenantSubject(tenantId), token), `${drift.label} reverted: Preview works`);
          await t.notThrowsAsync(preview(client, userSubject(userIds[1]!), token), `${drift.label} reverted: Preview works`);
          t.is(await healthStatus(service.address, ERASURE, HEALTH_TIMEOUT_MS), 'SERVING', `${drift.label} reverted: health SERVING`);
        }
      } finally {
        client.close();
        await service.stop(1000);
        await db.drop();
      }
    });
  }
}
