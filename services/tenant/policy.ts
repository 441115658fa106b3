import { definePolicy } from '../kit/deletion/policy';

/**
 * A tenant erasure removes the tenant's memberships, subscription and tenant row (the tenant.deleted
 * event is written by a trigger on the tenant row). A user erasure removes the user's memberships; a
 * user who still owns a tenant is refused before anything is touched (beforeErase), because ownership
 * has to be resolved first. outbox_events holds no subject column and survives erasure.
 */
export const deletionPolicy = definePolicy({
  service: 'tenant',
  tables: {
    tenants: { tenant: { delete: { column: 'id' } } },
    tenant_members: { tenant: { delete: { column: 'tenant_id' } }, user: { delete: { column: 'user_id' } } },
    subscriptions: { tenant: { delete: { column: 'tenant_id' } } },
  },
});
