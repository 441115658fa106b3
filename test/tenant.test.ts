/**
 * TenantService over real gRPC and a real PostgreSQL: every RPC's happy path, the authorization
 * matrix (allowed and refused), concurrent ownership transfers, the outbox, and the tenant service's
 * part of erasure. Rows are checked with direct SQL, not through the code under test.
 */
import { randomUUID } from 'node:crypto';
import test from 'ava';
import { status } from '@grpc/grpc-js';
import {
  MembershipRemoval,
  Role,
  SubscriptionStatus,
  TenantStatus,
} from '../gen/bakery/tenant/v1/tenant_service';
import type { TenantDataDeletionClient } from '../gen/bakery/erasure/v1/tenant_data_deletion';
import { extension as tenantExtension, service as tenantService } from '../services/tenant';
import type { RunningService } from '../services/kit/run-service';
import { createTestDatabase, type TestDatabase } from './support/database';
import { codeOf, outcome, tenantCaller, type Caller } from './support/identity';
import {
  erasureClient,
  preview,
  runDelete,
  operatorToken,
  serviceToken,
  startTestService,
  tenantSubject,
  userSubject,
  userToken,
} from './support/services';
import { tableState } from './support/snapshot';
import { callerRule } from '../mesh/caller-rules';
import { TENANT_SERVICE } from '../mesh/catalog';
import type { TenantServiceServer } from '../gen/bakery/tenant/v1/tenant_service';

let db: TestDatabase;
let service: RunningService;
let api: Caller<TenantServiceServer>;
let erasure: TenantDataDeletionClient;
/** The orchestrator's token (the only caller of the state-changing RPCs) and an operator's. */
let svc: string;
let op: string;

test.before(async () => {
  db = await createTestDatabase('tenant');
  service = await startTestService(tenantService, db.url, tenantExtension);
  api = tenantCaller(service.address);
  erasure = erasureClient(service.address);
  svc = await serviceToken('orchestrator');
  op = await operatorToken();
});

test.after.always(async () => {
  api?.close();
  erasure?.close();
  await service?.stop(1000);
  await db?.drop();
});

/** `service` is the orchestrator; `operator` an operator token. */
type Who = 'owner' | 'admin' | 'member' | 'viewer' | 'outsider' | 'service' | 'operator';
const USERS = ['owner', 'admin', 'member', 'viewer', 'outsider'] as const;
const EVERYONE: Who[] = [...USERS, 'service', 'operator'];

/** A tenant with one user per role, an outsider (member of another tenant only), and their tokens. */
interface Team {
  tenantId: string;
  ids: Record<Exclude<Who, 'service' | 'operator'>, string>;
  token(who: Who): Promise<string>;
}

async function team(): Promise<Team> {
  const ids = Object.fromEntries(USERS.map((who) => [who, randomUUID()])) as Team['ids'];
  const { tenant } = await api.createTenant({ name: 'Bäckerei Sonnenschein', ownerId: ids.owner, plan: 'standard' }, op);
  const tenantId = tenant!.id;
  await api.addMember({ tenantId, userId: ids.admin, role: Role.ROLE_ADMIN }, op);
  await api.addMember({ tenantId, userId: ids.member, role: Role.ROLE_MEMBER }, op);
  await api.addMember({ tenantId, userId: ids.viewer, role: Role.ROLE_VIEWER }, op);
  await api.createTenant({ name: 'Elsewhere', ownerId: ids.outsider, plan: '' }, op);
  return { tenantId, ids, token: (who) => (who === 'service' ? Promise.resolve(svc) : who === 'operator' ? Promise.resolve(op) : userToken(ids[who])) };
}

/** Whether the caller rules admit this kind of caller (the orchestrator for `service`) to a TenantService method. */
function admitted(method: string, kind: 'service' | 'operator' | 'user'): boolean {
  const rule = callerRule(`${TENANT_SERVICE}/${method.split('.')[0]}`)!;
  return kind === 'service' ? (rule.services ?? []).includes('orchestrator') : kind === 'operator' ? rule.operators === true : rule.users === true;
}

async function sql<T = Record<string, unknown>>(text: string, params: unknown[] = []): Promise<T[]> {
  return (await db.pool.query(text, params)).rows as T[];
}

const events = (aggregateId: string, type?: string) =>
  sql<{ event_type: string; payload: Record<string, unknown> }>(
    `SELECT event_type, payload FROM outbox_events WHERE aggregate_id = $1 ${type ? 'AND event_type = $2' : ''} ORDER BY id`,
    type ? [aggregateId, type] : [aggregateId],
  );

/** Count and checksum of a tenant's memberships, subscription, tenant row and events (direct SQL). */
async function tenantState(tenantId: string) {
  return {
    tenants: await tableState(db.pool, 'tenants', 't.id = $1', tenantId),
    members: await tableState(db.pool, 'tenant_members', 't.tenant_id = $1', tenantId),
    subscriptions: await tableState(db.pool, 'subscriptions', 't.tenant_id = $1', tenantId),
    events: await tableState(db.pool, 'outbox_events', 't.aggregate_id = $1', tenantId),
  };
}

