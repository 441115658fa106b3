/**
 * Attacks on identity: tokens with every kind of defect, and valid tokens of callers the caller rules
 * (mesh/caller-rules.ts) do not admit. Real services (recipes, tenant) over real gRPC on loopback, each
 * on its own PostgreSQL database; every refusal is checked by direct SQL to have changed nothing (target
 * and control tenant), and the service to be SERVING after it. Also: a server refuses to start when it
 * would serve a method without a caller rule, and keys served by a JWKS URL verify.
 */
import { randomUUID } from 'node:crypto';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import test, { type ExecutionContext } from 'ava';
import { status } from '@grpc/grpc-js';
import { TenantDataDeletionService, type TenantDataDeletionClient } from '../gen/bakery/erasure/v1/tenant_data_deletion';
import { AUDIENCE, authenticate, verifyToken } from '../services/kit/auth';
import { bearerMetadata } from '../services/kit/unary';
import { healthStatus } from '../services/kit/health-client';
import { TrustBundle, generateIdentityKey, loadProcessKeys, signingKeyFromJwk, type SigningKey } from '../services/kit/keys';
import type { RunningService } from '../services/kit/run-service';
import { startGrpcServer } from '../services/kit/server';
import { service as ordersService } from '../services/orders';
import { service as recipesService } from '../services/recipes';
import { extension as tenantExtension, service as tenantService } from '../services/tenant';
import { createTestDatabase, type TestDatabase } from './support/database';
import { outcome, tenantCaller, type Caller } from './support/identity';
import { nowSeconds, serviceClaims, signClaims, strangerKey, testKeys } from './support/keys';
import {
  erasureClient,
  operatorToken,
  preview,
  runDelete,
  serviceToken,
  silentLog,
  smallChunks,
  startTestService,
  tenantSubject,
  userToken,
} from './support/services';
import { snapshot } from './support/snapshot';
import { startService } from '../services/kit/run-service';
import type { TenantServiceServer } from '../gen/bakery/tenant/v1/tenant_service';

const TDD = 'bakery.erasure.v1.TenantDataDeletion';
const TENANT = 'bakery.tenant.v1.TenantService';

let recipesDb: TestDatabase;
let tenantDb: TestDatabase;
let recipes: RunningService;
let tenant: RunningService;
let recipesClient: TenantDataDeletionClient;
let tenantApi: Caller<TenantServiceServer>;
const target = randomUUID();
const control = randomUUID();
const owner = randomUUID();

test.before(async () => {
  [recipesDb, tenantDb] = await Promise.all([createTestDatabase('attack_id_recipes'), createTestDatabase('attack_id_tenant')]);
  [recipes, tenant] = await Promise.all([startTestService(recipesService, recipesDb.url), startTestService(tenantService, tenantDb.url, tenantExtension)]);
  for (const tenantId of [target, control]) {
    await recipesService.seed(recipesDb.pool, { tenantId, userIds: [owner, randomUUID()], rows: 150 });
    await tenantService.seed(tenantDb.pool, { tenantId, userIds: [tenantId === target ? owner : randomUUID(), randomUUID()], rows: 4 });
  }
  recipesClient = erasureClient(recipes.address);
  tenantApi = tenantCaller(tenant.address);
});

test.after.always(async () => {
  recipesClient?.close();
  tenantApi?.close();
  await Promise.all([recipes?.stop(1000), tenant?.stop(1000)]);
  await Promise.all([recipesDb?.drop(), tenantDb?.drop()]);
});

const b64 = (value: unknown) => Buffer.from(JSON.stringify(value)).toString('base64url');

/** Both databases, every table (direct SQL). */
const state = async () => ({ recipes: await snapshot(recipesDb.pool), tenant: await snapshot(tenantDb.pool) });

/**
 * Runs an attack, expects `code` with a message matching `message` that does not repeat the token,
 * then checks by direct SQL that nothing changed and that both services still serve.
 */
