/**
 * Outages never fail or stall an erasure: all fourteen services and the orchestrator as real processes
 * on a PostgreSQL this file starts itself (so it can stop and start it), with faults an operator meets
 * in a production week — a service killed for a rolling restart, PostgreSQL restarted under running
 * jobs, a chaos run of random kills — and a thousand queued jobs against a replica that runs three at
 * once. Every check of rows is direct SQL against the services' databases.
 *
 * `npm run chaos` runs the chaos test longer (OUTAGES_CHAOS_SECONDS, OUTAGES_CHAOS_JOBS) and prints the
 * limits it ran with.
 */
import { AT_ONCE } from '../orchestrator/grace';
import { randomUUID } from 'node:crypto';
import { chmodSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import test from 'ava';
import type { Pool } from 'pg';
import { JobStatus, StepStatus, type Job } from '../gen/bakery/erasure/v1/deletion_orchestrator';
import { DOMAIN_SERVICES } from '../mesh/catalog';
import { ensureEmbeddedPostgres, type EmbeddedPostgres } from '../services/kit/embedded-postgres';
import { healthStatus } from '../services/kit/health-client';
import { limitSettings } from '../services/kit/limits';
import { seedTenant } from '../services/seed';
import { changedTables, meshPools, meshSnapshot, rowsMentioning } from './support/mesh-checks';
import { isFinal, orchestratorClient } from './support/orchestrator-client';
import { ProcessMesh, freePort } from './support/process-mesh';
import { seedTenants } from './support/seed-tenants';
import { operatorToken } from './support/services';

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
const envNumber = (name: string, fallback: number) => Number(process.env[name] ?? fallback);

/** Jobs this replica runs at once: small, so a thousand queued jobs show the order they start in. */
const RUNNING_JOBS = 3;
const CHAOS_SECONDS = envNumber('OUTAGES_CHAOS_SECONDS', 25);
const CHAOS_JOBS = envNumber('OUTAGES_CHAOS_JOBS', 20);
const QUEUED_JOBS = envNumber('OUTAGES_QUEUED_JOBS', 1000);

let pg: EmbeddedPostgres;
let pgPort: number;
let pgDir: string;
let mesh: ProcessMesh;
let pools: Map<string, Pool>;
let orch: ReturnType<typeof orchestratorClient>;
let token: string;
const controls: string[] = [];

/** Starts (or starts again) this file's own PostgreSQL; its data survives a stop. */
async function startPostgres(): Promise<EmbeddedPostgres> {
  const previous = process.env.ERASURE_DATA_DIR;
  process.env.ERASURE_DATA_DIR = pgDir;
  try {
    return await ensureEmbeddedPostgres({ EMBEDDED_PG_PORT: String(pgPort) });
  } finally {
    if (previous === undefined) delete process.env.ERASURE_DATA_DIR;
    else process.env.ERASURE_DATA_DIR = previous;
  }
}

/** PostgreSQL down for `downMs`, then up again (a restart as an operator or a failover does it). */
async function restartPostgres(downMs: number): Promise<void> {
  await pg.stop();
  await sleep(downMs);
  pg = await startPostgres();
}

test.before(async (t) => {
  // Fifteen processes start on two cores.
  t.timeout(300_000);
  pgDir = mkdtempSync(join(tmpdir(), 'erasure-outages-pg-'));
  // As root, PostgreSQL runs as user `postgres`, which must be able to enter the folder.
  chmodSync(pgDir, 0o755);
  pgPort = await freePort();
  pg = await startPostgres();
  mesh = new ProcessMesh(pg.url, `outages_${randomUUID().slice(0, 6)}`, {
    // Small, paced chunks: jobs last long enough to be cut off.
    ERASURE_CHUNK_INITIAL_ROWS: '100',
    ERASURE_CHUNK_MAX_ROWS: '200',
    ERASURE_CHUNK_PAUSE_MS: '15',
    // Three services at a time, so a job lasts long enough to be cut off.
    ORCHESTRATOR_CONCURRENCY: '3',
    // Retries by time: a budget far longer than any outage here, backoff capped short so a service
    // that is back is found soon (production: 15 minutes and 30 s).
    ORCHESTRATOR_STEP_RETRY_BUDGET_MS: '240000',
    ORCHESTRATOR_BACKOFF_BASE_MS: '200',
    ORCHESTRATOR_BACKOFF_MAX_MS: '2000',
    ORCHESTRATOR_LEASE_MS: '3000',
    ORCHESTRATOR_WATCHDOG_INTERVAL_MS: '1000',
    ORCHESTRATOR_RUNNING_JOBS_PER_REPLICA: String(RUNNING_JOBS),
    // One operator queues every job of the 1,000-job test: its open-jobs limit must hold them all.
    ORCHESTRATOR_OPEN_JOBS_PER_CALLER: String(QUEUED_JOBS + 100),
  });
  await mesh.prepare();
  await mesh.startAll();
  pools = meshPools(mesh.databases);
  orch = orchestratorClient(mesh.addresses.orchestrator!);
  token = await operatorToken(); // the DeletionOrchestrator admits users and operators (mesh/caller-rules.ts)
  // Control bakeries every erasure here must leave byte-identical: 600 rows each across the twelve
  // domain services, two users.
  controls.push(randomUUID(), randomUUID());
  await seedTenants(pools, controls, { rowsPerService: 50, users: 2 });
});

test.after.always(async () => {
  orch?.close();
  await mesh?.stopAll();
  for (const pool of pools?.values() ?? []) await pool.end().catch(() => undefined);
  await mesh?.dropDatabases();
  await pg?.stop();
  if (pgDir) rmSync(pgDir, { recursive: true, force: true });
});

function seed(tenantId: string, rows: number, users: number) {
  return seedTenant({ tenantId, rows, users, identity: true, migrate: false, databaseUrl: async (name) => mesh.databases[name]! });
}

async function previewTotal(tenantId: string): Promise<number> {
  const preview = await orch.unary.previewTenantDeletion({ tenantId }, token);
  return Number(preview.totalRows);
}

/** Starts a tenant erasure without waiting for it; returns the job id. */
async function startJob(tenantId: string): Promise<string> {
  const run = await orch.deleteTenant({ gracePeriod: AT_ONCE, tenantId, detach: true }, token);
  if (!run.snapshot) throw new Error(`no job for ${tenantId}: ${run.error?.message}`);
  return run.snapshot.id;
}

/** GetJob, riding out an orchestrator that is being restarted. */
async function getJob(jobId: string): Promise<Job | undefined> {
  try {
    return (await orch.unary.getJob({ jobId }, token)).job;
  } catch {
    return undefined;
  }
}

async function waitForJob(jobId: string, predicate: (job: Job) => boolean, timeoutMs = 180_000): Promise<Job> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const job = await getJob(jobId);
    if (job && predicate(job)) return job;
    if (Date.now() > deadline) throw new Error(`job ${jobId} did not reach the expected state: ${JSON.stringify(job)}`);
    await sleep(200);
  }
}