test('CreateTenant: a user caller becomes the OWNER; an operator names the owner', async (t) => {
  const user = randomUUID();
  const { tenant } = await api.createTenant({ name: '  Brot & Butter ', ownerId: '', plan: '' }, await userToken(user));
  t.is(tenant!.name, 'Brot & Butter');
  t.is(tenant!.ownerId, user);
  t.is(tenant!.status, TenantStatus.TENANT_STATUS_ACTIVE);
  t.deepEqual(tenant!.subscription, { plan: 'trial', status: SubscriptionStatus.SUBSCRIPTION_STATUS_ACTIVE, cancelTime: undefined });
  t.truthy(tenant!.createTime);
  t.deepEqual(await sql('SELECT owner_id, status FROM tenants WHERE id = $1', [tenant!.id]), [{ owner_id: user, status: 'ACTIVE' }]);
  t.deepEqual(await sql('SELECT user_id, role FROM tenant_members WHERE tenant_id = $1', [tenant!.id]), [{ user_id: user, role: 'OWNER' }]);
  t.deepEqual(await sql('SELECT plan, status FROM subscriptions WHERE tenant_id = $1', [tenant!.id]), [{ plan: 'trial', status: 'ACTIVE' }]);

  const owner = randomUUID();
  const bySelf = await api.createTenant({ name: 'Own', ownerId: user.toUpperCase(), plan: 'standard' }, await userToken(user));
  t.is(bySelf.tenant!.ownerId, user, 'a user may name themself (ids compare case-insensitively)');
  const byService = await api.createTenant({ name: 'Filiale Nord', ownerId: owner, plan: 'standard' }, op);
  t.is(byService.tenant!.ownerId, owner);
  t.deepEqual(await sql('SELECT user_id, role FROM tenant_members WHERE tenant_id = $1', [byService.tenant!.id]), [
    { user_id: owner, role: 'OWNER' },
  ]);
});

test('CreateTenant refuses bad input, an operator without owner, a user creating for someone else, and the orchestrator', async (t) => {
  const user = await userToken(randomUUID());
  const name = `refused ${randomUUID()}`;
  t.is(await codeOf(api.createTenant({ name, ownerId: '', plan: '' }, op)), 'INVALID_ARGUMENT', 'an operator must name the owner');
  t.is(await codeOf(api.createTenant({ name, ownerId: randomUUID(), plan: '' }, svc)), 'PERMISSION_DENIED', 'the orchestrator creates no tenants');
  t.is(await codeOf(api.createTenant({ name: '   ', ownerId: '', plan: '' }, user)), 'INVALID_ARGUMENT', 'name required');
  t.is(await codeOf(api.createTenant({ name: name.padEnd(201, 'x'), ownerId: '', plan: '' }, user)), 'INVALID_ARGUMENT', 'name too long');
  t.is(await codeOf(api.createTenant({ name, ownerId: '', plan: 'Gold Plan!' }, user)), 'INVALID_ARGUMENT', 'bad plan');
  t.is(await codeOf(api.createTenant({ name, ownerId: 'not-a-uuid', plan: '' }, op)), 'INVALID_ARGUMENT', 'malformed owner');
  t.is(await codeOf(api.createTenant({ name, ownerId: randomUUID(), plan: '' }, user)), 'PERMISSION_DENIED', 'for someone else');
  t.is(await codeOf(api.createTenant({ name, ownerId: '', plan: '' })), 'UNAUTHENTICATED', 'no token');
  t.deepEqual(await sql(`SELECT id FROM tenants WHERE name LIKE 'refused ' || $1 || '%' OR name = ''`, [name.slice(8)]), [], 'nothing created');
});

test('reads (GetTenant, ListMembers, GetTenantAdmins): members of the tenant, the orchestrator and operators; nobody else', async (t) => {
  const team1 = await team();
  const request = { tenantId: team1.tenantId };
  for (const who of EVERYONE) {
    const token = await team1.token(who);
    const expected = who === 'outsider' ? 'PERMISSION_DENIED' : 'OK';
    t.is(await codeOf(api.getTenant(request, token)), expected, `GetTenant by ${who}`);
    t.is(await codeOf(api.listMembers(request, token)), expected, `ListMembers by ${who}`);
    t.is(await codeOf(api.getTenantAdmins(request, token)), expected, `GetTenantAdmins by ${who}`);
  }
  const viewer = await team1.token('viewer');
  const { tenant } = await api.getTenant(request, viewer);
  t.is(tenant!.id, team1.tenantId);
  t.is(tenant!.ownerId, team1.ids.owner);
  const { members } = await api.listMembers(request, viewer);
  t.deepEqual(
    members.map((m) => [m.userId, m.role]),
    [
      [team1.ids.owner, Role.ROLE_OWNER],
      [team1.ids.admin, Role.ROLE_ADMIN],
      [team1.ids.member, Role.ROLE_MEMBER],
      [team1.ids.viewer, Role.ROLE_VIEWER],
    ],
    'every member, owner first, then by join time',
  );
  t.true(members.every((m) => m.tenantId === team1.tenantId && m.joinTime instanceof Date));
  const { admins } = await api.getTenantAdmins(request, viewer);
  t.deepEqual(
    admins.map((m) => [m.userId, m.role]),
    [
      [team1.ids.owner, Role.ROLE_OWNER],
      [team1.ids.admin, Role.ROLE_ADMIN],
    ],
  );
});

