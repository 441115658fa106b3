/**
 * End to end, as a user meets it: the real `npm start` launcher as a child process (against the test
 * PostgreSQL, on free ports, with databases of its own), `buf curl` against every port, the erasure
 * CLI's `seed`, `preview` and `delete --json` checked against direct SQL, a crashed service restarted,
 * the spans of the deletion run received over OTLP/HTTP from every process, and Ctrl-C (SIGINT)
 * stopping every process.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import test from 'ava';
import { Pool } from 'pg';
import { envPrefix } from '../services/kit/config';
import { databaseName, dropDatabase, withDatabase } from '../services/kit/database';
import { healthStatus } from '../services/kit/health-client';
import { repoRoot } from '../services/kit/paths';
import { censusDifferences, tenantCensus, type TableCensus } from '../mesh/census';
import { processMigrations } from '../mesh/process-migrations';
import { healthNames, MESH_SERVICES } from '../mesh/services';
import { testServerUrl } from './support/database';
import { OtlpReceiver } from './support/otlp-receiver';
import { freePort } from './support/process-mesh';

const DATA_SERVICES = MESH_SERVICES.filter((name) => name !== 'orchestrator');

interface Run {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** Runs a command to its end and collects its output. */
function run(command: string, args: string[], env: NodeJS.ProcessEnv, timeoutMs = 120_000): Promise<Run> {
  return new Promise((resolve, reject) => {
    const child = spawn(command, args, { cwd: repoRoot, env, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
    child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`${command} ${args.join(' ')} timed out; stdout: ${stdout.slice(-2000)} stderr: ${stderr.slice(-2000)}`));
    }, timeoutMs);
    child.on('error', reject);
    child.on('close', (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr });
    });
  });
}

const erasure = (args: string[], env: NodeJS.ProcessEnv) => run(process.execPath, ['cli/bin.js', ...args], env);

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

async function until<T>(what: string, probe: () => T | null | undefined | false | Promise<T | null | undefined | false>, timeoutMs: number): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await probe();
    if (value !== undefined && value !== null && value !== false) return value;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 250));
  }
}

interface MeshState {
  launcher_pid: number;
  services: { name: string; address: string; pid: number }[];
  pids: number[];
  startup: Record<string, number>;
}

