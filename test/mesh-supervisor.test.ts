/**
 * The launcher's parts on their own: crash policy, supervision of real child processes (restart,
 * give up, stop with SIGKILL after the grace period), console rendering of child logs, the banner,
 * and the early refusals of startMesh.
 */
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import test from 'ava';
import { banner } from '../mesh/banner';
import { consoleLine, LineSplitter, tailLines } from '../mesh/logs';
import { addressInUse, MeshStartError, startMesh } from '../mesh/mesh';
import { portHolder } from '../mesh/port-holder';
import { freePort } from '../mesh/ports';
import { describeExit, NO_RESTART, restartDecision, Supervisor, type CrashPolicy } from '../mesh/processes';
import { repoRoot } from '../services/kit/paths';
import { NODE_FLAGS, PROCESS_ENV } from '../mesh/process-env';
import { addressEnv, ensureRuntimeBuilt, healthNames, MESH_SERVICES, selectServices, serviceCommand } from '../mesh/services';

const policy: CrashPolicy = { maxCrashes: 5, windowMs: 60_000, baseDelayMs: 500, maxDelayMs: 10_000 };

test('restartDecision: exponential backoff, capped, and giving up after maxCrashes within the window', (t) => {
  const now = 1_000_000;
  t.deepEqual(restartDecision([now], now, policy), { giveUp: false, delayMs: 500, crashes: 1 });
  t.deepEqual(restartDecision([now - 2000, now], now, policy), { giveUp: false, delayMs: 1000, crashes: 2 });
  t.deepEqual(restartDecision([now - 3, now - 2, now - 1, now], now, policy), { giveUp: false, delayMs: 4000, crashes: 4 });
  t.deepEqual(restartDecision([1, 2, 3, 4, now], now, policy), { giveUp: false, delayMs: 500, crashes: 1 }, 'old crashes fall out of the window');
  t.deepEqual(restartDecision([now - 4, now - 3, now - 2, now - 1, now], now, policy), { giveUp: true, crashes: 5 });
  t.deepEqual(restartDecision([now - 4, now - 3, now - 2, now], now, { ...policy, baseDelayMs: 4000, maxDelayMs: 9000 }), { giveUp: false, delayMs: 9000, crashes: 4 }, 'capped');
  t.is(describeExit(1, null), 'exited with code 1');
  t.is(describeExit(null, 'SIGKILL'), 'was killed by SIGKILL');
});

test('services: fifteen processes, health names, addresses, and the command that runs one', (t) => {
  t.is(MESH_SERVICES.length, 15);
  t.is(MESH_SERVICES[0], 'orchestrator');
  t.deepEqual(healthNames('orders'), ['bakery.erasure.v1.TenantDataDeletion']);
  t.deepEqual(healthNames('tenant'), ['bakery.erasure.v1.TenantDataDeletion', 'bakery.tenant.v1.TenantService']);
  t.deepEqual(healthNames('orchestrator'), ['bakery.erasure.v1.DeletionOrchestrator', 'bakery.erasure.v1.TombstoneRegistry']);
  t.deepEqual(selectServices(['orchestrator', 'training']).length, 13);
  t.throws(() => selectServices(['bakery']), { message: /unknown service "bakery"/ });
  const env = addressEnv({ ORDERS_ADDR: '127.0.0.1:6000' });
  t.is(env.ORDERS_ADDR, '127.0.0.1:6000');
  t.is(env.ALERT_PROCESSOR_ADDR, '127.0.0.1:7114');
  // Children run the compiled runtime (built from the sources first when stale), never the transpiler.
  const command = serviceCommand('orders');
  t.deepEqual(command.args, [...NODE_FLAGS, '--require', './dist/services/kit/tracing-register.js', '--require', './dist/mesh/child-guard.js', 'dist/bin/service.js', 'orders']);
  t.true(existsSync(join(command.cwd, 'dist/bin/service.js')), 'the build step ran');
  t.false(command.args.some((arg) => arg.includes('tsx')));
  // `npm run service` and the Docker entrypoint take the same runtime environment as the spawner, printed by the compiled module.
  const printed = spawnSync(process.execPath, ['dist/mesh/process-env.js'], { cwd: repoRoot, encoding: 'utf8' });
  t.deepEqual(printed.stdout.trim().split(' '), [...Object.entries(PROCESS_ENV).map(([name, value]) => `${name}=${value}`), 'node', ...NODE_FLAGS]);
  for (const file of ['package.json', 'docker/entrypoint.sh']) t.true(readFileSync(join(repoRoot, file), 'utf8').includes('exec env $(node dist/mesh/process-env.js) --require'), file);
});

