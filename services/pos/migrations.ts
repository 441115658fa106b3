import type { ServiceMigration } from '../kit/service-definition';

export const migrations: ServiceMigration[] = [
  {
    name: '0001_pos',
    up: async ({ context: db }) => {
      await db.query(`
        CREATE TABLE pos_configurations (
          id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
          tenant_id uuid NOT NULL,
          terminal_name text NOT NULL,
          shop_location text NOT NULL,
          receipt_printer text,
          currency text NOT NULL DEFAULT 'EUR',
          tse_serial text,
          created_by uuid,
          updated_by uuid,
          created_at timestamptz NOT NULL DEFAULT now()
        );
        CREATE INDEX pos_configurations_tenant_id_idx ON pos_configurations (tenant_id);
        CREATE INDEX pos_configurations_created_by_idx ON pos_configurations (created_by);
        CREATE INDEX pos_configurations_updated_by_idx ON pos_configurations (updated_by);

        CREATE TABLE pos_sessions (
          id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
          tenant_id uuid NOT NULL,
          configuration_id uuid NOT NULL REFERENCES pos_configurations (id),
          status text NOT NULL,
          opened_by uuid,
          closed_by uuid,
          opened_at timestamptz NOT NULL DEFAULT now(),
          closed_at timestamptz,
          opening_float_cents integer NOT NULL DEFAULT 0,
          closing_cash_cents integer
        );
        CREATE INDEX pos_sessions_tenant_id_idx ON pos_sessions (tenant_id);
        CREATE INDEX pos_sessions_configuration_id_idx ON pos_sessions (configuration_id);
        CREATE INDEX pos_sessions_opened_by_idx ON pos_sessions (opened_by);
        CREATE INDEX pos_sessions_closed_by_idx ON pos_sessions (closed_by);

        -- pos_transactions carries no tenant_id: it is reached through its session.
        CREATE TABLE pos_transactions (
          id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
          session_id uuid NOT NULL REFERENCES pos_sessions (id),
          receipt_number text NOT NULL,
          payment_method text NOT NULL,
          item_count integer NOT NULL,
          total_cents integer NOT NULL,
          created_at timestamptz NOT NULL DEFAULT now()
        );
        CREATE INDEX pos_transactions_session_id_idx ON pos_transactions (session_id);

        CREATE TABLE pos_cash_movements (
          id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
          tenant_id uuid NOT NULL,
          session_id uuid NOT NULL REFERENCES pos_sessions (id),
          movement_type text NOT NULL,
          amount_cents integer NOT NULL,
          reason text,
          performed_by uuid,
          created_at timestamptz NOT NULL DEFAULT now()
        );
        CREATE INDEX pos_cash_movements_tenant_id_idx ON pos_cash_movements (tenant_id);
        CREATE INDEX pos_cash_movements_session_id_idx ON pos_cash_movements (session_id);
        CREATE INDEX pos_cash_movements_performed_by_idx ON pos_cash_movements (performed_by);
      `);
    },
    down: async ({ context: db }) => {
      await db.query(
        'DROP TABLE pos_cash_movements; DROP TABLE pos_transactions; DROP TABLE pos_sessions; ' +
          'DROP TABLE pos_configurations;',
      );
    },
  },
];