const stepCounts = (job: Job) => job.steps.map((s) => `${s.service}:${s.expectedRows}/${s.rowsDeleted}/${s.attempts}`).join(' ');

/** Samples health of the orchestrator until `stop` aborts; returns every status seen, in order, without repeats. */
function watchHealth(stop: AbortSignal): Promise<string[]> {
  return (async () => {
    const seen: string[] = [];
    while (!stop.aborted) {
      const status = await healthStatus(mesh.addresses.orchestrator!, '', 1000);
      if (seen.at(-1) !== status) seen.push(status);
      await sleep(100);
    }
    return seen;
  })();
}

test.serial('a domain service killed with kill -9 mid-job and back after 20 s: the job waits, retrying, and completes with exact totals', async (t) => {
  t.timeout(240_000);
  const before = await meshSnapshot(pools);
  const tenantId = randomUUID();
  await seed(tenantId, 6000, 3);
  const expected = await previewTotal(tenantId);
  const jobId = await startJob(tenantId);
  // The victim: the last domain service, killed once the job is under way and before its step starts
  // (three services at a time), so its step meets it gone.
  const victim = DOMAIN_SERVICES.at(-1)!;
  const running = await waitForJob(jobId, (job) => Number(job.totalRowsDeleted) > 0, 60_000);
  t.is(running.steps.find((s) => s.service === victim)?.status, StepStatus.STEP_STATUS_PENDING, 'the victim\'s step has not started yet');
  await mesh.stop(victim, 'SIGKILL');
  const killedAt = Date.now();
  // Back whatever this test finds, so a failure here does not take the next tests down with it.
  t.teardown(async () => {
    if (!mesh.processes.get(victim)?.running) await mesh.start(victim);
  });

  // While it is away the step waits between attempts, and GetJob says how it goes.
  const retrying = await waitForJob(jobId, (job) => job.steps.some((s) => s.service === victim && s.status === StepStatus.STEP_STATUS_RETRYING), 30_000);
  const waiting = retrying.steps.find((s) => s.service === victim)!;
  t.true(waiting.attempts >= 1, `attempts shown: ${waiting.attempts}`);
  t.regex(waiting.lastError, /UNAVAILABLE/, 'the last error is shown');
  t.truthy(waiting.nextAttemptTime, 'the next attempt time is shown');
  // Twenty seconds from the kill (a rolling restart's time), not from when the step was first seen retrying.
  await sleep(killedAt + 20_000 - Date.now());
  const still = await getJob(jobId);
  t.is(still?.status, JobStatus.JOB_STATUS_RUNNING, 'twenty seconds of a missing service do not fail the job');

  await mesh.start(victim);
  const job = await waitForJob(jobId, isFinal);
  t.is(job.status, JobStatus.JOB_STATUS_COMPLETED, `${job.error} (${stepCounts(job)})`);
  t.is(Number(job.totalRowsDeleted), expected, `exact totals: ${stepCounts(job)}`);
  const { rows } = await pools.get('orchestrator')!.query(`SELECT attempts, next_attempt_at, last_error FROM erasure_job_steps WHERE job_id = $1 AND name = $2`, [jobId, victim]);
  t.true(rows[0].attempts >= 3, `${victim} took ${rows[0].attempts} attempts (direct SQL)`);
  t.is(rows[0].next_attempt_at, null, 'no attempt pending once it succeeded');
  t.deepEqual(await rowsMentioning(pools, [tenantId]), {}, 'nothing of the tenant left');
  t.deepEqual(changedTables(before, await meshSnapshot(pools)), [], 'control tenants untouched');
});