test('AddMember: owner, admins and operators may add; members, viewers, outsiders and the orchestrator may not', async (t) => {
  const team1 = await team();
  for (const who of EVERYONE) {
    const userId = randomUUID();
    const result = await outcome(api.addMember({ tenantId: team1.tenantId, userId, role: Role.ROLE_MEMBER }, await team1.token(who)));
    const allowed = ['owner', 'admin', 'operator'].includes(who);
    t.is(status[result.code], allowed ? 'OK' : 'PERMISSION_DENIED', `AddMember by ${who}`);
    const rows = await sql('SELECT role FROM tenant_members WHERE tenant_id = $1 AND user_id = $2', [team1.tenantId, userId]);
    t.deepEqual(rows, allowed ? [{ role: 'MEMBER' }] : [], `membership ${allowed ? 'added' : 'not added'} (direct SQL)`);
  }
  const newcomer = randomUUID();
  const { member } = await api.addMember({ tenantId: team1.tenantId, userId: newcomer, role: Role.ROLE_ADMIN }, await team1.token('admin'));
  t.like(member, { tenantId: team1.tenantId, userId: newcomer, role: Role.ROLE_ADMIN });
  t.is(await codeOf(api.addMember({ tenantId: team1.tenantId, userId: newcomer, role: Role.ROLE_VIEWER }, op)), 'ALREADY_EXISTS');
  t.is(await codeOf(api.addMember({ tenantId: team1.tenantId, userId: randomUUID(), role: Role.ROLE_OWNER }, op)), 'INVALID_ARGUMENT');
  t.is(await codeOf(api.addMember({ tenantId: team1.tenantId, userId: randomUUID(), role: Role.ROLE_UNSPECIFIED }, op)), 'INVALID_ARGUMENT');
  t.deepEqual(await sql('SELECT role FROM tenant_members WHERE user_id = $1', [newcomer]), [{ role: 'ADMIN' }], 'the duplicate changed nothing');
});

test('TransferOwnership: the owner or the orchestrator; admins, members, viewers, outsiders and operators are refused', async (t) => {
  for (const who of EVERYONE) {
    const team1 = await team();
    const before = await tenantState(team1.tenantId);
    const request = { tenantId: team1.tenantId, newOwnerId: team1.ids.admin, currentOwnerId: who === 'service' || who === 'operator' ? team1.ids.owner : '' };
    const allowed = who === 'owner' || who === 'service';
    t.is(await codeOf(api.transferOwnership(request, await team1.token(who))), allowed ? 'OK' : 'PERMISSION_DENIED', `by ${who}`);
    if (!allowed) t.deepEqual(await tenantState(team1.tenantId), before, `refused transfer by ${who} changed nothing and wrote no event`);
  }

  const team1 = await team();
  const response = await api.transferOwnership(
    { tenantId: team1.tenantId, newOwnerId: team1.ids.admin, currentOwnerId: '' },
    await team1.token('owner'),
  );
  t.is(response.tenant!.ownerId, team1.ids.admin);
  t.like(response.previousOwner, { userId: team1.ids.owner, role: Role.ROLE_ADMIN });
  t.like(response.newOwner, { userId: team1.ids.admin, role: Role.ROLE_OWNER });
  t.deepEqual(await sql('SELECT owner_id FROM tenants WHERE id = $1', [team1.tenantId]), [{ owner_id: team1.ids.admin }]);
  t.deepEqual(
    await sql(`SELECT user_id, role FROM tenant_members WHERE tenant_id = $1 AND role IN ('OWNER', 'ADMIN') ORDER BY role DESC`, [team1.tenantId]),
    [
      { user_id: team1.ids.admin, role: 'OWNER' },
      { user_id: team1.ids.owner, role: 'ADMIN' },
    ],
  );
  t.deepEqual(await events(team1.tenantId, 'ownership.transferred'), [
    {
      event_type: 'ownership.transferred',
      payload: { tenant_id: team1.tenantId, previous_owner_id: team1.ids.owner, new_owner_id: team1.ids.admin },
    },
  ]);
  t.is(
    await codeOf(api.transferOwnership({ tenantId: team1.tenantId, newOwnerId: team1.ids.owner, currentOwnerId: '' }, await team1.token('owner'))),
    'PERMISSION_DENIED',
    'the previous owner is an admin now',
  );
});

