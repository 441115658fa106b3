/**
 * `npm start`: the whole mesh on this machine, zero setup. Starts the embedded PostgreSQL unless
 * DATABASE_URL is set, every service as its own process, waits until all are SERVING, prints where they
 * are and what to try; restarts a crashed service; Ctrl-C or SIGTERM stops everything and exits 0.
 *
 *   npm start [-- --verbose] [-- --without orchestrator,training] [-- --timeout 120]
 */
import { rmSync, writeFileSync } from 'node:fs';
import { join, relative } from 'node:path';
import { parseArgs, UsageError } from '../cli/args';
import { dataDir } from '../services/kit/paths';
import { banner } from './banner';
import { MeshStartError, startMesh, type Mesh } from './mesh';
import { releaseEmbeddedPostgresSignalHooks } from './signals';

const USAGE = `usage: npm start [-- options]

Starts the bakery erasure mesh: PostgreSQL (embedded unless DATABASE_URL is set), the fourteen services
and the orchestrator as separate processes; waits until every health check says SERVING.

options:
  --verbose            show every log line of every service (default: warnings and errors only;
                       all lines are always in <data dir>/logs/<service>.log)
  --without <names>    do not start these services (comma-separated), e.g. --without orchestrator
  --timeout <seconds>  how long the services have to become SERVING (default 120)
  --help               this text

environment: DATABASE_URL, <NAME>_ADDR (e.g. ORDERS_ADDR=127.0.0.1:17103), <NAME>_DATABASE_URL,
ERASURE_DATA_DIR (keys in <data dir>/keys, generated once), EMBEDDED_PG_PORT, LOG_LEVEL, OTEL_EXPORTER_OTLP_ENDPOINT
`;

const out = (line: string) => process.stdout.write(`${line}\n`);

/** ms from this process's start until main() ran: node's start-up and the launcher's modules. */
let launcherLoadedMs = 0;

/** The running mesh for scripts and tests: pids and addresses, removed when the launcher stops. */
function stateFile(): string {
  return join(dataDir(), 'mesh.json');
}

function writeState(mesh: Mesh): void {
  const state = {
    launcher_pid: process.pid,
    started_at: mesh.startedAt.toISOString(),
    database: mesh.databaseServer,
    services: mesh.services.map((service) => ({ name: service.name, address: service.address, pid: service.pid, database: service.database })),
    pids: mesh.pids(),
    // Where the start went (ms): the launcher's own start-up (node and its modules, after npm and the
    // build check), then the phases of mesh/mesh.ts since it began. bench/startup.ts reports them.
    startup: { launcher_loaded: launcherLoadedMs, ...mesh.phases },
  };
  writeFileSync(stateFile(), `${JSON.stringify(state, null, 2)}\n`);
}

async function main(): Promise<number> {
  launcherLoadedMs = Math.round(process.uptime() * 1000);
  const { positionals, flags } = parseArgs(process.argv.slice(2), { verbose: 'boolean', without: 'list', timeout: 'string', help: 'boolean' });
  if (positionals.length) throw new UsageError(`unexpected argument ${JSON.stringify(positionals[0])} (see npm start -- --help)`);
  if (flags.help) {
    process.stdout.write(USAGE);
    return 0;
  }
  const timeout = flags.timeout === undefined ? undefined : Number(flags.timeout);
  if (timeout !== undefined && (!Number.isFinite(timeout) || timeout <= 0)) throw new Error(`--timeout must be a number of seconds, got ${JSON.stringify(flags.timeout)}`);

  releaseEmbeddedPostgresSignalHooks();
  const abort = new AbortController();
  let mesh: Mesh | undefined;
  let firstSignal = 0;
  const finished = new Promise<number>((resolve) => {
    const onSignal = (signal: NodeJS.Signals) => {
      const now = Date.now();
      if (firstSignal) {
        // npm forwards the terminal's Ctrl-C too, so only a later second signal means "now".
        if (now - firstSignal < 1000 || !mesh) return;
        out(`${signal} again: killing every service now`);
        void mesh.kill().then(() => resolve(1));
        return;
      }
      firstSignal = now;
      if (!mesh) {
        out(`${signal}: interrupting start-up ...`);
        abort.abort();
        return;
      }
      out(`${signal}: stopping every service, then the database ...`);
      void mesh.stop().then(
        () => {
          rmSync(stateFile(), { force: true });
          out('stopped');
          resolve(0);
        },
        (error: Error) => {
          process.stderr.write(`launcher: stopping failed: ${error.message}\n`);
          resolve(1);
        },
      );
    };
    process.on('SIGINT', onSignal);
    process.on('SIGTERM', onSignal);
  });

  const logDir = join(dataDir(), 'logs');
  try {
    mesh = await startMesh({
      verbose: Boolean(flags.verbose),
      without: flags.without as string[] | undefined,
      startTimeoutMs: timeout === undefined ? undefined : timeout * 1000,
      logDir,
      signal: abort.signal,
      out,
    });
  } catch (error) {
    if (abort.signal.aborted) {
      out('stopped');
      return 0;
    }
    throw error;
  }
  writeState(mesh);
  const relativeLogDir = relative(process.cwd(), logDir);
  const shownLogDir = relativeLogDir && !relativeLogDir.startsWith('..') ? relativeLogDir : logDir;
  out(banner({ services: mesh.services, databaseServer: mesh.databaseServer, readyMs: mesh.readyMs, logDir: shownLogDir, env: process.env }));
  return finished;
}

main().then(
  (code) => process.exit(code),
  (error: Error) => {
    process.stderr.write(`launcher: ${error.message}\n`);
    if (error instanceof MeshStartError && error.logTail.length) {
      process.stderr.write(`last lines of ${error.service}'s log:\n${error.logTail.map((line) => `  ${line}`).join('\n')}\n`);
    }
    process.exit(1);
  },
);
