/**
 * `npm run bench`: benchmarks against baselines measured in the same run (never part of `npm test`).
 * The server is BENCH_DATABASE_URL, else DATABASE_URL, else the embedded PostgreSQL.
 * `npm run bench -- service` runs only the service benchmark; `--runs N`, `--rows N` adjust it.
 */
import { ensureEmbeddedPostgres } from '../services/kit/embedded-postgres';
import { parseFlags } from '../services/kit/cli-args';
import { benchServiceDelete } from './service-delete';

async function main(): Promise<void> {
  const args = process.argv.slice(2);
  const only = args[0] && !args[0].startsWith('--') ? args.shift() : undefined;
  const flags = parseFlags(args, { runs: 'string', rows: 'string' });
  const runs = Number(flags.runs ?? 3);
  const rows = Number(flags.rows ?? 1_000_000);
  let server = process.env.BENCH_DATABASE_URL ?? process.env.DATABASE_URL;
  let stop = async () => undefined as void;
  if (!server) {
    const embedded = await ensureEmbeddedPostgres();
    server = embedded.url;
    stop = embedded.stop;
  }
  const host = new URL(server).host;
  const sections: string[] = [`## Benchmarks (PostgreSQL at ${host}; ${new Date().toISOString()})`, ''];
  try {
    if (!only || only === 'service') sections.push(await benchServiceDelete(server, { rows, runs }));
  } finally {
    await stop();
  }
  process.stdout.write(`\n${sections.join('\n')}\n`);
}

main().catch((error: Error) => {
  process.stderr.write(`bench failed: ${error.stack}\n`);
  process.exit(1);
});