test('TransferOwnership: the new owner must already be an ADMIN; a refusal changes nothing and writes no event', async (t) => {
  const team1 = await team();
  const owner = await team1.token('owner');
  const before = await tenantState(team1.tenantId);
  for (const [target, label] of [
    [team1.ids.member, 'a MEMBER'],
    [team1.ids.viewer, 'a VIEWER'],
    [team1.ids.outsider, 'a non-member'],
    [team1.ids.owner, 'the owner themself'],
  ] as const) {
    const result = await outcome(api.transferOwnership({ tenantId: team1.tenantId, newOwnerId: target, currentOwnerId: '' }, owner));
    t.is(status[result.code], 'FAILED_PRECONDITION', `to ${label}`);
  }
  t.deepEqual(await tenantState(team1.tenantId), before, 'roles, owner and outbox unchanged (direct SQL)');
});

test('TransferOwnership: a service must name current_owner_id; a stale one is ABORTED', async (t) => {
  const team1 = await team();
  t.is(
    await codeOf(api.transferOwnership({ tenantId: team1.tenantId, newOwnerId: team1.ids.admin, currentOwnerId: '' }, svc)),
    'INVALID_ARGUMENT',
  );
  const before = await tenantState(team1.tenantId);
  t.is(
    await codeOf(api.transferOwnership({ tenantId: team1.tenantId, newOwnerId: team1.ids.admin, currentOwnerId: team1.ids.admin }, svc)),
    'ABORTED',
  );
  t.deepEqual(await tenantState(team1.tenantId), before);
  t.is(
    await codeOf(
      api.transferOwnership({ tenantId: team1.tenantId, newOwnerId: team1.ids.admin, currentOwnerId: team1.ids.outsider }, await team1.token('owner')),
    ),
    'PERMISSION_DENIED',
    'a user can only give away their own ownership',
  );
});

/** A tenant with an owner and 20 admins, the candidates of concurrent transfers. */
async function contestedTenant(): Promise<{ tenantId: string; owner: string; admins: string[] }> {
  const owner = randomUUID();
  const { tenant } = await api.createTenant({ name: 'Contested', ownerId: owner, plan: '' }, op);
  const admins = Array.from({ length: 20 }, () => randomUUID());
  await Promise.all(admins.map((userId) => api.addMember({ tenantId: tenant!.id, userId, role: Role.ROLE_ADMIN }, op)));
  return { tenantId: tenant!.id, owner, admins };
}

async function assertOneOwner(t: import('ava').ExecutionContext, tenantId: string, winner: string): Promise<void> {
  t.deepEqual(await sql(`SELECT user_id FROM tenant_members WHERE tenant_id = $1 AND role = 'OWNER'`, [tenantId]), [{ user_id: winner }], 'exactly one OWNER');
  t.deepEqual(await sql('SELECT owner_id FROM tenants WHERE id = $1', [tenantId]), [{ owner_id: winner }], 'tenants.owner_id is the winner');
  t.deepEqual(
    await sql<{ n: number }>(`SELECT count(*)::int AS n FROM tenant_members WHERE tenant_id = $1 AND role = 'ADMIN'`, [tenantId]),
    [{ n: 20 }],
    'the 19 losers and the previous owner are admins',
  );
  t.is((await events(tenantId, 'ownership.transferred')).length, 1, 'one event, from the one transfer that happened');
}

test('20 concurrent TransferOwnership calls (service): exactly one wins, the others are ABORTED', async (t) => {
  const { tenantId, owner, admins } = await contestedTenant();
  const results = await Promise.all(
    admins.map((newOwnerId) => outcome(api.transferOwnership({ tenantId, newOwnerId, currentOwnerId: owner }, svc))),
  );
  const winners = admins.filter((_, i) => results[i]!.code === status.OK);
  t.is(winners.length, 1, 'exactly one transfer wins');
  t.true(
    results.every((r) => [status.OK, status.ABORTED, status.FAILED_PRECONDITION].includes(r.code)),
    `losers get ABORTED or FAILED_PRECONDITION: ${results.map((r) => status[r.code]).join(', ')}`,
  );
  await assertOneOwner(t, tenantId, winners[0]!);
});

test('20 concurrent TransferOwnership calls (owner token): exactly one wins, one owner', async (t) => {
  const { tenantId, owner, admins } = await contestedTenant();
  const token = await userToken(owner);
  const results = await Promise.all(admins.map((newOwnerId) => outcome(api.transferOwnership({ tenantId, newOwnerId, currentOwnerId: '' }, token))));
  const winners = admins.filter((_, i) => results[i]!.code === status.OK);
  t.is(winners.length, 1, 'exactly one transfer wins');
  // A call that overlapped the winner lost a race (ABORTED); one that started after it committed finds a
  // caller who is no longer the owner (PERMISSION_DENIED).
  t.true(
    results.every((r) => [status.OK, status.ABORTED, status.FAILED_PRECONDITION, status.PERMISSION_DENIED].includes(r.code)),
    results.map((r) => status[r.code]).join(', '),
  );
  await assertOneOwner(t, tenantId, winners[0]!);
});

