/**
 * Benchmark 2: the whole mesh, as issue 12's table. A tenant with ~1M rows over the twelve domain
 * services beside a ~1M-row control tenant, and a 1K-row tenant: end-to-end DeleteTenant against the
 * cascade floor measured in the same run (one DELETE per table in foreign-key order, one transaction per
 * database, all databases in parallel, on identical copies made with CREATE DATABASE … TEMPLATE); an
 * empty tenant's job latency; throughput of concurrent small-tenant jobs, every one verified; peak RSS of
 * the orchestrator and of the services. Beside the ratios, from the spans the mesh exports to a
 * loopback OTLP receiver: the longest chunk transaction and the verification calls per job, so no
 * target is met by longer transactions or skipped verification.
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
import { OtlpReceiver } from '../test/support/otlp-receiver';
import { benchKeys, cpuMs, median, peakRssMb, percentile, sql, table } from './support';
import { benchStartup } from './startup';

const domainServices = domainServiceDefinitions();

const quote = (name: string) => `"${name.replace(/"/g, '""')}"`;

/**
 * The floor for one service's database, ready to run: a connected client and the statements, one per
 * table, children first. Reading the catalog and connecting happen before the clock starts — a
 * running service has both done already, so the floor is timed on the same footing.
 */
async function prepareFloor(url: string, service: DomainService, tenantId: string): Promise<{ run(): Promise<void>; close(): Promise<void> }> {
  const pool = new Pool({ connectionString: url, max: 1 });
  const order = deleteOrder(service.deletionPolicy, await readCatalog(pool));
  const statements: string[] = [];
  for (const tableName of order) {
    const rule = service.deletionPolicy.tables[tableName]!.tenant;
    if (!rule) continue;
    const scope = tenantScope(service.deletionPolicy, tableName, 't');
    if ('retain' in rule) {
      if (rule.retain.anonymize.length) statements.push(`UPDATE ${quote(tableName)} t SET ${rule.retain.anonymize.map((c) => `${quote(c)} = NULL`).join(', ')} WHERE ${scope}`);
    } else {
      statements.push(`DELETE FROM ${quote(tableName)} t WHERE ${scope}`);
    }
  }
  const client = await pool.connect();
  return {
    async run() {
      await client.query('BEGIN');
      for (const statement of statements) await client.query(statement, [tenantId]);
      await client.query('COMMIT');
    },
    async close() {
      client.release();
      await pool.end();
    },
  };
}

async function runJob(orch: MeshClient, tenantId: string): Promise<{ ms: number; job: Job }> {
  const started = performance.now();
  const job = await orch.follow((metadata) => orch.orchestrator.deleteTenant({ tenantId, requestId: '', detach: false, gracePeriod: AT_ONCE, requireApproval: false }, metadata), () => undefined);
  const ms = performance.now() - started;
  if (job.status !== JobStatus.JOB_STATUS_COMPLETED) throw new Error(`job for ${tenantId} did not complete: ${job.error}`);
  return { ms, job };
}

/**
 * The cascade floor for one tenant: every domain database in parallel, each in one transaction, timed
 * from the first statement to the last commit. A CHECKPOINT first, so the writes of the copies just
 * made are not flushed during the floor's clock (they would slow the floor, flattering the ratio).
 */
async function floor(serverUrl: string, label: string, tenantId: string): Promise<number> {
  const floors = await Promise.all(domainServices.map((service) => prepareFloor(withDatabase(serverUrl, `${label}_${databaseName(service.name)}_floor`), service, tenantId)));
  try {
    await sql(serverUrl, 'CHECKPOINT');
    const started = performance.now();
    await Promise.all(floors.map((f) => f.run()));
    return performance.now() - started;
  } finally {
    await Promise.all(floors.map((f) => f.close()));
  }
}

const yes = (ok: boolean) => (ok ? 'yes' : 'no');

/** CPU time (ms) each process of the mesh has used so far, by name. */
function meshCpu(mesh: ProcessMesh): Map<string, number> {
  return new Map([...mesh.processes].map(([name, child]) => [name, cpuMs(child.pid!)]));
}

