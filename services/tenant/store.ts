/** The tenant service's reads and writes that several handlers share, over its models, and their proto mapping. */
import type { LOCK, Sequelize, Transaction } from 'sequelize';
import {
  Role,
  SubscriptionStatus,
  TenantStatus,
  type Member,
  type Tenant,
} from '../../gen/bakery/tenant/v1/tenant_service';
import type { Principal } from '../kit/auth';
import { failedPrecondition, notFound, permissionDenied } from '../kit/errors';
import { ROLES, type MemberAttributes, type RoleName, type TenantModels, type TenantRecord } from './models';

export type { RoleName } from './models';
export const ALL_ROLES: readonly RoleName[] = ROLES;
export const MANAGING_ROLES: readonly RoleName[] = ['OWNER', 'ADMIN'];

const ROLE_TO_PROTO: Record<RoleName, Role> = {
  OWNER: Role.ROLE_OWNER,
  ADMIN: Role.ROLE_ADMIN,
  MEMBER: Role.ROLE_MEMBER,
  VIEWER: Role.ROLE_VIEWER,
};

export const roleToProto = (role: RoleName): Role => ROLE_TO_PROTO[role];

export function roleFromProto(role: Role): RoleName | undefined {
  return (Object.keys(ROLE_TO_PROTO) as RoleName[]).find((name) => ROLE_TO_PROTO[name] === role);
}

export const tenantStatusToProto = (status: string): TenantStatus =>
  status === 'DELETING' ? TenantStatus.TENANT_STATUS_DELETING : TenantStatus.TENANT_STATUS_ACTIVE;

/** A tenant read with its subscription (see readTenant). */
export function tenantToProto(tenant: TenantRecord): Tenant {
  const subscription = tenant.subscription;
  return {
    id: tenant.id,
    name: tenant.name,
    ownerId: tenant.ownerId,
    status: tenantStatusToProto(tenant.status),
    createTime: tenant.createdAt,
    deletionBeginTime: tenant.deletingSince ?? undefined,
    subscription: subscription
      ? {
          plan: subscription.plan,
          status: SubscriptionStatus[`SUBSCRIPTION_STATUS_${subscription.status}`],
          cancelTime: subscription.cancelledAt ?? undefined,
        }
      : undefined,
  };
}

export function memberToProto(member: Pick<MemberAttributes, 'tenantId' | 'userId' | 'role' | 'joinedAt'>): Member {
  return { tenantId: member.tenantId, userId: member.userId, role: roleToProto(member.role), joinTime: member.joinedAt };
}

/** Where a read runs (the caller's transaction, if any) and which row lock it takes. */
export interface ReadOptions {
  transaction?: Transaction;
  lock?: LOCK;
}

/** Reads a tenant with its subscription, optionally locking the tenant row. */
export async function readTenant(models: TenantModels, tenantId: string, options: ReadOptions = {}): Promise<TenantRecord | null> {
  return models.Tenant.findByPk(tenantId, {
    include: [{ model: models.Subscription, as: 'subscription' }],
    transaction: options.transaction,
    // Only the tenant row: the subscription is the nullable side of an outer join, which PostgreSQL cannot lock.
    lock: options.lock && { level: options.lock, of: models.Tenant },
  });
}

export async function memberRole(
  models: TenantModels,
  tenantId: string,
  userId: string,
  transaction?: Transaction,
): Promise<RoleName | undefined> {
  const member = await models.TenantMember.findOne({ attributes: ['role'], where: { tenantId, userId }, transaction });
  return member?.role;
}

/**
 * Checks that the caller may act on the tenant, permission before existence: a user must be a member
 * with one of `roles` (a non-member gets PERMISSION_DENIED whether or not the tenant exists); a service
 * may act on any tenant and learns NOT_FOUND for an unknown one. Returns the tenant, locked if asked.
 */
export async function authorize(
  models: TenantModels,
  principal: Principal,
  tenantId: string,
  roles: readonly RoleName[],
  action: string,
  options: ReadOptions = {},
): Promise<{ tenant: TenantRecord; callerRole?: RoleName }> {
  const tenant = await readTenant(models, tenantId, options);
  if (principal.kind === 'user') {
    const role = tenant && (await memberRole(models, tenantId, principal.userId, options.transaction));
    if (!role || !roles.includes(role)) throw permissionDenied(`the caller may not ${action} tenant ${tenantId}`);
    return { tenant: tenant!, callerRole: role };
  }
  if (!tenant) throw notFound(`tenant ${tenantId} not found`);
  return { tenant };
}

/** A tenant being deleted is hidden from normal use. */
export function requireActive(tenant: TenantRecord): void {
  if (tenant.status !== 'ACTIVE') {
    throw failedPrecondition(`tenant ${tenant.id} is being deleted (since ${tenant.deletingSince?.toISOString()})`, 'TENANT_DELETING');
  }
}

/**
 * Runs `work` in one Sequelize transaction (committed when it resolves, rolled back when it throws). A
 * lock wait longer than `lockTimeoutMs` fails with 55P03, which maps to ABORTED (a lost race the
 * caller may retry). The timeout is a session setting, which only SQL can make.
 */
export function inTransaction<T>(sequelize: Sequelize, work: (transaction: Transaction) => Promise<T>, lockTimeoutMs = 5000): Promise<T> {
  return sequelize.transaction(async (transaction) => {
    await sequelize.query(`SET LOCAL lock_timeout = ${Math.round(lockTimeoutMs)}`, { transaction });
    return work(transaction);
  });
}

/** Writes an event into the outbox, in the caller's transaction. */
export async function recordEvent(
  models: TenantModels,
  transaction: Transaction,
  eventType: string,
  aggregateId: string,
  payload: Record<string, unknown>,
): Promise<void> {
  await models.OutboxEvent.create({ eventType, aggregateId, payload }, { transaction, returning: false });
}
