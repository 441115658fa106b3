/**
 * A mesh on free ports with its own databases (`<label>_bakery_<name>` on one server), for the tests
 * that stop and kill processes on purpose and for the bench. Every process runs under the one
 * Supervisor (mesh/processes.ts) with the child guard and the NO_RESTART crash policy: a process that
 * is killed stays down until the caller starts it again.
 */
import { envPrefix } from '../services/kit/config';
import { databaseName, dropDatabase, ensureDatabase, withDatabase } from '../services/kit/database';
import { healthStatus } from '../services/kit/health-client';
import { devKeysDir, processKeyEnv } from '../services/kit/keys';
import { DATA_SERVICES } from './catalog';
import { freePort } from './ports';
import { NO_RESTART, Supervisor } from './processes';
import { serviceCommand } from './services';

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** Output lines kept per process, for the error message of a process that did not start. */
const KEPT_LINES = 200;

/**
 * Starts one process of the catalog (`bin/service.ts <name>`) under a NO_RESTART Supervisor and waits
 * until its health says SERVING at `address`; rejects with the end of its output when it exits first
 * or does not serve within `timeoutMs`. `lines` receives its output.
 */
export async function startServiceProcess(
  name: string,
  address: string,
  env: Record<string, string | undefined>,
  options: { key?: string; lines?: string[]; timeoutMs?: number } = {},
): Promise<Supervisor> {
  const lines = options.lines ?? [];
  const supervisor = new Supervisor(
    { name: options.key ?? name, ...serviceCommand(name), env: { ...env, [`${envPrefix(name)}_ADDR`]: address } },
    NO_RESTART,
  );
  supervisor.on('line', (line) => {
    lines.push(line);
    if (lines.length > KEPT_LINES) lines.splice(0, lines.length - KEPT_LINES);
  });
  supervisor.start();
  const deadline = Date.now() + (options.timeoutMs ?? 90_000);
  const tail = () => lines.join('\n').slice(-2000);
  for (;;) {
    if (!supervisor.running) {
      await supervisor.stop();
      throw new Error(`${name} exited before it served: ${tail()}`);
    }
    if ((await healthStatus(address, '', 1000)) === 'SERVING') return supervisor;
    if (Date.now() > deadline) {
      await supervisor.stop(5_000);
      throw new Error(`${name} did not become healthy within ${(options.timeoutMs ?? 90_000) / 1000} s: ${tail()}`);
    }
    await sleep(250);
  }
}

/**
 * Every data service and the orchestrator as real processes on loopback, each with its own database.
 * `env` is the mesh's environment on top of process.env. `keysDir` holds the key set (written by
 * services/kit/keys.ts writeKeySet): each process gets the trust bundle and only its own private key.
 */
export class ProcessMesh {
  readonly addresses: Record<string, string> = {};
  /** Where each process serves `/metrics` (`<NAME>_METRICS_ADDR`), on free ports like the gRPC addresses. */
  readonly metricsAddresses: Record<string, string> = {};
  readonly databases: Record<string, string> = {};
  /** The running (or last) process of each name or replica key. */
  readonly processes = new Map<string, Supervisor>();
  /** The last lines of each process's output. */
  readonly logs = new Map<string, string[]>();

  constructor(
    readonly serverUrl: string,
    readonly label: string,
    readonly extraEnv: Record<string, string> = {},
    readonly keysDir: string = devKeysDir(),
  ) {}

  /** What a process (or a client) of this mesh needs: every `<NAME>_ADDR` and `<NAME>_DATABASE_URL`. */
  get env(): Record<string, string> {
    const env: Record<string, string> = { LOG_LEVEL: 'warn', ...this.extraEnv };
    for (const [name, address] of Object.entries(this.addresses)) env[`${envPrefix(name)}_ADDR`] = address;
    for (const [name, address] of Object.entries(this.metricsAddresses)) env[`${envPrefix(name)}_METRICS_ADDR`] = address;
    for (const [name, url] of Object.entries(this.databases)) env[`${envPrefix(name)}_DATABASE_URL`] = url;
    return env;
  }

  /** Ports promised to this mesh's processes (and replicas), so no two are handed the same one. */
  private readonly takenPorts = new Set<number>();

  /** A loopback address on a free port no other process of this mesh was given. */
  async freeAddress(): Promise<string> {
    return `127.0.0.1:${await freePort(this.takenPorts)}`;
  }

  /** Picks a free port and creates the database of every process. */
  async prepare(): Promise<void> {
    // Distinct ports for every process of the mesh: two processes handed one port would leave one of
    // them unable to bind while the other answered its health checks and its calls, and a job would
    // then ask the wrong service (every process accepts the same orchestrator token).
    for (const name of [...DATA_SERVICES, 'orchestrator']) {
      this.addresses[name] = await this.freeAddress();
      this.metricsAddresses[name] = await this.freeAddress();
      const db = `${this.label}_${databaseName(name)}`;
      await ensureDatabase(this.serverUrl, db);
      this.databases[name] = withDatabase(this.serverUrl, db);
    }
  }

  /**
   * Starts one process (or the same name again after it was stopped) and waits for SERVING. `replica`
   * starts another process of the same service on its own address (e.g. a second orchestrator).
   */
  async start(name: string, replica?: { key: string; address: string }): Promise<Supervisor> {
    const key = replica?.key ?? name;
    const lines = this.logs.get(key) ?? [];
    this.logs.set(key, lines);
    const supervisor = await startServiceProcess(
      name,
      replica?.address ?? this.addresses[name]!,
      // A replica has no metrics port of its own here: the name's port is its first process's.
      { ...process.env, ...this.env, ...processKeyEnv(this.keysDir, name), ...(replica ? { [`${envPrefix(name)}_METRICS_ADDR`]: 'off' } : {}) },
      { key, lines },
    );
    this.processes.set(key, supervisor);
    return supervisor;
  }

  async startAll(): Promise<void> {
    // The orchestrator first: each data service sweeps for rows of erased subjects before it reports
    // SERVING, asking the orchestrator's tombstone registry (services/kit/resurrection-sweep.ts).
    await this.start('orchestrator');
    // Four at a time: start-up is CPU-bound (loading modules, migrating), and the machine may have two cores.
    const queue: string[] = [...DATA_SERVICES];
    await Promise.all(
      [0, 1, 2, 3].map(async () => {
        for (let name = queue.shift(); name; name = queue.shift()) await this.start(name);
      }),
    );
  }

  /** SIGKILL (crash) or SIGTERM (clean stop) one process, by its PID, and wait for it to exit. */
  async stop(key: string, signal: NodeJS.Signals = 'SIGTERM'): Promise<void> {
    const supervisor = this.processes.get(key);
    if (!supervisor?.running) return;
    if (signal === 'SIGKILL') await supervisor.kill();
    else await supervisor.stop();
  }

  async stopAll(): Promise<void> {
    await Promise.all([...this.processes.keys()].map((key) => this.stop(key)));
  }

  async dropDatabases(): Promise<void> {
    for (const url of Object.values(this.databases)) await dropDatabase(this.serverUrl, new URL(url).pathname.slice(1)).catch(() => undefined);
  }
}