test('npm start: the whole mesh as separate processes, the CLI, buf curl, restarts, traces, and Ctrl-C', async (t) => {
  t.timeout(480_000, 'the mesh end-to-end run');
  const server = testServerUrl();
  const label = `mesh_${randomBytes(3).toString('hex')}`;
  const dataDir = mkdtempSync(join(tmpdir(), 'erasure-mesh-'));
  const receiver = new OtlpReceiver();
  await receiver.start();

  const env: NodeJS.ProcessEnv = {
    ...process.env,
    DATABASE_URL: server,
    ERASURE_DATA_DIR: dataDir,
    OTEL_EXPORTER_OTLP_ENDPOINT: receiver.endpoint,
    LOG_LEVEL: 'warn',
    npm_config_loglevel: 'error',
  };
  const databases: string[] = [];
  const taken = new Set<number>(); // distinct ports: two processes given one would not both serve
  for (const name of MESH_SERVICES) {
    env[`${envPrefix(name)}_ADDR`] = `127.0.0.1:${await freePort(taken)}`;
    const database = `${label}_${databaseName(name)}`;
    databases.push(database);
    env[`${envPrefix(name)}_DATABASE_URL`] = withDatabase(server, database);
  }

  let npm: ChildProcess | undefined;
  let state: MeshState | undefined;
  let output = '';
  const pools = new Map<string, Pool>();
  try {
    // --- npm start ------------------------------------------------------------------------------
    // Its own process group, like a terminal's foreground job: Ctrl-C is SIGINT to the whole group.
    npm = spawn('npm', ['start', '--', '--timeout', '300'], { cwd: repoRoot, env, stdio: ['ignore', 'pipe', 'pipe'], detached: true });
    npm.stdout!.on('data', (chunk: Buffer) => (output += chunk.toString()));
    npm.stderr!.on('data', (chunk: Buffer) => (output += chunk.toString()));
    const exited = new Promise<string>((resolve) => npm!.once('exit', (code, signal) => resolve(signal ?? `code ${code}`)));
    await until('the mesh to be ready', () => {
      if (npm!.exitCode !== null) throw new Error(`npm start exited with ${npm!.exitCode}:\n${output.slice(-4000)}`);
      return output.includes('mesh is ready');
    }, 320_000);
    state = JSON.parse(readFileSync(join(dataDir, 'mesh.json'), 'utf8')) as MeshState;
    t.is(state.services.length, 15, 'fifteen processes');
    t.is(new Set(state.services.map((s) => s.pid)).size, 15, 'each its own process');
    for (const service of state.services) {
      t.is(service.address, env[`${envPrefix(service.name)}_ADDR`]!);
      t.true(output.includes(service.address), `the banner shows ${service.name}'s address`);
    }
    // Every database was new: the launcher migrated them (mesh/mesh.ts), and each holds every migration of its process.
    t.true(state.startup.migrations! >= state.startup.databases!, `the launcher migrated the databases it created: ${JSON.stringify(state.startup)}`);
    for (const name of MESH_SERVICES) {
      const pool = new Pool({ connectionString: env[`${envPrefix(name)}_DATABASE_URL`]!, max: 1 });
      try {
        const { rows } = await pool.query<{ name: string }>('SELECT name FROM "SequelizeMeta"');
        t.deepEqual(rows.map((row) => row.name).sort(), processMigrations(name).map((migration) => migration.name).sort(), `${name}: every migration recorded`);
      } finally {
        await pool.end();
      }
    }
    t.regex(output, /buf curl --protocol grpc --http2-prior-knowledge/, 'the banner shows buf curl examples');
    t.regex(output, /ORCHESTRATOR_ADDR=127\.0\.0\.1:\d+ npx erasure/, 'CLI examples carry the non-default orchestrator address');

    // --- buf curl --list-services against every port (server reflection) ----------------------------
    const buf = join(repoRoot, 'node_modules/.bin/buf');
    const listings = await Promise.all(
      state.services.map((service) => run(buf, ['curl', '--protocol', 'grpc', '--http2-prior-knowledge', '--list-services', `http://${service.address}`], env)),
    );
    state.services.forEach((service, i) => {
      const listed = listings[i]!;
      t.is(listed.code, 0, `${service.name}: buf curl --list-services: ${listed.stderr}`);
      for (const name of [...healthNames(service.name), 'grpc.health.v1.Health']) t.true(listed.stdout.includes(name), `${service.name} lists ${name}`);
    });

    // --- erasure seed: a target and a control tenant ------------------------------------------------
    const seeded = await erasure(['seed', '--rows', '3000', '--json'], env);
    t.is(seeded.code, 0, seeded.stderr);
    const target = JSON.parse(seeded.stdout) as { tenantId: string; userIds: string[]; rows: number; ownerId: string };
    t.regex(target.tenantId, /^[0-9a-f-]{36}$/);
    t.true(target.rows >= 2000, `seeded ${target.rows} rows`);
    t.is(target.ownerId, target.userIds[0]);
    const controlRun = await erasure(['seed', '--rows', '1500', '--users', '3', '--json'], env);
    t.is(controlRun.code, 0, controlRun.stderr);
    const control = JSON.parse(controlRun.stdout) as { tenantId: string; userIds: string[] };

    for (const name of DATA_SERVICES) {
      const pool = new Pool({ connectionString: env[`${envPrefix(name)}_DATABASE_URL`]!, max: 1 });
      pool.on('error', () => undefined);
      pools.set(name, pool);
    }
    const census = async (tenant: { tenantId: string; userIds: string[] }) => {
      const result = new Map<string, Map<string, TableCensus>>();
      for (const [name, pool] of pools) result.set(name, await tenantCensus(pool, tenant.tenantId, tenant.userIds));
      return result;
    };
    const controlBefore = await census(control);
    const targetBefore = await census(target);
    const rowsOf = (c: Map<string, Map<string, TableCensus>>, service: string) => [...c.get(service)!.values()].reduce((s, x) => s + x.rows, 0);
    for (const service of DATA_SERVICES) {
      if (service !== 'auth') t.true(rowsOf(targetBefore, service) > 0, `${service} holds the target's rows`);
    }

    // --- erasure tenants, preview --json -------------------------------------------------------------
    const tenants = await erasure(['tenants', '--json'], env);
    t.is(tenants.code, 0, tenants.stderr);
    const listed = (JSON.parse(tenants.stdout).tenants as { tenant: { id: string } }[]).map((s) => s.tenant.id);
    t.true(listed.includes(target.tenantId) && listed.includes(control.tenantId), 'tenants lists both bakeries');

    const previewRun = await erasure(['preview', target.tenantId, '--json'], env);
    t.is(previewRun.code, 0, previewRun.stderr);
    t.is(previewRun.stderr, '', 'nothing but JSON, and only on stdout');
    const preview = JSON.parse(previewRun.stdout) as {
      tenantId: string;
      totalRows: string;
      unreachableServices?: string[];
      services: { service: string; reachable: boolean; totalRows?: string; entities?: { entity: string; action: string; rowCount?: string }[] }[];
    };
    t.is(preview.tenantId, target.tenantId);
    t.deepEqual(preview.unreachableServices ?? [], []);
    t.deepEqual(preview.services.map((s) => s.service).sort(), [...DATA_SERVICES].sort(), 'every data service answered');
    t.true(preview.services.every((s) => s.reachable));
    const previewTotal = Number(preview.totalRows);
    t.is(previewTotal, preview.services.reduce((sum, s) => sum + Number(s.totalRows ?? 0), 0), 'total = sum over services');
    const retained = new Set(
      preview.services.flatMap((s) => (s.entities ?? []).filter((e) => e.action === 'ENTITY_ACTION_RETAIN').map((e) => `${s.service}.${e.entity}`)),
    );

    // --- erasure delete --json, then a second operator's approval (four-eyes is on as shipped) ------------
    const requested = await erasure(['delete', target.tenantId, '--json'], env);
    t.is(requested.code, 0, requested.stderr);
    const waiting = JSON.parse(requested.stdout) as { id: string; status: string };
    t.is(waiting.status, 'JOB_STATUS_AWAITING_APPROVAL', 'a tenant erased at once waits for a second person');
    const selfApproval = await erasure(['approve', waiting.id], env);
    t.not(selfApproval.code, 0, 'the requester cannot approve their own erasure');
    const approved = await erasure(['approve', waiting.id], { ...env, ERASURE_OPERATOR: 'second-operator' });
    t.is(approved.code, 0, approved.stderr);
    const deleted = await erasure(['watch', waiting.id, '--json'], env);
    t.is(deleted.code, 0, deleted.stderr);
    t.is(deleted.stderr, '');
    const job = JSON.parse(deleted.stdout) as {
      id: string;
      status: string;
      subject: { tenantId: string };
      totalRowsDeleted: string;
      traceId: string;
      verifiedTime?: string;
      steps: { service: string; status: string; rowsDeleted: string; attempts: number }[];
    };
    t.is(job.status, 'JOB_STATUS_COMPLETED');
    t.is(job.subject.tenantId, target.tenantId);
    t.is(Number(job.totalRowsDeleted), previewTotal, 'rows deleted = preview total');
    t.truthy(job.verifiedTime, 'verified before COMPLETED');
    t.regex(job.traceId, /^[0-9a-f]{32}$/);
    t.true(job.steps.length >= 13 && job.steps.every((s) => s.status === 'STEP_STATUS_SUCCEEDED'), 'every step succeeded');
    for (const step of job.steps) {
      const answer = preview.services.find((s) => s.service === step.service);
      if (answer) t.is(Number(step.rowsDeleted), Number(answer.totalRows ?? 0), `${step.service}: rows = its preview`);
    }

    // --- the job afterwards: jobs, job, watch (a finished job ends at once), cancel/retry refused --------
    const jobs = await erasure(['jobs', '--tenant', target.tenantId, '--json'], env);
    t.is(jobs.code, 0, jobs.stderr);
    t.deepEqual((JSON.parse(jobs.stdout).jobs as { id: string }[]).map((j) => j.id), [job.id]);
    const shown = await erasure(['job', job.id, '--json'], env);
    t.is(JSON.parse(shown.stdout).status, 'JOB_STATUS_COMPLETED');
    const watched = await erasure(['watch', job.id, '--json'], env);
    t.is(watched.code, 0, watched.stderr);
    t.is(JSON.parse(watched.stdout).id, job.id);
    for (const command of ['cancel', 'retry']) {
      const refused = await erasure([command, job.id], env);
      t.is(refused.code, 1);
      t.regex(refused.stderr, new RegExp(`^erasure ${command}: FAILED_PRECONDITION: job ${job.id} is COMPLETED[^\n]*\n$`), `${command}: one line`);
    }

    // --- direct SQL: target gone (but what is retained on purpose), control unchanged ---------------------
    const targetAfter = await census(target);
    const controlAfter = await census(control);
    for (const service of DATA_SERVICES) {
      t.deepEqual(censusDifferences(controlBefore.get(service)!, controlAfter.get(service)!), [], `${service}: the control's rows are unchanged`);
      if (service === 'auth') continue; // a tenant erasure leaves the users; a user erasure removes them
      for (const [table, { rows }] of targetAfter.get(service)!) {
        if (!retained.has(`${service}.${table}`)) t.is(rows, 0, `${service}.${table}: no target rows left`);
      }
    }

    // --- the deletion run is one trace, with spans from every process --------------------------------
    const everyone = [...MESH_SERVICES];
    const arrived = await receiver.waitFor((spans) => everyone.every((s) => spans.some((span) => span.service === s && span.traceId === job.traceId)), 20_000);
    const inTrace = [...new Set(receiver.spans.filter((s) => s.traceId === job.traceId).map((s) => s.service))].sort();
    t.true(arrived, `spans of the job's trace came from: ${inTrace.join(', ')}`);

    // --- a crashed service is reported and restarted ----------------------------------------------
    const victim = state.services.find((s) => s.name === 'training')!;
    process.kill(victim.pid, 'SIGKILL');
    const back = await until('the restart of training', () => /launcher: training is back \(pid (\d+)\)/.exec(output), 90_000);
    const newPid = Number(back[1]);
    t.not(newPid, victim.pid);
    t.regex(output, new RegExp(`training \\(pid ${victim.pid}\\) was killed by SIGKILL; restarting in`), 'the crash is reported');
    t.is(await healthStatus(victim.address, 'bakery.erasure.v1.TenantDataDeletion'), 'SERVING', 'the restarted service serves');

    // --- Ctrl-C: every process stops, the launcher exits 0 --------------------------------------------
    process.kill(-npm.pid!, 'SIGINT');
    let timer: NodeJS.Timeout | undefined;
    const ended = await Promise.race([exited, new Promise<string>((resolve) => (timer = setTimeout(() => resolve('timeout'), 60_000)))]);
    clearTimeout(timer);
    // npm ends like any Ctrl-C'd script (by SIGINT, or 0); the launcher's own words say it stopped cleanly.
    t.true(ended === 'code 0' || ended === 'SIGINT', `npm start ended: ${ended}`);
    t.regex(output, /SIGINT: stopping every service, then the database \.\.\.\n(?:.*\n)*stopped\n/, 'the launcher stopped everything');
    t.notRegex(output, /stopping failed/);
    const pids = [state.launcher_pid, ...state.services.map((s) => s.pid), newPid];
    await until('every process to exit', () => pids.every((pid) => !alive(pid)) || undefined, 20_000).catch(() => undefined);
    t.deepEqual(pids.filter(alive), [], 'no process of the mesh is left');
    t.false(existsSync(join(dataDir, 'mesh.json')), 'the state file is removed');
  } finally {
    // Whatever happened above: nothing of this run may outlive the test.
    if (npm && npm.exitCode === null) {
      try {
        process.kill(-npm.pid!, 'SIGTERM');
      } catch {
        // Already gone.
      }
    }
    if (state) {
      if (alive(state.launcher_pid)) process.kill(state.launcher_pid, 'SIGTERM');
      await until('the launcher to stop', () => !alive(state!.launcher_pid) || undefined, 30_000).catch(() => undefined);
      for (const pid of state.pids) if (alive(pid)) process.kill(pid, 'SIGKILL');
    }
    for (const pool of pools.values()) await pool.end().catch(() => undefined);
    await receiver.stop();
    for (const database of databases) await dropDatabase(server, database).catch(() => undefined);
    rmSync(dataDir, { recursive: true, force: true });
  }
});