/** CPU per job since `before`: the orchestrator, tenant and auth, the domain services summed, and all of them. */
function cpuSince(mesh: ProcessMesh, before: Map<string, number>, jobs: number): { orchestrator: number; tenant: number; auth: number; domain: number; total: number } {
  const used = (name: string) => (cpuMs(mesh.processes.get(name)!.pid!) - before.get(name)!) / jobs;
  const domain = domainServices.reduce((sum, service) => sum + used(service.name), 0);
  const [orchestrator, tenant, auth] = [used('orchestrator'), used('tenant'), used('auth')];
  return { orchestrator, tenant, auth, domain, total: orchestrator + tenant + auth + domain };
}

/** Empty-tenant jobs run before the measured ones, their median printed beside the result. */
const EMPTY_WARM_UP_JOBS = 20;

export async function benchMeshDelete(serverUrl: string, options: { rows: number; emptyRuns: number; concurrentJobs: number; startup: boolean }): Promise<string> {
  const label = `bench_${randomUUID().slice(0, 6)}`;
  // A key set of the bench's own: each process gets its key, the bench signs as an operator.
  const keys = await benchKeys();
  const receiver = new OtlpReceiver();
  await receiver.start();
  // The bench follows every concurrent job with a watch stream of one caller: the per-caller limit
  // (64 by default) would refuse the 65th.
  const watchers = String(Math.max(64, options.concurrentJobs + 8));
  const mesh = new ProcessMesh(serverUrl, label, { LOG_LEVEL: 'warn', OTEL_EXPORTER_OTLP_ENDPOINT: receiver.endpoint, ORCHESTRATOR_FOUR_EYES: 'off', ORCHESTRATOR_WATCHERS_PER_CALLER: watchers }, keys.dir);
  const floorDbs: string[] = [];
  try {
    await mesh.prepare();
    const target = randomUUID();
    const control = randomUUID();
    const oneK = randomUUID();
    const users = [randomUUID(), randomUUID(), randomUUID()];
    const t0 = performance.now();
    const databaseUrl = async (name: string) => mesh.databases[name]!;
    await seedTenant({ tenantId: control, rows: options.rows, users: 3, identity: true, databaseUrl });
    const seeded = await seedTenant({ tenantId: target, rows: options.rows, userIds: users, identity: true, databaseUrl });
    const seededOneK = await seedTenant({ tenantId: oneK, rows: 1000, users: 2, identity: true, migrate: false, databaseUrl });
    process.stdout.write(`seeded ${seeded.rows} + ${seededOneK.rows} target rows (+ a control tenant of ${options.rows}) in ${Math.round(performance.now() - t0)} ms\n`);

    // Identical copies for the floor, made before any process holds a connection to the originals.
    for (const service of domainServices) {
      const source = `${label}_${databaseName(service.name)}`;
      const copy = `${source}_floor`;
      await sql(mesh.databases[service.name]!, 'VACUUM ANALYZE');
      await sql(serverUrl, `CREATE DATABASE ${copy} TEMPLATE ${source}`);
      floorDbs.push(copy);
    }
    const floorOneKMs = await floor(serverUrl, label, oneK);
    const floorMs = await floor(serverUrl, label, target);
    // The copies go before the mesh starts: their deleted rows would otherwise be vacuumed by
    // autovacuum while the mesh is being measured, on the same two cores.
    await dropFloorCopies(serverUrl, floorDbs);

    await mesh.startAll();
    const token = await mintOperatorToken(await loadSigningKey(privateKeyFile(keys.dir, OPERATOR_IDENTITY)), 'bench', 8 * 3600);
    const orch = new MeshClient({ ORCHESTRATOR_ADDR: mesh.addresses.orchestrator!, TENANT_ADDR: mesh.addresses.tenant!, ERASURE_TOKEN: token });
    const orchestratorPid = mesh.processes.get('orchestrator')!.pid!;

    // Empty tenants: the tenant exists (tenant row, members), no domain rows.
    const empties = Array.from({ length: EMPTY_WARM_UP_JOBS + options.emptyRuns }, () => randomUUID());
    for (let i = 0; i < empties.length; i += 20) {
      await Promise.all(empties.slice(i, i + 20).map((tenantId) => seedTenant({ tenantId, rows: 1, users: 2, identity: true, services: [], migrate: false, databaseUrl })));
    }
    // Warm-up: the first jobs of freshly started processes run cold code (measured: ~2× slower for the
    // first twenty or so); a mesh that has been running is warm. Their median is printed too.
    const warmUp: number[] = [];
    for (const tenantId of empties.splice(0, EMPTY_WARM_UP_JOBS)) warmUp.push((await runJob(orch, tenantId)).ms);
    const latencies: number[] = [];
    const cpuBefore = meshCpu(mesh);
    for (const tenantId of empties) latencies.push((await runJob(orch, tenantId)).ms);
    const cpuPerEmptyJob = cpuSince(mesh, cpuBefore, latencies.length);

    // Concurrent small tenants: each job must complete (verified) or the bench fails.
    const small = Array.from({ length: options.concurrentJobs }, () => randomUUID());
    for (let i = 0; i < small.length; i += 10) {
      await Promise.all(small.slice(i, i + 10).map((tenantId) => seedTenant({ tenantId, rows: 240, users: 2, identity: true, migrate: false, databaseUrl })));
    }
    const concurrentStarted = performance.now();
    await Promise.all(small.map((tenantId) => runJob(orch, tenantId)));
    const concurrentMs = performance.now() - concurrentStarted;
    const jobsPerSecond = options.concurrentJobs / (concurrentMs / 1000);
    const rssAfterSmall = peakRssMb(orchestratorPid);

    const oneKJob = await runJob(orch, oneK);
    const big = await runJob(orch, target);
    const rssAfterBig = peakRssMb(orchestratorPid);
    const serviceRss = Math.max(...domainServices.map((service) => peakRssMb(mesh.processes.get(service.name)!.pid!)));
    const controlLeft = await Promise.all(
      domainServices.map(async (service) => {
        const tableName = Object.entries(service.deletionPolicy.tables).find(([, p]) => p.tenant && 'delete' in p.tenant && !('parent' in p.tenant.delete))![0];
        const [row] = (await sql(mesh.databases[service.name]!, `SELECT count(*)::int AS n FROM ${quote(tableName)} WHERE tenant_id = $1`, [control])) as { n: number }[];
        return row!.n;
      }),
    );
    if (controlLeft.some((n) => n === 0)) throw new Error('control tenant rows missing');
    orch.close();

    // Spans are exported in batches: the processes flush theirs on a clean stop.
    await mesh.stopAll();
    const jobs = warmUp.length + latencies.length + small.length + 2;
    const chunks = receiver.spans.filter((span) => span.name === 'erasure.chunk');
    const longest = (spans: typeof chunks) => (spans.length ? Math.max(...spans.map((span) => span.durationMs)) : NaN);
    const longestChunkMs = longest(chunks);
    // The chunks behind the two ratios: the spans of the big and the 1K-row jobs' traces.
    const ratioTraces = new Set([big.job.traceId, oneKJob.job.traceId]);
    const ratioChunks = chunks.filter((span) => ratioTraces.has(span.traceId));
    const longestRatioChunkMs = longest(ratioChunks);
    const verifications = receiver.spans.filter((span) => span.name === 'erasure.verify');
    const verificationCalls = verifications.reduce((sum, span) => sum + Number(span.attributes['erasure.verify.calls'] ?? 0), 0);

    const startup = options.startup ? await benchStartup() : undefined;
    const size = options.rows >= 1_000_000 && options.rows % 1_000_000 === 0 ? `${options.rows / 1_000_000}M` : options.rows.toLocaleString('en');
    const ratio = big.ms / floorMs;
    const ratioOneK = oneKJob.ms / floorOneKMs;
    const p50 = median(latencies);
    const p95 = percentile(latencies, 95);
    return [
      `### Whole mesh (issue 12's targets): DeleteTenant of ${Number(big.job.totalRowsDeleted).toLocaleString('en')} rows over 12 domain services + tenant, beside a control tenant of the same size`,
      '',
      table(
        ['measure', 'measured', 'target', 'met'],
        [
          [
            `empty-tenant job, end to end through the orchestrator (${latencies.length} runs after ${warmUp.length} warm-up jobs, whose median was ${median(warmUp).toFixed(0)} ms)`,
            `p50 ${p50.toFixed(0)} ms, p95 ${p95.toFixed(0)} ms`,
            'p50 < 50 ms, p95 < 150 ms',
            yes(p50 < 50 && p95 < 150),
          ],
          [`${options.concurrentJobs} concurrent small-tenant jobs (240 rows each), all verified`, `${jobsPerSecond.toFixed(1)} jobs/s`, '≥ 30 jobs/s', yes(jobsPerSecond >= 30)],
          [`orchestrator peak RSS, after the concurrent jobs / after the ${size}-row job`, `${rssAfterSmall.toFixed(0)} MB / ${rssAfterBig.toFixed(0)} MB`, '< 150 MB, the same for both', yes(rssAfterBig < 150 && rssAfterBig - rssAfterSmall < 15)],
          [`one service's peak RSS while deleting ${size} rows (the largest of the 12)`, `${serviceRss.toFixed(0)} MB`, '< 120 MB', yes(serviceRss < 120)],
          [`${size}-row tenant vs the cascade floor (${floorMs.toFixed(0)} ms)`, `${ratio.toFixed(2)}× (${big.ms.toFixed(0)} ms)`, '≤ 1.3×', yes(ratio <= 1.3)],
          [`1K-row tenant vs the cascade floor (${floorOneKMs.toFixed(1)} ms)`, `${ratioOneK.toFixed(1)}× (${oneKJob.ms.toFixed(0)} ms)`, '≤ 1.5×', yes(ratioOneK <= 1.5)],
          [
            '`npm start` until every process is SERVING (new data folder / restart)',
            startup ? `${(startup.coldMs / 1000).toFixed(1)} s / ${(startup.warmMs / 1000).toFixed(1)} s` : 'not measured (--no-startup)',
            '< 10 s',
            startup ? yes(startup.warmMs < 10_000) : '',
          ],
        ],
      ),
      '',
      `CPU per empty-tenant job, read from /proc over the measured runs (the mesh's Node processes; PostgreSQL's own not counted): ` +
        `orchestrator ${cpuPerEmptyJob.orchestrator.toFixed(0)} ms, tenant ${cpuPerEmptyJob.tenant.toFixed(0)} ms, auth ${cpuPerEmptyJob.auth.toFixed(0)} ms, ` +
        `the 12 domain services ${cpuPerEmptyJob.domain.toFixed(0)} ms together; ${cpuPerEmptyJob.total.toFixed(0)} ms in all, ` +
        `so these processes alone could finish at most ${(2000 / cpuPerEmptyJob.total).toFixed(0)} such jobs a second on two fully used cores.`,
      '',
      `Honest ratios: longest chunk transaction of the ${size}-row and 1K-row jobs ${longestRatioChunkMs.toFixed(0)} ms over ${ratioChunks.length} chunks (stays under 250 ms: ${yes(longestRatioChunkMs < 250)}); ` +
        `of every job of the run, the concurrent ones on a saturated machine included, ${longestChunkMs.toFixed(0)} ms over ${chunks.length} chunks (under 250 ms: ${yes(longestChunkMs < 250)}); ` +
        `verification asked ${verificationCalls} services over ${verifications.length} verified jobs of ${jobs} (${(verificationCalls / Math.max(1, verifications.length)).toFixed(0)} per job).`,
      '',
    ].join('\n');
  } finally {
    await mesh.stopAll();
    await mesh.dropDatabases();
    await receiver.stop();
    keys.remove();
    await dropFloorCopies(serverUrl, floorDbs);
  }
}

/** Drops the floor's database copies (each once: the list is emptied). */
async function dropFloorCopies(serverUrl: string, names: string[]): Promise<void> {
  for (const name of names.splice(0)) await sql(serverUrl, `DROP DATABASE IF EXISTS ${name} WITH (FORCE)`).catch(() => undefined);
}
