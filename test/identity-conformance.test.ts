/**
 * The identity services (tenant, auth) against the TenantDataDeletion contract, and fail closed when
 * their database does not match their models: a table no model declares, a column that points at a
 * user with no rule, a column whose type differs. Each makes Preview and Delete answer UNAVAILABLE
 * naming it, deletes nothing (direct SQL), turns the erasure health NOT_SERVING, and recovers once
 * reverted.
 */
import { randomUUID } from 'node:crypto';
import test from 'ava';
import { status } from '@grpc/grpc-js';
import { identityServiceDefinitions } from '../services/definitions';
import { SCHEMA_CHECK_TTL_MS } from '../services/kit/deletion/engine';
import { healthStatus } from '../services/kit/health-client';
import { conformanceSuite } from './support/conformance';
import { createTestDatabase } from './support/database';
import { erasureClient, preview, runDelete, serviceToken, startTestService, tenantSubject, userSubject } from './support/services';
import { snapshot } from './support/snapshot';

const identityServices = identityServiceDefinitions();

conformanceSuite(identityServices);

const ERASURE = 'bakery.erasure.v1.TenantDataDeletion';

for (const { definition, extension } of identityServices) {
  test(`${definition.name}: an unclassified table, an unruled user column or a changed type fails closed, named, and recovers`, async (t) => {
    const db = await createTestDatabase(`${definition.name}_drift`);
    const service = await startTestService(definition, db.url, extension);
    const client = erasureClient(service.address);
    try {
      const tenantId = randomUUID();
      const userIds = [randomUUID(), randomUUID()];
      await definition.seed(db.pool, { tenantId, userIds, rows: 100 });
      const token = await serviceToken();
      t.deepEqual(await service.engine.problems(), [], 'the freshly migrated database matches the models');
      t.is(await healthStatus(service.address, ERASURE), 'SERVING');

      // A text column of the first table, to change the type of.
      const table = definition.tables![0]!;
      const text = table.columns.find((column) => column.sqlType === 'text')!;
      const drifts = [
        {
          label: 'an undeclared table',
          apply: 'CREATE TABLE stray_notes (id uuid PRIMARY KEY, note text)',
          revert: 'DROP TABLE stray_notes',
          names: /table "stray_notes" is not declared by any model/,
        },
        {
          label: 'a column pointing at a user with no rule',
          apply: `ALTER TABLE ${table.table} ADD COLUMN reviewed_by uuid`,
          revert: `ALTER TABLE ${table.table} DROP COLUMN reviewed_by`,
          names: new RegExp(`"${table.table}\\.reviewed_by".*pointing at a user`),
        },
        {
          label: 'a changed type',
          apply: `ALTER TABLE ${table.table} ALTER COLUMN ${text.column} TYPE varchar(300)`,
          revert: `ALTER TABLE ${table.table} ALTER COLUMN ${text.column} TYPE text`,
          names: new RegExp(`"${table.table}\\.${text.column}": the model expects type text, the database has character varying\\(300\\)`),
        },
      ];
      for (const drift of drifts) {
        await db.pool.query(drift.apply);
        // A check that passed is trusted briefly; past that, the next call sees the change.
        await new Promise((resolve) => setTimeout(resolve, SCHEMA_CHECK_TTL_MS + 100));
        const before = await snapshot(db.pool);
        for (const subject of [tenantSubject(tenantId), userSubject(userIds[1]!)]) {
          const refused = await t.throwsAsync(preview(client, subject, token), undefined, drift.label);
          t.is((refused as { code?: number }).code, status.UNAVAILABLE, `${drift.label}: Preview UNAVAILABLE`);
          t.regex(refused!.message, drift.names, `${drift.label}: Preview names it`);
          const deleted = await runDelete(client, subject, token);
          t.is(deleted.error?.code, status.UNAVAILABLE, `${drift.label}: Delete UNAVAILABLE`);
          t.regex(deleted.error!.message, drift.names, `${drift.label}: Delete names it`);
        }
        t.deepEqual(await snapshot(db.pool), before, `${drift.label}: nothing deleted (direct SQL)`);
        t.is(await healthStatus(service.address, ERASURE), 'NOT_SERVING', `${drift.label}: erasure health NOT_SERVING`);

        await db.pool.query(drift.revert);
        await preview(client, userSubject(userIds[1]!), token);
        t.is(await healthStatus(service.address, ERASURE), 'SERVING', `${drift.label} reverted: health SERVING`);
      }
    } finally {
      client.close();
      await service.stop(1000);
      await db.drop();
    }
  });
}