test('TransferOwnership waits for the tenant row lock at most 5 s, then is ABORTED and changes nothing', async (t) => {
  const team1 = await team();
  const before = await tenantState(team1.tenantId);
  // Another transaction (direct SQL, outside the service) holds the tenant row.
  const holder = await db.pool.connect();
  try {
    await holder.query('BEGIN');
    await holder.query('SELECT 1 FROM tenants WHERE id = $1 FOR UPDATE', [team1.tenantId]);
    const started = Date.now();
    const result = await outcome(api.transferOwnership({ tenantId: team1.tenantId, newOwnerId: team1.ids.admin, currentOwnerId: team1.ids.owner }, svc));
    t.is(status[result.code], 'ABORTED', result.message);
    t.true(Date.now() - started >= 4500, 'it waited for the lock before giving up');
  } finally {
    await holder.query('ROLLBACK');
    holder.release();
  }
  t.deepEqual(await tenantState(team1.tenantId), before, 'nothing changed, no event written (direct SQL)');
});

test('BeginTenantDeletion: the orchestrator only (owners, admins and operators erase through a job); idempotent; suspends the subscription; one event', async (t) => {
  for (const who of EVERYONE) {
    const team1 = await team();
    const before = await tenantState(team1.tenantId);
    const allowed = who === 'service';
    const result = await outcome(api.beginTenantDeletion({ tenantId: team1.tenantId }, await team1.token(who)));
    t.is(status[result.code], allowed ? 'OK' : 'PERMISSION_DENIED', `by ${who}`);
    if (!allowed) {
      t.deepEqual(await tenantState(team1.tenantId), before, `refused request by ${who} changed nothing and wrote no event`);
      continue;
    }
    const [row] = await sql<{ status: string; deleting_since: Date | null; sub: string; cancelled_at: Date | null }>(
      `SELECT t.status, t.deleting_since, s.status AS sub, s.cancelled_at FROM tenants t JOIN subscriptions s ON s.tenant_id = t.id WHERE t.id = $1`,
      [team1.tenantId],
    );
    t.is(row!.status, 'DELETING');
    t.truthy(row!.deleting_since);
    t.is(row!.sub, 'SUSPENDED', 'suspended, not cancelled: a restore during the grace period brings it back');
    t.is(row!.cancelled_at, null);
    t.deepEqual(await events(team1.tenantId), [{ event_type: 'tenant.deletion_requested', payload: { tenant_id: team1.tenantId } }]);
    const again = await api.beginTenantDeletion({ tenantId: team1.tenantId }, await team1.token(who));
    t.is(again.tenant!.status, TenantStatus.TENANT_STATUS_DELETING, 'a second request succeeds');
    t.deepEqual(again.tenant!.deletionBeginTime, row!.deleting_since!, 'and keeps the first request time');
    t.is((await events(team1.tenantId)).length, 1, 'no second event');
  }
});

test('a DELETING tenant is hidden from normal use; GetTenant shows its state', async (t) => {
  const team1 = await team();
  await api.beginTenantDeletion({ tenantId: team1.tenantId }, svc);
  const before = await tenantState(team1.tenantId);
  const { tenantId, ids } = team1;
  for (const who of ['owner', 'operator'] as const) {
    const token = await team1.token(who);
    t.is(await codeOf(api.addMember({ tenantId, userId: randomUUID(), role: Role.ROLE_MEMBER }, token)), 'FAILED_PRECONDITION', `AddMember by ${who}`);
  }
  for (const who of ['owner', 'service'] as const) {
    const token = await team1.token(who);
    t.is(
      await codeOf(api.transferOwnership({ tenantId, newOwnerId: ids.admin, currentOwnerId: who === 'service' ? ids.owner : '' }, token)),
      'FAILED_PRECONDITION',
      `TransferOwnership by ${who}`,
    );
  }
  const member = await team1.token('member');
  t.is(await codeOf(api.listMembers({ tenantId }, member)), 'FAILED_PRECONDITION');
  t.is(await codeOf(api.getTenantAdmins({ tenantId }, member)), 'FAILED_PRECONDITION');
  t.is((await api.listMembers({ tenantId }, svc)).members.length, 4, 'services still see the members (the erasure needs them)');
  t.is((await api.getTenantAdmins({ tenantId }, svc)).admins.length, 2);
  const { tenant } = await api.getTenant({ tenantId }, member);
  t.is(tenant!.status, TenantStatus.TENANT_STATUS_DELETING);
  t.truthy(tenant!.deletionBeginTime);
  t.is(tenant!.subscription!.status, SubscriptionStatus.SUBSCRIPTION_STATUS_SUSPENDED);
  t.is(tenant!.subscription!.cancelTime, undefined);
  t.deepEqual(await tenantState(tenantId), before, 'nothing changed');
});

