/**
 * `npm start` until every process is SERVING (issue 12's last target), measured as an operator meets it:
 * the real command, its own embedded PostgreSQL in a fresh data folder, free ports. The launcher writes
 * `<data>/mesh.json` once every process serves; the clock stops there. Measured twice: the first start
 * of a new data folder (initdb, migrations) and a restart on the same folder.
 */
import { spawn } from 'node:child_process';
import { chmodSync, existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { envPrefix } from '../services/kit/config';
import { PROCESS_NAMES } from '../mesh/catalog';
import { freePort } from './support';

const sleep = (ms: number) => new Promise((done) => setTimeout(done, ms));

/** One `npm start` in `dataDir` until mesh.json appears; stops it (SIGTERM, by PID) and returns the time. */
async function timedStart(dataDir: string, addresses: Record<string, string>, pgPort: number, timeoutMs = 180_000): Promise<number> {
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
    return performance.now() - started;
  } finally {
    // The whole process group npm started (launcher, services, PostgreSQL), and only it.
    if (child.exitCode === null && child.pid) {
      process.kill(-child.pid, 'SIGTERM');
      await new Promise((done) => child.once('exit', done));
    }
  }
}

export async function benchStartup(): Promise<{ coldMs: number; warmMs: number }> {
  const dataDir = mkdtempSync(join(tmpdir(), 'erasure-bench-start-'));
  // As root, the embedded PostgreSQL runs as user `postgres`, which must be able to enter the folder.
  chmodSync(dataDir, 0o755);
  try {
    const addresses: Record<string, string> = {};
    const taken = new Set<number>(); // distinct ports: two processes given one would not both serve
    for (const name of PROCESS_NAMES) addresses[`${envPrefix(name)}_ADDR`] = `127.0.0.1:${await freePort(taken)}`;
    // Its own embedded PostgreSQL port: the bench's server may be an embedded one on the default port.
    const pgPort = await freePort(taken);
    const coldMs = await timedStart(dataDir, addresses, pgPort);
    const warmMs = await timedStart(dataDir, addresses, pgPort);
    return { coldMs, warmMs };
  } finally {
    rmSync(dataDir, { recursive: true, force: true });
  }
}
