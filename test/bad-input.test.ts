/**
 * Bad input and bad credentials are refused with the right status and a message that names the
 * problem; nothing is deleted and the service stays healthy.
 */
import { randomUUID } from 'node:crypto';
import test from 'ava';
import { status } from '@grpc/grpc-js';
import { service as ordersService } from '../services/orders';
import { createTestDatabase, type TestDatabase } from './support/database';
import { healthStatus } from '../services/kit/health-client';
import {
  erasureClient,
  preview,
  runDelete,
  serviceToken,
  startTestService,
  testKeys,
  userToken,
} from './support/services';
import { nowSeconds, serviceClaims, signClaims, strangerKey } from './support/keys';
import { snapshot } from './support/snapshot';
import type { Subject, TenantDataDeletionClient } from '../gen/bakery/erasure/v1/tenant_data_deletion';
import type { RunningService } from '../services/kit/run-service';

let db: TestDatabase;
let service: RunningService;
let client: TenantDataDeletionClient;
const tenantId = randomUUID();

test.before(async () => {
  db = await createTestDatabase('bad_input');
  service = await startTestService(ordersService, db.url);
  client = erasureClient(service.address);
  await ordersService.seed(db.pool, { tenantId, userIds: [randomUUID()], rows: 200 });
});

test.after.always(async () => {
  client?.close();
  await service?.stop(1000);
  await db?.drop();
});

/** Calls Preview and Delete with the subject and token; both must fail with `code` and a message matching `message`. */
async function refused(t: any, subject: Subject | undefined, token: string | undefined, code: status, message: RegExp) {
  const before = await snapshot(db.pool);
  const previewError = await t.throwsAsync(preview(client, subject, token));
  t.is(previewError.code, code, `Preview: ${previewError.message}`);
  t.regex(previewError.details, message);
  const deleted = await runDelete(client, subject, token);
  t.is(deleted.error?.code, code, `Delete: ${deleted.error?.message}`);
  t.regex(deleted.error!.details, message);
  t.is(deleted.messages.length, 0);
  t.deepEqual(await snapshot(db.pool), before, 'nothing deleted (direct SQL)');
  t.is(await healthStatus(service.address, ''), 'SERVING');
  t.is(await healthStatus(service.address, 'bakery.erasure.v1.TenantDataDeletion'), 'SERVING');
}

test.serial('malformed tenant UUID → INVALID_ARGUMENT naming the field', async (t) => {
  await refused(t, { tenantId: 'not-a-uuid' }, await serviceToken(), status.INVALID_ARGUMENT, /subject\.tenant_id must be a UUID/);
});

test.serial('malformed user UUID → INVALID_ARGUMENT', async (t) => {
  await refused(t, { userId: '1234' }, await serviceToken(), status.INVALID_ARGUMENT, /subject\.user_id must be a UUID/);
});

test.serial('missing subject → INVALID_ARGUMENT', async (t) => {
  await refused(t, undefined, await serviceToken(), status.INVALID_ARGUMENT, /subject is required/);
  await refused(t, {}, await serviceToken(), status.INVALID_ARGUMENT, /subject is required/);
});

test.serial('no token → UNAUTHENTICATED', async (t) => {
  await refused(t, { tenantId }, undefined, status.UNAUTHENTICATED, /missing authorization/);
});

test.serial("token signed with another key under the orchestrator's kid → UNAUTHENTICATED", async (t) => {
  const stranger = await strangerKey('orchestrator');
  const forged = await signClaims({ ...stranger, kid: (await testKeys()).signer('orchestrator').kid }, serviceClaims('orchestrator'));
  await refused(t, { tenantId }, forged, status.UNAUTHENTICATED, /signature/);
});

test.serial('expired token → UNAUTHENTICATED', async (t) => {
  const now = nowSeconds();
  const expired = await signClaims((await testKeys()).signer('orchestrator'), serviceClaims('orchestrator', { iat: now - 7200, exp: now - 3600 }));
  await refused(t, { tenantId }, expired, status.UNAUTHENTICATED, /expired/);
});

test.serial('garbage token → UNAUTHENTICATED', async (t) => {
  await refused(t, { tenantId }, 'abc.def.ghi', status.UNAUTHENTICATED, /well-formed/);
});

test.serial('user token → PERMISSION_DENIED (the caller rules admit the orchestrator only)', async (t) => {
  await refused(t, { tenantId }, await userToken(randomUUID()), status.PERMISSION_DENIED, /TenantDataDeletion\/(Preview|Delete) may not be called by a user/);
});

test.serial('a valid request still works after all the refusals', async (t) => {
  const response = await preview(client, { tenantId }, await serviceToken());
  t.true(Number(response.totalRows) > 0);
});