async function refused(
  t: ExecutionContext,
  label: string,
  token: string,
  attack: (token: string) => Promise<{ code: status; message: string }>,
  code: status,
  message: RegExp,
): Promise<void> {
  const before = await state();
  const result = await attack(token);
  t.is(status[result.code], status[code], `${label}: ${result.message}`);
  t.regex(result.message, message, label);
  t.false(result.message.includes(token), `${label}: the message does not repeat the token`);
  t.deepEqual(await state(), before, `${label}: nothing changed (direct SQL)`);
  t.is(await healthStatus(recipes.address, TDD), 'SERVING', `${label}: recipes still SERVING`);
  t.is(await healthStatus(tenant.address, TENANT), 'SERVING', `${label}: tenant still SERVING`);
}

/** The most destructive call there is: Delete of the target tenant on recipes. */
const deleteTarget = async (token: string) => {
  const { error } = await runDelete(recipesClient, tenantSubject(target), token);
  return error ? { code: error.code, message: error.details } : { code: status.OK, message: '' };
};

test.serial('defective tokens are UNAUTHENTICATED, say which defect, and change nothing', async (t) => {
  const keys = await testKeys();
  const orchestrator = keys.signer('orchestrator');
  const orders = keys.signer('orders');
  const now = nowSeconds();
  const stranger = await strangerKey('orchestrator');
  const withoutClaim = (claim: string) => {
    const claims = serviceClaims('orchestrator');
    delete claims[claim];
    return claims;
  };
  const cases: [string, Promise<string> | string, RegExp][] = [
    ['forged signature (another key under the orchestrator kid)', signClaims({ ...stranger, kid: orchestrator.kid }, serviceClaims('orchestrator')), /signature is invalid/],
    ['unsigned (alg none)', `${b64({ alg: 'none', kid: orchestrator.kid })}.${b64(serviceClaims('orchestrator'))}.`, /unsigned \(alg "none"\)/],
    ['HS256 (algorithm confusion)', `${b64({ alg: 'HS256', kid: orchestrator.kid })}.${b64(serviceClaims('orchestrator'))}.c2ln`, /algorithm must be EdDSA/],
    ['expired', signClaims(orchestrator, serviceClaims('orchestrator', { iat: now - 7200, exp: now - 3600 })), /expired/],
    ['over-long lifetime (two hours for a service token)', signClaims(orchestrator, serviceClaims('orchestrator', { exp: now + 7200 })), /lifetime exceeds the maximum for service tokens/],
    ['ten-year token', signClaims(orchestrator, serviceClaims('orchestrator', { exp: now + 10 * 365 * 86_400 })), /lifetime exceeds/],
    ['missing exp', signClaims(orchestrator, withoutClaim('exp')), /"exp" is missing/],
    ['missing iat', signClaims(orchestrator, withoutClaim('iat')), /"iat" is missing/],
    ['iat in the future beyond the skew', signClaims(orchestrator, serviceClaims('orchestrator', { iat: now + 600, exp: now + 1200 })), /issued in the future/],
    ['unknown kid (an attacker key)', signClaims(stranger, serviceClaims('orchestrator')), /not in the trust bundle/],
    ['no kid', signClaims(orchestrator, serviceClaims('orchestrator'), { kid: undefined }), /no key id/],
    ["wrong issuer for the kid (orders' key claiming to be the orchestrator)", signClaims(orders, serviceClaims('orchestrator')), /issuer does not match its signing key/],
    ['service token whose subject names another service', signClaims(orders, serviceClaims('orders', { sub: 'service:orchestrator' })), /subject must name its issuer/],
    ["user token signed by a service's key", signClaims(orders, { ...serviceClaims('orders'), kind: 'user', sub: owner }), /user tokens are accepted only from auth/],
    ["operator token signed by a service's key", signClaims(orders, { ...serviceClaims('orders'), kind: 'operator', sub: 'operator:mallory' }), /operator tokens are accepted only from operator/],
    ['wrong audience', signClaims(orchestrator, serviceClaims('orchestrator', { aud: 'somewhere-else' })), /"aud" is invalid/],
    ['unknown kind', signClaims(orchestrator, serviceClaims('orchestrator', { kind: 'root' })), /kind must be/],
    ['not a JWT', 'abc.def', /not a well-formed JWT/],
  ];
  for (const [label, token, message] of cases) {
    await refused(t, label, await token, deleteTarget, status.UNAUTHENTICATED, message);
  }
});

