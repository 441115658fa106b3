import type { Pool } from 'pg';
import {
  MembershipRemoval,
  Role,
  TenantServiceService,
  TenantStatus,
  type AddMemberRequest,
  type AddMemberResponse,
  type BeginTenantDeletionRequest,
  type BeginTenantDeletionResponse,
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
import { requireService } from '../kit/auth';
import {
  aborted,
  alreadyExists,
  failedPrecondition,
  invalidArgument,
  notFound,
  permissionDenied,
  requireUuid,
} from '../kit/errors';
import { unary, type RpcDeps } from '../kit/rpc';
import type { HostedService } from '../kit/server';
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
  type MemberRow,
  type RoleName,
  type TenantRow,
} from './store';

export const TENANT_SERVICE = 'bakery.tenant.v1.TenantService';

const MEMBER_COLUMNS = 'tenant_id, user_id, role, joined_at';
/** Owner first, then by join time: the order every member list uses. */
const MEMBER_ORDER = `ORDER BY (role = 'OWNER') DESC, joined_at, user_id`;

function requireName(name: string): string {
  const trimmed = name.trim();
  if (trimmed === '') throw invalidArgument('name is required');
  if (trimmed.length > 200) throw invalidArgument(`name must be at most 200 characters, got ${trimmed.length}`);
  return trimmed;
}