test('DeleteUserMemberships: services only; refuses the owner of an ACTIVE tenant and changes nothing', async (t) => {
  const user = randomUUID();
  const owned = (await api.createTenant({ name: 'Owned', ownerId: user, plan: '' }, op)).tenant!.id;
  const heir = randomUUID();
  await api.addMember({ tenantId: owned, userId: heir, role: Role.ROLE_ADMIN }, op);
  const team1 = await team();
  const team2 = await team();
  await api.addMember({ tenantId: team1.tenantId, userId: user, role: Role.ROLE_MEMBER }, op);
  await api.addMember({ tenantId: team2.tenantId, userId: user, role: Role.ROLE_ADMIN }, op);
  const tenants = [owned, team1.tenantId, team2.tenantId];
  const snapshotAll = async () => Promise.all(tenants.map(tenantState));

  const before = await snapshotAll();
  for (const token of [await userToken(user), await team1.token('owner')]) {
    t.is(await codeOf(api.deleteUserMemberships({ userId: user, validateOnly: false }, token)), 'PERMISSION_DENIED', 'user tokens are refused');
  }
  const refused = await outcome(api.deleteUserMemberships({ userId: user, validateOnly: false }, svc));
  t.is(status[refused.code], 'FAILED_PRECONDITION');
  t.true(refused.message.includes(owned), `the message names the tenant: ${refused.message}`);
  t.false(refused.message.includes(team1.tenantId));
  t.deepEqual(await snapshotAll(), before, 'nothing changed, no event written (direct SQL)');

  const preview = await api.deleteUserMemberships({ userId: user, validateOnly: true }, svc);
  const byTenant = new Map(preview.outcomes.map((o) => [o.tenantId, o]));
  t.is(preview.outcomes.length, 3);
  t.like(byTenant.get(owned), { role: Role.ROLE_OWNER, removal: MembershipRemoval.MEMBERSHIP_REMOVAL_REFUSED });
  t.true(byTenant.get(owned)!.reason.length > 10);
  t.like(byTenant.get(team1.tenantId), { role: Role.ROLE_MEMBER, removal: MembershipRemoval.MEMBERSHIP_REMOVAL_REMOVED, reason: '' });
  t.like(byTenant.get(team2.tenantId), { role: Role.ROLE_ADMIN, removal: MembershipRemoval.MEMBERSHIP_REMOVAL_REMOVED });
  t.deepEqual(await snapshotAll(), before, 'validate_only changed nothing');

  await api.transferOwnership({ tenantId: owned, newOwnerId: heir, currentOwnerId: user }, svc);
  const removed = await api.deleteUserMemberships({ userId: user, validateOnly: false }, svc);
  t.is(removed.outcomes.length, 3);
  t.true(removed.outcomes.every((o) => o.removal === MembershipRemoval.MEMBERSHIP_REMOVAL_REMOVED));
  t.deepEqual(await sql('SELECT tenant_id FROM tenant_members WHERE user_id = $1', [user]), [], 'no membership left (direct SQL)');
  for (const tenantId of tenants) {
    const removedEvents = await events(tenantId, 'membership.removed');
    t.is(removedEvents.length, 1, `one membership.removed event for ${tenantId}`);
    t.like(removedEvents[0]!.payload, { tenant_id: tenantId });
    t.regex(String(removedEvents[0]!.payload.user_ref), /^erased:v1:[\w-]{43}$/, 'a pseudonym of the user, not their id');
    t.false(JSON.stringify(removedEvents[0]!.payload).includes(user), 'no raw id of the erased user in the event');
  }
  t.deepEqual((await api.deleteUserMemberships({ userId: user, validateOnly: false }, svc)).outcomes, [], 'again: nothing left');
  t.is((await api.listMembers({ tenantId: team1.tenantId }, svc)).members.length, 4, 'the other members stay');
});

test('DeleteUserMemberships removes the owner of a DELETING tenant', async (t) => {
  const team1 = await team();
  await api.beginTenantDeletion({ tenantId: team1.tenantId }, svc);
  const { outcomes } = await api.deleteUserMemberships({ userId: team1.ids.owner, validateOnly: false }, svc);
  t.deepEqual(outcomes, [
    { tenantId: team1.tenantId, role: Role.ROLE_OWNER, removal: MembershipRemoval.MEMBERSHIP_REMOVAL_REMOVED, reason: '' },
  ]);
  t.deepEqual(await sql('SELECT 1 FROM tenant_members WHERE user_id = $1', [team1.ids.owner]), []);
});

