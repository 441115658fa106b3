import type { ServiceMigration } from '../kit/service-definition';

export const migrations: ServiceMigration[] = [
  {
    name: '0001_production',
    up: async ({ context: db }) => {
      await db.query(`
        CREATE TABLE ovens (
          id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
          tenant_id uuid NOT NULL,
          name text NOT NULL,
          oven_type text NOT NULL,
          capacity_trays integer NOT NULL,
          max_temperature_c integer NOT NULL,
          active boolean NOT NULL DEFAULT true,
          created_by uuid,
          created_at timestamptz NOT NULL DEFAULT now()
        );
        CREATE INDEX ovens_tenant_id_idx ON ovens (tenant_id);
        CREATE INDEX ovens_created_by_idx ON ovens (created_by);

        -- recipe_code names a recipe of the recipes service (another database, so no FK).
        CREATE TABLE production_batches (
          id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
          tenant_id uuid NOT NULL,
          batch_number text NOT NULL,
          product_name text NOT NULL,
          recipe_code text,
          shift text NOT NULL CHECK (shift IN ('NIGHT', 'EARLY', 'DAY')),
          status text NOT NULL CHECK (status IN ('PLANNED', 'IN_PROGRESS', 'COMPLETED', 'CANCELLED')),
          planned_quantity integer NOT NULL,
          produced_quantity integer,
          planned_start timestamptz NOT NULL,
          assigned_to uuid,
          created_by uuid,
          created_at timestamptz NOT NULL DEFAULT now()
        );
        CREATE INDEX production_batches_tenant_id_idx ON production_batches (tenant_id);
        CREATE UNIQUE INDEX production_batches_tenant_id_batch_number_key ON production_batches (tenant_id, batch_number);
        CREATE INDEX production_batches_assigned_to_idx ON production_batches (assigned_to);
        CREATE INDEX production_batches_created_by_idx ON production_batches (created_by);

        -- batch_steps carries no tenant_id: it is reached through its batch.
        CREATE TABLE batch_steps (
          id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
          batch_id uuid NOT NULL REFERENCES production_batches (id),
          step_number integer NOT NULL,
          name text NOT NULL,
          started_at timestamptz,
          finished_at timestamptz,
          completed_by uuid
        );
        CREATE INDEX batch_steps_batch_id_idx ON batch_steps (batch_id);
        CREATE INDEX batch_steps_completed_by_idx ON batch_steps (completed_by);

        CREATE TABLE quality_checks (
          id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
          tenant_id uuid NOT NULL,
          batch_id uuid NOT NULL REFERENCES production_batches (id),
          check_type text NOT NULL,
          result text NOT NULL CHECK (result IN ('PASS', 'FAIL', 'REWORK')),
          measured_value numeric(8, 2),
          notes text,
          checked_by uuid,
          checked_at timestamptz NOT NULL DEFAULT now()
        );
        CREATE INDEX quality_checks_tenant_id_idx ON quality_checks (tenant_id);
        CREATE INDEX quality_checks_batch_id_idx ON quality_checks (batch_id);
        CREATE INDEX quality_checks_checked_by_idx ON quality_checks (checked_by);

        CREATE TABLE oven_schedules (
          id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
          tenant_id uuid NOT NULL,
          oven_id uuid NOT NULL REFERENCES ovens (id),
          batch_id uuid REFERENCES production_batches (id),
          starts_at timestamptz NOT NULL,
          ends_at timestamptz NOT NULL,
          temperature_c integer NOT NULL,
          steam boolean NOT NULL DEFAULT false,
          booked_by uuid
        );
        CREATE INDEX oven_schedules_tenant_id_idx ON oven_schedules (tenant_id);
        CREATE INDEX oven_schedules_oven_id_idx ON oven_schedules (oven_id);
        CREATE INDEX oven_schedules_batch_id_idx ON oven_schedules (batch_id);
        CREATE INDEX oven_schedules_booked_by_idx ON oven_schedules (booked_by);
      `);
    },
    down: async ({ context: db }) => {
      await db.query(
        'DROP TABLE oven_schedules; DROP TABLE quality_checks; DROP TABLE batch_steps; ' +
          'DROP TABLE production_batches; DROP TABLE ovens;',
      );
    },
  },
];
