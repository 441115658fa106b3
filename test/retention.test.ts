/**
 * Retention that expires, in the service: the sales service keeps an erased tenant's invoices for ten
 * years from their issue date (its model's retain rule). Preview reports the earliest and latest
 * expiry; PurgeExpired removes exactly the expired invoices of erased tenants (with their lines), in
 * chunks; a live control tenant with equally old invoices is untouched. Real PostgreSQL, real gRPC,
 * the tombstone registry served on loopback; every outcome checked by direct SQL.
 */
import { randomUUID } from 'node:crypto';
import test from 'ava';
import { status, type ServiceError } from '@grpc/grpc-js';
import { EntityAction, type DeleteProgress } from '../gen/bakery/erasure/v1/tenant_data_deletion';
import { service as sales } from '../services/sales';
import { startService } from '../services/kit/run-service';
import { createTestDatabase } from './support/database';
import { startTestRegistry, type TestRegistry } from './support/registry';
import { bearer, erasureClient, operatorToken, preview, runDelete, serviceToken, silentLog, smallChunks, tenantSubject, testKeys } from './support/services';
import type { Pool } from 'pg';
import { orchestratorConfig } from '../orchestrator/config';
import { startOrchestrator } from '../orchestrator/main';
import { parseTombstoneKeys } from '../orchestrator/tombstones';
import { freePort } from './support/ports';
import { cli } from './support/cli';

let reg: TestRegistry;
test.before(async () => {
  reg = await startTestRegistry('retention_orch');
});
test.after.always(async () => reg?.close());

function purge(client: ReturnType<typeof erasureClient>, token: string): Promise<{ messages: DeleteProgress[]; error?: ServiceError }> {
  return new Promise((resolve) => {
    const messages: DeleteProgress[] = [];
    const call = client.purgeExpired({ jobId: '', holds: [] }, bearer(token));
    call.on('data', (message: DeleteProgress) => messages.push(message));
    call.on('error', (error: ServiceError) => resolve({ messages, error }));
    call.on('end', () => resolve({ messages }));
  });
}

/** Every invoice and invoice line of a tenant as text: the control must come out byte-identical. */
async function invoiceSnapshot(pool: Pool, tenantId: string): Promise<string> {
  const { rows } = await pool.query<{ s: string }>(
    `SELECT concat_ws('|',
       (SELECT count(*) || ':' || md5(coalesce(string_agg(i::text, ',' ORDER BY i.id), '')) FROM invoices i WHERE tenant_id = $1),
       (SELECT count(*) || ':' || md5(coalesce(string_agg(l::text, ',' ORDER BY l.id), '')) FROM invoice_lines l WHERE tenant_id = $1)) AS s`,
    [tenantId],
  );
  return rows[0]!.s;
}

