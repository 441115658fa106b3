/**
 * `startMesh(options)`: the whole mesh on one machine. The database server (`DATABASE_URL`, or the
 * embedded PostgreSQL started once by a holder process), every service's database, the key pairs,
 * then all services as separate supervised processes, each waited for until its health says SERVING.
 * Used by `npm start` (mesh/launcher.ts), `npm run demo` and the tests.
 */
import { existsSync } from 'node:fs';
import { connect } from 'node:net';
import { join } from 'node:path';
import { envBool, envInt, envPrefix } from '../services/kit/config';
import { resolveServiceDatabaseUrl } from '../services/kit/database';
import { EmbeddedPostgresUnavailable, embeddedPostgresLayout } from '../services/kit/embedded-postgres';
import { healthStatus } from '../services/kit/health-client';
import { DEV_IDENTITIES, processKeyEnv, writeKeySet } from '../services/kit/keys';
import { dataDir } from '../services/kit/paths';
import type { DatabaseReady } from './database-process';
import { consoleLine, tailLines } from './logs';
import { canBind, describePortHolder } from './port-holder';
import { DEFAULT_CRASH_POLICY, NO_RESTART, Supervisor, type CrashPolicy } from './processes';
import { isServingMessage } from './serving-signal';
import { addressEnv, databaseCommand, dialAddress, healthNames, MESH_SERVICES, selectServices, serviceCommand } from './services';

type Env = Record<string, string | undefined>;

export interface MeshOptions {
  /** The environment of the mesh (default: process.env). */
  env?: Env;
  /** Services not to start, e.g. `['orchestrator']`. */
  without?: string[];
  /** Show every log line of the children on the console, not only warnings and errors. */
  verbose?: boolean;
  /** How long every service has to become SERVING (default MESH_START_TIMEOUT_MS or 120 s). */
  startTimeoutMs?: number;
  /** How long a service may take to stop after SIGTERM before it is killed (default 15 s). */
  stopGraceMs?: number;
  /** Where the children's logs go (default `<data dir>/logs`). */
  logDir?: string;
  crashPolicy?: CrashPolicy;
  /** The launcher's console (default: stdout). */
  out?: (line: string) => void;
  /** Aborting it during start-up stops what was started and rejects. */
  signal?: AbortSignal;
}

export interface MeshService {
  name: string;
  address: string;
  /** The service's database (name only; the server is `Mesh.databaseServer`). */
  database: string;
  pid: number | undefined;
  logFile: string;
}

export interface Mesh {
  services: MeshService[];
  /** The environment a client of this mesh needs: DATABASE_URL and every `<NAME>_ADDR`. */
  env: Record<string, string>;
  /** The database server without credentials, e.g. `127.0.0.1:54329 (embedded)`. */
  databaseServer: string;
  /** True when this mesh started the embedded PostgreSQL (and will stop it). */
  startedDatabase: boolean;
  startedAt: Date;
  readyMs: number;
  /**
   * Where start-up went, in ms since startMesh began: `ports` checked, `keys` written, `database` up
   * (with the holder's `initdb` and `postgres_start` durations), `databases` created, `migrations` (when the
   * launcher migrated databases it created, while their processes started), then each
   * process's `serving:<name>` (when the launcher saw it SERVING) and `ready` (all of them).
   */
  phases: Record<string, number>;
  /** Every pid started so far: services (with restarts) and the database holder. */
  pids(): number[];
  /** Stops every service (SIGTERM, SIGKILL after the grace period), then the embedded database. */
  stop(): Promise<void>;
  /** SIGKILLs every service at once (a second Ctrl-C), then stops the database. */
  kill(): Promise<void>;
}

