/**
 * Fail closed: a table holding tenant data that the policy does not cover makes Preview and Delete
 * answer FAILED_PRECONDITION naming it, deletes nothing, and turns the erasure health NOT_SERVING.
 */
import { randomUUID } from 'node:crypto';
import test from 'ava';
import { status } from '@grpc/grpc-js';
import { domainServiceDefinitions } from '../services/definitions';

const domainServices = domainServiceDefinitions();
import { createTestDatabase } from './support/database';
import { erasureClient, preview, runDelete, serviceToken, startTestService, tenantSubject, userSubject } from './support/services';
import { snapshot } from './support/snapshot';
import { healthStatus } from '../services/kit/health-client';

for (const definition of domainServices) {
  test(`${definition.name}: an uncovered table fails Preview and Delete closed`, async (t) => {
    const db = await createTestDatabase(`${definition.name}_closed`);
    const service = await startTestService(definition, db.url);
    const client = erasureClient(service.address);
    try {
      const tenantId = randomUUID();
      const userIds = [randomUUID(), randomUUID()];
      await definition.seed(db.pool, { tenantId, userIds, rows: 200 });
      t.is(await healthStatus(service.address, 'bakery.erasure.v1.TenantDataDeletion'), 'SERVING');

      // Someone adds a table outside the policy (a migration that forgot the policy, a manual fix …).
      await db.pool.query(`CREATE TABLE loyalty_points (id serial PRIMARY KEY, tenant_id uuid NOT NULL, points int)`);
      await db.pool.query(`INSERT INTO loyalty_points (tenant_id, points) VALUES ($1, 10)`, [tenantId]);
      const before = await snapshot(db.pool);
      const token = await serviceToken();

      for (const subject of [tenantSubject(tenantId), userSubject(userIds[0]!)]) {
        const refused = await t.throwsAsync(preview(client, subject, token));
        t.is((refused as { code?: number }).code, status.FAILED_PRECONDITION);
        t.regex(refused!.message, /loyalty_points/);
        const deleted = await runDelete(client, subject, token);
        t.is(deleted.error?.code, status.FAILED_PRECONDITION);
        t.regex(deleted.error!.message, /loyalty_points/);
        t.is(deleted.messages.length, 0, 'no progress: nothing was deleted');
      }
      t.deepEqual(await snapshot(db.pool), before, 'nothing deleted (direct SQL)');
      t.is(await healthStatus(service.address, 'bakery.erasure.v1.TenantDataDeletion'), 'NOT_SERVING');
      t.is(await healthStatus(service.address, ''), 'SERVING', 'the process itself stays up');

      // A table that references a covered table is subject data too, even without tenant_id.
      await db.pool.query('DROP TABLE loyalty_points');
      const table = Object.keys(definition.deletionPolicy.tables)[0]!;
      await db.pool.query(`CREATE TABLE audit_notes (id serial PRIMARY KEY, ref uuid REFERENCES "${table}" (id), note text)`);
      const referencing = await t.throwsAsync(preview(client, tenantSubject(tenantId), token));
      t.regex(referencing!.message, /audit_notes/);

      // Covered again: erasure works and health recovers.
      await db.pool.query('DROP TABLE audit_notes');
      t.true(Number((await preview(client, tenantSubject(tenantId), token)).totalRows) > 0);
      t.is(await healthStatus(service.address, 'bakery.erasure.v1.TenantDataDeletion'), 'SERVING');
    } finally {
      client.close();
      await service.stop(1000);
      await db.drop();
    }
  });
}
