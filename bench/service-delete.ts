/**
 * Benchmark 1 (issue 2): one service (orders) holding 1M target rows among 2M. Our chunked, streamed
 * Delete (a real service process, over gRPC) against the raw SQL floor — one DELETE per table in a
 * single transaction — over identical copies of the same data (CREATE DATABASE … TEMPLATE), same run.
 */
import { randomUUID } from 'node:crypto';
import { credentials, Metadata } from '@grpc/grpc-js';
import { Pool } from 'pg';
import { TenantDataDeletionClient, type DeleteProgress } from '../gen/bakery/erasure/v1/tenant_data_deletion';
import { mintServiceToken } from '../services/kit/auth';
import { loadSigningKey, privateKeyFile, processKeyEnv } from '../services/kit/keys';
import { withDatabase } from '../services/kit/database';
import { migrate } from '../services/kit/migrations';
import { openServiceDatabase } from '../services/kit/database';
import { createLogger } from '../services/kit/logger';
import { service as ordersService } from '../services/orders';
import { startServiceProcess } from '../mesh/process-mesh';
import { benchKeys, freePort, median, peakRssMb, sql, table } from './support';

const FLOOR_SQL = [
  'DELETE FROM order_items WHERE order_id IN (SELECT id FROM customer_orders WHERE tenant_id = $1)',
  'DELETE FROM customer_orders WHERE tenant_id = $1',
  'DELETE FROM customers WHERE tenant_id = $1',
];

async function countTenant(url: string, tenantId: string): Promise<number> {
  const [row] = (await sql(
    url,
    `SELECT (SELECT count(*) FROM customers WHERE tenant_id = $1)
          + (SELECT count(*) FROM customer_orders WHERE tenant_id = $1)
          + (SELECT count(*) FROM order_items i JOIN customer_orders o ON o.id = i.order_id WHERE o.tenant_id = $1) AS n`,
    [tenantId],
  )) as { n: string }[];
  return Number(row!.n);
}

async function floorRun(url: string, tenantId: string): Promise<number> {
  const pool = new Pool({ connectionString: url, max: 1 });
  const client = await pool.connect();
  try {
    const started = performance.now();
    await client.query('BEGIN');
    for (const statement of FLOOR_SQL) await client.query(statement, [tenantId]);
    await client.query('COMMIT');
    return performance.now() - started;
  } finally {
    client.release();
    await pool.end();
  }
}

async function ourRun(url: string, tenantId: string): Promise<{ ms: number; rows: number; chunks: number; maxChunkMs: number; rssMb: number }> {
  const address = `127.0.0.1:${await freePort()}`;
  // Delete is the orchestrator's alone: the bench plays the orchestrator with a key set of its own.
  const keys = await benchKeys();
  const child = await startServiceProcess(
    'orders',
    address,
    // No orchestrator here: the resurrection sweep neither waits for a registry nor retries during the measurement.
    { ...process.env, LOG_LEVEL: 'warn', ORDERS_DATABASE_URL: url, MIGRATE: 'false', RESURRECTION_SWEEP_STARTUP_WAIT_MS: '0', RESURRECTION_SWEEP_RETRY_MS: '3600000', ...processKeyEnv(keys.dir, 'orders') },
    { timeoutMs: 60_000 },
  );
  const client = new TenantDataDeletionClient(address, credentials.createInsecure());
  try {
    const metadata = new Metadata();
    metadata.set('authorization', `Bearer ${await mintServiceToken(await loadSigningKey(privateKeyFile(keys.dir, 'orchestrator')))}`);
    const started = performance.now();
    let chunks = 0;
    let maxChunkMs = 0;
    let rows = 0;
    await new Promise<void>((resolve, reject) => {
      const call = client.delete({ subject: { tenantId }, jobId: '', heldEntities: [], stopIfFound: false }, metadata);
      call.on('data', (message: DeleteProgress) => {
        if (message.chunk) {
          chunks++;
          maxChunkMs = Math.max(maxChunkMs, message.chunk.chunkDurationMs);
        }
        if (message.result) rows = Number(message.result.totalRows);
      });
      call.on('error', reject);
      call.on('end', resolve);
    });
    const ms = performance.now() - started;
    return { ms, rows, chunks, maxChunkMs, rssMb: peakRssMb(child.pid!) };
  } finally {
    client.close();
    await child.stop();
    keys.remove();
  }
}