test.serial('valid tokens of callers the caller rules do not admit are PERMISSION_DENIED and change nothing', async (t) => {
  const user = await userToken(owner); // the target tenant's owner: still no erasure without a job
  const operator = await operatorToken('mallory');
  const tenantCall = (method: 'beginTenantDeletion' | 'deleteUserMemberships' | 'cancelTenantDeletion') => (token: string) =>
    outcome(method === 'deleteUserMemberships' ? tenantApi.deleteUserMemberships({ userId: owner, validateOnly: false }, token) : tenantApi[method]({ tenantId: target }, token));
  const previewTarget = (token: string) => outcome(preview(recipesClient, tenantSubject(target), token));
  const cases: [string, string, (token: string) => Promise<{ code: status; message: string }>, RegExp][] = [
    ['a user token on TenantDataDeletion.Delete', user, deleteTarget, /TenantDataDeletion\/Delete may not be called by a user/],
    ['a user token on TenantDataDeletion.Preview', user, previewTarget, /TenantDataDeletion\/Preview may not be called by a user/],
    ['a user token on BeginTenantDeletion', user, tenantCall('beginTenantDeletion'), /BeginTenantDeletion may not be called by a user/],
    ['a user token on DeleteUserMemberships', user, tenantCall('deleteUserMemberships'), /DeleteUserMemberships may not be called by a user/],
    ['a user token on CancelTenantDeletion', user, tenantCall('cancelTenantDeletion'), /CancelTenantDeletion may not be called by a user/],
    ["orders' token on recipes' Delete", await serviceToken('orders'), deleteTarget, /Delete may not be called by service orders/],
    ["auth's token on recipes' Preview", await serviceToken('auth'), previewTarget, /Preview may not be called by service auth/],
    ["orders' token on BeginTenantDeletion", await serviceToken('orders'), tenantCall('beginTenantDeletion'), /BeginTenantDeletion may not be called by service orders/],
    ['an operator on Delete', operator, deleteTarget, /Delete may not be called by operator mallory/],
    ['an operator on BeginTenantDeletion', operator, tenantCall('beginTenantDeletion'), /BeginTenantDeletion may not be called by operator mallory/],
    ['an operator on DeleteUserMemberships', operator, tenantCall('deleteUserMemberships'), /may not be called by operator mallory/],
  ];
  for (const [label, token, attack, message] of cases) {
    await refused(t, label, token, attack, status.PERMISSION_DENIED, message);
  }
  // Refusals name the kind, never a user id.
  const userRefusal = await deleteTarget(user);
  t.false(userRefusal.message.includes(owner), 'the refusal of a user does not name the user');
});

test.serial('the admitted callers still work: an operator previews, the orchestrator deletes the target only', async (t) => {
  const controlBefore = await snapshot(recipesDb.pool, `t::text LIKE '%' || $1 || '%'`, control);
  const counted = await preview(recipesClient, tenantSubject(target), await operatorToken('alice'));
  t.true(Number(counted.totalRows) > 0, 'operators may preview');
  const { error, messages } = await runDelete(recipesClient, tenantSubject(target), await serviceToken('orchestrator'));
  t.is(error, undefined);
  t.is(messages.at(-1)!.result!.totalRows, counted.totalRows, 'Preview = Delete');
  const left = await snapshot(recipesDb.pool, `t::text LIKE '%' || $1 || '%'`, target);
  t.true([...left.values()].every((table) => table.count === 0), 'nothing of the target left (direct SQL)');
  t.deepEqual(await snapshot(recipesDb.pool, `t::text LIKE '%' || $1 || '%'`, control), controlBefore, 'control tenant untouched');
});