test('an erased tenant\'s invoices past ten years are purged exactly (with their lines); younger ones stay; a live tenant\'s old invoices are untouched', async (t) => {
  const db = await createTestDatabase('retention_sales');
  t.teardown(() => db.drop());
  const client = reg.client('sales');
  const running = await startService(sales, {
    address: '127.0.0.1:0',
    databaseUrl: db.url,
    keys: (await testKeys()).processKeys('sales'),
    chunks: smallChunks,
    log: silentLog,
    tombstones: client,
    registry: client,
  });
  t.teardown(() => running.stop(1000));
  const rpc = erasureClient(running.address);
  t.teardown(() => rpc.close());
  const orchestrator = await serviceToken('orchestrator');

  const [erased, control] = [randomUUID(), randomUUID()];
  await sales.seed(db.pool, { tenantId: erased, userIds: [randomUUID()], rows: 1300 });
  await sales.seed(db.pool, { tenantId: control, userIds: [randomUUID()], rows: 650 });
  // Invoice dates on both sides of the period: every other invoice 11 years old, the rest 9 years;
  // the control tenant's too (a live tenant's invoices are not retained rows, whatever their age).
  for (const tenant of [erased, control]) {
    await db.pool.query(
      `UPDATE invoices SET issued_at = now() - CASE WHEN rn % 2 = 0 THEN interval '11 years' ELSE interval '9 years' END
         FROM (SELECT id, row_number() OVER (ORDER BY id) AS rn FROM invoices WHERE tenant_id = $1) o
        WHERE invoices.id = o.id`,
      [tenant],
    );
  }
  const deleted = await runDelete(rpc, tenantSubject(erased), orchestrator);
  t.falsy(deleted.error, deleted.error?.message);
  await reg.recordErased('tenant', erased);

  const { rows: before } = await db.pool.query<{ expired: number; kept: number; expired_lines: number; kept_lines: number; earliest: Date; latest: Date }>(
    `SELECT count(*) FILTER (WHERE issued_at + interval '10 years' <= now())::int AS expired,
            count(*) FILTER (WHERE issued_at + interval '10 years' > now())::int AS kept,
            (SELECT count(*) FROM invoice_lines l JOIN invoices i ON i.id = l.invoice_id WHERE i.tenant_id = $1 AND i.issued_at + interval '10 years' <= now())::int AS expired_lines,
            (SELECT count(*) FROM invoice_lines l JOIN invoices i ON i.id = l.invoice_id WHERE i.tenant_id = $1 AND i.issued_at + interval '10 years' > now())::int AS kept_lines,
            min(issued_at + interval '10 years') AS earliest, max(issued_at + interval '10 years') AS latest
       FROM invoices WHERE tenant_id = $1`,
    [erased],
  );
  const expected = before[0]!;
  t.true(expected.expired > 10 && expected.kept > 10 && expected.expired_lines > 0, JSON.stringify(expected));
  const { rows: keptIds } = await db.pool.query<{ ids: string }>(
    `SELECT string_agg(id::text, ',' ORDER BY id) AS ids FROM invoices WHERE tenant_id = $1 AND issued_at + interval '10 years' > now()`,
    [erased],
  );
  const controlBefore = await invoiceSnapshot(db.pool, control);

  // Preview: retained rows with their earliest and latest expiry.
  const shown = await preview(rpc, tenantSubject(erased), orchestrator);
  const invoices = shown.entities.find((e) => e.entity === 'invoices')!;
  t.is(invoices.action, EntityAction.ENTITY_ACTION_RETAIN);
  t.is(Number(invoices.retainedRowCount), expected.expired + expected.kept);
  t.is(invoices.earliestExpiry?.getTime(), expected.earliest.getTime());
  t.is(invoices.latestExpiry?.getTime(), expected.latest.getTime());
  t.is(shown.entities.find((e) => e.entity === 'invoice_lines')?.earliestExpiry, undefined, 'lines have no period of their own');

  // Only the orchestrator purges.
  const refused = await purge(rpc, await operatorToken());
  t.is(refused.error?.code, status.PERMISSION_DENIED);

  const purged = await purge(rpc, orchestrator);
  t.falsy(purged.error, purged.error?.message);
  const result = purged.messages.at(-1)?.result;
  t.true(purged.messages.filter((m) => m.chunk).length > 1, 'in several chunks');
  t.deepEqual(
    Object.fromEntries(result!.entities.map((e) => [e.entity, Number(e.rows)])),
    { invoices: expected.expired, invoice_lines: expected.expired_lines },
  );

  const { rows: after } = await db.pool.query<{ expired: number; ids: string; lines: number }>(
    `SELECT count(*) FILTER (WHERE issued_at + interval '10 years' <= now())::int AS expired,
            string_agg(id::text, ',' ORDER BY id) AS ids,
            (SELECT count(*) FROM invoice_lines WHERE tenant_id = $1)::int AS lines
       FROM invoices WHERE tenant_id = $1`,
    [erased],
  );
  t.is(after[0]!.expired, 0, 'no expired invoice of the erased tenant is left');
  t.is(after[0]!.ids, keptIds[0]!.ids, 'every younger invoice stays');
  t.is(after[0]!.lines, expected.kept_lines, 'with all its lines');
  t.is(await invoiceSnapshot(db.pool, control), controlBefore, 'the live control tenant is byte-identical, old invoices included');

  const again = await purge(rpc, orchestrator);
  t.is(again.messages.at(-1)?.result?.totalRows, '0', 'a second purge removes nothing');
});