test('consoleLine: warnings and errors are shown, info only with --verbose; other lines always', (t) => {
  const info = JSON.stringify({ level: 30, time: 't', service: 'orders', msg: 'listening', address: '127.0.0.1:1' });
  const warn = JSON.stringify({ level: 40, service: 'orchestrator', msg: 'step attempt failed', job_id: 'j1', service_name: 'x', err: { message: 'boom', stack: 'long' } });
  t.is(consoleLine('orders', info, { verbose: false, width: 8 }), undefined);
  t.is(consoleLine('orders', info, { verbose: true, width: 8 }), 'orders   | INFO  listening address=127.0.0.1:1');
  t.is(consoleLine('orchestrator', warn, { verbose: false, width: 12 }), 'orchestrator | WARN  step attempt failed job_id=j1 service_name=x err="boom"');
  // A log line that names another service keeps that name.
  const other = JSON.stringify({ level: 50, service: 'forecasting', msg: 'failed' });
  t.is(consoleLine('orchestrator', other, { verbose: false, width: 12 }), 'orchestrator | ERROR failed service=forecasting');
  t.is(consoleLine('orders', 'TypeError: x is undefined', { verbose: false, width: 6 }), 'orders | TypeError: x is undefined');
  t.is(consoleLine('orders', '   ', { verbose: true, width: 6 }), undefined);
});

test('LineSplitter and tailLines', (t) => {
  const splitter = new LineSplitter();
  t.deepEqual(splitter.push('a\nb'), ['a']);
  t.deepEqual(splitter.push('c\n\nd'), ['bc', '']);
  t.deepEqual(splitter.flush(), ['d']);
  const dir = mkdtempSync(join(tmpdir(), 'tail-'));
  try {
    writeFileSync(join(dir, 'x.log'), Array.from({ length: 50 }, (_, i) => `line ${i}`).join('\n') + '\n');
    t.deepEqual(tailLines(join(dir, 'x.log'), 3), ['line 47', 'line 48', 'line 49']);
    t.deepEqual(tailLines(join(dir, 'missing.log'), 3), []);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('banner: the services, and commands that work as printed', (t) => {
  const services = MESH_SERVICES.map((name, i) => ({ name, address: `127.0.0.1:${7100 + i}`, pid: 100 + i, database: `bakery_${name.replace('-', '_')}` }));
  const text = banner({ services, databaseServer: '127.0.0.1:54329 (embedded PostgreSQL)', readyMs: 12_345, logDir: '.data/logs', env: {} });
  t.regex(text, /mesh is ready: 15 services in 12\.3 s/);
  t.regex(text, /alert-processor\s+127\.0\.0\.1:7114\s+114\s+bakery_alert_processor/);
  t.regex(text, /TENANT=\$\(npx erasure seed --rows 10000 --quiet\)/);
  t.regex(text, /npx buf curl --protocol grpc --http2-prior-knowledge --list-services http:\/\/127\.0\.0\.1:7103/);
  t.regex(text, /-H "authorization: Bearer \$TOKEN" -d '\{\}' http:\/\/127\.0\.0\.1:7100\/bakery\.erasure\.v1\.DeletionOrchestrator\/ListJobs/);
  t.regex(text, /OTEL_EXPORTER_OTLP_ENDPOINT=http:\/\/127\.0\.0\.1:4318 npm start/);
  const moved = banner({
    services: services.map((s) => (s.name === 'orchestrator' ? { ...s, address: '127.0.0.1:7000' } : s)),
    databaseServer: 'db',
    readyMs: 1,
    logDir: 'logs',
    env: { OTEL_EXPORTER_OTLP_ENDPOINT: 'http://jaeger:4318' },
  });
  t.regex(moved, /ORCHESTRATOR_ADDR=127\.0\.0\.1:7000 npx erasure delete \$TENANT/);
  t.regex(moved, /exported over OTLP to http:\/\/jaeger:4318/);
  const withoutOrchestrator = banner({ services: services.slice(1), databaseServer: 'db', readyMs: 1, logDir: 'logs', env: {} });
  t.regex(withoutOrchestrator, /orchestrator is not running/);
  t.notRegex(withoutOrchestrator, /npx erasure delete/);
});

function supervised(name: string, script: string, crashPolicy: CrashPolicy, dir: string): Supervisor {
  return new Supervisor(
    { name, command: process.execPath, args: ['-e', script], cwd: dir, env: { PATH: process.env.PATH }, logFile: join(dir, `${name}.log`) },
    crashPolicy,
  );
}

test('Supervisor: every child runs with the mesh runtime environment, which the caller may override', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'supervisor-'));
  const script = `console.log(${JSON.stringify(Object.keys(PROCESS_ENV))}.map((name) => name + '=' + process.env[name]).join(' '))`;
  const [name, value] = Object.entries(PROCESS_ENV)[0]!;
  const lines: string[] = [];
  try {
    for (const env of [{}, { [name]: `${value}7` }]) {
      const supervisor = supervised('env', script, NO_RESTART, dir);
      Object.assign(supervisor.spec.env, env);
      const line = new Promise<string>((resolve) => supervisor.once('line', resolve));
      supervisor.start();
      lines.push(await line);
      await supervisor.stop();
    }
    const expected = Object.entries(PROCESS_ENV).map(([n, v]) => `${n}=${v}`);
    t.deepEqual(lines, [expected.join(' '), [`${name}=${value}7`, ...expected.slice(1)].join(' ')]);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('Supervisor: a crashing process is restarted with backoff, then given up on', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'supervisor-'));
  const supervisor = supervised('crasher', 'console.log("up"); process.exit(3)', { maxCrashes: 3, windowMs: 60_000, baseDelayMs: 20, maxDelayMs: 100 }, dir);
  const crashes: { how: string; giveUp: boolean; delay?: number }[] = [];
  const lines: string[] = [];
  supervisor.on('line', (line) => lines.push(line));
  const gaveUp = new Promise<void>((resolve) =>
    supervisor.on('crashed', ({ how, decision }) => {
      crashes.push({ how, giveUp: decision.giveUp, delay: decision.giveUp ? undefined : decision.delayMs });
      if (decision.giveUp) resolve();
    }),
  );
  try {
    supervisor.start();
    await gaveUp;
    t.deepEqual(crashes, [
      { how: 'exited with code 3', giveUp: false, delay: 20 },
      { how: 'exited with code 3', giveUp: false, delay: 40 },
      { how: 'exited with code 3', giveUp: true, delay: undefined },
    ]);
    t.true(supervisor.gaveUp);
    t.is(supervisor.pids.length, 3, 'started three times');
    t.deepEqual(lines, ['up', 'up', 'up']);
    await new Promise((resolve) => setTimeout(resolve, 200));
    t.is(supervisor.pids.length, 3, 'no restart after giving up');
    await supervisor.stop(100);
    t.regex(tailLines(join(dir, 'crasher.log'), 1)[0]!, /launcher: crasher \(pid \d+\) exited with code 3/);
  } finally {
    await supervisor.stop(100);
    rmSync(dir, { recursive: true, force: true });
  }
});