function requirePlan(plan: string): string {
  if (plan === '') return 'trial';
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

/** A ListTenants page token: the created_at and id of the page's last tenant. */
function decodeTenantPageToken(token: string): [string, string] {
  const [createdAt, id] = Buffer.from(token, 'base64url').toString().split('|');
  if (!createdAt || !id || Number.isNaN(Date.parse(createdAt)) || !/^[0-9a-f-]{36}$/i.test(id)) {
    throw invalidArgument('page_token is not a token this service issued');
  }
  return [createdAt, id];
}

/** The TenantService implementation over the tenant database. */
export function tenantApi(pool: Pool, deps: RpcDeps): HostedService {
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
    const tenant = await inTransaction(pool, async (client) => {
      const { rows } = await client.query<{ id: string }>('INSERT INTO tenants (name, owner_id) VALUES ($1, $2) RETURNING id', [
        name,
        ownerId,
      ]);
      const tenantId = rows[0]!.id;
      await client.query(`INSERT INTO tenant_members (tenant_id, user_id, role) VALUES ($1, $2, 'OWNER')`, [tenantId, ownerId]);
      await client.query(`INSERT INTO subscriptions (tenant_id, plan, status) VALUES ($1, $2, 'ACTIVE')`, [tenantId, plan]);
      return (await readTenant(client, tenantId))!;
    });
    return { tenant: tenantToProto(tenant) };
  });

  const getTenant = unary<GetTenantRequest, GetTenantResponse>(deps, 'GetTenant', async (request, { principal }) => {
    const tenantId = requireUuid(request.tenantId, 'tenant_id');
    // GetTenant is the one view that still shows a DELETING tenant, with its state.
    const { tenant } = await authorize(pool, principal, tenantId, ALL_ROLES, 'read');
    return { tenant: tenantToProto(tenant) };
  });

  const addMember = unary<AddMemberRequest, AddMemberResponse>(deps, 'AddMember', async (request, { principal }) => {
    const tenantId = requireUuid(request.tenantId, 'tenant_id');
    const userId = requireUuid(request.userId, 'user_id');
    const role = requireGrantableRole(request.role);
    const member = await inTransaction(pool, async (client) => {
      // The share lock keeps the tenant ACTIVE (and its roles as read) until the member is in.
      const { tenant } = await authorize(client, principal, tenantId, MANAGING_ROLES, 'add members to', 'SHARE');
      requireActive(tenant);
      const { rows } = await client.query<MemberRow>(
        `INSERT INTO tenant_members (tenant_id, user_id, role) VALUES ($1, $2, $3)
         ON CONFLICT (tenant_id, user_id) DO NOTHING RETURNING ${MEMBER_COLUMNS}`,
        [tenantId, userId, role],
      );
      if (!rows[0]) throw alreadyExists(`user ${userId} is already a member of tenant ${tenantId}`);
      return rows[0];
    });
    return { member: memberToProto(member) };
  });

  /** Members (optionally only some roles) of a tenant the caller may read; users cannot read a DELETING one. */
  async function members(principal: Parameters<typeof authorize>[1], tenantId: string, action: string, roles?: RoleName[]) {
    const { tenant } = await authorize(pool, principal, tenantId, ALL_ROLES, action);
    if (principal.kind === 'user') requireActive(tenant);
    const { rows } = await pool.query<MemberRow>(
      `SELECT ${MEMBER_COLUMNS} FROM tenant_members WHERE tenant_id = $1 ${roles ? 'AND role = ANY($2)' : ''} ${MEMBER_ORDER}`,
      roles ? [tenantId, roles] : [tenantId],
    );
    return rows.map(memberToProto);
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
        if ((await memberRole(pool, tenantId, principal.userId)) !== 'OWNER') {
          throw permissionDenied(`the caller may not transfer the ownership of tenant ${tenantId}`);
        }
        expectedOwner = principal.userId;
      } else {
        expectedOwner = requireUuid(request.currentOwnerId, 'current_owner_id');
      }
      return inTransaction(pool, async (client) => {
        // Every transfer of a tenant queues on this row lock, so they are applied one at a time.
        const tenant = await readTenant(client, tenantId, 'UPDATE');
        if (!tenant) throw notFound(`tenant ${tenantId} not found`);
        requireActive(tenant);
        if (tenant.owner_id !== expectedOwner) {
          throw aborted(`the owner of tenant ${tenantId} is no longer ${expectedOwner} (changed concurrently); re-read and retry`, 'OWNER_CHANGED');
        }
        if (newOwnerId === tenant.owner_id) throw failedPrecondition(`user ${newOwnerId} already owns tenant ${tenantId}`, 'ALREADY_OWNER');
        const { rows } = await client.query<MemberRow>(
          `SELECT ${MEMBER_COLUMNS} FROM tenant_members WHERE tenant_id = $1 AND user_id = ANY($2::uuid[]) ORDER BY user_id FOR UPDATE`,
          [tenantId, [tenant.owner_id, newOwnerId]],
        );
        const previous = rows.find((row) => row.user_id === tenant.owner_id);
        const next = rows.find((row) => row.user_id === newOwnerId);
        if (next?.role !== 'ADMIN') {
          throw failedPrecondition(
            `user ${newOwnerId} is ${next ? `a ${next.role}` : 'not a member'} of tenant ${tenantId}; ownership can only go to an ADMIN`,
            'NEW_OWNER_NOT_ADMIN',
          );
        }
        if (previous?.role !== 'OWNER') {
          throw failedPrecondition(`tenant ${tenantId} has no owner membership for ${tenant.owner_id}`, 'OWNER_MEMBERSHIP_MISSING');
        }
        // Demote first: the unique index allows one OWNER per tenant at every moment.
        await client.query(`UPDATE tenant_members SET role = 'ADMIN' WHERE tenant_id = $1 AND user_id = $2`, [tenantId, previous.user_id]);
        await client.query(`UPDATE tenant_members SET role = 'OWNER' WHERE tenant_id = $1 AND user_id = $2`, [tenantId, newOwnerId]);
        await client.query('UPDATE tenants SET owner_id = $2 WHERE id = $1', [tenantId, newOwnerId]);
        await recordEvent(client, 'ownership.transferred', tenantId, {
          tenant_id: tenantId,
          previous_owner_id: previous.user_id,
          new_owner_id: newOwnerId,
        });
        return {
          tenant: tenantToProto({ ...tenant, owner_id: newOwnerId }),
          previousOwner: memberToProto({ ...previous, role: 'ADMIN' }),
          newOwner: memberToProto({ ...next, role: 'OWNER' }),
        };
      });
    },
  );

  const deleteUserMemberships = unary<DeleteUserMembershipsRequest, DeleteUserMembershipsResponse>(
    deps,
    'DeleteUserMemberships',
    async (request, { principal }) => {
      requireService(principal);
      const userId = requireUuid(request.userId, 'user_id');
      return inTransaction(pool, async (client) => {
        // Locks the memberships and holds the tenants' roles and status still until the decision is applied.
        const { rows } = await client.query<{ id: string; tenant_id: string; role: RoleName; status: string }>(
          `SELECT m.id, m.tenant_id, m.role, t.status
             FROM tenant_members m JOIN tenants t ON t.id = m.tenant_id
            WHERE m.user_id = $1
            ORDER BY m.tenant_id
              FOR UPDATE OF m FOR SHARE OF t`,
          [userId],
        );
        const outcomes: MembershipOutcome[] = rows.map((row) => {
          const refused = row.role === 'OWNER' && row.status === 'ACTIVE';
          return {
            tenantId: row.tenant_id,
            role: roleToProto(row.role),
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
        if (rows.length) {
          await client.query('DELETE FROM tenant_members WHERE id = ANY($1::uuid[])', [rows.map((row) => row.id)]);
          await client.query(
            `INSERT INTO outbox_events (event_type, aggregate_id, payload)
             SELECT 'membership.removed', m.tenant_id, jsonb_build_object('tenant_id', m.tenant_id, 'user_id', $1::uuid, 'role', m.role)
               FROM unnest($2::uuid[], $3::text[]) AS m (tenant_id, role)`,
            [userId, rows.map((row) => row.tenant_id), rows.map((row) => row.role)],
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
      const tenantId = requireUuid(request.tenantId, 'tenant_id');
      const tenant = await inTransaction(pool, async (client) => {
        const { tenant } = await authorize(client, principal, tenantId, MANAGING_ROLES, 'request the deletion of', 'UPDATE');
        if (tenant.status === 'DELETING') return tenant; // idempotent: no second event
        await client.query(`UPDATE tenants SET status = 'DELETING', deleting_since = now() WHERE id = $1`, [tenantId]);
        await client.query(`UPDATE subscriptions SET status = 'CANCELLED', cancelled_at = now() WHERE tenant_id = $1 AND status = 'ACTIVE'`, [
          tenantId,
        ]);
        await recordEvent(client, 'tenant.deletion_requested', tenantId, { tenant_id: tenantId });
        return (await readTenant(client, tenantId))!;
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
      const { rows } = await pool.query<{ tenant_id: string; status: string; role: RoleName; other_admin_exists: boolean; member_count: number }>(
        `SELECT m.tenant_id, t.status, m.role,
                EXISTS (SELECT 1 FROM tenant_members o
                         WHERE o.tenant_id = m.tenant_id AND o.user_id <> m.user_id AND o.role = 'ADMIN') AS other_admin_exists,
                (SELECT count(*)::int FROM tenant_members c WHERE c.tenant_id = m.tenant_id) AS member_count
           FROM tenant_members m JOIN tenants t ON t.id = m.tenant_id
          WHERE m.user_id = $1
          ORDER BY m.tenant_id`,
        [userId],
      );
      return {
        memberships: rows.map((row) => ({
          tenantId: row.tenant_id,
          tenantStatus: tenantStatusToProto(row.status),
          role: roleToProto(row.role),
          otherAdminExists: row.other_admin_exists,
          memberCount: row.member_count,
        })),
      };
    },
  );

  const listTenants = unary<ListTenantsRequest, ListTenantsResponse>(deps, 'ListTenants', async (request, { principal }) => {
    // Every tenant at once is an operator's view, not a user's.
    requireService(principal);
    if (request.pageSize < 0 || request.pageSize > 500) throw invalidArgument('page_size must be between 0 and 500');
    const statusName = request.status === TenantStatus.TENANT_STATUS_UNSPECIFIED ? undefined : TenantStatus[request.status]?.replace('TENANT_STATUS_', '');
    if (request.status !== TenantStatus.TENANT_STATUS_UNSPECIFIED && statusName !== 'ACTIVE' && statusName !== 'DELETING') {
      throw invalidArgument(`unknown status ${request.status}`);
    }
    const pageSize = request.pageSize || 50;
    const params: unknown[] = [];
    const where: string[] = [];
    if (statusName) {
      params.push(statusName);
      where.push(`t.status = $${params.length}`);
    }
    if (request.pageToken) {
      const [createdAt, id] = decodeTenantPageToken(request.pageToken);
      params.push(createdAt, id);
      where.push(`(t.created_at, t.id) < ($${params.length - 1}::timestamptz, $${params.length}::uuid)`);
    }
    params.push(pageSize + 1);
    const { rows } = await pool.query<TenantRow & { member_count: number }>(
      `SELECT t.id, t.name, t.owner_id, t.status, t.created_at, t.deleting_since,
              s.plan, s.status AS subscription_status, s.cancelled_at,
              (SELECT count(*)::int FROM tenant_members m WHERE m.tenant_id = t.id) AS member_count
         FROM tenants t LEFT JOIN subscriptions s ON s.tenant_id = t.id
        ${where.length ? `WHERE ${where.join(' AND ')}` : ''}
        ORDER BY t.created_at DESC, t.id DESC LIMIT $${params.length}`,
      params,
    );
    const page = rows.slice(0, pageSize);
    const last = page.at(-1);
    return {
      tenants: page.map((row) => ({ tenant: tenantToProto(row), memberCount: row.member_count })),
      nextPageToken: rows.length > pageSize && last ? Buffer.from(`${last.created_at.toISOString()}|${last.id}`).toString('base64url') : '',
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
      listUserMemberships,
      listTenants,
    },
  };
}
