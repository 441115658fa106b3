import type { ServiceMigration } from '../kit/service-definition';

export const migrations: ServiceMigration[] = [
  {
    name: '0001_alert_processor',
    up: async ({ context: db }) => {
      await db.query(`
        -- Thresholds on bakery sensors and stock levels (ovens, proofers, freezers, flour silos).
        CREATE TABLE alert_rules (
          id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
          tenant_id uuid NOT NULL,
          name text NOT NULL,
          equipment text NOT NULL,
          metric text NOT NULL,
          comparator text NOT NULL,
          threshold numeric(10, 2) NOT NULL,
          severity text NOT NULL,
          enabled boolean NOT NULL DEFAULT true,
          created_by uuid,
          updated_by uuid,
          created_at timestamptz NOT NULL DEFAULT now()
        );
        CREATE INDEX alert_rules_tenant_id_idx ON alert_rules (tenant_id);
        CREATE INDEX alert_rules_created_by_idx ON alert_rules (created_by);
        CREATE INDEX alert_rules_updated_by_idx ON alert_rules (updated_by);

        CREATE TABLE alerts (
          id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
          tenant_id uuid NOT NULL,
          rule_id uuid NOT NULL REFERENCES alert_rules (id),
          status text NOT NULL,
          severity text NOT NULL,
          message text NOT NULL,
          observed_value numeric(10, 2) NOT NULL,
          triggered_at timestamptz NOT NULL DEFAULT now(),
          acknowledged_by uuid,
          acknowledged_at timestamptz,
          resolved_at timestamptz
        );
        CREATE INDEX alerts_tenant_id_idx ON alerts (tenant_id);
        CREATE INDEX alerts_rule_id_idx ON alerts (rule_id);
        CREATE INDEX alerts_acknowledged_by_idx ON alerts (acknowledged_by);

        -- alert_history carries no tenant_id: it is reached through its alert.
        CREATE TABLE alert_history (
          id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
          alert_id uuid NOT NULL REFERENCES alerts (id),
          from_status text,
          to_status text NOT NULL,
          note text,
          changed_by uuid,
          changed_at timestamptz NOT NULL DEFAULT now()
        );
        CREATE INDEX alert_history_alert_id_idx ON alert_history (alert_id);
        CREATE INDEX alert_history_changed_by_idx ON alert_history (changed_by);
      `);
    },
    down: async ({ context: db }) => {
      await db.query('DROP TABLE alert_history; DROP TABLE alerts; DROP TABLE alert_rules;');
    },
  },
];