test('Supervisor: stop sends SIGTERM, and SIGKILL when the grace period runs out', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'supervisor-'));
  const polite = supervised('polite', 'process.on("SIGTERM", () => process.exit(0)); console.log("ready"); setInterval(() => {}, 1000)', policy, dir);
  const stubborn = supervised('stubborn', 'process.on("SIGTERM", () => console.log("no")); console.log("ready"); setInterval(() => {}, 1000)', policy, dir);
  try {
    const ready = (s: Supervisor) => new Promise<void>((resolve) => s.on('line', (line) => line === 'ready' && resolve()));
    const readies = [ready(polite), ready(stubborn)];
    polite.start();
    stubborn.start();
    await Promise.all(readies);
    const exits: Record<string, NodeJS.Signals | number | null> = {};
    polite.on('exit', ({ code, signal }) => (exits.polite = signal ?? code));
    stubborn.on('exit', ({ code, signal }) => (exits.stubborn = signal ?? code));
    let crashed = false;
    polite.on('crashed', () => (crashed = true));
    stubborn.on('crashed', () => (crashed = true));
    const started = Date.now();
    await Promise.all([polite.stop(5000), stubborn.stop(300)]);
    t.is(exits.polite, 0, 'exits on SIGTERM');
    t.is(exits.stubborn, 'SIGKILL', 'killed after the grace period');
    t.true(Date.now() - started < 4000);
    t.false(crashed, 'a stop is not a crash');
    t.false(polite.running || stubborn.running);
  } finally {
    await Promise.all([polite.stop(100), stubborn.stop(100)]);
    rmSync(dir, { recursive: true, force: true });
  }
});

