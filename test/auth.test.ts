/**
 * AuthService over real gRPC and a real PostgreSQL: users, login, the authorization matrix, bad input,
 * erasure of a user (login fails afterwards), and that passwords, hashes and emails never reach the log.
 */
import { randomUUID } from 'node:crypto';
import { Writable } from 'node:stream';
import test from 'ava';
import pino from 'pino';
import { status } from '@grpc/grpc-js';
import type { AuthServiceServer } from '../gen/bakery/auth/v1/auth_service';
import type { TenantDataDeletionClient } from '../gen/bakery/erasure/v1/tenant_data_deletion';
import { extension as authExtension, service as authService } from '../services/auth';
import { verifyToken } from '../services/kit/auth';
import { startService, type RunningService } from '../services/kit/run-service';
import { createTestDatabase, type TestDatabase } from './support/database';
import { authCaller, codeOf, outcome, type Caller } from './support/identity';
import { erasureClient, preview, runDelete, serviceToken, smallChunks, testKeys, operatorToken, userSubject, userToken } from './support/services';

let db: TestDatabase;
let service: RunningService;
let api: Caller<AuthServiceServer>;
let erasure: TenantDataDeletionClient;
let svc: string;
/** CreateUser is for the identities that onboard users (mesh/caller-rules.ts); GetUser for operators. */
let onboarding: string;
let operator: string;
/** Every log line the service wrote, at debug level. */
const logLines: string[] = [];

test.before(async () => {
  db = await createTestDatabase('auth');
  const sink = new Writable({
    write(chunk, _encoding, done) {
      logLines.push(String(chunk));
      done();
    },
  });
  service = await startService(authService, {
    address: '127.0.0.1:0',
    databaseUrl: db.url,
    keys: (await testKeys()).processKeys('auth'),
    migrate: true,
    chunks: smallChunks,
    log: pino({ level: 'debug' }, sink),
    extension: authExtension,
  });
  api = authCaller(service.address);
  erasure = erasureClient(service.address);
  svc = await serviceToken('orchestrator');
  onboarding = await serviceToken('onboarding');
  operator = await operatorToken();
});

test.after.always(async () => {
  api?.close();
  erasure?.close();
  await service?.stop(1000);
  await db?.drop();
});

const newEmail = () => `Baker.${randomUUID().slice(0, 8)}@Example.TEST`;
const password = () => `pw-${randomUUID()}`;

async function sql<T = Record<string, unknown>>(text: string, params: unknown[] = []): Promise<T[]> {
  return (await db.pool.query(text, params)).rows as T[];
}

async function createUser(email = newEmail(), secret = password()) {
  const { user } = await api.createUser({ email, fullName: 'Greta Becker', password: secret }, onboarding);
  return { user: user!, email, secret };
}

test('CreateUser (onboarding service): stores the email lower-cased and only a salted scrypt hash', async (t) => {
  const email = newEmail();
  const secret = password();
  const response = await api.createUser({ email: `  ${email} `, fullName: ' Greta Becker ', password: secret }, onboarding);
  const user = response.user!;
  t.is(user.email, email.toLowerCase());
  t.is(user.fullName, 'Greta Becker');
  t.truthy(user.createTime);
  t.deepEqual(Object.keys(user).sort(), ['createTime', 'email', 'fullName', 'id'], 'no hash or password in the response');
  const [row] = await sql<{ email: string; password_hash: string }>('SELECT email, password_hash FROM users WHERE id = $1', [user.id]);
  t.is(row!.email, email.toLowerCase());
  t.regex(row!.password_hash, /^scrypt\$\d+\$\d+\$\d+\$[\w-]{22}\$[\w-]{86}$/);
  t.false(row!.password_hash.includes(secret));
  const second = await createUser(newEmail(), secret);
  const [other] = await sql<{ password_hash: string }>('SELECT password_hash FROM users WHERE id = $1', [second.user.id]);
  t.not(other!.password_hash, row!.password_hash, 'the same password hashes differently (salt)');
});