test('ListUserMemberships: the user themself or a service; what a user erasure needs per tenant', async (t) => {
  const user = randomUUID();
  const soloTenant = (await api.createTenant({ name: 'Solo', ownerId: user, plan: '' }, op)).tenant!.id;
  const team1 = await team();
  await api.addMember({ tenantId: team1.tenantId, userId: user, role: Role.ROLE_VIEWER }, op);
  const team2 = await team();
  await api.addMember({ tenantId: team2.tenantId, userId: user, role: Role.ROLE_ADMIN }, op);
  await api.beginTenantDeletion({ tenantId: team2.tenantId }, svc);

  const self = await api.listUserMemberships({ userId: user }, await userToken(user));
  const fromService = await api.listUserMemberships({ userId: user }, svc);
  t.deepEqual(self, fromService);
  const byTenant = new Map(self.memberships.map((m) => [m.tenantId, m]));
  t.is(self.memberships.length, 3);
  t.deepEqual(byTenant.get(soloTenant), {
    tenantId: soloTenant,
    tenantStatus: TenantStatus.TENANT_STATUS_ACTIVE,
    role: Role.ROLE_OWNER,
    otherAdminExists: false,
    memberCount: 1,
  });
  t.like(byTenant.get(team1.tenantId), { role: Role.ROLE_VIEWER, otherAdminExists: true, memberCount: 5 });
  t.like(byTenant.get(team2.tenantId), {
    role: Role.ROLE_ADMIN,
    tenantStatus: TenantStatus.TENANT_STATUS_DELETING,
    otherAdminExists: true,
    memberCount: 5,
  });
  t.is(await codeOf(api.listUserMemberships({ userId: user }, await team1.token('owner'))), 'PERMISSION_DENIED', 'another user');
  t.deepEqual((await api.listUserMemberships({ userId: randomUUID() }, svc)).memberships, [], 'unknown user: no memberships');
});

test('unknown tenant: NOT_FOUND for the orchestrator and operators, PERMISSION_DENIED for users (no probing)', async (t) => {
  const tenantId = randomUUID();
  const someone = await userToken(randomUUID());
  const calls = (token: string) => ({
    GetTenant: () => api.getTenant({ tenantId }, token),
    ListMembers: () => api.listMembers({ tenantId }, token),
    GetTenantAdmins: () => api.getTenantAdmins({ tenantId }, token),
    AddMember: () => api.addMember({ tenantId, userId: randomUUID(), role: Role.ROLE_MEMBER }, token),
    TransferOwnership: () => api.transferOwnership({ tenantId, newOwnerId: randomUUID(), currentOwnerId: token === someone ? '' : randomUUID() }, token),
    BeginTenantDeletion: () => api.beginTenantDeletion({ tenantId }, token),
  });
  // Each method by every non-user the caller rules admit to it.
  for (const [who, token, kind] of [['the orchestrator', svc, 'service'], ['an operator', op, 'operator']] as const) {
    for (const [method, call] of Object.entries(calls(token))) {
      if (admitted(method, kind)) t.is(await codeOf(call()), 'NOT_FOUND', `${method} by ${who}`);
    }
  }
  for (const [method, call] of Object.entries(calls(someone))) t.is(await codeOf(call()), 'PERMISSION_DENIED', `${method} by a user`);
  // An existing tenant the user does not belong to answers exactly the same.
  const other = await team();
  const outsider = await other.token('outsider');
  const unknown = await outcome(api.getTenant({ tenantId }, outsider));
  const existing = await outcome(api.getTenant({ tenantId: other.tenantId }, outsider));
  t.is(unknown.code, existing.code);
  t.is(unknown.message.replace(tenantId, '<id>'), existing.message.replace(other.tenantId, '<id>'), 'same message');
  t.deepEqual(await sql('SELECT 1 FROM tenant_members WHERE tenant_id = $1', [tenantId]), []);
});

test('malformed ids are INVALID_ARGUMENT for every RPC, for every caller the rules admit (the others are PERMISSION_DENIED first)', async (t) => {
  const bad = 'tenant-42';
  const id = randomUUID();
  for (const [token, kind] of [[svc, 'service'], [op, 'operator'], [await userToken(id), 'user']] as const) {
    const calls = {
      CreateTenant: () => api.createTenant({ name: 'X', ownerId: bad, plan: '' }, token),
      GetTenant: () => api.getTenant({ tenantId: bad }, token),
      AddMember: () => api.addMember({ tenantId: bad, userId: id, role: Role.ROLE_MEMBER }, token),
      'AddMember.user_id': () => api.addMember({ tenantId: id, userId: bad, role: Role.ROLE_MEMBER }, token),
      ListMembers: () => api.listMembers({ tenantId: '' }, token),
      GetTenantAdmins: () => api.getTenantAdmins({ tenantId: bad }, token),
      TransferOwnership: () => api.transferOwnership({ tenantId: bad, newOwnerId: id, currentOwnerId: id }, token),
      'TransferOwnership.new_owner_id': () => api.transferOwnership({ tenantId: id, newOwnerId: bad, currentOwnerId: id }, token),
      BeginTenantDeletion: () => api.beginTenantDeletion({ tenantId: bad }, token),
      ListUserMemberships: () => api.listUserMemberships({ userId: bad }, token),
    };
    for (const [method, call] of Object.entries(calls)) {
      t.is(await codeOf(call()), admitted(method, kind) ? 'INVALID_ARGUMENT' : 'PERMISSION_DENIED', `${method} (${kind})`);
    }
  }
  t.is(await codeOf(api.deleteUserMemberships({ userId: bad, validateOnly: false }, svc)), 'INVALID_ARGUMENT');
  t.is(
    await codeOf(api.transferOwnership({ tenantId: id, newOwnerId: id, currentOwnerId: bad }, svc)),
    'INVALID_ARGUMENT',
    'current_owner_id',
  );
});

