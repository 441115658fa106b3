import type { ServiceMigration } from '../kit/service-definition';

export const migrations: ServiceMigration[] = [
  {
    name: '0001_tenants',
    up: async ({ context: db }) => {
      await db.query(`
        CREATE TABLE tenants (
          id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
          name text NOT NULL,
          owner_id uuid NOT NULL,
          status text NOT NULL DEFAULT 'ACTIVE' CHECK (status IN ('ACTIVE', 'DELETING')),
          created_at timestamptz NOT NULL DEFAULT now(),
          deleting_since timestamptz,
          CHECK ((status = 'DELETING') = (deleting_since IS NOT NULL))
        );
        CREATE INDEX tenants_owner_id_idx ON tenants (owner_id);

        CREATE TABLE tenant_members (
          id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
          tenant_id uuid NOT NULL REFERENCES tenants (id),
          user_id uuid NOT NULL,
          role text NOT NULL CHECK (role IN ('OWNER', 'ADMIN', 'MEMBER', 'VIEWER')),
          joined_at timestamptz NOT NULL DEFAULT now(),
          CONSTRAINT tenant_members_tenant_user_key UNIQUE (tenant_id, user_id)
        );
        CREATE INDEX tenant_members_user_id_idx ON tenant_members (user_id);
        -- The database, not the code, guarantees that a tenant never has two owners.
        CREATE UNIQUE INDEX tenant_members_one_owner_idx ON tenant_members (tenant_id) WHERE role = 'OWNER';

        CREATE TABLE subscriptions (
          id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
          tenant_id uuid NOT NULL UNIQUE REFERENCES tenants (id),
          plan text NOT NULL,
          status text NOT NULL CHECK (status IN ('ACTIVE', 'CANCELLED')),
          started_at timestamptz NOT NULL DEFAULT now(),
          cancelled_at timestamptz,
          CHECK ((status = 'CANCELLED') = (cancelled_at IS NOT NULL))
        );

        -- Events for other systems, written in the transaction of the change they report. aggregate_id
        -- is deliberately not named tenant_id/user_id: an event outlives the erasure it reports, and
        -- payloads carry ids only, never names or emails.
        CREATE TABLE outbox_events (
          id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
          event_type text NOT NULL,
          aggregate_id uuid NOT NULL,
          payload jsonb NOT NULL,
          created_at timestamptz NOT NULL DEFAULT now()
        );
        CREATE INDEX outbox_events_aggregate_id_idx ON outbox_events (aggregate_id);

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
      await db.query(`
        DROP TABLE outbox_events; DROP TABLE subscriptions; DROP TABLE tenant_members;
        DROP TRIGGER tenants_record_deleted ON tenants; DROP TABLE tenants; DROP FUNCTION record_tenant_deleted();
      `);
    },
  },
];
