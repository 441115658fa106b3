import { Role, TenantStatus, type Member, type UserMembership } from '../gen/bakery/tenant/v1/tenant_service';
import type { JobOptions } from './store';

/**
 * The rules for the tenants a user owns when the user is erased. A tenant is never left without an
 * owner: ownership goes to another admin where one exists; the tenant is erased with the user where
 * the user is its only member, where it is already being deleted, or where the caller asked for it
 * (`erase_owned_tenants`); otherwise the erasure is refused until someone decides.
 */
export type OwnedTenantDecision = 'transfer' | 'erase' | 'refuse';

export function decideOwnedTenant(membership: UserMembership, options: JobOptions): OwnedTenantDecision {
  if (membership.tenantStatus === TenantStatus.TENANT_STATUS_DELETING) return 'erase';
  if (membership.otherAdminExists) return 'transfer';
  if (membership.memberCount <= 1 || options.eraseOwnedTenants) return 'erase';
  return 'refuse';
}

/** The memberships in which the user is the owner. */
export function ownedTenants(memberships: UserMembership[]): UserMembership[] {
  return memberships.filter((m) => m.role === Role.ROLE_OWNER);
}

/**
 * Active owned tenants the caller must decide about before a user erasure may start (checked up
 * front, so a refused request changes nothing).
 */
export function undecidedOwnedTenants(memberships: UserMembership[], options: JobOptions): UserMembership[] {
  return ownedTenants(memberships).filter((m) => m.tenantStatus === TenantStatus.TENANT_STATUS_ACTIVE && decideOwnedTenant(m, options) === 'refuse');
}

/** Who inherits a tenant: its longest-serving admin other than the user. */
export function heirOf(admins: Member[], userId: string): Member | undefined {
  return admins
    .filter((a) => a.role === Role.ROLE_ADMIN && a.userId !== userId)
    .sort((a, b) => (a.joinTime?.getTime() ?? 0) - (b.joinTime?.getTime() ?? 0))[0];
}
