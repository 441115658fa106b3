import { createTables, dropTables } from '../kit/migrations';
import type { ServiceMigration } from '../kit/service-definition';
import { tables } from './models';

export const migrations: ServiceMigration[] = [
  {
    name: '0001_tenants',
    up: async ({ context: db }) => {
      const queryInterface = db.getQueryInterface();
      await createTables(queryInterface, tables);
      // The database, not the code, guarantees that a tenant never has two owners.
      await queryInterface.addIndex('tenant_members', ['tenant_id'], {
        name: 'tenant_members_one_owner_idx',
        unique: true,
        where: { role: 'OWNER' },
      });
      // What the models cannot say: CHECKs across two columns (named as PostgreSQL names them), and a trigger.
      await db.query(`
        ALTER TABLE tenants ADD CONSTRAINT tenants_check
          CHECK ((status = 'DELETING') = (deleting_since IS NOT NULL));
        ALTER TABLE subscriptions ADD CONSTRAINT subscriptions_check
          CHECK ((status = 'CANCELLED') = (cancelled_at IS NOT NULL));

        -- tenant.deleted is recorded by the database itself, so it commits with the chunk of the erasure
        -- (TenantDataDeletion.Delete) that removes the tenant row, and with nothing else.
        CREATE FUNCTION record_tenant_deleted() RETURNS trigger LANGUAGE plpgsql AS $fn$
        BEGIN
          INSERT INTO outbox_events (event_type, aggregate_id, payload)
          VALUES ('tenant.deleted', OLD.id, jsonb_build_object('tenant_id', OLD.id, 'status', OLD.status));
          RETURN NULL;
        END
        $fn$;
        CREATE TRIGGER tenants_record_deleted AFTER DELETE ON tenants
          FOR EACH ROW EXECUTE FUNCTION record_tenant_deleted();
      `);
    },
    down: async ({ context: db }) => {
      await db.query('DROP TRIGGER tenants_record_deleted ON tenants; DROP FUNCTION record_tenant_deleted();');
      await dropTables(db.getQueryInterface(), tables);
    },
  },
];
