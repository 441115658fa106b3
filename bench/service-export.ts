/**
 * Export benchmark (issue 13): one service (orders) holding N target rows among 2N. Our Export (a real
 * service process, over gRPC, keyset pages rendered to JSON by PostgreSQL) against the floor measured
 * in the same run — PostgreSQL `COPY (SELECT …) TO STDOUT` of the same rows to the same client — and
 * one run whose reader pauses (back-pressure): the service's peak RSS must stay bounded.
 */
import { randomUUID } from 'node:crypto';
import { credentials, Metadata } from '@grpc/grpc-js';
import { Client } from 'pg';
import { to as copyTo } from 'pg-copy-streams';
import { TenantDataDeletionClient, type ExportChunk } from '../gen/bakery/erasure/v1/tenant_data_deletion';
import { mintServiceToken } from '../services/kit/auth';
import { loadSigningKey, privateKeyFile, processKeyEnv } from '../services/kit/keys';
import { openServiceDatabase, withDatabase } from '../services/kit/database';
import { migrate } from '../services/kit/migrations';
import { createLogger } from '../services/kit/logger';
import { service as ordersService } from '../services/orders';
import { startServiceProcess } from '../mesh/process-mesh';
import { benchKeys, freePort, median, peakRssMb, sql, table } from './support';

/** The floor: the same rows, every column, streamed to this client by COPY. */
const floorStatements = (tenantId: string) => [
  `COPY (SELECT t.* FROM customers t WHERE t.tenant_id = '${tenantId}') TO STDOUT`,
  `COPY (SELECT t.* FROM customer_orders t WHERE t.tenant_id = '${tenantId}') TO STDOUT`,
  `COPY (SELECT i.* FROM order_items i JOIN customer_orders o ON o.id = i.order_id WHERE o.tenant_id = '${tenantId}') TO STDOUT`,
];

async function floorRun(url: string, tenantId: string): Promise<{ ms: number; bytes: number }> {
  const client = new Client({ connectionString: url });
  await client.connect();
  try {
    const started = performance.now();
    let bytes = 0;
    for (const statement of floorStatements(tenantId)) {
      const stream = client.query(copyTo(statement));
      for await (const piece of stream) bytes += (piece as Buffer).length;
    }
    return { ms: performance.now() - started, bytes };
  } finally {
    await client.end();
  }
}

async function ourRun(url: string, tenantId: string, pauseMs: number): Promise<{ ms: number; rows: number; bytes: number; rssMb: number }> {
  const address = `127.0.0.1:${await freePort()}`;
  // Export is the orchestrator's alone: the bench plays the orchestrator with a key set of its own.
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
    let rows = 0;
    let bytes = 0;
    let paused = false;
    const call = client.export({ subject: { tenantId }, jobId: '' }, metadata);
    for await (const message of call) {
      const chunk = message as ExportChunk;
      for (const row of chunk.rows?.rows ?? []) bytes += row.length + 1;
      rows += chunk.rows?.rows.length ?? 0;
      // A reader that stops reading for a while: the service must wait, not buffer.
      if (pauseMs && !paused && rows > 10_000) {
        paused = true;
        await new Promise((resolve) => setTimeout(resolve, pauseMs));
      }
    }
    return { ms: performance.now() - started, rows, bytes, rssMb: peakRssMb(child.pid!) };
  } finally {
    client.close();
    await child.stop();
    keys.remove();
  }
}

export async function benchServiceExport(serverUrl: string, options: { rows: number; runs: number }): Promise<string> {
  const log = createLogger('bench');
  const db = `bench_export_${randomUUID().slice(0, 8)}`;
  const target = randomUUID();
  const control = randomUUID();
  await sql(serverUrl, `CREATE DATABASE ${db}`);
  try {
    const url = withDatabase(serverUrl, db);
    const service = openServiceDatabase(url, 2);
    const users = [randomUUID(), randomUUID(), randomUUID()];
    await migrate(url, service.sequelize, ordersService.migrations, log);
    await Promise.all([
      ordersService.seed(service.pool, { tenantId: target, userIds: users, rows: options.rows }),
      ordersService.seed(service.pool, { tenantId: control, userIds: users, rows: options.rows }),
    ]);
    await service.pool.query('VACUUM ANALYZE');
    await service.close();
    const floors: { ms: number; bytes: number }[] = [];
    const ours: Awaited<ReturnType<typeof ourRun>>[] = [];
    for (let run = 0; run < options.runs; run++) {
      // Alternate which goes first, so neither always meets a warmer cache. Export changes nothing: one copy serves both.
      const doFloor = async () => floors.push(await floorRun(url, target));
      const doOurs = async () => ours.push(await ourRun(url, target, 0));
      if (run % 2 === 0) await doFloor().then(doOurs);
      else await doOurs().then(doFloor);
      process.stdout.write(`export run ${run + 1}: floor ${floors.at(-1)!.ms.toFixed(0)} ms, ours ${ours.at(-1)!.ms.toFixed(0)} ms (${ours.at(-1)!.rows} rows, peak RSS ${ours.at(-1)!.rssMb.toFixed(0)} MB)\n`);
    }
    const paused = await ourRun(url, target, 5_000);
    // The same process exporting nobody: what the runtime itself takes, for comparison.
    const idle = await ourRun(url, randomUUID(), 0);
    const [{ n: expected }] = (await sql(
      url,
      `SELECT (SELECT count(*) FROM customers WHERE tenant_id = $1) + (SELECT count(*) FROM customer_orders WHERE tenant_id = $1)
            + (SELECT count(*) FROM order_items i JOIN customer_orders o ON o.id = i.order_id WHERE o.tenant_id = $1) AS n`,
      [target],
    )) as { n: string }[];
    for (const o of [...ours, paused]) if (o.rows !== Number(expected)) throw new Error(`ours exported ${o.rows} rows, expected ${expected}`);
    const floor = median(floors.map((f) => f.ms));
    const our = median(ours.map((o) => o.ms));
    const rss = Math.max(...ours.map((o) => o.rssMb));
    return [
      `### Service Export: orders, ${Number(expected).toLocaleString('en')} target rows among twice as many (median of ${options.runs})`,
      '',
      table(
        ['measure', 'value', 'target', 'ok'],
        [
          ['floor: COPY (SELECT …) TO STDOUT of the same rows', `${floor.toFixed(0)} ms (${(median(floors.map((f) => f.bytes)) / 1e6).toFixed(0)} MB)`, '', ''],
          ['our Export over gRPC (keyset pages, JSON rows)', `${our.toFixed(0)} ms (${(median(ours.map((o) => o.bytes)) / 1e6).toFixed(0)} MB)`, '', ''],
          ['ratio ours / floor', `${(our / floor).toFixed(2)}×`, '', ''],
          ['service peak RSS (VmHWM)', `${rss.toFixed(0)} MB`, '< 120 MB', rss < 120 ? 'yes' : 'NO'],
          ['service peak RSS, reader paused 5 s', `${paused.rssMb.toFixed(0)} MB`, '< 120 MB', paused.rssMb < 120 ? 'yes' : 'NO'],
          ['service peak RSS exporting nothing (the runtime alone)', `${idle.rssMb.toFixed(0)} MB`, '', ''],
        ],
      ),
      '',
    ].join('\n');
  } finally {
    await sql(serverUrl, `DROP DATABASE IF EXISTS ${db} WITH (FORCE)`).catch(() => undefined);
  }
}
