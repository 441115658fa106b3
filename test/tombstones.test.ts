/**
 * Tombstones on their own: key parsing and rotation, the store over a real migrated orchestrator
 * database, the registry served over real gRPC on loopback, and the kit's client with its caches and
 * its fail-closed answer. Rows are checked by direct SQL.
 */
import { randomBytes, randomUUID } from 'node:crypto';
import test from 'ava';
import { status } from '@grpc/grpc-js';
import { ConfigError } from '../services/kit/config';
import { openServiceDatabase } from '../services/kit/database';
import { RpcError } from '../services/kit/errors';
import { migrate } from '../services/kit/migrations';
import { startGrpcServer } from '../services/kit/server';
import { TombstoneClient, freshIsErased, refuseErasedUsers } from '../services/kit/tombstone-client';
import { migrations } from '../orchestrator/migrations';
import { tombstoneRegistry } from '../orchestrator/tombstone-registry';
import { Tombstones, parseTombstoneKeys } from '../orchestrator/tombstones';
import { createTestDatabase, type TestDatabase } from './support/database';
import { freePort } from './support/ports';
import { testKeys } from './support/keys';
import { serviceToken, silentLog } from './support/services';

const secret = () => randomBytes(36).toString('base64url');

test('keys: "<version>:<secret>" entries; the highest version hashes, every version looks up; bad keys stop the start', (t) => {
  const [a, b] = [secret(), secret()];
  const old = parseTombstoneKeys(`1:${a}`, 'test');
  const rotated = parseTombstoneKeys(`1:${a}, 2:${b}`, 'test');
  const id = randomUUID();
  t.is(rotated.current.version, 2);
  t.regex(rotated.ref('user', id), /^erased:k2:/);
  t.true(rotated.refs('user', id).includes(old.ref('user', id)), 'a tombstone written before the rotation is still found');
  t.is(old.ref('user', id), old.ref('user', id.toUpperCase()), 'ids are compared lower-cased');
  t.not(old.ref('user', id), old.ref('tenant', id), 'the kind is part of the hash');
  t.false(old.ref('user', id).includes(id));
  t.throws(() => parseTombstoneKeys('1:short', 'X'), { instanceOf: ConfigError, message: /at least 32 characters/ });
  t.throws(() => parseTombstoneKeys(`1:${a},1:${b}`, 'X'), { instanceOf: ConfigError, message: /unique/ });
  t.throws(() => parseTombstoneKeys(`nope`, 'X'), { instanceOf: ConfigError });
  t.throws(() => parseTombstoneKeys('', 'X'), { instanceOf: ConfigError });
});

let db: TestDatabase;
test.before(async () => {
  db = await createTestDatabase('tombstones');
  const database = openServiceDatabase(db.url, 2);
  await migrate(db.url, database.sequelize, migrations, silentLog);
  await database.close();
});
test.after.always(async () => db?.drop());

async function recordErased(tombstones: Tombstones, kind: 'tenant' | 'user', id: string): Promise<void> {
  const jobId = randomUUID();
  const client = await db.pool.connect();
  try {
    await client.query(
      `INSERT INTO erasure_jobs (id, subject_kind, subject_id, status, requested_by, trace_id) VALUES ($1, $2, $3, 'COMPLETED', 'service:test', 'x')`,
      [jobId, kind, id],
    );
    await tombstones.record(client, kind, id, jobId);
    await tombstones.record(client, kind, id, jobId); // idempotent
  } finally {
    client.release();
  }
}

test.serial('store: a tombstone holds the keyed hash only; found under a rotated key set; others are not erased', async (t) => {
  const a = secret();
  const before = new Tombstones(db.pool, parseTombstoneKeys(`1:${a}`, 'test'));
  const [erased, other] = [randomUUID(), randomUUID()];
  await recordErased(before, 'user', erased);
  const rows = await db.pool.query(`SELECT subject_kind, key_version, subject_ref FROM erasure_tombstones`);
  t.is(rows.rowCount, 1);
  t.false(JSON.stringify(rows.rows).includes(erased), 'no raw id stored');
  const after = new Tombstones(db.pool, parseTombstoneKeys(`1:${a}\n2:${secret()}`, 'test'));
  const statuses = await after.check([
    { kind: 'user', id: other },
    { kind: 'user', id: erased },
    { kind: 'tenant', id: erased },
  ]);
  t.deepEqual(statuses.map((s) => s.erased), [false, true, false]);
  t.truthy(statuses[1]!.erasedAt);
  const unrelated = new Tombstones(db.pool, parseTombstoneKeys(`1:${secret()}`, 'test'));
  t.false((await unrelated.check([{ kind: 'user', id: erased }]))[0]!.erased, 'without the key, the hash says nothing');
});

test.serial("client: erased is cached, not-erased only briefly (a write asks afresh); an erased user's token is refused; no registry → UNAVAILABLE", async (t) => {
  const tombstones = new Tombstones(db.pool, parseTombstoneKeys(`1:${secret()}`, 'test'));
  const server = await startGrpcServer('127.0.0.1:0', [tombstoneRegistry({ trust: (await testKeys()).trust, log: silentLog }, tombstones)], silentLog);
  t.teardown(() => server.shutdown(1000));
  // A long "not erased" cache, so the test sees what is cached and what is asked afresh.
  const settings = { erasedTtlMs: 60_000, clearTtlMs: 60_000, maxEntries: 100, deadlineMs: 2000 };
  const client = new TombstoneClient(server.address, () => serviceToken('tenant'), settings);
  t.teardown(() => client.close());
  const user = randomUUID();
  const check = refuseErasedUsers(client);

  t.false(await client.isErased('user', user));
  await check({ kind: 'user', userId: user });
  await recordErased(tombstones, 'user', user);
  t.false(await client.isErased('user', user), 'the cached "not erased" answer (for at most TOMBSTONE_CLEAR_CACHE_MS)');
  t.true(await freshIsErased(client)('user', user), 'a write guard asks afresh');
  t.true(await client.isErased('user', user), 'and the answer is cached');
  const refused = await t.throwsAsync(check({ kind: 'user', userId: user }));
  t.true(refused instanceof RpcError && refused.code === status.UNAUTHENTICATED && /user is erased/.test(refused.message));
  await t.notThrowsAsync(check({ kind: 'service', service: 'orders' }), 'services are not subjects');

  // Fail closed: nothing answers.
  const nowhere = new TombstoneClient(`127.0.0.1:${await freePort()}`, () => serviceToken('tenant'), { ...settings, deadlineMs: 500 });
  t.teardown(() => nowhere.close());
  const down = await t.throwsAsync(refuseErasedUsers(nowhere)({ kind: 'user', userId: randomUUID() }));
  t.true(down instanceof RpcError && down.code === status.UNAVAILABLE, String(down));
  const write = await t.throwsAsync(freshIsErased(nowhere)('user', randomUUID()));
  t.true(write instanceof RpcError && write.code === status.UNAVAILABLE);
});