test.serial('PostgreSQL restarted while a job runs and while idle: health goes NOT_SERVING and back, the running job and a later one complete', async (t) => {
  t.timeout(240_000);
  const before = await meshSnapshot(pools);
  const first = randomUUID();
  await seed(first, 6000, 3);
  const expectedFirst = await previewTotal(first);
  const jobId = await startJob(first);
  await waitForJob(jobId, (job) => Number(job.totalRowsDeleted) > 0, 60_000);

  const stopWatching = new AbortController();
  const health = watchHealth(stopWatching.signal);
  await restartPostgres(3000);
  const job = await waitForJob(jobId, isFinal);
  t.is(job.status, JobStatus.JOB_STATUS_COMPLETED, `${job.error} (${stepCounts(job)})`);
  t.is(Number(job.totalRowsDeleted), expectedFirst, `exact totals across the restart: ${stepCounts(job)}`);

  // Idle: no job runs when the database goes away.
  await restartPostgres(3000);
  const deadline = Date.now() + 60_000;
  while ((await healthStatus(mesh.addresses.orchestrator!, '', 1000)) !== 'SERVING' && Date.now() < deadline) await sleep(200);
  const second = randomUUID();
  await seed(second, 1500, 2);
  const expectedSecond = await previewTotal(second);
  const later = await waitForJob(await startJob(second), isFinal);
  stopWatching.abort();
  const seen = await health;
  t.is(later.status, JobStatus.JOB_STATUS_COMPLETED, later.error);
  t.is(Number(later.totalRowsDeleted), expectedSecond);
  const down = seen.indexOf('NOT_SERVING');
  t.true(down >= 0 && seen.indexOf('SERVING', down) > down, `health went NOT_SERVING and back: ${seen.join(' → ')}`);
  t.deepEqual(await rowsMentioning(pools, [first, second]), {}, 'nothing of either tenant left');
  t.deepEqual(changedTables(before, await meshSnapshot(pools)), [], 'control tenants untouched');
  t.true(
    [...mesh.processes.values()].every((p) => p.running),
    'no process died of the restarts',
  );
});

