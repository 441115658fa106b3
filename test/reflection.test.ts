/** Operators reach every service through server reflection with `buf curl` (grpcurl's protocol). */
import { execFile } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { resolve } from 'node:path';
import { promisify } from 'node:util';
import test from 'ava';
import { service as inventoryService } from '../services/inventory';
import { createTestDatabase } from './support/database';
import { serviceToken, startTestService } from './support/services';

const run = promisify(execFile);
const buf = resolve(__dirname, '../node_modules/.bin/buf');
const plaintext = ['--protocol', 'grpc', '--http2-prior-knowledge'];

test('buf curl lists the services and calls Preview through reflection', async (t) => {
  const db = await createTestDatabase('reflection');
  const service = await startTestService(inventoryService, db.url);
  try {
    const base = `http://${service.address}`;
    for (const protocol of ['grpc-v1', 'grpc-v1alpha']) {
      const { stdout } = await run(buf, ['curl', ...plaintext, '--reflect-protocol', protocol, '--list-services', base]);
      t.true(stdout.split('\n').includes('bakery.erasure.v1.TenantDataDeletion'), `${protocol}: ${stdout}`);
      t.true(stdout.split('\n').includes('grpc.health.v1.Health'));
    }

    const tenantId = randomUUID();
    await inventoryService.seed(db.pool, { tenantId, userIds: [randomUUID()], rows: 90 });
    const { rows } = await db.pool.query('SELECT count(*)::int AS n FROM ingredients WHERE tenant_id = $1', [tenantId]);
    const { stdout } = await run(buf, [
      'curl', ...plaintext,
      '-H', `authorization: Bearer ${await serviceToken()}`,
      '-d', JSON.stringify({ subject: { tenant_id: tenantId } }),
      `${base}/bakery.erasure.v1.TenantDataDeletion/Preview`,
    ]);
    const response = JSON.parse(stdout);
    t.is(response.service, 'inventory');
    const ingredients = response.entities.find((e: { entity: string }) => e.entity === 'ingredients');
    t.is(Number(ingredients.rowCount), rows[0].n, 'Preview through reflection counts the rows (direct SQL)');
    t.is(ingredients.action, 'ENTITY_ACTION_DELETE');

    const health = await run(buf, ['curl', ...plaintext, '-d', '{"service":"bakery.erasure.v1.TenantDataDeletion"}', `${base}/grpc.health.v1.Health/Check`]);
    t.is(JSON.parse(health.stdout).status, 'SERVING');

    const denied = await t.throwsAsync(
      run(buf, ['curl', ...plaintext, '-d', JSON.stringify({ subject: { tenant_id: tenantId } }), `${base}/bakery.erasure.v1.TenantDataDeletion/Preview`]),
    );
    t.regex(String((denied as { stderr?: string }).stderr), /unauthenticated/i);
  } finally {
    await service.stop(1000);
    await db.drop();
  }
});
