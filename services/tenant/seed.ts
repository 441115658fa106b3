import type { Seeder } from '../kit/service-definition';

/**
 * The tenant row, its subscription, and memberships: the plan's users first (OWNER, ADMIN, then
 * MEMBERs), then shop staff up to about `rows` rows in all (VIEWERs and MEMBERs with ids of their own).
 */
export const seed: Seeder = async (pool, { tenantId, userIds, rows }) => {
  if (userIds.length === 0) throw new Error('the tenant seed needs at least one user (the owner)');
  const staff = Math.max(0, rows - 2 - userIds.length);
  await pool.query(
    `WITH t AS (
       INSERT INTO tenants (id, name, owner_id, created_at)
       VALUES ($1::uuid, 'Bakery ' || substr($1::uuid::text, 1, 8), ($2::uuid[])[1], now() - interval '400 days')
       RETURNING id
     ), s AS (
       INSERT INTO subscriptions (tenant_id, plan, status, started_at)
       SELECT id, 'standard', 'ACTIVE', now() - interval '400 days' FROM t
     ), planned AS (
       INSERT INTO tenant_members (tenant_id, user_id, role, joined_at)
       SELECT t.id, u.id, CASE u.n WHEN 1 THEN 'OWNER' WHEN 2 THEN 'ADMIN' ELSE 'MEMBER' END,
              now() - (400 - u.n) * interval '1 day'
       FROM t CROSS JOIN unnest($2::uuid[]) WITH ORDINALITY u (id, n)
     )
     INSERT INTO tenant_members (tenant_id, user_id, role, joined_at)
     SELECT t.id, gen_random_uuid(), CASE WHEN g % 4 = 0 THEN 'MEMBER' ELSE 'VIEWER' END,
            now() - (g % 365) * interval '1 day'
     FROM t CROSS JOIN generate_series(1, $3::int) g`,
    [tenantId, userIds, staff],
  );
};
