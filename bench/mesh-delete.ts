/**
 * Benchmark 2 (issue 4): the whole mesh. A tenant with ~1M rows over the twelve domain services beside
 * a ~1M-row control tenant: end-to-end DeleteTenant against the raw SQL floor (the same rows removed by
 * one direct DELETE per table, service after service, on identical copies made with CREATE DATABASE …
 * TEMPLATE); an empty tenant's job latency over 100 runs; throughput of 100 concurrent small-tenant
 * jobs; the orchestrator's peak RSS.
 */
import { randomUUID } from 'node:crypto';
import { Pool } from 'pg';
import { JobStatus, type Job } from '../gen/bakery/erasure/v1/deletion_orchestrator';
import { databaseName, withDatabase } from '../services/kit/database';
import { deleteOrder, readCatalog } from '../services/kit/deletion/catalog';
import { tenantScope } from '../services/kit/deletion/plan';
import { domainServiceDefinitions } from '../services/definitions';
import type { DomainService } from '../services/kit/service-definition';
import { seedTenant } from '../services/seed';
import { MeshClient } from '../cli/client';
import { AT_ONCE } from '../orchestrator/grace';
import { ProcessMesh } from '../mesh/process-mesh';
import { mintOperatorToken } from '../services/kit/auth';
import { OPERATOR_IDENTITY, loadSigningKey, privateKeyFile } from '../services/kit/keys';
import { benchKeys, median, peakRssMb, percentile, sql, table } from './support';

const domainServices = domainServiceDefinitions();

const quote = (name: string) => `"${name.replace(/"/g, '""')}"`;

/** The floor for one service: one statement per table, children first, in one transaction. */
async function floorDelete(url: string, service: DomainService, tenantId: string): Promise<void> {
  const pool = new Pool({ connectionString: url, max: 2 });
  const order = deleteOrder(service.deletionPolicy, await readCatalog(pool));
  const client = await pool.connect();
  try {
    await client.query('BEGIN');
    for (const tableName of order) {
      const rule = service.deletionPolicy.tables[tableName]!.tenant;
      if (!rule) continue;
      const scope = tenantScope(service.deletionPolicy, tableName, 't');
      if ('retain' in rule) {
        if (rule.retain.anonymize.length) {
          await client.query(`UPDATE ${quote(tableName)} t SET ${rule.retain.anonymize.map((c) => `${quote(c)} = NULL`).join(', ')} WHERE ${scope}`, [tenantId]);
        }
      } else {
        await client.query(`DELETE FROM ${quote(tableName)} t WHERE ${scope}`, [tenantId]);
      }
    }
    await client.query('COMMIT');
  } finally {
    client.release();
    await pool.end();
  }
}

async function runJob(orch: MeshClient, tenantId: string): Promise<{ ms: number; job: Job }> {
  const started = performance.now();
  const job = await orch.follow((metadata) => orch.orchestrator.deleteTenant({ tenantId, requestId: '', detach: false, gracePeriod: AT_ONCE }, metadata), () => undefined);
  const ms = performance.now() - started;
  if (job.status !== JobStatus.JOB_STATUS_COMPLETED) throw new Error(`job for ${tenantId} did not complete: ${job.error}`);
  return { ms, job };
}