/** A start-up failure that names the service and shows the end of its log. */
export class MeshStartError extends Error {
  constructor(
    message: string,
    readonly service?: string,
    readonly logTail: string[] = [],
  ) {
    super(message);
    this.name = 'MeshStartError';
  }
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/**
 * How often a starting process's health is checked when it has not said it serves. Each check of
 * each process was a new gRPC channel: at 250 ms, fifteen processes starting on two busy cores kept
 * the launcher at ~2 s of CPU per start (by /proc CPU times), taken from the processes it waited for.
 */
const HEALTH_POLL_MS = 1000;

/** `127.0.0.1:7100` → host and port (brackets of an IPv6 host removed). */
function splitAddress(address: string): { host: string; port: number } {
  const at = address.lastIndexOf(':');
  return { host: address.slice(0, at).replace(/^\[|\]$/g, ''), port: Number(address.slice(at + 1)) };
}

/** Whether something already accepts connections at host:port. */
export function addressInUse(address: string, timeoutMs = 500): Promise<boolean> {
  const { host, port } = splitAddress(address);
  return new Promise((resolve) => {
    const socket = connect({ host: host === '0.0.0.0' ? '127.0.0.1' : host, port });
    const done = (inUse: boolean) => {
      socket.destroy();
      resolve(inUse);
    };
    socket.setTimeout(timeoutMs, () => done(false));
    socket.once('connect', () => done(true));
    socket.once('error', () => done(false));
  });
}

/** Health of one process: SERVING only when "" and every name of `healthNames` are SERVING. */
async function processHealth(service: string, address: string): Promise<string> {
  for (const name of ['', ...healthNames(service)]) {
    const status = await healthStatus(dialAddress(address), name, 1000);
    if (status !== 'SERVING') return name === '' ? status : `${name} ${status}`;
  }
  return 'SERVING';
}

function serverLabel(url: string, embedded: boolean): string {
  try {
    const parsed = new URL(url);
    return `${parsed.hostname}:${parsed.port || 5432}${embedded ? ' (embedded PostgreSQL)' : ''}`;
  } catch {
    return embedded ? 'embedded PostgreSQL' : 'DATABASE_URL';
  }
}

export async function startMesh(options: MeshOptions = {}): Promise<Mesh> {
  const started = Date.now();
  const phases: Record<string, number> = {};
  const mark = (phase: string) => (phases[phase] = Date.now() - started);
  const baseEnv: Env = { ...process.env, ...options.env };
  const out = options.out ?? ((line: string) => process.stdout.write(`${line}\n`));
  const names = selectServices(options.without);
  const addresses = addressEnv(baseEnv);
  const timeoutMs = options.startTimeoutMs ?? envInt(baseEnv, 'MESH_START_TIMEOUT_MS', 120_000, 1000);
  const graceMs = options.stopGraceMs ?? 15_000;
  /** Whether the launcher migrates the databases it creates (not when the processes are told not to migrate). */
  const migrateNew = envBool(baseEnv, 'MIGRATE', true);
  const root = baseEnv.ERASURE_DATA_DIR ?? dataDir();
  const logDir = options.logDir ?? join(root, 'logs');
  const width = Math.max(...[...MESH_SERVICES, 'postgres'].map((name) => name.length));
  const verbose = options.verbose ?? false;
  const show = (service: string, line: string) => {
    const rendered = consoleLine(service, line, { verbose, width });
    if (rendered !== undefined) out(rendered);
  };
  const checkAbort = () => {
    if (options.signal?.aborted) throw new MeshStartError('start-up interrupted');
  };

  for (const name of names) {
    const address = addresses[`${envPrefix(name)}_ADDR`]!;
    // Every process must be reachable at a known port by the others (the orchestrator dials them all).
    if (/:0$/.test(address)) throw new MeshStartError(`${envPrefix(name)}_ADDR must name a fixed port, got ${address}`, name);
  }
  // Refuse before anything starts (database or service), naming each taken port's holder.
  const busy: string[] = [];
  for (const name of names) {
    const address = addresses[`${envPrefix(name)}_ADDR`]!;
    const { host, port } = splitAddress(address);
    if (!(await canBind(host, port)) || (await addressInUse(dialAddress(address)))) busy.push(name);
  }
  if (busy.length) {
    const list = busy
      .map((name) => {
        const address = addresses[`${envPrefix(name)}_ADDR`]!;
        return `${name} (${address}) held by ${describePortHolder(splitAddress(address).port)}`;
      })
      .join('; ');
    throw new MeshStartError(
      `address already in use: ${list}. Is a mesh already running? Stop it, or choose other ports with <NAME>_ADDR (e.g. ${envPrefix(busy[0]!)}_ADDR=127.0.0.1:17100).`,
      busy[0],
    );
  }

  mark('ports');
  // A key pair per process (and the operator's), generated once under the data folder, before any
  // child starts; each child is then given the trust bundle and only its own private key file.
  const keysDir = join(root, 'keys');
  await writeKeySet(keysDir, DEV_IDENTITIES);
  mark('keys');

  let holder: Supervisor | undefined;
  let serverUrl = baseEnv.DATABASE_URL || undefined;
  let startedDatabase = false;
  const supervisors: Supervisor[] = [];
  const stopAll = async (kill = false) => {
    if (kill) supervisors.forEach((supervisor) => supervisor.kill());
    await Promise.all(supervisors.map((supervisor) => supervisor.stop(graceMs)));
    await holder?.stop(30_000);
  };

  try {
    if (!serverUrl) {
      // Checked here, in one line, rather than as a failing child process with a stack trace.
      let layout: { databaseDir: string };
      try {
        layout = embeddedPostgresLayout(root);
      } catch (error) {
        if (error instanceof EmbeddedPostgresUnavailable) throw new MeshStartError(error.message, 'postgres');
        throw error;
      }
      out(`starting the embedded PostgreSQL (data in ${layout.databaseDir}) ...`);
      const command = databaseCommand();
      holder = new Supervisor(
        { name: 'postgres', ...command, env: { ...baseEnv, ERASURE_DATA_DIR: root }, logFile: join(logDir, 'postgres.log'), signalGroup: false },
        NO_RESTART,
      );
      const ready = new Promise<DatabaseReady>((resolve, reject) => {
        holder!.on('message', (message) => resolve(message as DatabaseReady));
        holder!.on('crashed', ({ how }) => reject(new MeshStartError(`the embedded PostgreSQL ${how}`, 'postgres', tailLines(join(logDir, 'postgres.log'), 20))));
      });
      holder.on('line', (line) => verbose && show('postgres', line));
      holder.start();
      // A new cluster (no PG_VERSION yet) means every database will be new and migrated by the launcher
      // (below): it loads what that takes while the holder runs initdb, a single process that leaves
      // the other core idle, rather than after it.
      if (migrateNew && !existsSync(join(layout.databaseDir, 'PG_VERSION'))) {
        // eslint-disable-next-line @typescript-eslint/no-require-imports
        setImmediate(() => (require('./process-migrations') as typeof import('./process-migrations')).loadMigrationModules(names));
      }
      let timer: NodeJS.Timeout | undefined;
      const database = await Promise.race([
        ready,
        new Promise<never>((_, reject) => {
          timer = setTimeout(
            () => reject(new MeshStartError(`the embedded PostgreSQL did not start within ${timeoutMs / 1000} s`, 'postgres', tailLines(join(logDir, 'postgres.log'), 20))),
            timeoutMs,
          );
        }),
      ]).finally(() => clearTimeout(timer));
      serverUrl = database.url;
      startedDatabase = database.startedHere;
      if (database.timings) Object.assign(phases, { initdb: database.timings.initdbMs, postgres_start: database.timings.startMs });
      mark('database');
      if (!startedDatabase) {
        out('reusing the embedded PostgreSQL that is already running');
        await holder.stop(5_000);
        holder = undefined;
      }
    }
    checkAbort();

    const childEnv: Env = { ...baseEnv, DATABASE_URL: serverUrl, ERASURE_DATA_DIR: root, ...addresses };
    const databases = new Map<string, string>();
    /** The databases this start created (empty), by process: the launcher migrates them, below. */
    const toMigrate = new Map<string, string>();
    // Creates `bakery_<name>` (or the database of `<NAME>_DATABASE_URL`) before the services race to;
    // all at once, each on its own connection (one after the other, they were a round of connections
    // and authentications per process before any process started).
    await Promise.all(
      names.map(async (name) => {
        const { url, created } = await resolveServiceDatabaseUrl(name, childEnv);
        databases.set(name, decodeURIComponent(new URL(url).pathname.slice(1)));
        if (created && migrateNew) toMigrate.set(name, url);
      }),
    );
    mark('databases');
    checkAbort();

    out(`starting ${names.length} services ...`);
    const failures: MeshStartError[] = [];
    const ready = new Set<string>();
    let initialReady = false;
    for (const name of names) {
      const logFile = join(logDir, `${name}.log`);
      const supervisor = new Supervisor(
        { name, ...serviceCommand(name), env: { ...childEnv, ERASURE_SERVICE: name, ...processKeyEnv(keysDir, name) }, logFile },
        options.crashPolicy,
      );
      supervisors.push(supervisor);
      supervisor.on('line', (line) => show(name, line));
      supervisor.on('crashed', ({ pid, how, decision }) => {
        ready.delete(name);
        if (decision.giveUp) {
          const policy = options.crashPolicy ?? DEFAULT_CRASH_POLICY;
          const why = Number.isFinite(policy.windowMs) ? `${decision.crashes} crashes within ${Math.round(policy.windowMs / 1000)} s; giving up on it` : 'not restarted (crash policy: no restart)';
          const message = `${name} (pid ${pid}) ${how} — ${why} (log: ${logFile})`;
          out(`launcher: ${message}`);
          failures.push(new MeshStartError(message, name, tailLines(logFile, 20)));
        } else {
          out(`launcher: ${name} (pid ${pid}) ${how}; restarting in ${(decision.delayMs / 1000).toFixed(1)} s (crash ${decision.crashes} of ${(options.crashPolicy ?? DEFAULT_CRASH_POLICY).maxCrashes} allowed per minute)`);
        }
      });
      // The child's hint that it serves (mesh/serving-signal.ts) wakes the wait for its next health check.
      let hinted = false;
      let wake: (() => void) | undefined;
      supervisor.on('message', (message) => {
        if (!isServingMessage(message)) return;
        hinted = true;
        wake?.();
      });
      supervisor.on('started', (pid) => {
        // Each instance's health is checked until it serves (or exits): when it says it serves, and
        // every HEALTH_POLL_MS without a hint. After start-up a recovery is announced.
        void (async () => {
          for (;;) {
            if (supervisor.pid !== pid) return;
            hinted = false;
            if ((await processHealth(name, addresses[`${envPrefix(name)}_ADDR`]!)) === 'SERVING') {
              if (supervisor.pid !== pid) return;
              ready.add(name);
              if (!initialReady) mark(`serving:${name}`);
              if (initialReady) out(`launcher: ${name} is back (pid ${pid})`);
              return;
            }
            if (hinted) continue; // the hint came during the check: check again at once
            await new Promise<void>((resolve) => {
              const timer = setTimeout(resolve, HEALTH_POLL_MS);
              wake = () => {
                clearTimeout(timer);
                resolve();
              };
            });
            wake = undefined;
          }
        })();
      });
    }
    // A new data folder's databases are all empty. Migrated by each of fifteen processes, they loaded
    // Sequelize and umzug fifteen times (~0.45 CPU-s per process by /proc CPU times, with two cores
    // for all): the launcher loads them once and migrates every new database at once, its lines going
    // to the process's log. Each process starts as soon as the launcher holds its database's migration
    // lock: it loads its modules meanwhile, then its own migrate() waits for the lock and finds every
    // migration applied (the check of every restart).
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    const migrations = toMigrate.size ? (require('./process-migrations') as typeof import('./process-migrations')) : undefined;
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    const logger = toMigrate.size ? (require('../services/kit/logger') as typeof import('../services/kit/logger')) : undefined;
    // Not awaited here: the wait below also watches for an interruption, a crash or a failed migration.
    void Promise.all(
      supervisors.map(async (supervisor) => {
        const url = toMigrate.get(supervisor.name);
        if (!url) return supervisor.start();
        const log = logger!.createLogger(supervisor.name, { write: (line: string) => supervisor.writeLine(line.replace(/\n$/, '')) });
        try {
          await migrations!.migrateProcessDatabase(supervisor.name, url, log, () => supervisor.start());
        } catch (error) {
          const message = `cannot migrate the database of ${supervisor.name}: ${(error as Error).message}`;
          log.fatal({ err: error }, message);
          failures.push(new MeshStartError(message, supervisor.name, tailLines(supervisor.spec.logFile!, 20)));
        }
      }),
    ).then(() => toMigrate.size && mark('migrations'));

    const deadline = Date.now() + timeoutMs;
    while (ready.size < names.length) {
      checkAbort();
      if (failures.length) throw failures[0]!;
      if (holder && !holder.running) throw new MeshStartError('the embedded PostgreSQL stopped', 'postgres', tailLines(join(logDir, 'postgres.log'), 20));
      if (Date.now() > deadline) {
        const missing = names.filter((name) => !ready.has(name));
        const first = missing[0]!;
        const status = await processHealth(first, addresses[`${envPrefix(first)}_ADDR`]!);
        throw new MeshStartError(
          `${first} did not become SERVING within ${timeoutMs / 1000} s (health: ${status})${missing.length > 1 ? `; also not ready: ${missing.slice(1).join(', ')}` : ''}`,
          first,
          tailLines(join(logDir, `${first}.log`), 20),
        );
      }
      await sleep(100);
    }
    initialReady = true;
    mark('ready');

    let stopped: Promise<void> | undefined;
    return {
      services: names.map((name) => {
        const supervisor = supervisors.find((s) => s.name === name)!;
        return {
          name,
          address: addresses[`${envPrefix(name)}_ADDR`]!,
          database: databases.get(name)!,
          get pid() {
            return supervisor.pid;
          },
          logFile: supervisor.spec.logFile!,
        };
      }),
      env: { DATABASE_URL: serverUrl!, ...addresses },
      databaseServer: serverLabel(serverUrl!, startedDatabase || !baseEnv.DATABASE_URL),
      startedDatabase,
      startedAt: new Date(started),
      readyMs: Date.now() - started,
      phases,
      pids: () => [...supervisors.flatMap((supervisor) => supervisor.pids), ...(holder?.pids ?? [])],
      stop: () => (stopped ??= stopAll()),
      kill: () => (stopped = stopAll(true)),
    };
  } catch (error) {
    await stopAll();
    throw error;
  }
}
