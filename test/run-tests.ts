/**
 * `npm test`: runs ava against a real PostgreSQL. TEST_DATABASE_URL names a server when set; otherwise
 * a throw-away embedded PostgreSQL is started in a temporary folder for the run and removed after.
 */
import { spawn } from 'node:child_process';
import { chmodSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { EmbeddedPostgresUnavailable, ensureEmbeddedPostgres } from '../services/kit/embedded-postgres';
import { ensureRuntimeBuilt } from '../mesh/services';
import { freePort } from './support/ports';

async function main(): Promise<number> {
  // The meshes' processes run the compiled runtime: build it (when stale) once, before any test file
  // starts, rather than inside a test's time limit.
  ensureRuntimeBuilt();
  let stopDatabase = async () => undefined as void;
  let dataDir: string | undefined;
  const env = { ...process.env };
  if (!env.TEST_DATABASE_URL) {
    dataDir = mkdtempSync(join(tmpdir(), 'erasure-test-pg-'));
    // As root, PostgreSQL runs as user `postgres`, which must be able to enter the folder.
    chmodSync(dataDir, 0o755);
    const port = await freePort();
    process.env.ERASURE_DATA_DIR = dataDir;
    const embedded = await ensureEmbeddedPostgres({ EMBEDDED_PG_PORT: String(port) });
    stopDatabase = embedded.stop;
    env.TEST_DATABASE_URL = embedded.url;
    process.stdout.write(`tests use an embedded PostgreSQL on 127.0.0.1:${port}\n`);
  }
  try {
    const ava = resolve(__dirname, '../node_modules/ava/entrypoints/cli.mjs');
    return await new Promise<number>((done) => {
      const child = spawn(process.execPath, [ava, ...process.argv.slice(2)], { stdio: 'inherit', env });
      const forward = (signal: NodeJS.Signals) => child.kill(signal);
      process.on('SIGINT', forward);
      process.on('SIGTERM', forward);
      child.on('exit', (code, signal) => done(code ?? (signal ? 1 : 0)));
    });
  } finally {
    await stopDatabase();
    if (dataDir) rmSync(dataDir, { recursive: true, force: true });
  }
}

main().then(
  (code) => process.exit(code),
  (error) => {
    // A reason the user must fix is one line; anything else keeps its stack.
    process.stderr.write(`test run failed: ${error instanceof EmbeddedPostgresUnavailable ? error.message : (error as Error).stack}\n`);
    process.exit(1);
  },
);
