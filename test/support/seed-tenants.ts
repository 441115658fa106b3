/**
 * Many small tenants at once, for the tests that erase tens of them in one go. services/seed.ts
 * seedTenant serves one tenant: for each of the fourteen databases it opens a connection, counts every
 * table twice and ANALYZEs the whole database, and the auth seeder hashes a password on each call. For
 * 50 tenants of 120 rows that was 47 s of a 72 s test (test/orchestrator.test.ts), the erasures 25 s.
 * Here the same seeders write the same rows per tenant over the test's own pools, the users of all
 * tenants get their auth records in one call (one hash), and each database is analyzed once, after all
 * its rows are in (fresh statistics before any preview or delete, as seedTenant leaves them).
 */
import { randomUUID } from 'node:crypto';
import type { Pool } from 'pg';
import { domainServiceDefinitions, identityServiceDefinitions } from '../../services/definitions';

/**
 * Seeds every tenant of `tenantIds` with `users` fresh users (the first the owner, the second an admin)
 * and `rowsPerService` rows in each domain service; `pools` holds a pool per service database (the
 * mesh's names). Returns each tenant's user ids.
 */
export async function seedTenants(
  pools: Map<string, Pool>,
  tenantIds: string[],
  { rowsPerService, users }: { rowsPerService: number; users: number },
): Promise<Map<string, string[]>> {
  const usersOf = new Map(tenantIds.map((id) => [id, Array.from({ length: users }, () => randomUUID())]));
  const identity = new Map(identityServiceDefinitions().map(({ definition }) => [definition.name, definition]));
  const tenantService = identity.get('tenant')!;
  const auth = identity.get('auth')!;
  const pool = (name: string) => pools.get(name)!;
  await Promise.all([
    // The identity services get the tenant row and memberships, and the users, not a share of the
    // rows: `rows` is the number of users, as seedTenant gives them (services/seed.ts).
    (async () => {
      for (const [tenantId, userIds] of usersOf) await tenantService.seed(pool('tenant'), { tenantId, userIds, rows: userIds.length });
    })(),
    (async () => {
      const everyone = [...usersOf.values()].flat();
      await auth.seed(pool('auth'), { tenantId: tenantIds[0]!, userIds: everyone, rows: everyone.length });
    })(),
    ...domainServiceDefinitions().map(async (service) => {
      for (const [tenantId, userIds] of usersOf) await service.seed(pool(service.name), { tenantId, userIds, rows: rowsPerService });
    }),
  ]);
  await Promise.all(['tenant', 'auth', ...domainServiceDefinitions().map((s) => s.name)].map((name) => pool(name).query('ANALYZE')));
  return usersOf;
}