test.serial('a verified token is remembered by its exact bytes, and never past its exp', async (t) => {
  const { signer, trust } = await testKeys();
  // Without the clock skew, a token is refused from its exp on; a cache that outlived exp would accept it.
  const skew = process.env.TOKEN_CLOCK_SKEW_SECONDS;
  process.env.TOKEN_CLOCK_SKEW_SECONDS = '0';
  try {
    const now = nowSeconds();
    const token = await signClaims(signer('orchestrator'), serviceClaims('orchestrator', { iat: now, exp: now + 2 }));
    const orchestrator = { kind: 'service', service: 'orchestrator' };
    t.deepEqual(await authenticate(bearerMetadata(token), trust), orchestrator);
    t.deepEqual(await authenticate(bearerMetadata(token), trust), orchestrator, 'the same token again');
    const [header, payload, signature] = token.split('.') as [string, string, string];
    const otherSignature = `${signature.slice(0, 10)}${signature.slice(10, 20).split('').reverse().join('')}${signature.slice(20)}`;
    await t.throwsAsync(authenticate(bearerMetadata(`${header}.${payload}.${otherSignature}`), trust), { message: /signature is invalid|malformed/ }, 'same claims, another signature');
    const otherPayload = Buffer.from(JSON.stringify({ ...JSON.parse(Buffer.from(payload, 'base64url').toString()), sub: 'service:orchestrator ' })).toString('base64url');
    await t.throwsAsync(authenticate(bearerMetadata(`${header}.${otherPayload}.${signature}`), trust), { message: /signature is invalid/ }, 'same signature, other claims');
    await new Promise((resolve) => setTimeout(resolve, (now + 2) * 1000 - Date.now() + 50));
    await t.throwsAsync(authenticate(bearerMetadata(token), trust), { message: /token expired/ }, 'refused from its exp on');
  } finally {
    if (skew === undefined) delete process.env.TOKEN_CLOCK_SKEW_SECONDS;
    else process.env.TOKEN_CLOCK_SKEW_SECONDS = skew;
  }
});

test('a server refuses to start when it would serve a method without a caller rule', async (t) => {
  const unruled = { ...TenantDataDeletionService, purge: { ...TenantDataDeletionService.delete, path: `/${TDD}/Purge` } };
  await t.throwsAsync(
    startGrpcServer('127.0.0.1:0', [{ name: TDD, definition: unruled, implementation: {} }], silentLog),
    { message: /refusing to serve methods without a caller rule in mesh\/caller-rules\.ts: bakery\.erasure\.v1\.TenantDataDeletion\/Purge/ },
  );
});

