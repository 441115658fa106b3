/**
 * `npm run bench`: benchmarks against baselines measured in the same run (never part of `npm test`).
 * The server is BENCH_DATABASE_URL, else DATABASE_URL, else the embedded PostgreSQL.
 * `npm run bench -- service|mesh|export` runs one of them; `--runs N`, `--rows N`, `--empty-runs N`, `--jobs N` adjust them;
 * `--no-startup` leaves out timing `npm start`.
 */
import { EmbeddedPostgresUnavailable, ensureEmbeddedPostgres } from '../services/kit/embedded-postgres';
import { parseArgs } from '../cli/args';
import { limitSettings } from '../services/kit/limits';
import { benchMeshDelete } from './mesh-delete';
import { benchServiceDelete } from './service-delete';
import { benchServiceExport } from './service-export';

async function main(): Promise<void> {
  const { positionals, flags } = parseArgs(process.argv.slice(2), { runs: 'string', rows: 'string', 'empty-runs': 'string', jobs: 'string', 'no-startup': 'boolean' });
  const only = positionals[0];
  if (positionals.length > 1 || (only !== undefined && only !== 'service' && only !== 'mesh' && only !== 'export')) throw new Error('usage: npm run bench -- [service|mesh|export] [--runs N] [--rows N] [--empty-runs N] [--jobs N] [--no-startup]');
  const runs = Number(flags.runs ?? 3);
  const rows = Number(flags.rows ?? 1_000_000);
  const emptyRuns = Number(flags['empty-runs'] ?? 100);
  const concurrentJobs = Number(flags.jobs ?? 100);
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
    if (!only || only === 'mesh') sections.push(await benchMeshDelete(server, { rows, emptyRuns, concurrentJobs, startup: !flags['no-startup'] }));
    if (!only || only === 'export') sections.push(await benchServiceExport(server, { rows, runs }));
  } finally {
    await stop();
  }
  // A result says what it ran with: every entry of the one limits table, defaults included.
  const limits = Object.entries(limitSettings()).map(([name, value]) => `| ${name} | ${value} |`);
  sections.push('', '### Limits this run used', '', '| setting | value |', '| --- | --- |', ...limits);
  process.stdout.write(`\n${sections.join('\n')}\n`);
}

main().catch((error: Error) => {
  process.stderr.write(`bench failed: ${error instanceof EmbeddedPostgresUnavailable ? error.message : error.stack}\n`);
  process.exit(1);
});