test.serial('chaos: jobs at once while a domain service, the tenant service and the orchestrator are killed and the database restarted; every job exact', async (t) => {
  t.timeout(CHAOS_SECONDS * 1000 + 360_000);
  const started = Date.now();
  const before = await meshSnapshot(pools);
  const tenants = Array.from({ length: CHAOS_JOBS }, () => randomUUID());
  // 800 rows each across the twelve domain services, two users; seeded per database, not per tenant.
  await seedTenants(pools, tenants, { rowsPerService: 67, users: 2 });
  const expected = new Map<string, number>();
  await Promise.all(tenants.map(async (id) => expected.set(id, await previewTotal(id))));
  const jobIds = new Map<string, string>();
  await Promise.all(tenants.map(async (id) => jobIds.set(id, await startJob(id))));

  // Each fault once, in a random order, at random moments within the window.
  const random = (min: number, max: number) => min + Math.random() * (max - min);
  const victim = DOMAIN_SERVICES[Math.floor(Math.random() * DOMAIN_SERVICES.length)]!;
  const faults: { name: string; run: () => Promise<void> }[] = [
    { name: `kill -9 ${victim}`, run: async () => restartProcess(victim, random(1000, 5000)) },
    { name: 'kill -9 tenant', run: async () => restartProcess('tenant', random(1000, 5000)) },
    { name: 'kill -9 orchestrator', run: async () => restartProcess('orchestrator', random(500, 3000)) },
    { name: 'restart PostgreSQL', run: () => restartPostgres(random(1000, 4000)) },
  ].sort(() => Math.random() - 0.5);
  const gap = (CHAOS_SECONDS * 1000) / faults.length;
  const done: string[] = [];
  for (const fault of faults) {
    await sleep(random(0, gap / 2));
    await fault.run();
    done.push(fault.name);
  }

  const jobs = new Map<string, Job>();
  for (const [tenantId, jobId] of jobIds) jobs.set(tenantId, await waitForJob(jobId, isFinal, 300_000));
  const figures = { jobs: tenants.length, faults: done, seconds: Math.round((Date.now() - started) / 1000), limits: limitSettings({ ...process.env, ...mesh.env }) };
  t.log(JSON.stringify(figures));
  for (const [tenantId, job] of jobs) {
    t.is(job.status, JobStatus.JOB_STATUS_COMPLETED, `${tenantId}: ${job.error}`);
    t.is(Number(job.totalRowsDeleted), expected.get(tenantId)!, `${tenantId}: total equals preview (${stepCounts(job)})`);
  }
  t.deepEqual(await rowsMentioning(pools, tenants), {}, 'direct SQL finds nothing of any tenant');
  t.deepEqual(changedTables(before, await meshSnapshot(pools)), [], 'control tenants byte-identical');
});

async function restartProcess(name: string, downMs: number): Promise<void> {
  await mesh.stop(name, 'SIGKILL');
  await sleep(downMs);
  await mesh.start(name);
  if (name === 'orchestrator') {
    orch.close();
    orch = orchestratorClient(mesh.addresses.orchestrator!);
  }
}