test('keys served by a JWKS URL verify; the kid names the issuer; unknown kids and wrong issuers are refused', async (t) => {
  const remote = await generateIdentityKey('orchestrator');
  const remoteKey: SigningKey = await signingKeyFromJwk(remote.privateJwk);
  let fetches = 0;
  const server: Server = createServer((request, response) => {
    fetches++;
    response.writeHead(200, { 'content-type': 'application/json' });
    response.end(JSON.stringify({ keys: [remote.publicJwk] }));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/jwks.json`;
  let db: TestDatabase | undefined;
  let orders: RunningService | undefined;
  try {
    db = await createTestDatabase('attack_id_jwks');
    // The environment a production process would have: only the JWKS URL.
    const keys = await loadProcessKeys('orders', { ERASURE_TRUST_JWKS_URL: url });
    t.is(keys.signer, undefined, 'no private key was given, none is used');
    t.deepEqual(await verifyToken(await signClaims(remoteKey, serviceClaims('orchestrator')), keys.trust), { kind: 'service', service: 'orchestrator' });
    orders = await startService(ordersService, { address: '127.0.0.1:0', databaseUrl: db.url, keys, migrate: true, chunks: smallChunks, log: silentLog });
    const client = erasureClient(orders.address);
    try {
      const good = await outcome(preview(client, tenantSubject(randomUUID()), await signClaims(remoteKey, serviceClaims('orchestrator'))));
      t.is(status[good.code], 'OK', good.message);
      t.true(fetches >= 1, 'the key came from the JWKS URL');
      const local = await outcome(preview(client, tenantSubject(randomUUID()), await serviceToken('orchestrator')));
      t.is(status[local.code], 'UNAUTHENTICATED', 'a kid the URL does not serve');
      t.regex(local.message, /not in the trust bundle/);
      const wrongIssuer = await outcome(preview(client, tenantSubject(randomUUID()), await signClaims(remoteKey, serviceClaims('orders'))));
      t.is(status[wrongIssuer.code], 'UNAUTHENTICATED');
      t.regex(wrongIssuer.message, /issuer does not match its signing key \(the key belongs to orchestrator\)/);
      t.is(await healthStatus(orders.address, TDD), 'SERVING');
    } finally {
      client.close();
    }
  } finally {
    server.close();
    await orders?.stop(1000);
    await db?.drop();
  }
});

test('token verification is bound to the limits table: lifetimes per kind, and the clock skew', async (t) => {
  const { signer, trust } = await testKeys();
  const now = nowSeconds();
  const operatorClaims = (lifetime: number) => ({ kind: 'operator', iss: 'operator', sub: 'operator:alice', aud: AUDIENCE, iat: now, exp: now + lifetime });
  t.deepEqual(await verifyToken(await signClaims(signer('operator'), operatorClaims(8 * 3600)), trust), { kind: 'operator', operator: 'alice' }, 'an operator token may live a working day');
  await t.throwsAsync(verifyToken(await signClaims(signer('operator'), operatorClaims(8 * 3600 + 1)), trust), { message: /maximum for operator tokens \(28800 s\)/ });
  await t.throwsAsync(verifyToken(await signClaims(signer('operator'), operatorClaims(600)), trust, { OPERATOR_TOKEN_MAX_LIFETIME_SECONDS: '300' }), { message: /\(300 s\)/ }, 'configurable');
  const skewed = await signClaims(signer('orchestrator'), serviceClaims('orchestrator', { iat: now + 20, exp: now + 600 }));
  t.truthy(await verifyToken(skewed, trust), 'an iat 20 s ahead is within the 30 s skew');
  await t.throwsAsync(verifyToken(skewed, trust, { TOKEN_CLOCK_SKEW_SECONDS: '5' }), { message: /issued in the future/ });
  const userClaims = { kind: 'user', iss: 'auth', sub: owner, aud: AUDIENCE, iat: now, exp: now + 3601 };
  await t.throwsAsync(verifyToken(await signClaims(signer('auth'), userClaims), trust), { message: /maximum for user tokens/ });
});

test('a process refuses to start with another identity\'s key or a bundle that lies about its keys', async (t) => {
  const { dir } = await testKeys();
  const bundle = `${dir}/trust-bundle.json`;
  await t.throwsAsync(loadProcessKeys('orders', { ERASURE_TRUST_BUNDLE_FILE: bundle, ERASURE_SIGNING_KEY_FILE: `${dir}/orchestrator.private.jwk` }), {
    message: /the signing key belongs to "orchestrator", but this process is "orders"/,
  });
  const own = await loadProcessKeys('orders', { ERASURE_TRUST_BUNDLE_FILE: bundle, ERASURE_SIGNING_KEY_FILE: `${dir}/orders.private.jwk` });
  t.is(own.signer?.identity, 'orders');
  const { publicJwk, privateJwk } = await generateIdentityKey('orders');
  await t.throwsAsync(TrustBundle.fromJson({ keys: [{ ...publicJwk, iss: 'orchestrator' }] }), { message: /names issuer "orchestrator", but its kid says orders/ }, 'a key claimed for another issuer');
  await t.throwsAsync(TrustBundle.fromJson({ keys: [{ ...(privateJwk as typeof publicJwk), iss: 'orders' }] }), { message: /is a private key/ }, 'a private key in a bundle');
  await t.throwsAsync(TrustBundle.fromJson({ keys: [] }), { message: /trusts no key/ });
});