test('CreateUser: onboarding services and operators only; a duplicate email (any case) is ALREADY_EXISTS; bad input is INVALID_ARGUMENT', async (t) => {
  const { email } = await createUser();
  const userCount = async () => (await sql<{ n: number }>('SELECT count(*)::int AS n FROM users WHERE email = $1', [email.toLowerCase()]))[0]!.n;
  const request = { email: email.toUpperCase(), fullName: 'Hugo Weber', password: password() };
  t.is(await codeOf(api.createUser(request, onboarding)), 'ALREADY_EXISTS');
  t.is(await codeOf(api.createUser(request, await userToken(randomUUID()))), 'PERMISSION_DENIED', 'user token');
  t.is(await codeOf(api.createUser(request, await serviceToken('orders'))), 'PERMISSION_DENIED', 'a service that does not onboard users');
  t.is(await codeOf(api.createUser(request, svc)), 'PERMISSION_DENIED', 'the orchestrator does not create users');
  t.is(await codeOf(api.createUser(request)), 'UNAUTHENTICATED', 'no token');
  t.is(await userCount(), 1, 'still one user with that email');
  const fresh = newEmail();
  t.is(await codeOf(api.createUser({ email: 'not-an-email', fullName: 'X', password: password() }, onboarding)), 'INVALID_ARGUMENT');
  t.is(await codeOf(api.createUser({ email: '', fullName: 'X', password: password() }, onboarding)), 'INVALID_ARGUMENT');
  t.is(await codeOf(api.createUser({ email: fresh, fullName: ' ', password: password() }, onboarding)), 'INVALID_ARGUMENT');
  t.is(await codeOf(api.createUser({ email: fresh, fullName: 'X', password: 'short' }, onboarding)), 'INVALID_ARGUMENT');
  t.deepEqual(await sql('SELECT 1 FROM users WHERE email = $1', [fresh.toLowerCase()]), []);
});

test('GetUser: the user themself or a service; another user is refused whether or not the id exists', async (t) => {
  const { user } = await createUser();
  const own = await userToken(user.id);
  t.deepEqual((await api.getUser({ userId: user.id }, own)).user, user);
  t.deepEqual((await api.getUser({ userId: user.id.toUpperCase() }, operator)).user, user);
  const stranger = await userToken(randomUUID());
  const existing = await outcome(api.getUser({ userId: user.id }, stranger));
  const unknown = await outcome(api.getUser({ userId: randomUUID() }, stranger));
  t.is(status[existing.code], 'PERMISSION_DENIED');
  t.deepEqual(unknown, existing, 'same answer for an unknown id: no probing');
  t.is(await codeOf(api.getUser({ userId: randomUUID() }, operator)), 'NOT_FOUND', 'operators may know');
  t.is(await codeOf(api.getUser({ userId: 'user-1' }, operator)), 'INVALID_ARGUMENT');
  t.is(await codeOf(api.getUser({ userId: '' }, own)), 'INVALID_ARGUMENT');
  t.is(await codeOf(api.getUser({ userId: user.id })), 'UNAUTHENTICATED');
});

test('Login needs no token, issues a user JWT with its expiry, and records the attempt', async (t) => {
  const { user, email, secret } = await createUser();
  const started = Date.now();
  const response = await api.login({ email: email.toUpperCase(), password: secret });
  const finished = Date.now();
  t.is(response.userId, user.id);
  t.deepEqual(await verifyToken(response.accessToken, (await testKeys()).trust), { kind: 'user', userId: user.id });
  // The token is minted during the call, with whole-second claims: it expires an hour after that.
  const expiry = response.expireTime!.getTime();
  t.true(expiry >= started - 1000 + 3_600_000 && expiry <= finished + 3_600_000, 'expires an hour after the login');
  t.deepEqual((await api.getUser({ userId: user.id }, response.accessToken)).user, user, 'the token works');
  t.deepEqual(await sql('SELECT succeeded FROM login_attempts WHERE user_id = $1', [user.id]), [{ succeeded: true }]);
  const withToken = await api.login({ email, password: secret }, 'ignored.token.value');
  t.is(withToken.userId, user.id, 'a token sent to Login is ignored');
});