test('a missing or invalid token is UNAUTHENTICATED', async (t) => {
  const tenantId = randomUUID();
  t.is(await codeOf(api.getTenant({ tenantId })), 'UNAUTHENTICATED');
  t.is(await codeOf(api.getTenant({ tenantId }, 'not.a.jwt')), 'UNAUTHENTICATED');
  t.is(await codeOf(api.deleteUserMemberships({ userId: tenantId, validateOnly: false })), 'UNAUTHENTICATED');
});

test('TenantDataDeletion.Delete of a tenant removes its rows and records tenant.deleted with the last chunk', async (t) => {
  const control = await team();
  const target = await team();
  await api.beginTenantDeletion({ tenantId: target.tenantId }, svc);
  const controlBefore = await tenantState(control.tenantId);
  const previewed = await preview(erasure, tenantSubject(target.tenantId), svc);
  t.is(previewed.totalRows, String(1 + 4 + 1), 'tenant row, four memberships, subscription');
  const erased = await runDelete(erasure, tenantSubject(target.tenantId), svc);
  t.is(erased.error, undefined);
  t.is(erased.messages.at(-1)!.result!.totalRows, '6');
  t.deepEqual(await sql('SELECT 1 FROM tenants WHERE id = $1', [target.tenantId]), []);
  t.deepEqual(await sql('SELECT 1 FROM tenant_members WHERE tenant_id = $1', [target.tenantId]), []);
  t.deepEqual(await sql('SELECT 1 FROM subscriptions WHERE tenant_id = $1', [target.tenantId]), []);
  t.deepEqual(
    (await events(target.tenantId)).map((e) => e.event_type),
    ['tenant.deletion_requested', 'tenant.deleted'],
    'the events survive the erasure',
  );
  t.deepEqual((await events(target.tenantId, 'tenant.deleted'))[0]!.payload, { tenant_id: target.tenantId, status: 'DELETING' });
  t.deepEqual(await tenantState(control.tenantId), controlBefore, 'the control tenant is unchanged');
  const again = await runDelete(erasure, tenantSubject(target.tenantId), svc);
  t.is(again.messages.at(-1)!.result!.totalRows, '0');
  t.is((await events(target.tenantId, 'tenant.deleted')).length, 1, 'a second Delete records nothing');
  t.is(await codeOf(api.getTenant({ tenantId: target.tenantId }, svc)), 'NOT_FOUND');
  t.is(await codeOf(api.getTenant({ tenantId: target.tenantId }, await target.token('owner'))), 'PERMISSION_DENIED');
});

test('TenantDataDeletion.Delete of a user is refused while the user owns an ACTIVE tenant', async (t) => {
  const team1 = await team();
  const before = await tenantState(team1.tenantId);
  const refused = await runDelete(erasure, userSubject(team1.ids.owner), svc);
  t.is(refused.error?.code, status.FAILED_PRECONDITION);
  t.true(refused.error!.details.includes(team1.tenantId), refused.error!.details);
  t.deepEqual(refused.messages, [], 'nothing was deleted');
  t.deepEqual(await tenantState(team1.tenantId), before);

  // A plain member can be erased at any time; only their membership goes.
  const erased = await runDelete(erasure, userSubject(team1.ids.member), svc);
  t.is(erased.messages.at(-1)!.result!.totalRows, '1');
  t.deepEqual(await sql('SELECT 1 FROM tenant_members WHERE user_id = $1', [team1.ids.member]), []);

  await api.transferOwnership({ tenantId: team1.tenantId, newOwnerId: team1.ids.admin, currentOwnerId: team1.ids.owner }, svc);
  const afterTransfer = await runDelete(erasure, userSubject(team1.ids.owner), svc);
  t.is(afterTransfer.error, undefined);
  t.is(afterTransfer.messages.at(-1)!.result!.totalRows, '1');
  t.deepEqual(await sql(`SELECT count(*)::int AS n FROM tenant_members WHERE tenant_id = $1`, [team1.tenantId]), [{ n: 2 }]);
});
