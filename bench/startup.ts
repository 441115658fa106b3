/**
 * `npm start` until every process is SERVING (issue 12's last target), measured as an operator meets it:
 * the real command, its own embedded PostgreSQL in a fresh data folder, free ports. The launcher writes
 * `<data>/mesh.json` once every process serves; the clock stops there. Measured twice: the first start
 * of a new data folder (initdb, migrations) and a restart on the same folder.
 *
 * Beside the wall-clock time (noisy on a shared 2-core machine) it reports the CPU time the start took,
 * summed over every process npm started (launcher, services, the database holder, PostgreSQL and the
 * processes each of them already reaped, such as initdb and PostgreSQL's connection backends), read
 * from /proc at the moment mesh.json appears.
 *
 *   node --require tsx/cjs bench/startup.ts [--runs N]
 */
import { spawn } from 'node:child_process';
import { chmodSync, existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { envPrefix } from '../services/kit/config';
import { PROCESS_NAMES } from '../mesh/catalog';
import { freePort, median, readStat, type ProcStat } from './support';

const sleep = (ms: number) => new Promise((done) => setTimeout(done, ms));

/** What a process of the mesh is, from its command line: `orders`, `launcher`, `postgres`, `npm`. */
function role(pid: number): string {
  let args: string[];
  try {
    args = readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0').filter(Boolean);
  } catch {
    return 'gone';
  }
  const script = args.findIndex((arg) => arg.endsWith('bin/service.js'));
  if (script >= 0) return args[script + 1] ?? 'service';
  if (args.some((arg) => arg.endsWith('mesh/launcher.js'))) return 'launcher';
  if (args.some((arg) => arg.endsWith('mesh/database-process.js'))) return 'database holder';
  if (args.some((arg) => /(^|\/)postgres$/.test(arg)) || args[0]?.startsWith('postgres:')) return 'postgres';
  return 'npm';
}

/** CPU ms by role of the process tree under `root` (root included), reaped children counted with their parent. */
export function treeCpu(root: number): Record<string, number> {
  const stats = new Map<number, ProcStat>();
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    const stat = readStat(Number(entry));
    if (stat) stats.set(stat.pid, stat);
  }
  const children = new Map<number, number[]>();
  for (const stat of stats.values()) children.set(stat.ppid, [...(children.get(stat.ppid) ?? []), stat.pid]);
  const byRole: Record<string, number> = {};
  const visit = (pid: number, parentRole: string | undefined) => {
    const stat = stats.get(pid);
    if (!stat) return;
    // A PostgreSQL backend is counted as postgres; a runuser/initdb child as its parent.
    let name = role(pid);
    if (name === 'npm' && parentRole) name = parentRole;
    byRole[name] = (byRole[name] ?? 0) + stat.ownMs + stat.reapedMs;
    for (const child of children.get(pid) ?? []) visit(child, name);
  };
  visit(root, undefined);
  return byRole;
}

export interface StartMeasure {
  ms: number;
  /** CPU ms by process role at the moment every process served. */
  cpuMs: Record<string, number>;
  /** The launcher's own phases (mesh.json `startup`), when it reports them. */
  phases?: Record<string, number>;
}