export async function benchMeshDelete(serverUrl: string, options: { rows: number; emptyRuns: number; concurrentJobs: number }): Promise<string> {
  const label = `bench_${randomUUID().slice(0, 6)}`;
  // A key set of the bench's own: each process gets its key, the bench signs as an operator.
  const keys = await benchKeys();
  const mesh = new ProcessMesh(serverUrl, label, { LOG_LEVEL: 'warn' }, keys.dir);
  const floorDbs: string[] = [];
  try {
    await mesh.prepare();
    const target = randomUUID();
    const control = randomUUID();
    const users = [randomUUID(), randomUUID(), randomUUID()];
    const t0 = performance.now();
    const databaseUrl = async (name: string) => mesh.databases[name]!;
    await seedTenant({ tenantId: control, rows: options.rows, users: 3, identity: true, databaseUrl });
    const seeded = await seedTenant({ tenantId: target, rows: options.rows, userIds: users, identity: true, databaseUrl });
    process.stdout.write(`seeded ${seeded.rows} target rows (+ a control tenant of the same size) in ${Math.round(performance.now() - t0)} ms\n`);

    // Identical copies for the floor, made before any process holds a connection to the originals.
    for (const service of domainServices) {
      const source = `${label}_${databaseName(service.name)}`;
      const copy = `${source}_floor`;
      await sql(mesh.databases[service.name]!, 'VACUUM ANALYZE');
      await sql(serverUrl, `CREATE DATABASE ${copy} TEMPLATE ${source}`);
      floorDbs.push(copy);
    }
    const floorStarted = performance.now();
    for (const service of domainServices) await floorDelete(withDatabase(serverUrl, `${label}_${databaseName(service.name)}_floor`), service, target);
    const floorMs = performance.now() - floorStarted;

    await mesh.startAll();
    const token = await mintOperatorToken(await loadSigningKey(privateKeyFile(keys.dir, OPERATOR_IDENTITY)), 'bench', 8 * 3600);
    const orch = new MeshClient({ ORCHESTRATOR_ADDR: mesh.addresses.orchestrator!, TENANT_ADDR: mesh.addresses.tenant!, ERASURE_TOKEN: token });
    const orchestratorPid = mesh.processes.get('orchestrator')!.pid!;

    // Empty tenants: the tenant exists (tenant row, members), no domain rows.
    const empties = Array.from({ length: options.emptyRuns }, () => randomUUID());
    for (let i = 0; i < empties.length; i += 20) {
      await Promise.all(empties.slice(i, i + 20).map((tenantId) => seedTenant({ tenantId, rows: 1, users: 2, identity: true, services: [], migrate: false, databaseUrl })));
    }
    await runJob(orch, empties.shift()!); // warm-up
    const latencies: number[] = [];
    for (const tenantId of empties) latencies.push((await runJob(orch, tenantId)).ms);
    const rssAfterSmall = peakRssMb(orchestratorPid);

    // Concurrent small tenants.
    const small = Array.from({ length: options.concurrentJobs }, () => randomUUID());
    for (let i = 0; i < small.length; i += 10) {
      await Promise.all(small.slice(i, i + 10).map((tenantId) => seedTenant({ tenantId, rows: 240, users: 2, identity: true, migrate: false, databaseUrl })));
    }
    const concurrentStarted = performance.now();
    await Promise.all(small.map((tenantId) => runJob(orch, tenantId)));
    const concurrentMs = performance.now() - concurrentStarted;

    // The big one.
    const big = await runJob(orch, target);
    const rssAfterBig = peakRssMb(orchestratorPid);
    const controlLeft = await Promise.all(
      domainServices.map(async (service) => {
        const tableName = Object.entries(service.deletionPolicy.tables).find(([, p]) => p.tenant && 'delete' in p.tenant && !('parent' in p.tenant.delete))![0];
        const [row] = (await sql(mesh.databases[service.name]!, `SELECT count(*)::int AS n FROM ${quote(tableName)} WHERE tenant_id = $1`, [control])) as { n: number }[];
        return row!.n;
      }),
    );
    if (controlLeft.some((n) => n === 0)) throw new Error('control tenant rows missing');
    orch.close();

    const ratio = big.ms / floorMs;
    return [
      `### Whole mesh: DeleteTenant of ${Number(big.job.totalRowsDeleted).toLocaleString('en')} rows over 12 domain services + tenant, beside a control tenant of the same size`,
      '',
      table(
        ['measure', 'value', 'target', 'ok'],
        [
          ['raw SQL floor (one DELETE per table, service after service)', `${floorMs.toFixed(0)} ms`, '', ''],
          ['DeleteTenant end to end (stream until COMPLETED, verified)', `${big.ms.toFixed(0)} ms`, '', ''],
          ['ratio ours / floor', `${ratio.toFixed(2)}×`, '≤ 2×', ratio <= 2 ? 'yes' : 'NO'],
          [`empty tenant job latency p50 (${latencies.length} runs)`, `${median(latencies).toFixed(1)} ms`, '< 50 ms', median(latencies) < 50 ? 'yes' : 'NO'],
          ['empty tenant job latency p95', `${percentile(latencies, 95).toFixed(1)} ms`, '', ''],
          [`${options.concurrentJobs} concurrent small-tenant jobs (240 rows each)`, `${concurrentMs.toFixed(0)} ms = ${(options.concurrentJobs / (concurrentMs / 1000)).toFixed(1)} jobs/s`, '', ''],
          ['orchestrator peak RSS after the small jobs', `${rssAfterSmall.toFixed(0)} MB`, '< 200 MB', rssAfterSmall < 200 ? 'yes' : 'NO'],
          ['orchestrator peak RSS after the 1M-row job', `${rssAfterBig.toFixed(0)} MB`, '< 200 MB, ≈ the above', rssAfterBig < 200 ? 'yes' : 'NO'],
        ],
      ),
      '',
    ].join('\n');
  } finally {
    await mesh.stopAll();
    await mesh.dropDatabases();
    keys.remove();
    for (const name of floorDbs) await sql(serverUrl, `DROP DATABASE IF EXISTS ${name} WITH (FORCE)`).catch(() => undefined);
  }
}