export async function benchServiceDelete(serverUrl: string, options: { rows: number; runs: number }): Promise<string> {
  const log = createLogger('bench');
  const seedDb = `bench_orders_seed_${randomUUID().slice(0, 8)}`;
  const target = randomUUID();
  const control = randomUUID();
  await sql(serverUrl, `CREATE DATABASE ${seedDb}`);
  const created: string[] = [seedDb];
  try {
    const seedUrl = withDatabase(serverUrl, seedDb);
    const db = openServiceDatabase(seedUrl, 2);
    const users = [randomUUID(), randomUUID(), randomUUID()];
    const t0 = performance.now();
    await migrate(seedUrl, db.sequelize, ordersService.migrations, log);
    await Promise.all([
      ordersService.seed(db.pool, { tenantId: target, userIds: users, rows: options.rows }),
      ordersService.seed(db.pool, { tenantId: control, userIds: users, rows: options.rows }),
    ]);
    await db.pool.query('VACUUM ANALYZE');
    await db.close();
    const targetRows = await countTenant(seedUrl, target);
    const controlRows = await countTenant(seedUrl, control);
    process.stdout.write(`seeded ${targetRows} target + ${controlRows} control rows in ${Math.round(performance.now() - t0)} ms\n`);

    const floors: number[] = [];
    const ours: Awaited<ReturnType<typeof ourRun>>[] = [];
    for (let run = 0; run < options.runs; run++) {
      const floorDb = `${seedDb}_floor_${run}`;
      const ourDb = `${seedDb}_ours_${run}`;
      await sql(serverUrl, `CREATE DATABASE ${floorDb} TEMPLATE ${seedDb}`);
      await sql(serverUrl, `CREATE DATABASE ${ourDb} TEMPLATE ${seedDb}`);
      created.push(floorDb, ourDb);
      const floorUrl = withDatabase(serverUrl, floorDb);
      const ourUrl = withDatabase(serverUrl, ourDb);
      // Alternate which goes first, so neither always meets a warmer cache.
      const doFloor = async () => floors.push(await floorRun(floorUrl, target));
      const doOurs = async () => ours.push(await ourRun(ourUrl, target));
      if (run % 2 === 0) await doFloor().then(doOurs);
      else await doOurs().then(doFloor);
      const last = ours.at(-1)!;
      if (last.rows !== targetRows) throw new Error(`ours removed ${last.rows} rows, expected ${targetRows}`);
      for (const url of [floorUrl, ourUrl]) {
        if ((await countTenant(url, target)) !== 0) throw new Error('target rows left');
        if ((await countTenant(url, control)) !== controlRows) throw new Error('control changed');
      }
      process.stdout.write(`run ${run + 1}: floor ${floors.at(-1)!.toFixed(0)} ms, ours ${last.ms.toFixed(0)} ms (${last.chunks} chunks, longest ${last.maxChunkMs.toFixed(0)} ms, peak RSS ${last.rssMb.toFixed(0)} MB)\n`);
      await sql(serverUrl, `DROP DATABASE ${floorDb}`);
      await sql(serverUrl, `DROP DATABASE ${ourDb}`);
    }
    const floor = median(floors);
    const our = median(ours.map((o) => o.ms));
    const longest = Math.max(...ours.map((o) => o.maxChunkMs));
    const rss = Math.max(...ours.map((o) => o.rssMb));
    return [
      `### Service Delete: orders, ${targetRows.toLocaleString('en')} target rows among ${(targetRows + controlRows).toLocaleString('en')} (median of ${options.runs})`,
      '',
      table(
        ['measure', 'value', 'target', 'ok'],
        [
          ['raw SQL floor (one DELETE per table, one transaction)', `${floor.toFixed(0)} ms`, '', ''],
          ['our Delete over gRPC (chunked, streamed, verified)', `${our.toFixed(0)} ms`, '', ''],
          ['ratio ours / floor', `${(our / floor).toFixed(2)}×`, '≤ 1.5×', our / floor <= 1.5 ? 'yes' : 'NO'],
          ['longest chunk transaction', `${longest.toFixed(0)} ms`, '< 250 ms', longest < 250 ? 'yes' : 'NO'],
          ['service peak RSS while deleting (VmHWM)', `${rss.toFixed(0)} MB`, '< 120 MB (issue 12)', rss < 120 ? 'yes' : 'NO'],
          ['chunks (median run)', String(median(ours.map((o) => o.chunks))), '', ''],
        ],
      ),
      '',
    ].join('\n');
  } finally {
    for (const name of created.reverse()) await sql(serverUrl, `DROP DATABASE IF EXISTS ${name} WITH (FORCE)`).catch(() => undefined);
  }
}