/** One `npm start` in `dataDir` until mesh.json appears; stops it (SIGTERM, by PID) and returns the time. */
async function timedStart(dataDir: string, addresses: Record<string, string>, pgPort: number, timeoutMs = 180_000): Promise<StartMeasure> {
  const stateFile = join(dataDir, 'mesh.json');
  rmSync(stateFile, { force: true });
  const env: Record<string, string | undefined> = { ...process.env, ERASURE_DATA_DIR: dataDir, EMBEDDED_PG_PORT: String(pgPort), LOG_LEVEL: 'warn', ...addresses };
  // `npm start` on the embedded PostgreSQL: the bench's own server is not what an operator starts.
  delete env.DATABASE_URL;
  const started = performance.now();
  const output: string[] = [];
  const child = spawn('npm', ['start', '--silent'], { cwd: resolve(__dirname, '..'), env, stdio: ['ignore', 'pipe', 'pipe'], detached: true });
  const keep = (chunk: Buffer) => output.push(chunk.toString('utf8'));
  child.stdout!.on('data', keep);
  child.stderr!.on('data', keep);
  try {
    while (!existsSync(stateFile)) {
      if (child.exitCode !== null) throw new Error(`npm start exited with ${child.exitCode} before every process served: ${output.join('').slice(-1500)}`);
      if (performance.now() - started > timeoutMs) throw new Error(`npm start did not serve within ${timeoutMs / 1000} s`);
      await sleep(50);
    }
    const ms = performance.now() - started;
    const cpuMs = treeCpu(child.pid!);
    let phases: Record<string, number> | undefined;
    try {
      const startup = (JSON.parse(readFileSync(stateFile, 'utf8')) as { startup?: Record<string, number> }).startup;
      if (startup) {
        // npm and the build check come before the launcher runs; serving:<name> summed up as the first and the last.
        const serving = Object.entries(startup).filter(([name]) => name.startsWith('serving:')).map(([, at]) => at);
        phases = Object.fromEntries(Object.entries(startup).filter(([name]) => !name.startsWith('serving:')));
        phases = { before_launcher: Math.round(ms - (startup.launcher_loaded ?? 0) - (startup.ready ?? 0)), ...phases, first_serving: Math.min(...serving), last_serving: Math.max(...serving) };
      }
    } catch {
      // Written but not complete yet: the phases are optional.
    }
    return { ms, cpuMs, phases };
  } finally {
    // The whole process group npm started (launcher, services, PostgreSQL), and only it.
    if (child.exitCode === null && child.pid) {
      process.kill(-child.pid, 'SIGTERM');
      await new Promise((done) => child.once('exit', done));
    }
  }
}

export async function measureStartup(): Promise<{ cold: StartMeasure; warm: StartMeasure }> {
  const dataDir = mkdtempSync(join(tmpdir(), 'erasure-bench-start-'));
  // As root, the embedded PostgreSQL runs as user `postgres`, which must be able to enter the folder.
  chmodSync(dataDir, 0o755);
  try {
    const addresses: Record<string, string> = {};
    const taken = new Set<number>(); // distinct ports: two processes given one would not both serve
    for (const name of PROCESS_NAMES) addresses[`${envPrefix(name)}_ADDR`] = `127.0.0.1:${await freePort(taken)}`;
    // Its own embedded PostgreSQL port: the bench's server may be an embedded one on the default port.
    const pgPort = await freePort(taken);
    const cold = await timedStart(dataDir, addresses, pgPort);
    const warm = await timedStart(dataDir, addresses, pgPort);
    return { cold, warm };
  } finally {
    rmSync(dataDir, { recursive: true, force: true });
  }
}

export async function benchStartup(): Promise<{ coldMs: number; warmMs: number; coldCpuMs: number; warmCpuMs: number }> {
  const { cold, warm } = await measureStartup();
  const total = (measure: StartMeasure) => Object.values(measure.cpuMs).reduce((sum, ms) => sum + ms, 0);
  return { coldMs: cold.ms, warmMs: warm.ms, coldCpuMs: total(cold), warmCpuMs: total(warm) };
}

if (require.main === module) {
  const runs = Number(process.argv[process.argv.indexOf('--runs') + 1] ?? 3) || 3;
  void (async () => {
    const results: { cold: StartMeasure; warm: StartMeasure }[] = [];
    for (let run = 0; run < runs; run++) {
      const result = await measureStartup();
      results.push(result);
      process.stdout.write(`${JSON.stringify(result)}\n`);
    }
    for (const kind of ['cold', 'warm'] as const) {
      const measures = results.map((result) => result[kind]);
      const roles = [...new Set(measures.flatMap((m) => Object.keys(m.cpuMs)))].sort();
      const cpu = Object.fromEntries(roles.map((name) => [name, median(measures.map((m) => m.cpuMs[name] ?? 0))]));
      const totalCpu = median(measures.map((m) => Object.values(m.cpuMs).reduce((sum, ms) => sum + ms, 0)));
      const phases = [...new Set(measures.flatMap((m) => Object.keys(m.phases ?? {})))];
      process.stdout.write(
        `${kind === 'cold' ? 'new folder' : 'restart'}: median ${(median(measures.map((m) => m.ms)) / 1000).toFixed(2)} s wall, ${(totalCpu / 1000).toFixed(2)} CPU-s ` +
          `(${roles.map((name) => `${name} ${(cpu[name]! / 1000).toFixed(2)}`).join(', ')})` +
          (phases.length ? `; phases ms: ${phases.map((name) => `${name} ${Math.round(median(measures.map((m) => m.phases?.[name] ?? 0)))}`).join(', ')}` : '') +
          '\n',
      );
    }
  })();
}
