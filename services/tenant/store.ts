import type { Pool, PoolClient } from 'pg';
import {
  Role,
  SubscriptionStatus,
  TenantStatus,
  type Member,
  type Tenant,
} from '../../gen/bakery/tenant/v1/tenant_service';
import type { Principal } from '../kit/auth';
import { failedPrecondition, notFound, permissionDenied } from '../kit/errors';

/** Roles as stored in tenant_members.role. */
export type RoleName = 'OWNER' | 'ADMIN' | 'MEMBER' | 'VIEWER';
export const ALL_ROLES: readonly RoleName[] = ['OWNER', 'ADMIN', 'MEMBER', 'VIEWER'];
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

type Queryable = Pool | PoolClient;

export interface TenantRow {
  id: string;
  name: string;
  owner_id: string;
  status: 'ACTIVE' | 'DELETING';
  created_at: Date;
  deleting_since: Date | null;
  plan: string | null;
  subscription_status: 'ACTIVE' | 'CANCELLED' | null;
  cancelled_at: Date | null;
}

export interface MemberRow {
  tenant_id: string;
  user_id: string;
  role: RoleName;
  joined_at: Date;
}

export function tenantToProto(row: TenantRow): Tenant {
  return {
    id: row.id,
    name: row.name,
    ownerId: row.owner_id,
    status: tenantStatusToProto(row.status),
    createTime: row.created_at,
    deletionBeginTime: row.deleting_since ?? undefined,
    subscription: row.plan === null
      ? undefined
      : {
          plan: row.plan,
          status:
            row.subscription_status === 'CANCELLED'
              ? SubscriptionStatus.SUBSCRIPTION_STATUS_CANCELLED
              : SubscriptionStatus.SUBSCRIPTION_STATUS_ACTIVE,
          cancelTime: row.cancelled_at ?? undefined,
        },
  };
}

export function memberToProto(row: MemberRow): Member {
  return { tenantId: row.tenant_id, userId: row.user_id, role: roleToProto(row.role), joinTime: row.joined_at };
}

/** Reads a tenant with its subscription, optionally locking the tenant row. */
export async function readTenant(db: Queryable, tenantId: string, lock?: 'UPDATE' | 'SHARE'): Promise<TenantRow | undefined> {
  const { rows } = await db.query<TenantRow>(
    `SELECT t.id, t.name, t.owner_id, t.status, t.created_at, t.deleting_since,
            s.plan, s.status AS subscription_status, s.cancelled_at
       FROM tenants t LEFT JOIN subscriptions s ON s.tenant_id = t.id
      WHERE t.id = $1 ${lock ? `FOR ${lock} OF t` : ''}`,
    [tenantId],
  );
  return rows[0];
}

export async function memberRole(db: Queryable, tenantId: string, userId: string): Promise<RoleName | undefined> {
  const { rows } = await db.query<{ role: RoleName }>('SELECT role FROM tenant_members WHERE tenant_id = $1 AND user_id = $2', [
    tenantId,
    userId,
  ]);
  return rows[0]?.role;
}

/**
 * Checks that the caller may act on the tenant, permission before existence: a user must be a member
 * with one of `roles` (a non-member gets PERMISSION_DENIED whether or not the tenant exists); a service
 * may act on any tenant and learns NOT_FOUND for an unknown one. Returns the tenant, locked if asked.
 */
export async function authorize(
  db: Queryable,
  principal: Principal,
  tenantId: string,
  roles: readonly RoleName[],
  action: string,
  lock?: 'UPDATE' | 'SHARE',
): Promise<{ tenant: TenantRow; callerRole?: RoleName }> {
  const tenant = await readTenant(db, tenantId, lock);
  if (principal.kind === 'user') {
    const role = tenant && (await memberRole(db, tenantId, principal.userId));
    if (!role || !roles.includes(role)) throw permissionDenied(`the caller may not ${action} tenant ${tenantId}`);
    return { tenant: tenant!, callerRole: role };
  }
  if (!tenant) throw notFound(`tenant ${tenantId} not found`);
  return { tenant };
}

/** A tenant being deleted is hidden from normal use. */
export function requireActive(tenant: TenantRow): void {
  if (tenant.status !== 'ACTIVE') {
    throw failedPrecondition(`tenant ${tenant.id} is being deleted (since ${tenant.deleting_since?.toISOString()})`, 'TENANT_DELETING');
  }
}

/**
 * Runs `work` in one transaction on one connection. A lock wait longer than `lockTimeoutMs` fails
 * with 55P03, which the kit maps to ABORTED (a lost race the caller may retry).
 */
export async function inTransaction<T>(pool: Pool, work: (client: PoolClient) => Promise<T>, lockTimeoutMs = 5000): Promise<T> {
  const client = await pool.connect();
  let broken = false;
  try {
    await client.query('BEGIN');
    await client.query(`SET LOCAL lock_timeout = ${Math.round(lockTimeoutMs)}`);
    const result = await work(client);
    await client.query('COMMIT');
    return result;
  } catch (error) {
    // A connection that cannot even roll back is discarded rather than returned to the pool.
    await client.query('ROLLBACK').catch(() => (broken = true));
    throw error;
  } finally {
    client.release(broken);
  }
}

/** Writes an event into the outbox, in the caller's transaction. */
export async function recordEvent(db: Queryable, eventType: string, aggregateId: string, payload: Record<string, unknown>): Promise<void> {
  await db.query('INSERT INTO outbox_events (event_type, aggregate_id, payload) VALUES ($1, $2, $3)', [
    eventType,
    aggregateId,
    JSON.stringify(payload),
  ]);
}
