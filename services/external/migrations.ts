import type { ServiceMigration } from '../kit/service-definition';

export const migrations: ServiceMigration[] = [
  {
    name: '0001_external',
    up: async ({ context: db }) => {
      await db.query(`
        CREATE TABLE external_integrations (
          id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
          tenant_id uuid NOT NULL,
          provider text NOT NULL,
          display_name text NOT NULL,
          base_url text NOT NULL,
          api_key_hint text,
          status text NOT NULL,
          created_by uuid,
          updated_by uuid,
          created_at timestamptz NOT NULL DEFAULT now()
        );
        CREATE INDEX external_integrations_tenant_id_idx ON external_integrations (tenant_id);
        CREATE INDEX external_integrations_created_by_idx ON external_integrations (created_by);
        CREATE INDEX external_integrations_updated_by_idx ON external_integrations (updated_by);

        -- api_key_usage carries no tenant_id: it is reached through its integration.
        CREATE TABLE api_key_usage (
          id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
          integration_id uuid NOT NULL REFERENCES external_integrations (id),
          usage_hour timestamptz NOT NULL,
          endpoint text NOT NULL,
          request_count integer NOT NULL DEFAULT 0,
          error_count integer NOT NULL DEFAULT 0,
          requested_by uuid
        );
        CREATE INDEX api_key_usage_integration_id_idx ON api_key_usage (integration_id);
        CREATE INDEX api_key_usage_requested_by_idx ON api_key_usage (requested_by);

        CREATE TABLE external_data_cache (
          id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
          tenant_id uuid NOT NULL,
          integration_id uuid NOT NULL REFERENCES external_integrations (id),
          cache_key text NOT NULL,
          payload jsonb NOT NULL,
          fetched_at timestamptz NOT NULL DEFAULT now(),
          expires_at timestamptz
        );
        CREATE INDEX external_data_cache_tenant_id_idx ON external_data_cache (tenant_id);
        CREATE INDEX external_data_cache_integration_id_idx ON external_data_cache (integration_id);

        CREATE TABLE external_sync_runs (
          id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
          tenant_id uuid NOT NULL,
          integration_id uuid NOT NULL REFERENCES external_integrations (id),
          status text NOT NULL,
          records_fetched integer NOT NULL DEFAULT 0,
          error_message text,
          triggered_by uuid,
          started_at timestamptz NOT NULL DEFAULT now(),
          finished_at timestamptz
        );
        CREATE INDEX external_sync_runs_tenant_id_idx ON external_sync_runs (tenant_id);
        CREATE INDEX external_sync_runs_integration_id_idx ON external_sync_runs (integration_id);
        CREATE INDEX external_sync_runs_triggered_by_idx ON external_sync_runs (triggered_by);
      `);
    },
    down: async ({ context: db }) => {
      await db.query(
        'DROP TABLE external_sync_runs; DROP TABLE external_data_cache; DROP TABLE api_key_usage; ' +
          'DROP TABLE external_integrations;',
      );
    },
  },
];
