import { failedPrecondition } from '../kit/errors';
import { freshIsErased } from '../kit/tombstone-client';
import type { ServiceExtension } from '../kit/run-service';
import { defineService } from '../kit/service-definition';
import { tenantApi } from './api';
import { pseudonymKey, pseudonymizeOutbox } from './erased';
import { migrations } from './migrations';
import { tables } from './models';
import { seed } from './seed';

/** The service definition (the convention every services/<name>/index.ts follows; see services/definitions.ts). */
export const service = defineService({
  name: 'tenant',
  tables,
  migrations,
  seed,
  eventTables: ['outbox_events'],
  // A user who owns an ACTIVE tenant cannot be erased: the tenant would be left without an owner.
  // Ownership is resolved first (TransferOwnership, or the tenant's own erasure). Tenant subjects need no guard.
  // Events written before the erasure keep a pseudonym of the user instead of their id.
  async beforeErase(pool, subject) {
    if (subject.kind !== 'user') return;
    const { rows } = await pool.query<{ id: string }>(
      `SELECT id FROM tenants WHERE owner_id = $1 AND status = 'ACTIVE' ORDER BY id`,
      [subject.id],
    );
    if (rows.length) {
      throw failedPrecondition(
        // The message names the tenants, not the user: it reaches the orchestrator's job record and logs.
        `the user owns ACTIVE tenant(s) ${rows.map((row) => row.id).join(', ')}: transfer the ownership or erase ` +
          'the tenant first',
        'USER_OWNS_ACTIVE_TENANT',
      );
    }
    await pseudonymizeOutbox(pool, pseudonymKey(), subject.id);
  },
});

/** TenantService beside the kit's TenantDataDeletion. */
export const extension: ServiceExtension = {
  // Ids from requests are checked against the tombstones afresh before they are written.
  services: ({ db, deps, tombstones }) => [tenantApi(db.sequelize, deps, { isErased: tombstones && freshIsErased(tombstones) })],
};
