import { Op, Transaction, UniqueConstraintError, fn, type Order, type Sequelize, type WhereOptions } from 'sequelize';
import {
  MembershipRemoval,
  Role,
  TenantServiceService,
  TenantStatus,
  type AddMemberRequest,
  type AddMemberResponse,
  type BeginTenantDeletionRequest,
  type BeginTenantDeletionResponse,
  type CancelTenantDeletionRequest,
  type CancelTenantDeletionResponse,
  type CreateTenantRequest,
  type CreateTenantResponse,
  type DeleteUserMembershipsRequest,
  type DeleteUserMembershipsResponse,
  type GetTenantAdminsRequest,
  type GetTenantAdminsResponse,
  type GetTenantRequest,
  type GetTenantResponse,
  type ListMembersRequest,
  type ListMembersResponse,
  type ListUserMembershipsRequest,
  type ListTenantsRequest,
  type ListTenantsResponse,
  type ListUserMembershipsResponse,
  type MembershipOutcome,
  type TransferOwnershipRequest,
  type TransferOwnershipResponse,
} from '../../gen/bakery/tenant/v1/tenant_service';
import { requireNotUser, type Principal } from '../kit/auth';
import {
  aborted,
  alreadyExists,
  failedPrecondition,
  invalidArgument,
  notFound,
  permissionDenied,
  requireUuid,
} from '../kit/errors';
import { decodePageToken, pageSize, toPage } from '../kit/pagination';
import { TEXT, requireText } from '../kit/validation';
import { pseudonym, pseudonymKey, refuseErased, type IsErased } from './erased';
import { unary, type RpcDeps } from '../kit/rpc';
import { withSequelizeErrors } from '../kit/sequelize-errors';
import type { HostedService } from '../kit/server';
import { tenantModels, type RoleName, type TenantAttributes, type TenantStatusName } from './models';
import {
  ALL_ROLES,
  MANAGING_ROLES,
  authorize,
  inTransaction,
  memberRole,
  memberToProto,
  readTenant,
  recordEvent,
  requireActive,
  roleFromProto,
  roleToProto,
  tenantStatusToProto,
  tenantToProto,
} from './store';

export const TENANT_SERVICE = 'bakery.tenant.v1.TenantService';

/** By join time, then id; every member list then puts the owner first (ownerFirst). */
const MEMBER_ORDER: Order = [
  ['joinedAt', 'ASC'],
  ['userId', 'ASC'],
];

/** The order every member list uses: owner first, the rest as read (a stable sort). */
const ownerFirst = <M extends { role: RoleName }>(members: M[]): M[] =>
  [...members].sort((a, b) => Number(b.role === 'OWNER') - Number(a.role === 'OWNER'));

const requireName = (name: string): string => requireText(name, 'name', TEXT.name);

function requirePlan(plan: string): string {
  if (plan === '') return 'trial';
  requireText(plan, 'plan', TEXT.plan);
  if (!/^[a-z][a-z0-9_-]{0,31}$/.test(plan)) {
    throw invalidArgument('plan must be 1 to 32 lower-case letters, digits, "-" or "_", starting with a letter');
  }
  return plan;
}

/** The role AddMember may give: ownership only ever changes through TransferOwnership. */
function requireGrantableRole(role: Role): RoleName {
  const name = roleFromProto(role);
  if (!name) throw invalidArgument('role is required: ROLE_ADMIN, ROLE_MEMBER or ROLE_VIEWER');
  if (name === 'OWNER') throw invalidArgument('role ROLE_OWNER cannot be added; use TransferOwnership');
  return name;
}

/** ListTenants pages: 50 tenants unless asked, at most 500. */
const TENANT_PAGES = { defaultSize: 50, maxSize: 500 };

/** The one caller that changes a tenant's state: its erasure is a job of the orchestrator's. */
const ORCHESTRATOR = 'orchestrator';

/**
 * The caller rules (mesh/caller-rules.ts) already admit only the orchestrator to the RPCs that change
 * a tenant's state or remove memberships; the handlers say so again, so a loosened rule cannot open them.
 */
function requireOrchestrator(principal: Principal): void {
  if (principal.kind !== 'service' || principal.service !== ORCHESTRATOR) {
    throw permissionDenied("only the orchestrator may change a tenant's deletion state or memberships");
  }
}