test('startMesh refuses at once when a port is taken, naming the service', async (t) => {
  const blocker = createServer();
  await new Promise<void>((resolve) => blocker.listen(0, '127.0.0.1', resolve));
  const { port } = blocker.address() as { port: number };
  try {
    t.true(await addressInUse(`127.0.0.1:${port}`));
    const onlySales = MESH_SERVICES.filter((name) => name !== 'sales');
    const error = await t.throwsAsync(startMesh({ env: { SALES_ADDR: `127.0.0.1:${port}` }, without: onlySales, out: () => undefined }), { instanceOf: MeshStartError });
    t.is(error?.service, 'sales');
    t.regex(error!.message, new RegExp(`address already in use: sales \\(127\\.0\\.0\\.1:${port}\\)`));
    const zero = await t.throwsAsync(startMesh({ env: { POS_ADDR: '127.0.0.1:0' }, without: MESH_SERVICES.filter((name) => name !== 'pos'), out: () => undefined }), {
      instanceOf: MeshStartError,
    });
    t.regex(zero!.message, /POS_ADDR must name a fixed port/);
  } finally {
    await new Promise((resolve) => blocker.close(resolve));
  }
  t.false(await addressInUse(`127.0.0.1:${port}`));
});

test('NO_RESTART: the first crash is final', (t) => {
  t.deepEqual(restartDecision([1_000], 1_000, NO_RESTART), { giveUp: true, crashes: 1 });
  t.deepEqual(restartDecision([1, 1_000_000_000], 1_000_000_000, NO_RESTART), { giveUp: true, crashes: 2 });
});

test('npm start refuses before starting anything when a port is taken, in one line naming the port, the service and the holder', async (t) => {
  const port = await freePort();
  // The holder is another process, with a recognisable command line.
  const holder = spawn(process.execPath, ['-e', `require('net').createServer().listen(${port}, '127.0.0.1', () => console.log('listening')); setTimeout(() => {}, 60000) // port-holder-fixture`], {
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  const dir = mkdtempSync(join(tmpdir(), 'mesh-port-'));
  try {
    await new Promise<void>((resolve) => holder.stdout!.once('data', () => resolve()));
    const seen = portHolder(port);
    t.is(seen?.pid, holder.pid, 'the holder is found through /proc/net/tcp and /proc/<pid>/fd');
    t.regex(seen!.command, /port-holder-fixture/);

    const env: Record<string, string | undefined> = { ...process.env, ERASURE_DATA_DIR: dir, SALES_ADDR: `127.0.0.1:${port}`, EMBEDDED_PG_PORT: String(await freePort()) };
    delete env.DATABASE_URL;
    const started = Date.now();
    ensureRuntimeBuilt();
    const launcher = spawnSync(process.execPath, ['dist/mesh/launcher.js'], { cwd: repoRoot, env, encoding: 'utf8', timeout: 60_000 });
    t.is(launcher.status, 1);
    const lines = launcher.stderr.trim().split('\n');
    t.is(lines.length, 1, `one line: ${launcher.stderr}`);
    t.regex(lines[0]!, new RegExp(`sales \\(127\\.0\\.0\\.1:${port}\\) held by pid ${holder.pid} \\(.*port-holder-fixture`));
    t.notRegex(launcher.stdout, /starting/, 'neither the database nor a service was started');
    t.true(Date.now() - started < 30_000);
  } finally {
    holder.kill();
    rmSync(dir, { recursive: true, force: true });
  }
});

test('a supervised child stops when the process that started it dies (child guard), so a dead test runner leaks nothing', async (t) => {
  // The runner: supervises one child the way every mesh does (IPC channel + the guard preloaded), prints its pid, and is then killed with SIGKILL.
  const runner = spawn(
    process.execPath,
    [
      '--require',
      'tsx/cjs',
      '-e',
      `const { Supervisor, NO_RESTART } = require('./mesh/processes');
       const s = new Supervisor({ name: 'sleeper', command: process.execPath, args: ['--require', './mesh/child-guard.ts', '--require', 'tsx/cjs', '-e', 'setInterval(() => {}, 1000)'], cwd: process.cwd(), env: process.env }, NO_RESTART);
       s.on('started', (pid) => console.log(pid));
       s.start();
       setInterval(() => {}, 1000);`,
    ],
    { cwd: repoRoot, stdio: ['ignore', 'pipe', 'inherit'] },
  );
  const childPid = Number(await new Promise<string>((resolve) => runner.stdout!.once('data', (chunk: Buffer) => resolve(chunk.toString().trim()))));
  const alive = (pid: number) => {
    try {
      process.kill(pid, 0);
      return true;
    } catch {
      return false;
    }
  };
  t.true(alive(childPid));
  runner.kill('SIGKILL');
  const deadline = Date.now() + 20_000;
  while (alive(childPid) && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 100));
  t.false(alive(childPid), 'the child exited after its parent was killed');
});