test('the orchestrator runs the retention purge as a recorded, verified run (erasure purge-expired), on a durable daily schedule', async (t) => {
  const [salesDb, orchDb] = [await createTestDatabase('retention_e2e_sales'), await createTestDatabase('retention_e2e_orch')];
  t.teardown(() => salesDb.drop());
  t.teardown(() => orchDb.drop());
  const salesAddress = `127.0.0.1:${await freePort()}`;
  const orchestrator = await startOrchestrator({
    address: '127.0.0.1:0',
    databaseUrl: orchDb.url,
    keys: (await testKeys()).processKeys('orchestrator'),
    config: { ...orchestratorConfig({}), registry: { sales: salesAddress }, retentionPurgeCron: '0 3 * * *' },
    tombstoneKeys: parseTombstoneKeys(`1:${randomUUID()}${randomUUID()}`, 'test'),
    log: silentLog,
  });
  t.teardown(() => orchestrator.stop(1000));
  const client = reg.client('sales', orchestrator.address);
  const sales_ = await startService(sales, { address: salesAddress, databaseUrl: salesDb.url, keys: (await testKeys()).processKeys('sales'), chunks: smallChunks, log: silentLog, tombstones: client, registry: client });
  t.teardown(() => sales_.stop(1000));

  const [erased, control] = [randomUUID(), randomUUID()];
  await sales.seed(salesDb.pool, { tenantId: erased, userIds: [randomUUID()], rows: 650 });
  await sales.seed(salesDb.pool, { tenantId: control, userIds: [randomUUID()], rows: 650 });
  await salesDb.pool.query(`UPDATE invoices SET issued_at = now() - interval '11 years'`);
  // The erased tenant's other rows are gone (as after its erasure); its invoices are retained.
  await salesDb.pool.query(`DELETE FROM sales_transaction_lines l USING sales_transactions s WHERE s.id = l.transaction_id AND s.tenant_id = $1`, [erased]);
  await salesDb.pool.query('DELETE FROM sales_transactions WHERE tenant_id = $1', [erased]);
  const jobId = randomUUID();
  await orchDb.pool.query(`INSERT INTO erasure_jobs (id, subject_kind, subject_id, status, requested_by, trace_id) VALUES ($1, 'tenant', $2, 'COMPLETED', 'service:test', 'x')`, [jobId, erased]);
  const tx = await orchestrator.db.pool.connect();
  await orchestrator.tombstones.record(tx, 'tenant', erased, jobId).finally(() => tx.release());
  const { rows: expected } = await salesDb.pool.query<{ invoices: number; lines: number }>(
    `SELECT (SELECT count(*) FROM invoices WHERE tenant_id = $1)::int AS invoices, (SELECT count(*) FROM invoice_lines WHERE tenant_id = $1)::int AS lines`,
    [erased],
  );
  const controlBefore = await invoiceSnapshot(salesDb.pool, control);

  const run = await cli(['purge-expired', '--json'], { ERASURE_TOKEN: await operatorToken(), ORCHESTRATOR_ADDR: orchestrator.address });
  t.is(run.code, 0, run.stderr);
  const { purge } = JSON.parse(run.stdout) as { purge: { id: string; status: string; totalRows: string; verifiedAt?: string } };
  t.is(purge.status, 'COMPLETED');
  t.truthy(purge.verifiedAt, 'verified: a second pass found nothing expired');
  t.is(Number(purge.totalRows), expected[0]!.invoices + expected[0]!.lines);

  const { rows: left } = await salesDb.pool.query<{ n: number }>(`SELECT ((SELECT count(*) FROM invoices WHERE tenant_id = $1) + (SELECT count(*) FROM invoice_lines WHERE tenant_id = $1))::int AS n`, [erased]);
  t.is(left[0]!.n, 0, 'every expired retained row of the erased tenant is gone');
  t.is(await invoiceSnapshot(salesDb.pool, control), controlBefore, 'the live control tenant is byte-identical');
  const { rows: recorded } = await orchDb.pool.query<{ status: string; trigger: string; total_rows: string; services: { service: string; rows: number }[] }>(
    'SELECT status, trigger, total_rows, services FROM retention_purges WHERE id = $1',
    [purge.id],
  );
  t.like(recorded[0], { status: 'COMPLETED', trigger: 'operator', total_rows: String(expected[0]!.invoices + expected[0]!.lines) });
  t.is(recorded[0]!.services.find((s) => s.service === 'sales')?.rows, expected[0]!.invoices + expected[0]!.lines);
  const { rows: text } = await orchDb.pool.query<{ n: number }>(`SELECT count(*)::int AS n FROM retention_purges r WHERE r::text ILIKE '%' || $1 || '%'`, [erased]);
  t.is(text[0]!.n, 0, 'the run record names no tenant');
  const { rows: audited } = await orchDb.pool.query<{ n: number }>(`SELECT count(*)::int AS n FROM erasure_audit_log WHERE kind = 'retention.purged' AND details->>'purge_id' = $1`, [purge.id]);
  t.is(audited[0]!.n, 1, 'the purge is an entry of the audit chain');

  // The daily schedule is durable: kept by pg-boss in the orchestrator's database (one entry per tick, fetched by one replica).
  const { rows: schedules } = await orchDb.pool.query<{ name: string; cron: string }>(`SELECT name, cron FROM pgboss.schedule WHERE name = 'retention-purge'`);
  t.deepEqual(schedules, [{ name: 'retention-purge', cron: '0 3 * * *' }]);
});