export interface TenantApiOptions {
  /**
   * Asked before an id from a request is written (owner, member, new owner): an erased one is refused.
   * The service's start-up wires the tombstone client; without one nothing is refused.
   */
  isErased?: IsErased;
  /** Key of the pseudonyms written instead of an erased user's id (default `pseudonymKey()`). */
  pseudonymKey?: Buffer;
}

/** The TenantService implementation over the tenant database's models. */
export function tenantApi(sequelize: Sequelize, rpcDeps: RpcDeps, options: TenantApiOptions = {}): HostedService {
  const deps = withSequelizeErrors(rpcDeps);
  const { isErased } = options;
  let key = options.pseudonymKey;
  const erasedRef = (userId: string) => pseudonym((key ??= pseudonymKey()), 'user', userId);
  const models = tenantModels(sequelize);
  const { Tenant, TenantMember, Subscription, OutboxEvent } = models;

  const createTenant = unary<CreateTenantRequest, CreateTenantResponse>(deps, 'CreateTenant', async (request, { principal }) => {
    const name = requireName(request.name);
    const plan = requirePlan(request.plan);
    let ownerId: string;
    if (principal.kind === 'user') {
      ownerId = request.ownerId === '' ? principal.userId : requireUuid(request.ownerId, 'owner_id');
      if (ownerId !== principal.userId) throw permissionDenied('a user can only create a tenant they own themself');
    } else {
      ownerId = requireUuid(request.ownerId, 'owner_id');
    }
    await refuseErased(isErased, 'user', ownerId, 'owner_id');
    const tenant = await inTransaction(sequelize, async (transaction) => {
      const { id: tenantId } = await Tenant.create({ name, ownerId }, { transaction });
      await TenantMember.create({ tenantId, userId: ownerId, role: 'OWNER' }, { transaction, returning: false });
      await Subscription.create({ tenantId, plan, status: 'ACTIVE' }, { transaction, returning: false });
      return (await readTenant(models, tenantId, { transaction }))!;
    });
    return { tenant: tenantToProto(tenant) };
  });

  const getTenant = unary<GetTenantRequest, GetTenantResponse>(deps, 'GetTenant', async (request, { principal }) => {
    const tenantId = requireUuid(request.tenantId, 'tenant_id');
    // GetTenant is the one view that still shows a DELETING tenant, with its state.
    const { tenant } = await authorize(models, principal, tenantId, ALL_ROLES, 'read');
    return { tenant: tenantToProto(tenant) };
  });

  const addMember = unary<AddMemberRequest, AddMemberResponse>(deps, 'AddMember', async (request, { principal }) => {
    const tenantId = requireUuid(request.tenantId, 'tenant_id');
    const userId = requireUuid(request.userId, 'user_id');
    const role = requireGrantableRole(request.role);
    await refuseErased(isErased, 'user', userId, 'user_id');
    const member = await inTransaction(sequelize, async (transaction) => {
      // The share lock keeps the tenant ACTIVE (and its roles as read) until the member is in.
      const { tenant } = await authorize(models, principal, tenantId, MANAGING_ROLES, 'add members to', {
        transaction,
        lock: transaction.LOCK.SHARE,
      });
      requireActive(tenant);
      try {
        return await TenantMember.create({ tenantId, userId, role }, { transaction });
      } catch (error) {
        // The one unique key AddMember can hit: (tenant_id, user_id). It never grants OWNER, so the
        // one-owner index cannot be the cause.
        if (error instanceof UniqueConstraintError) throw alreadyExists(`user ${userId} is already a member of tenant ${tenantId}`);
        throw error;
      }
    });
    return { member: memberToProto(member) };
  });

  /** Members (optionally only some roles) of a tenant the caller may read; users cannot read a DELETING one. */
  async function members(principal: Principal, tenantId: string, action: string, roles?: RoleName[]) {
    const { tenant } = await authorize(models, principal, tenantId, ALL_ROLES, action);
    if (principal.kind === 'user') requireActive(tenant);
    const rows = await TenantMember.findAll({
      where: roles ? { tenantId, role: roles } : { tenantId },
      order: MEMBER_ORDER,
    });
    return ownerFirst(rows).map(memberToProto);
  }

  const listMembers = unary<ListMembersRequest, ListMembersResponse>(deps, 'ListMembers', async (request, { principal }) => ({
    members: await members(principal, requireUuid(request.tenantId, 'tenant_id'), 'list the members of'),
  }));

  const getTenantAdmins = unary<GetTenantAdminsRequest, GetTenantAdminsResponse>(deps, 'GetTenantAdmins', async (request, { principal }) => ({
    admins: await members(principal, requireUuid(request.tenantId, 'tenant_id'), 'list the admins of', ['OWNER', 'ADMIN']),
  }));

  const transferOwnership = unary<TransferOwnershipRequest, TransferOwnershipResponse>(
    deps,
    'TransferOwnership',
    async (request, { principal }) => {
      const tenantId = requireUuid(request.tenantId, 'tenant_id');
      const newOwnerId = requireUuid(request.newOwnerId, 'new_owner_id');
      let expectedOwner: string;
      if (principal.kind === 'user') {
        if (request.currentOwnerId !== '' && requireUuid(request.currentOwnerId, 'current_owner_id') !== principal.userId) {
          throw permissionDenied('a user can only transfer an ownership they hold themself');
        }
        // Checked before any lock, so a concurrent transfer that wins meanwhile is a lost race (ABORTED).
        if ((await memberRole(models, tenantId, principal.userId)) !== 'OWNER') {
          throw permissionDenied(`the caller may not transfer the ownership of tenant ${tenantId}`);
        }
        expectedOwner = principal.userId;
      } else {
        expectedOwner = requireUuid(request.currentOwnerId, 'current_owner_id');
      }
      await refuseErased(isErased, 'user', newOwnerId, 'new_owner_id');
      return inTransaction(sequelize, async (transaction) => {
        // Every transfer of a tenant queues on this row lock, so they are applied one at a time.
        const tenant = await readTenant(models, tenantId, { transaction, lock: transaction.LOCK.UPDATE });
        if (!tenant) throw notFound(`tenant ${tenantId} not found`);
        requireActive(tenant);
        if (tenant.ownerId !== expectedOwner) {
          throw aborted(`the owner of tenant ${tenantId} is no longer ${expectedOwner} (changed concurrently); re-read and retry`, 'OWNER_CHANGED');
        }
        if (newOwnerId === tenant.ownerId) throw failedPrecondition(`user ${newOwnerId} already owns tenant ${tenantId}`, 'ALREADY_OWNER');
        const rows = await TenantMember.findAll({
          where: { tenantId, userId: [tenant.ownerId, newOwnerId] },
          order: [['userId', 'ASC']],
          lock: transaction.LOCK.UPDATE,
          transaction,
        });
        const previous = rows.find((row) => row.userId === tenant.ownerId);
        const next = rows.find((row) => row.userId === newOwnerId);
        if (next?.role !== 'ADMIN') {
          throw failedPrecondition(
            `user ${newOwnerId} is ${next ? `a ${next.role}` : 'not a member'} of tenant ${tenantId}; ownership can only go to an ADMIN`,
            'NEW_OWNER_NOT_ADMIN',
          );
        }
        if (previous?.role !== 'OWNER') {
          throw failedPrecondition(`tenant ${tenantId} has no owner membership for ${tenant.ownerId}`, 'OWNER_MEMBERSHIP_MISSING');
        }
        // Demote first: the unique index allows one OWNER per tenant at every moment.
        await previous.update({ role: 'ADMIN' }, { transaction });
        await next.update({ role: 'OWNER' }, { transaction });
        await tenant.update({ ownerId: newOwnerId }, { transaction });
        await recordEvent(models, transaction, 'ownership.transferred', tenantId, {
          tenant_id: tenantId,
          previous_owner_id: previous.userId,
          new_owner_id: newOwnerId,
        });
        return { tenant: tenantToProto(tenant), previousOwner: memberToProto(previous), newOwner: memberToProto(next) };
      });
    },
  );

  const deleteUserMemberships = unary<DeleteUserMembershipsRequest, DeleteUserMembershipsResponse>(
    deps,
    'DeleteUserMemberships',
    async (request, { principal }) => {
      requireOrchestrator(principal);
      const userId = requireUuid(request.userId, 'user_id');
      return inTransaction(sequelize, async (transaction) => {
        // Locks the memberships, then holds their tenants' status still until the decision is applied
        // (two statements: Sequelize takes one lock strength per query).
        const memberships = await TenantMember.findAll({
          where: { userId },
          order: [['tenantId', 'ASC']],
          lock: transaction.LOCK.UPDATE,
          transaction,
        });
        const tenantIds = memberships.map((member) => member.tenantId);
        const tenants = tenantIds.length
          ? await Tenant.findAll({
              attributes: ['id', 'status'],
              where: { id: tenantIds },
              order: [['id', 'ASC']],
              lock: transaction.LOCK.SHARE,
              transaction,
            })
          : [];
        const statusOf = new Map(tenants.map((tenant) => [tenant.id, tenant.status]));
        const outcomes: MembershipOutcome[] = memberships.map((member) => {
          const refused = member.role === 'OWNER' && statusOf.get(member.tenantId) === 'ACTIVE';
          return {
            tenantId: member.tenantId,
            role: roleToProto(member.role),
            removal: refused ? MembershipRemoval.MEMBERSHIP_REMOVAL_REFUSED : MembershipRemoval.MEMBERSHIP_REMOVAL_REMOVED,
            reason: refused ? 'the user owns this ACTIVE tenant: transfer the ownership or erase the tenant first' : '',
          };
        });
        if (request.validateOnly) return { outcomes };
        const refused = outcomes.filter((o) => o.removal === MembershipRemoval.MEMBERSHIP_REMOVAL_REFUSED);
        if (refused.length) {
          throw failedPrecondition(
            `user ${userId} owns ACTIVE tenant(s) ${refused.map((o) => o.tenantId).join(', ')}: transfer the ownership or erase ` +
              'the tenant first; no membership was removed',
            'USER_OWNS_ACTIVE_TENANT',
          );
        }
        if (memberships.length) {
          await TenantMember.destroy({ where: { id: memberships.map((member) => member.id) }, transaction });
          await OutboxEvent.bulkCreate(
            memberships.map((member) => ({
              eventType: 'membership.removed',
              aggregateId: member.tenantId,
              // Only a user erasure removes memberships this way: the event keeps a pseudonym, not the id.
              payload: { tenant_id: member.tenantId, user_ref: erasedRef(userId), role: member.role },
            })),
            { transaction },
          );
        }
        return { outcomes };
      });
    },
  );

  const beginTenantDeletion = unary<BeginTenantDeletionRequest, BeginTenantDeletionResponse>(
    deps,
    'BeginTenantDeletion',
    async (request, { principal }) => {
      requireOrchestrator(principal);
      const tenantId = requireUuid(request.tenantId, 'tenant_id');
      const tenant = await inTransaction(sequelize, async (transaction) => {
        const { tenant } = await authorize(models, principal, tenantId, MANAGING_ROLES, 'request the deletion of', {
          transaction,
          lock: transaction.LOCK.UPDATE,
        });
        if (tenant.status === 'DELETING') return tenant; // idempotent: no second event
        await Tenant.update({ status: 'DELETING', deletingSince: fn('now') }, { where: { id: tenantId }, transaction });
        // Suspended, not cancelled: a restore during the grace period returns it as it was.
        await Subscription.update({ status: 'SUSPENDED' }, { where: { tenantId, status: 'ACTIVE' }, transaction });
        await recordEvent(models, transaction, 'tenant.deletion_requested', tenantId, { tenant_id: tenantId });
        return (await readTenant(models, tenantId, { transaction }))!;
      });
      return { tenant: tenantToProto(tenant) };
    },
  );

  const cancelTenantDeletion = unary<CancelTenantDeletionRequest, CancelTenantDeletionResponse>(
    deps,
    'CancelTenantDeletion',
    async (request, { principal }) => {
      requireOrchestrator(principal);
      const tenantId = requireUuid(request.tenantId, 'tenant_id');
      const tenant = await inTransaction(sequelize, async (transaction) => {
        const tenant = await readTenant(models, tenantId, { transaction, lock: transaction.LOCK.UPDATE });
        if (!tenant) throw notFound(`tenant ${tenantId} not found`);
        if (tenant.status === 'ACTIVE') return tenant; // idempotent: no second event
        await Tenant.update({ status: 'ACTIVE', deletingSince: null }, { where: { id: tenantId }, transaction });
        // The subscription BeginTenantDeletion suspended (or, before suspension existed, cancelled) comes back with it.
        await Subscription.update({ status: 'ACTIVE', cancelledAt: null }, { where: { tenantId, status: ['SUSPENDED', 'CANCELLED'] }, transaction });
        await recordEvent(models, transaction, 'tenant.deletion_cancelled', tenantId, { tenant_id: tenantId });
        return (await readTenant(models, tenantId, { transaction }))!;
      });
      return { tenant: tenantToProto(tenant) };
    },
  );

  const listUserMemberships = unary<ListUserMembershipsRequest, ListUserMembershipsResponse>(
    deps,
    'ListUserMemberships',
    async (request, { principal }) => {
      const userId = requireUuid(request.userId, 'user_id');
      if (principal.kind === 'user' && principal.userId !== userId) {
        throw permissionDenied('a user may only list their own memberships');
      }
      // One snapshot for both reads, as one statement would see.
      const { memberships, counts } = await sequelize.transaction(
        { isolationLevel: Transaction.ISOLATION_LEVELS.REPEATABLE_READ },
        async (transaction) => {
          const memberships = await TenantMember.findAll({
            attributes: ['tenantId', 'role'],
            where: { userId },
            include: [{ model: Tenant, as: 'tenant', attributes: ['status'], required: true }],
            order: [['tenantId', 'ASC']],
            transaction,
          });
          const counts = memberships.length
            ? await TenantMember.count({ where: { tenantId: memberships.map((m) => m.tenantId) }, group: ['tenantId', 'role'], transaction })
            : [];
          return { memberships, counts };
        },
      );
      const countOf = (tenantId: string, role?: RoleName) =>
        counts
          .filter((row) => row.tenantId === tenantId && (role === undefined || row.role === role))
          .reduce((sum, row) => sum + row.count, 0);
      return {
        memberships: memberships.map((member) => ({
          tenantId: member.tenantId,
          tenantStatus: tenantStatusToProto(member.tenant!.status),
          role: roleToProto(member.role),
          otherAdminExists: countOf(member.tenantId, 'ADMIN') - (member.role === 'ADMIN' ? 1 : 0) > 0,
          memberCount: countOf(member.tenantId),
        })),
      };
    },
  );

  const listTenants = unary<ListTenantsRequest, ListTenantsResponse>(deps, 'ListTenants', async (request, { principal }) => {
    // Every tenant at once is an operator's view, not a user's.
    requireNotUser(principal);
    const size = pageSize(request.pageSize, TENANT_PAGES);
    const statusName = request.status === TenantStatus.TENANT_STATUS_UNSPECIFIED ? undefined : TenantStatus[request.status]?.replace('TENANT_STATUS_', '');
    if (request.status !== TenantStatus.TENANT_STATUS_UNSPECIFIED && statusName !== 'ACTIVE' && statusName !== 'DELETING') {
      throw invalidArgument(`unknown status ${request.status}`);
    }
    const where: WhereOptions<TenantAttributes>[] = [];
    if (statusName) where.push({ status: statusName as TenantStatusName });
    const cursor = decodePageToken(requireText(request.pageToken, 'page_token', TEXT.pageToken));
    if (cursor) {
      // (created_at, id) < the cursor's, in the page order.
      const after = new Date(cursor.createdAt);
      where.push({ [Op.or]: [{ createdAt: { [Op.lt]: after } }, { createdAt: after, id: { [Op.lt]: cursor.id } }] });
    }
    const rows = await Tenant.findAll({
      where: { [Op.and]: where },
      include: [{ model: Subscription, as: 'subscription' }],
      order: [
        ['createdAt', 'DESC'],
        ['id', 'DESC'],
      ],
      limit: size + 1,
    });
    const { items, nextPageToken } = toPage(
      rows.map((tenant) => ({ tenant, id: tenant.id, created_at: tenant.createdAt })),
      size,
    );
    const ids = items.map((item) => item.id);
    const counts = ids.length ? await TenantMember.count({ where: { tenantId: ids }, group: ['tenantId'] }) : [];
    const memberCount = new Map(counts.map((row) => [row.tenantId as string, row.count]));
    return {
      tenants: items.map(({ tenant }) => ({ tenant: tenantToProto(tenant), memberCount: memberCount.get(tenant.id) ?? 0 })),
      nextPageToken,
    };
  });

  return {
    name: TENANT_SERVICE,
    definition: TenantServiceService,
    implementation: {
      createTenant,
      getTenant,
      addMember,
      listMembers,
      getTenantAdmins,
      transferOwnership,
      deleteUserMemberships,
      beginTenantDeletion,
      cancelTenantDeletion,
      listUserMemberships,
      listTenants,
    },
  };
}
