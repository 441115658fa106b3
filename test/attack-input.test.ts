/**
 * Attack suite, hostile input: brute force and oversized input on Login, bounded hashing, malformed
 * input, enums and page tokens, an erased user's id written back through TenantService, the outbox
 * after a user's erasure, and CancelTenantDeletion from callers other than the orchestrator. Real
 * services over real gRPC on loopback and a real PostgreSQL; every refusal is checked with direct SQL
 * to have changed nothing, and the service to be SERVING afterwards.
 */
import { randomUUID } from 'node:crypto';
import { chmodSync, mkdtempSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import test from 'ava';
import pino from 'pino';
import { status, type ServiceError } from '@grpc/grpc-js';
import type { AuthServiceServer } from '../gen/bakery/auth/v1/auth_service';
import { Role, SubscriptionStatus, TenantStatus, type TenantServiceServer } from '../gen/bakery/tenant/v1/tenant_service';
import type { TenantDataDeletionClient } from '../gen/bakery/erasure/v1/tenant_data_deletion';
import { extension as authExtension, service as authService } from '../services/auth';
import { service as tenantService } from '../services/tenant';
import { tenantApi } from '../services/tenant/api';
import type { IsErased } from '../services/tenant/erased';
import { healthStatus } from '../services/kit/health-client';
import { limitSettings } from '../services/kit/limits';
import { startService, type RunningService } from '../services/kit/run-service';
import { serverOptions } from '../services/kit/server';
import { safeHint } from '../services/kit/validation';
import { openLogFile } from '../mesh/logs';
import { spawnSync } from 'node:child_process';
import { Client } from 'pg';
import { runtimeRoleStatements } from '../services/kit/database';
import { createTestDatabase, type TestDatabase } from './support/database';
import { authCaller, codeOf, outcome, tenantCaller, type Caller } from './support/identity';
import { erasureClient, operatorToken, runDelete, serviceToken, smallChunks, testKeys, userSubject, userToken } from './support/services';
import { snapshot } from './support/snapshot';

// Small limits, so that each one is reached in a few calls (read when the services start).
Object.assign(process.env, {
  LOGIN_ACCOUNT_MAX_FAILURES: '3',
  LOGIN_SOURCE_MAX_FAILURES: '12',
  LOGIN_BASE_DELAY_SECONDS: '30',
  LOGIN_MAX_DELAY_SECONDS: '600',
  AUTH_HASH_CONCURRENCY: '1',
  AUTH_HASH_QUEUE: '2',
  GRPC_MAX_MESSAGE_BYTES: String(64 * 1024),
});

let authDb: TestDatabase;
let tenantDb: TestDatabase;
/** A stand-in for the tombstone registry: a real table in its own database. */
let tombstoneDb: TestDatabase;
let auth: RunningService;
let tenant: RunningService;
let authApi: Caller<AuthServiceServer>;
let api: Caller<TenantServiceServer>;
let erasure: TenantDataDeletionClient;
let orchestrator: string;
/** Tokens of the callers the caller rules admit: user onboarding (CreateUser) and operators (tenant administration). */
let onboarding: string;
let operator: string;
const logLines: string[] = [];

const sink = () =>
  pino(
    { level: 'debug' },
    new Writable({
      write(chunk, _encoding, done) {
        logLines.push(String(chunk));
        done();
      },
    }),
  );

const isErased: IsErased = async (kind, id) =>
  ((await tombstoneDb.pool.query('SELECT 1 FROM tombstones WHERE kind = $1 AND id = $2', [kind, id])).rowCount ?? 0) > 0;

const startAuth = async () =>
  startService(authService, {
    address: '127.0.0.1:0',
    databaseUrl: authDb.url,
    keys: (await testKeys()).processKeys('auth'),
    migrate: true,
    chunks: smallChunks,
    log: sink(),
    extension: authExtension,
  });

test.before(async () => {
  [authDb, tenantDb, tombstoneDb] = await Promise.all([createTestDatabase('attack_auth'), createTestDatabase('attack_tenant'), createTestDatabase('attack_tombstones')]);
  await tombstoneDb.pool.query('CREATE TABLE tombstones (kind text NOT NULL, id uuid NOT NULL, PRIMARY KEY (kind, id))');
  auth = await startAuth();
  tenant = await startService(tenantService, {
    address: '127.0.0.1:0',
    databaseUrl: tenantDb.url,
    keys: (await testKeys()).processKeys('tenant'),
    migrate: true,
    chunks: smallChunks,
    log: sink(),
    extension: { services: ({ db, deps }) => [tenantApi(db.sequelize, deps, { isErased })] },
  });
  authApi = authCaller(auth.address);
  api = tenantCaller(tenant.address);
  erasure = erasureClient(tenant.address);
  orchestrator = await serviceToken('orchestrator');
  onboarding = await serviceToken('onboarding');
  operator = await operatorToken();
});

test.after.always(async () => {
  authApi?.close();
  api?.close();
  erasure?.close();
  await auth?.stop(1000);
  await tenant?.stop(1000);
  await Promise.all([authDb?.drop(), tenantDb?.drop(), tombstoneDb?.drop()]);
});

async function failure(call: Promise<unknown>): Promise<ServiceError> {
  try {
    await call;
  } catch (error) {
    return error as ServiceError;
  }
  throw new Error('the call succeeded');
}

const authSql = async <T = Record<string, unknown>>(text: string, params: unknown[] = []) => (await authDb.pool.query(text, params)).rows as T[];
const tenantSql = async <T = Record<string, unknown>>(text: string, params: unknown[] = []) => (await tenantDb.pool.query(text, params)).rows as T[];
const attempts = async (userId: string) =>
  (await authSql<{ n: number }>('SELECT count(*)::int AS n FROM login_attempts WHERE user_id = $1', [userId]))[0]!.n;
const newEmail = () => `attack.${randomUUID().slice(0, 8)}@example.test`;
const serving = async (running: RunningService) => healthStatus(running.address, '');

async function newUser(password = `pw-${randomUUID()}`) {
  const email = newEmail();
  const { user } = await authApi.createUser({ email, fullName: 'Erika Mustermann', password }, onboarding);
  return { id: user!.id, email, password };
}

// ---------------------------------------------------------------- Login

test.serial('Login brute force: past the allowed failures an account waits (RESOURCE_EXHAUSTED with retry-after), even with the right password, across a restart', async (t) => {
  await authSql('DELETE FROM login_throttle');
  const user = await newUser();
  for (let guess = 1; guess <= 3; guess++) t.is(await codeOf(authApi.login({ email: user.email, password: `guess-${guess}-xxxx` })), 'UNAUTHENTICATED');
  t.is(await attempts(user.id), 3);

  const refused = await failure(authApi.login({ email: user.email, password: user.password }));
  t.is(refused.code, status.RESOURCE_EXHAUSTED);
  t.regex(refused.details, /^too many failed logins; retry in \d+ s$/);
  const retryAfter = Number(refused.metadata.get('retry-after')[0]);
  t.true(retryAfter > 20 && retryAfter <= 30, `retry-after ${retryAfter}`);
  t.is(await attempts(user.id), 3, 'a throttled attempt is not even tried (no hashing, no attempt row)');
  t.is(await serving(auth), 'SERVING');

  // Kept in the database: a restarted auth service still makes the account wait.
  await auth.stop(1000);
  authApi.close();
  auth = await startAuth();
  authApi = authCaller(auth.address);
  t.is(await codeOf(authApi.login({ email: user.email, password: user.password })), 'RESOURCE_EXHAUSTED', 'holds across a restart');

  // The throttle stores hashes only: neither the address nor the user id.
  const throttleText = (await authSql<{ t: string }>('SELECT string_agg(t::text, \'|\') AS t FROM login_throttle t'))[0]!.t;
  t.false(throttleText.includes(user.email) || throttleText.includes(user.id) || throttleText.includes('127.0.0.1'));

  // Once the wait is over, the next failure waits twice as long (growing delays).
  await authSql(`UPDATE login_throttle SET locked_until = now() - interval '1 second'`);
  t.is(await codeOf(authApi.login({ email: user.email, password: 'still-wrong-xxxx' })), 'UNAUTHENTICATED');
  const doubled = await failure(authApi.login({ email: user.email, password: user.password }));
  const wait = Number(doubled.metadata.get('retry-after')[0]);
  t.true(wait > 50 && wait <= 60, `the second wait is about 60 s, got ${wait}`);

  // After the wait, the right password logs in and clears the account's counter.
  await authSql(`UPDATE login_throttle SET locked_until = now() - interval '1 second'`);
  t.truthy((await authApi.login({ email: user.email, password: user.password })).accessToken);
  t.is((await authSql<{ n: number }>(`SELECT count(*)::int AS n FROM login_throttle WHERE key LIKE 'account:%'`))[0]!.n, 0);
});

test.serial('Login: an unknown e-mail is throttled exactly like a known one, and leaves no row naming it', async (t) => {
  await authSql('DELETE FROM login_throttle');
  const known = await newUser();
  const unknown = newEmail();
  const known_ = [] as string[];
  const unknown_ = [] as string[];
  const timings = { known: [] as number[], unknown: [] as number[] };
  for (let i = 0; i < 4; i++) {
    let started = performance.now();
    known_.push(`${(await outcome(authApi.login({ email: known.email, password: 'wrong-password' }))).code}`);
    timings.known.push(performance.now() - started);
    started = performance.now();
    unknown_.push(`${(await outcome(authApi.login({ email: unknown, password: 'wrong-password' }))).code}`);
    timings.unknown.push(performance.now() - started);
  }
  const expected = [status.UNAUTHENTICATED, status.UNAUTHENTICATED, status.UNAUTHENTICATED, status.RESOURCE_EXHAUSTED].map(String);
  t.deepEqual(known_, expected);
  t.deepEqual(unknown_, expected, 'the same answers, in the same order');
  // Both paths hash (a decoy hash for the unknown address): neither is much faster than the other.
  const median = (xs: number[]) => [...xs.slice(0, 3)].sort((a, b) => a - b)[1]!;
  const ratio = median(timings.unknown) / median(timings.known);
  t.true(ratio > 0.33 && ratio < 3, `unknown/known time ratio ${ratio.toFixed(2)}`);
  t.is((await authSql<{ n: number }>(`SELECT count(*)::int AS n FROM login_throttle WHERE key LIKE 'account:%'`))[0]!.n, 2, 'one counter each');
  const everything = await snapshot(authDb.pool, 'strpos(t::text, $1) > 0', unknown);
  t.true([...everything.values()].every((state) => state.count === 0), 'the unknown address is stored nowhere');
  t.false(logLines.some((line) => line.includes(unknown) || line.includes(known.email)), 'no address in the log');
});

test.serial('Login: per-source throttling stops guessing across many accounts', async (t) => {
  await authSql('DELETE FROM login_throttle');
  const codes: string[] = [];
  // Two guesses per address, so no account reaches its own limit; the source does after 12.
  for (let i = 0; i < 7; i++) {
    const email = newEmail();
    codes.push(await codeOf(authApi.login({ email, password: 'spray-password-1' })));
    codes.push(await codeOf(authApi.login({ email, password: 'spray-password-2' })));
  }
  t.deepEqual(codes.slice(0, 12), Array(12).fill('UNAUTHENTICATED'));
  t.deepEqual(codes.slice(12), ['RESOURCE_EXHAUSTED', 'RESOURCE_EXHAUSTED']);
  t.is(await codeOf(authApi.login({ email: newEmail(), password: 'a fresh account' })), 'RESOURCE_EXHAUSTED', 'a fresh address from the same source waits too');
  t.is(await serving(auth), 'SERVING');
  await authSql('DELETE FROM login_throttle');
});

test.serial('Login: oversized input is refused before hashing; a multi-megabyte message never reaches the handler', async (t) => {
  await authSql('DELETE FROM login_throttle');
  const user = await newUser();
  const before = await snapshot(authDb.pool);
  const long = await failure(authApi.login({ email: user.email, password: 'x'.repeat(5000) }));
  t.is(long.code, status.INVALID_ARGUMENT);
  t.is(long.details, 'password must be at most 1024 characters');
  const longEmail = `${'a'.repeat(400)}@example.test`;
  const badEmail = await failure(authApi.login({ email: longEmail, password: 'whatever-password' }));
  t.is(badEmail.code, status.INVALID_ARGUMENT);
  t.false(badEmail.details.includes('aaaa'), 'the input is not repeated');
  t.regex(badEmail.details, /email must be at most 254 characters, got a 413-character value that looks like an e-mail address/);
  const huge = await failure(authApi.login({ email: user.email, password: 'p'.repeat(3 * 1024 * 1024) }));
  t.is(huge.code, status.RESOURCE_EXHAUSTED, 'over the server maximum message size');
  const hugeCreate = await failure(authApi.createUser({ email: newEmail(), fullName: 'n'.repeat(2 * 1024 * 1024), password: 'long enough' }, onboarding));
  t.is(hugeCreate.code, status.RESOURCE_EXHAUSTED);
  t.deepEqual(await snapshot(authDb.pool), before, 'nothing changed: no attempt, no counter, no user');
  t.is(await serving(auth), 'SERVING');
  t.truthy((await authApi.login({ email: user.email, password: user.password })).accessToken, 'the account is not locked by refused input');
});

test.serial('Login: concurrent hashing is bounded; the overflow is told to come back', async (t) => {
  await authSql('DELETE FROM login_throttle');
  // One hash at a time, two waiting: of ten at once, at least some are turned away without hashing.
  const results = await Promise.all(Array.from({ length: 10 }, () => failure(authApi.login({ email: newEmail(), password: 'concurrent-guess' }))));
  const busy = results.filter((e) => e.code === status.RESOURCE_EXHAUSTED);
  const tried = results.filter((e) => e.code === status.UNAUTHENTICATED);
  t.true(busy.length >= 5, `${busy.length} turned away`);
  t.true(tried.length >= 3, `${tried.length} hashed`);
  t.is(busy[0]!.metadata.get('error-reason')[0], 'HASHING_BUSY');
  t.is(busy[0]!.metadata.get('retry-after')[0], '1');
  t.is(await serving(auth), 'SERVING');
  await authSql('DELETE FROM login_throttle');
});

// ---------------------------------------------------------------- malformed input

test.serial('TenantService: malformed page tokens, page sizes, enums and over-long strings are INVALID_ARGUMENT; nothing echoed, nothing changed', async (t) => {
  const owner = randomUUID();
  const { tenant: existing } = await api.createTenant({ name: 'Backstube Nord', ownerId: owner, plan: '' }, operator);
  const email = 'Greta.Becker@example.test';
  const before = await snapshot(tenantDb.pool);
  const cases: Record<string, Promise<unknown>> = {
    'garbage page token': api.listTenants({ pageSize: 10, pageToken: 'not-a-token', status: 0 }, operator),
    'forged page token': api.listTenants({ pageSize: 10, pageToken: Buffer.from("2020-01-01|' OR 1=1 --").toString('base64url'), status: 0 }, operator),
    'over-long page token': api.listTenants({ pageSize: 10, pageToken: 'A'.repeat(600), status: 0 }, operator),
    'negative page size': api.listTenants({ pageSize: -1, pageToken: '', status: 0 }, operator),
    'huge page size': api.listTenants({ pageSize: 1_000_000, pageToken: '', status: 0 }, operator),
    'status out of range': api.listTenants({ pageSize: 10, pageToken: '', status: 99 as TenantStatus }, operator),
    'role out of range': api.addMember({ tenantId: existing!.id, userId: randomUUID(), role: 42 as Role }, operator),
    'role unspecified': api.addMember({ tenantId: existing!.id, userId: randomUUID(), role: Role.ROLE_UNSPECIFIED }, operator),
    'name too long': api.createTenant({ name: 'N'.repeat(5000), ownerId: owner, plan: '' }, operator),
    'plan too long': api.createTenant({ name: 'ok', ownerId: owner, plan: 'p'.repeat(40) }, operator),
    'e-mail as user_id': api.addMember({ tenantId: existing!.id, userId: email, role: Role.ROLE_MEMBER }, operator),
    'e-mail as tenant_id': api.getTenant({ tenantId: email }, orchestrator),
  };
  for (const [name, call] of Object.entries(cases)) {
    const { code, message } = await outcome(call);
    t.is(status[code], 'INVALID_ARGUMENT', name);
    t.false(message.includes(email) || message.includes('NNNN') || message.includes('AAAA') || message.includes('OR 1=1'), `${name}: ${message}`);
  }
  t.regex((await outcome(cases['e-mail as user_id']!)).message, /^user_id must be a UUID, got a 25-character value that looks like an e-mail address$/);
  t.false(logLines.some((line) => line.includes(email)), 'the e-mail sent as an id is not in the log');
  const huge = await failure(api.createTenant({ name: 'x'.repeat(200 * 1024), ownerId: owner, plan: '' }, operator));
  t.is(huge.code, status.RESOURCE_EXHAUSTED, 'a message over the maximum size');
  t.deepEqual(await snapshot(tenantDb.pool), before, 'nothing changed');
  t.is(await serving(tenant), 'SERVING');
});

// ---------------------------------------------------------------- erased ids

test.serial('TenantService refuses to write back an erased user id (CreateTenant, AddMember, TransferOwnership), by service and by the user', async (t) => {
  const erased = randomUUID();
  const alive = randomUUID();
  const { tenant: tenant1 } = await api.createTenant({ name: 'Konditorei Süd', ownerId: randomUUID(), plan: '' }, operator);
  await tombstoneDb.pool.query(`INSERT INTO tombstones VALUES ('user', $1)`, [erased]);
  const before = await snapshot(tenantDb.pool);
  const refusals: Record<string, Promise<unknown>> = {
    'CreateTenant by an operator': api.createTenant({ name: 'Back again', ownerId: erased, plan: '' }, operator),
    'CreateTenant with the erased user\'s token': api.createTenant({ name: 'Back again', ownerId: '', plan: '' }, await userToken(erased)),
    AddMember: api.addMember({ tenantId: tenant1!.id, userId: erased, role: Role.ROLE_ADMIN }, operator),
    TransferOwnership: api.transferOwnership({ tenantId: tenant1!.id, currentOwnerId: tenant1!.ownerId, newOwnerId: erased }, orchestrator),
  };
  for (const [name, call] of Object.entries(refusals)) {
    const error = await failure(call);
    t.is(error.code, status.FAILED_PRECONDITION, name);
    t.is(error.metadata.get('error-reason')[0], 'SUBJECT_ERASED', name);
    t.false(error.details.includes(erased), `${name}: the erased id is not repeated`);
  }
  t.deepEqual(await snapshot(tenantDb.pool), before, 'nothing written');
  t.deepEqual(await tenantSql('SELECT 1 FROM tenant_members WHERE user_id = $1 UNION ALL SELECT 1 FROM tenants WHERE owner_id = $1', [erased]), []);
  t.false(logLines.some((line) => line.includes(erased)), 'the erased id is not in the log');
  // Control: an id that is not erased goes through.
  await api.addMember({ tenantId: tenant1!.id, userId: alive, role: Role.ROLE_MEMBER }, operator);
  t.deepEqual(await tenantSql('SELECT role FROM tenant_members WHERE user_id = $1', [alive]), [{ role: 'MEMBER' }]);
  t.is(await serving(tenant), 'SERVING');
});

// ---------------------------------------------------------------- outbox

test.serial('Outbox after a user erasure: no payload holds the erased id (a keyed pseudonym instead); a control user keeps theirs', async (t) => {
  const owner = randomUUID();
  const erased = randomUUID();
  const control = randomUUID();
  const { tenant: t1 } = await api.createTenant({ name: 'Brotzeit', ownerId: owner, plan: '' }, operator);
  const tenantId = t1!.id;
  await api.addMember({ tenantId, userId: erased, role: Role.ROLE_ADMIN }, operator);
  await api.addMember({ tenantId, userId: control, role: Role.ROLE_ADMIN }, operator);
  // Ownership goes to the user and back, and to the control user: events naming both.
  await api.transferOwnership({ tenantId, currentOwnerId: owner, newOwnerId: erased }, orchestrator);
  await api.transferOwnership({ tenantId, currentOwnerId: erased, newOwnerId: control }, orchestrator);
  t.true((await tenantSql(`SELECT 1 FROM outbox_events WHERE strpos(payload::text, $1) > 0`, [erased])).length >= 2, 'events name the user before');

  // The user's erasure as the orchestrator runs it in the tenant service.
  await api.deleteUserMemberships({ userId: erased, validateOnly: false }, orchestrator);
  const { error } = await runDelete(erasure, userSubject(erased), orchestrator);
  t.is(error, undefined);

  t.deepEqual(await tenantSql(`SELECT id FROM outbox_events WHERE strpos(payload::text, $1) > 0 OR aggregate_id::text = $1`, [erased]), [], 'no raw id left');
  const refs = await tenantSql<{ ref: string }>(
    `SELECT DISTINCT v AS ref FROM outbox_events, jsonb_each_text(payload) AS e(k, v) WHERE aggregate_id = $1 AND v LIKE 'erased:%'`,
    [tenantId],
  );
  t.is(refs.length, 1, 'one pseudonym for the user, the same in every event');
  t.regex(refs[0]!.ref, /^erased:v1:[\w-]{43}$/);
  const removed = await tenantSql<{ payload: Record<string, string> }>(`SELECT payload FROM outbox_events WHERE aggregate_id = $1 AND event_type = 'membership.removed'`, [tenantId]);
  t.deepEqual(removed.map((row) => row.payload), [{ tenant_id: tenantId, user_ref: refs[0]!.ref, role: 'ADMIN' }]);
  t.true((await tenantSql(`SELECT 1 FROM outbox_events WHERE strpos(payload::text, $1) > 0`, [control])).length >= 1, 'the control user is untouched');
  t.deepEqual(await tenantSql('SELECT user_id::text FROM tenant_members WHERE tenant_id = $1 ORDER BY 1', [tenantId]), [owner, control].sort().map((id) => ({ user_id: id })));
  t.is(await serving(tenant), 'SERVING');
});

// ---------------------------------------------------------------- tenant state

test.serial('CancelTenantDeletion: only the orchestrator; a DELETING tenant and its subscription are ACTIVE again; idempotent', async (t) => {
  const owner = randomUUID();
  const { tenant: target } = await api.createTenant({ name: 'Zurück', ownerId: owner, plan: 'standard' }, operator);
  const { tenant: control } = await api.createTenant({ name: 'Kontrolle', ownerId: randomUUID(), plan: '' }, operator);
  await api.beginTenantDeletion({ tenantId: target!.id }, orchestrator);
  await api.beginTenantDeletion({ tenantId: control!.id }, orchestrator);
  const before = await snapshot(tenantDb.pool);
  for (const [who, token] of [
    ['another service', await serviceToken('orders')],
    ['the owner', await userToken(owner)],
    ['no token', undefined],
  ] as const) {
    t.not(await codeOf(api.cancelTenantDeletion({ tenantId: target!.id }, token)), 'OK', who);
  }
  t.is(await codeOf(api.cancelTenantDeletion({ tenantId: target!.id }, await serviceToken('orders'))), 'PERMISSION_DENIED');
  t.is(await codeOf(api.cancelTenantDeletion({ tenantId: target!.id }, await userToken(owner))), 'PERMISSION_DENIED');
  t.is(await codeOf(api.cancelTenantDeletion({ tenantId: 'x' }, orchestrator)), 'INVALID_ARGUMENT');
  t.is(await codeOf(api.cancelTenantDeletion({ tenantId: randomUUID() }, orchestrator)), 'NOT_FOUND');
  t.deepEqual(await snapshot(tenantDb.pool), before, 'refusals changed nothing');

  const { tenant: restored } = await api.cancelTenantDeletion({ tenantId: target!.id }, orchestrator);
  t.is(restored!.status, TenantStatus.TENANT_STATUS_ACTIVE);
  t.is(restored!.subscription?.status, SubscriptionStatus.SUBSCRIPTION_STATUS_ACTIVE);
  t.deepEqual(await tenantSql('SELECT status, deleting_since FROM tenants WHERE id = $1', [target!.id]), [{ status: 'ACTIVE', deleting_since: null }]);
  t.deepEqual(await tenantSql('SELECT status, cancelled_at FROM subscriptions WHERE tenant_id = $1', [target!.id]), [{ status: 'ACTIVE', cancelled_at: null }]);
  await api.cancelTenantDeletion({ tenantId: target!.id }, orchestrator);
  t.deepEqual(
    (await tenantSql<{ event_type: string }>('SELECT event_type FROM outbox_events WHERE aggregate_id = $1 ORDER BY id', [target!.id])).map((r) => r.event_type),
    ['tenant.deletion_requested', 'tenant.deletion_cancelled'],
    'one event; a second cancel is a no-op',
  );
  t.deepEqual(await tenantSql('SELECT status FROM tenants WHERE id = $1', [control!.id]), [{ status: 'DELETING' }], 'the control tenant is untouched');
  t.is(await serving(tenant), 'SERVING');
});

// ---------------------------------------------------------------- configuration

test('every server bounds message size, keepalive and connection age from the limits table; bad values stop the start', (t) => {
  const options = serverOptions({ GRPC_MAX_MESSAGE_BYTES: '2048', GRPC_MAX_CONNECTION_AGE_MS: '5000' });
  t.is(options['grpc.max_receive_message_length'], 2048);
  t.is(options['grpc.max_send_message_length'], 2048);
  t.is(options['grpc.max_connection_age_ms'], 5000);
  t.is(options['grpc.keepalive_time_ms'], 60_000);
  t.throws(() => serverOptions({ GRPC_MAX_MESSAGE_BYTES: '10' }), { message: 'GRPC_MAX_MESSAGE_BYTES must be at least 1024 bytes, got 10' });
  t.throws(() => serverOptions({ GRPC_KEEPALIVE_TIME_MS: '1m' }), { message: /GRPC_KEEPALIVE_TIME_MS must be a whole number of ms/ });
  t.is(limitSettings({})['LOGIN_ACCOUNT_MAX_FAILURES'], '5 failures');
  t.is(safeHint('ab\u0000'), 'a 3-character value with control characters');
});

test('log files are created 0600 in a 0700 folder, and an older, wider file is narrowed', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'attack-logs-'));
  try {
    const fresh = openLogFile(join(dir, 'logs', 'tenant.log'));
    await new Promise<void>((resolve) => fresh.end('line\n', resolve));
    t.is(statSync(join(dir, 'logs', 'tenant.log')).mode & 0o777, 0o600);
    t.is(statSync(join(dir, 'logs')).mode & 0o777, 0o700);
    writeFileSync(join(dir, 'logs', 'old.log'), 'old\n');
    chmodSync(join(dir, 'logs', 'old.log'), 0o644);
    const old = openLogFile(join(dir, 'logs', 'old.log'));
    await new Promise<void>((resolve) => old.end('more\n', resolve));
    t.is(statSync(join(dir, 'logs', 'old.log')).mode & 0o777, 0o600);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

// ---------------------------------------------------------------- deployment

test.serial('a runtime role reads and writes its own database only: no DDL, no other service\'s database, append-only tables stay append-only', async (t) => {
  const suffix = randomUUID().slice(0, 8);
  const roles = { tenant: `attack_tenant_rt_${suffix}`, auth: `attack_auth_rt_${suffix}` };
  const admin = tenantDb.pool;
  const connectAs = async (role: string, db: TestDatabase) => {
    const url = new URL(db.url);
    url.username = role;
    url.password = 'runtime-password';
    const client = new Client({ connectionString: url.toString() });
    await client.connect();
    return client;
  };
  const apply = async (db: TestDatabase, role: string, appendOnly: string[]) => {
    const statements = runtimeRoleStatements({ database: new URL(db.url).pathname.slice(1), role, password: 'runtime-password', migrationRole: 'postgres', appendOnly });
    for (const sql of statements.server) await admin.query(sql);
    for (const sql of statements.database) await db.pool.query(sql);
  };
  try {
    await apply(tenantDb, roles.tenant, ['outbox_events']);
    await apply(authDb, roles.auth, []);
    const runtime = await connectAs(roles.tenant, tenantDb);
    try {
      const before = (await tenantSql<{ n: number }>('SELECT count(*)::int AS n FROM tenants'))[0]!.n;
      await runtime.query(`INSERT INTO tenants (id, name, owner_id) VALUES ($1, 'runtime', $2)`, [randomUUID(), randomUUID()]);
      t.is((await runtime.query('SELECT count(*)::int AS n FROM tenants')).rows[0].n, before + 1, 'rows: read and write');
      const refused = async (sql: string) => {
        const error = await runtime.query(sql).then(() => undefined, (e: { code?: string }) => e);
        return error?.code;
      };
      t.is(await refused('CREATE TABLE sneaky (id int)'), '42501', 'no CREATE');
      t.is(await refused('DROP TABLE subscriptions'), '42501', 'no DROP');
      t.is(await refused('ALTER TABLE tenants ADD COLUMN x int'), '42501', 'no ALTER');
      t.is(await refused('TRUNCATE tenant_members'), '42501', 'no TRUNCATE');
      t.is(await refused(`UPDATE outbox_events SET event_type = 'rewritten'`), '42501', 'the append-only table cannot be rewritten');
      t.is(await refused('DELETE FROM outbox_events'), '42501');
      await runtime.query('GRANT SELECT ON tenants TO PUBLIC'); // only a warning: it holds no grant option
      t.deepEqual(await tenantSql(`SELECT 1 FROM information_schema.role_table_grants WHERE grantee = 'PUBLIC' AND table_name = 'tenants'`), [], 'cannot grant');
      await runtime.query(`INSERT INTO outbox_events (event_type, aggregate_id, payload) VALUES ('runtime.test', $1, '{}')`, [randomUUID()]);
    } finally {
      await runtime.end();
    }
    // Another service's database is closed to it.
    const crossing = await connectAs(roles.tenant, authDb).then((c) => c.end().then(() => undefined), (e: { code?: string }) => e.code);
    t.is(crossing, '42501', "the tenant runtime role cannot connect to the auth database");
    const own = await connectAs(roles.auth, authDb);
    t.is((await own.query('SELECT count(*)::int AS n FROM login_throttle')).rows.length, 1, 'the auth role reaches its own');
    await own.end();
  } finally {
    for (const [db, role] of [[tenantDb, roles.tenant], [authDb, roles.auth]] as const) {
      await db.pool.query(`DROP OWNED BY "${role}"`).catch(() => undefined);
    }
    for (const role of Object.values(roles)) await admin.query(`DROP ROLE IF EXISTS "${role}"`).catch(() => undefined);
  }
});

test('the image entrypoint refuses to start without a database password or without keys', (t) => {
  const keys = { ERASURE_TRUST_BUNDLE_FILE: '/run/keys/trust-bundle.json', ERASURE_SIGNING_KEY_FILE: '/run/keys/self.private.jwk' };
  const run = (env: Record<string, string>, args: string[] = ['orders'], keyEnv: Record<string, string> = keys) =>
    spawnSync('sh', ['docker/entrypoint.sh', ...args], { env: { PATH: process.env.PATH ?? '', ERASURE_ENTRYPOINT_CHECK_ONLY: '1', ...keyEnv, ...env }, encoding: 'utf8' });
  const none = run({});
  t.is(none.status, 78);
  t.regex(none.stderr, /refusing to start orders: set DATABASE_URL/);
  const noPassword = run({ DATABASE_URL: 'postgres://postgres@db:5432/postgres' });
  t.is(noPassword.status, 78);
  t.regex(noPassword.stderr, /has no password, PGPASSWORD is not set/);
  t.is(run({ DATABASE_URL: 'postgres://postgres:@db:5432/postgres' }).status, 78, 'an empty password is none');
  t.is(run({ DATABASE_URL: 'postgres://orders_rt:s3cret@db:5432/postgres' }).status, 0);
  t.is(run({ DATABASE_URL: 'postgres://orders_rt@db:5432/postgres', PGPASSWORD: 's3cret' }).status, 0);
  t.is(run({ ALERT_PROCESSOR_DATABASE_URL: 'postgres://ap:pw@db/bakery_alert_processor' }, ['alert-processor']).status, 0, 'the per-service URL counts');
  t.is(run({ ORDERS_DATABASE_URL: 'postgres://bakery_orders_runtime@db/bakery_orders', ERASURE_DATABASE_PASSWORD_FILE: 'package.json' }).status, 0, 'a runtime role\'s password file counts');
  t.is(run({ ORDERS_DATABASE_URL: 'postgres://bakery_orders_runtime@db/bakery_orders', ERASURE_DATABASE_PASSWORD_FILE: '/nonexistent' }).status, 78, 'a missing password file does not');
  t.is(run({ DATABASE_URL: 'postgres://postgres@db:5432/postgres', ERASURE_DATABASE_PASSWORD_FILE: 'package.json' }, ['provision']).status, 78, 'provisioning needs the administrator\'s password');
  t.is(run({ DATABASE_URL: 'postgres://postgres:admin@db:5432/postgres' }, ['provision'], {}).status, 0, 'provisioning holds no key');
  t.is(run({}, []).status, 64, 'no service named');
  const noKeys = run({ DATABASE_URL: 'postgres://orders_rt:s3cret@db:5432/postgres' }, ['orders'], {});
  t.is(noKeys.status, 78, 'no trust bundle, no JWKS URL');
  t.regex(noKeys.stderr, /refusing to start orders: set ERASURE_TRUST_BUNDLE_FILE/);
  t.is(run({ DATABASE_URL: 'postgres://orders_rt:s3cret@db:5432/postgres' }, ['orders'], { ERASURE_TRUST_JWKS_URL: 'https://keys.example/jwks.json' }).status, 0, 'a JWKS URL is enough to verify');
});