test.serial(`${QUEUED_JOBS} queued jobs against a replica running ${RUNNING_JOBS} at once: all complete in arrival order, connections stay bounded`, async (t) => {
  t.timeout(660_000);
  // What this test checks is the queue (order, bounds), not a job cut off mid-run: the orchestrator runs
  // each job's steps at its default concurrency (orchestrator/config.ts) rather than three at a time. A
  // bare job's latency is what bounds this test (three slots): measured 0.43 s a job with three steps at
  // once, 0.38 s with the default on a busier machine.
  delete mesh.extraEnv.ORCHESTRATOR_CONCURRENCY;
  await mesh.stop('orchestrator');
  await mesh.start('orchestrator');
  orch.close();
  orch = orchestratorClient(mesh.addresses.orchestrator!);
  const orchestratorDb = new URL(mesh.databases.orchestrator!).pathname.slice(1);
  const admin = pools.get('orchestrator')!;
  let peak = 0;
  const sampling = new AbortController();
  const sampler = (async () => {
    while (!sampling.signal.aborted) {
      const { rows } = await admin.query<{ n: number }>(`SELECT count(*)::int AS n FROM pg_stat_activity WHERE datname = $1`, [orchestratorDb]).catch(() => ({ rows: [{ n: 0 }] }));
      peak = Math.max(peak, rows[0]!.n);
      await sleep(250);
    }
  })();
  // Bare tenants (a tenant row, no data), recorded by SQL in one statement: each job still runs every
  // step and the verification, with little work in each.
  const tenants = Array.from({ length: QUEUED_JOBS }, () => randomUUID());
  await pools.get('tenant')!.query(
    `INSERT INTO tenants (id, name, owner_id, created_at) SELECT id, 'Bakery ' || substr(id::text, 1, 8), gen_random_uuid(), now() FROM unnest($1::uuid[]) AS id`,
    [tenants],
  );
  const ids: string[] = [];
  try {
    for (const tenantId of tenants) ids.push(await startJob(tenantId));
    const deadline = Date.now() + 600_000;
    for (;;) {
      const { rows } = await admin.query<{ n: number }>(`SELECT count(*)::int AS n FROM erasure_jobs WHERE id = ANY($1::uuid[]) AND status IN ('PENDING', 'RUNNING')`, [ids]);
      if (rows[0]!.n === 0 || Date.now() > deadline) break;
      await sleep(250);
    }
  } finally {
    sampling.abort();
    await sampler;
  }

  const { rows } = await admin.query<{ id: string; status: string; created_at: Date; started_at: Date }>(
    `SELECT id, status, created_at, started_at FROM erasure_jobs WHERE id = ANY($1::uuid[]) ORDER BY created_at, id`,
    [ids],
  );
  t.is(rows.length, QUEUED_JOBS);
  t.deepEqual([...new Set(rows.map((r) => r.status))], ['COMPLETED'], 'every job completed');
  // Arrival order: with N slots, a job can be overtaken only by the few that started beside it.
  let worst = 0;
  for (let j = 0; j < rows.length; j++) {
    let overtakenBy = 0;
    for (let i = j + 1; i < rows.length; i++) if (rows[i]!.started_at < rows[j]!.started_at) overtakenBy++;
    worst = Math.max(worst, overtakenBy);
  }
  t.log(JSON.stringify({ jobs: rows.length, mostOvertakenBy: worst, peakConnections: peak }));
  t.true(worst <= RUNNING_JOBS, `a job was overtaken by at most ${worst} later jobs`);
  // The orchestrator's connections: pool 6, Sequelize 2, queue 3, lock, listener and publisher 1 each;
  // this test's own pool 1.
  t.true(peak <= 6 + 2 + 3 + 3 + 1, `peak connections to the orchestrator database: ${peak}`);
});