// Serial (ava runs serial tests before the others), so the count of all login attempts is this test's own.
test.serial('Login: a wrong password and an unknown email fail alike with UNAUTHENTICATED', async (t) => {
  const { user, email } = await createUser();
  const attemptsBefore = (await sql<{ n: number }>('SELECT count(*)::int AS n FROM login_attempts'))[0]!.n;
  const wrong = await outcome(api.login({ email, password: 'not the password' }));
  const unknown = await outcome(api.login({ email: newEmail(), password: 'not the password' }));
  t.is(status[wrong.code], 'UNAUTHENTICATED');
  t.deepEqual(unknown, wrong, 'same code and message');
  t.is(wrong.message, 'invalid email or password');
  t.deepEqual(await sql('SELECT succeeded FROM login_attempts WHERE user_id = $1', [user.id]), [{ succeeded: false }], 'failed attempt kept');
  const attemptsAfter = (await sql<{ n: number }>('SELECT count(*)::int AS n FROM login_attempts'))[0]!.n;
  t.is(attemptsAfter - attemptsBefore, 1, 'nothing is stored for the unknown email');
  t.is(await codeOf(api.login({ email: '', password: 'x' })), 'INVALID_ARGUMENT');
  t.is(await codeOf(api.login({ email, password: '' })), 'INVALID_ARGUMENT');
});

test('user erasure removes every row of the user; logging in fails afterwards', async (t) => {
  const { user, email, secret } = await createUser();
  const control = await createUser();
  await api.login({ email, password: secret });
  await outcome(api.login({ email, password: 'wrong password' }));
  await sql(`INSERT INTO refresh_tokens (user_id, token_hash, expires_at) VALUES ($1, md5(random()::text), now() + interval '30 days')`, [user.id]);
  await sql(`INSERT INTO user_consents (user_id, purpose, granted) VALUES ($1, 'marketing_email', true)`, [user.id]);
  const counted = await preview(erasure, userSubject(user.id), svc);
  t.is(counted.totalRows, '5', 'user, two login attempts, a refresh token, a consent');
  const erased = await runDelete(erasure, userSubject(user.id), svc);
  t.is(erased.error, undefined);
  t.is(erased.messages.at(-1)!.result!.totalRows, '5');
  for (const table of ['refresh_tokens', 'user_consents', 'login_attempts']) {
    t.deepEqual(await sql(`SELECT 1 FROM ${table} WHERE user_id = $1`, [user.id]), [], `${table}: nothing left`);
  }
  t.deepEqual(await sql('SELECT 1 FROM users WHERE id = $1', [user.id]), []);
  const login = await outcome(api.login({ email, password: secret }));
  t.deepEqual(login, { code: status.UNAUTHENTICATED, message: 'invalid email or password' });
  t.is(await codeOf(api.getUser({ userId: user.id }, await userToken(user.id))), 'NOT_FOUND', 'the user may learn they are gone');
  t.is((await api.login({ email: control.email, password: control.secret })).userId, control.user.id, 'other users unaffected');
  const reused = await api.createUser({ email, fullName: 'New Person', password: password() }, onboarding);
  t.not(reused.user!.id, user.id, 'the email is free again');
});

test('passwords, password hashes and emails never reach the log', async (t) => {
  const { user, email, secret } = await createUser();
  await api.login({ email, password: secret });
  await outcome(api.login({ email, password: `${secret}-wrong` }));
  await outcome(api.createUser({ email, fullName: 'Dup', password: secret }, onboarding));
  await outcome(api.login({ email: `nobody-${email}`, password: secret }));
  const [row] = await sql<{ password_hash: string }>('SELECT password_hash FROM users WHERE id = $1', [user.id]);
  const log = logLines.join('');
  t.true(log.includes('rpc refused'), 'refusals were logged');
  for (const [label, value] of [
    ['password', secret],
    ['hash', row!.password_hash],
    ['hash salt', row!.password_hash.split('$')[4]!],
    ['email', email.toLowerCase()],
    ['email as typed', email],
  ]) {
    t.false(log.includes(value!), `no ${label} in the log`);
  }
  t.false(log.includes('scrypt$'), 'no hash of anyone');
});
