import { spawn, type ChildProcess } from 'node:child_process';
import { freePort } from './ports';
import { repoRoot } from '../../services/kit/paths';
import { healthStatus } from '../../services/kit/health-client';
import { envPrefix } from '../../services/kit/config';
import { databaseName, ensureDatabase, withDatabase, dropDatabase } from '../../services/kit/database';
import { testSecretText } from './services';

export { freePort };

export const MESH_SERVICES = [
  'tenant', 'auth', 'orders', 'inventory', 'recipes', 'production', 'sales', 'suppliers', 'pos', 'external',
  'forecasting', 'training', 'notification', 'alert-processor',
] as const;

/**
 * All fourteen services and the orchestrator as real processes on loopback, each with its own test
 * database (unique names), for tests that kill and restart processes.
 */
export class ProcessMesh {
  readonly addresses: Record<string, string> = {};
  readonly databases: Record<string, string> = {};
  readonly processes = new Map<string, ChildProcess>();
  readonly logs = new Map<string, string[]>();

  constructor(
    readonly serverUrl: string,
    readonly label: string,
    readonly extraEnv: Record<string, string> = {},
  ) {}

  get env(): Record<string, string> {
    const env: Record<string, string> = { ERASURE_JWT_SECRET: testSecretText, LOG_LEVEL: 'warn', ...this.extraEnv };
    for (const [name, address] of Object.entries(this.addresses)) env[`${envPrefix(name)}_ADDR`] = address;
    for (const [name, url] of Object.entries(this.databases)) env[`${envPrefix(name)}_DATABASE_URL`] = url;
    return env;
  }

  async prepare(): Promise<void> {
    for (const name of [...MESH_SERVICES, 'orchestrator']) {
      this.addresses[name] = `127.0.0.1:${await freePort()}`;
      const db = `${this.label}_${databaseName(name)}`;
      await ensureDatabase(this.serverUrl, db);
      this.databases[name] = withDatabase(this.serverUrl, db);
    }
  }

  /**
   * Starts one process (or the same name again after it was stopped) and waits for SERVING. `replica`
   * starts another process of the same service on its own address (e.g. a second orchestrator).
   */
  async start(name: string, replica?: { key: string; address: string }): Promise<ChildProcess> {
    const key = replica?.key ?? name;
    const address = replica?.address ?? this.addresses[name]!;
    const child = spawn(
      process.execPath,
      ['--require', 'tsx/cjs', '--require', './services/kit/tracing-register.ts', 'services/kit/run.ts', name],
      { cwd: repoRoot, env: { ...process.env, ...this.env, [`${envPrefix(name)}_ADDR`]: address }, stdio: ['ignore', 'pipe', 'pipe'] },
    );
    const log = this.logs.get(key) ?? [];
    this.logs.set(key, log);
    const keep = (chunk: Buffer) => {
      log.push(chunk.toString());
      if (log.length > 200) log.splice(0, log.length - 200);
    };
    child.stdout!.on('data', keep);
    child.stderr!.on('data', keep);
    this.processes.set(key, child);
    const deadline = Date.now() + 90_000;
    for (;;) {
      if (child.exitCode !== null) throw new Error(`${name} exited with ${child.exitCode}: ${log.join('').slice(-2000)}`);
      if ((await healthStatus(address, '', 1000)) === 'SERVING') return child;
      if (Date.now() > deadline) throw new Error(`${name} did not become healthy: ${log.join('').slice(-2000)}`);
      await new Promise((resolve) => setTimeout(resolve, 250));
    }
  }

  async startAll(): Promise<void> {
    // Three at a time: start-up is CPU-bound (transpiling), and the machine has two cores.
    const queue: string[] = [...MESH_SERVICES];
    await Promise.all(
      [0, 1, 2].map(async () => {
        for (let name = queue.shift(); name; name = queue.shift()) await this.start(name);
      }),
    );
    await this.start('orchestrator');
  }

  /** SIGKILL (crash) or SIGTERM (clean stop) one process, by its PID, and wait for it to exit. */
  async stop(name: string, signal: NodeJS.Signals = 'SIGTERM'): Promise<void> {
    const child = this.processes.get(name);
    if (!child || child.exitCode !== null || child.signalCode !== null) return;
    await new Promise<void>((resolve) => {
      child.once('exit', () => resolve());
      child.kill(signal);
    });
  }

  async stopAll(): Promise<void> {
    await Promise.all([...this.processes.keys()].map((name) => this.stop(name)));
  }

  async dropDatabases(): Promise<void> {
    for (const url of Object.values(this.databases)) await dropDatabase(this.serverUrl, new URL(url).pathname.slice(1)).catch(() => undefined);
  }
}
