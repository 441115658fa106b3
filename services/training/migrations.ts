import type { ServiceMigration } from '../kit/service-definition';

export const migrations: ServiceMigration[] = [
  {
    name: '0001_training',
    up: async ({ context: db }) => {
      await db.query(`
        -- Sales history cut into datasets that demand-forecasting models are trained on.
        CREATE TABLE training_datasets (
          id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
          tenant_id uuid NOT NULL,
          name text NOT NULL,
          product_name text NOT NULL,
          source text NOT NULL,
          period_start date NOT NULL,
          period_end date NOT NULL,
          row_count integer NOT NULL DEFAULT 0,
          created_by uuid,
          created_at timestamptz NOT NULL DEFAULT now()
        );
        CREATE INDEX training_datasets_tenant_id_idx ON training_datasets (tenant_id);
        CREATE INDEX training_datasets_created_by_idx ON training_datasets (created_by);

        CREATE TABLE training_runs (
          id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
          tenant_id uuid NOT NULL,
          dataset_id uuid NOT NULL REFERENCES training_datasets (id),
          model_type text NOT NULL,
          horizon_days integer NOT NULL,
          status text NOT NULL,
          hyperparameters jsonb NOT NULL DEFAULT '{}'::jsonb,
          mape numeric(6, 3),
          started_by uuid,
          started_at timestamptz NOT NULL DEFAULT now(),
          finished_at timestamptz
        );
        CREATE INDEX training_runs_tenant_id_idx ON training_runs (tenant_id);
        CREATE INDEX training_runs_dataset_id_idx ON training_runs (dataset_id);
        CREATE INDEX training_runs_started_by_idx ON training_runs (started_by);

        -- training_metrics carries no tenant_id: it is reached through its run.
        CREATE TABLE training_metrics (
          id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
          run_id uuid NOT NULL REFERENCES training_runs (id),
          epoch integer NOT NULL,
          metric_name text NOT NULL,
          value double precision NOT NULL,
          recorded_at timestamptz NOT NULL DEFAULT now()
        );
        CREATE INDEX training_metrics_run_id_idx ON training_metrics (run_id);

        -- A run whose model was promoted to produce the daily bake plan forecast.
        CREATE TABLE model_versions (
          id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
          tenant_id uuid NOT NULL,
          run_id uuid NOT NULL REFERENCES training_runs (id),
          version text NOT NULL,
          is_active boolean NOT NULL DEFAULT false,
          notes text,
          promoted_by uuid,
          promoted_at timestamptz NOT NULL DEFAULT now()
        );
        CREATE INDEX model_versions_tenant_id_idx ON model_versions (tenant_id);
        CREATE INDEX model_versions_run_id_idx ON model_versions (run_id);
        CREATE INDEX model_versions_promoted_by_idx ON model_versions (promoted_by);
      `);
    },
    down: async ({ context: db }) => {
      await db.query(
        'DROP TABLE model_versions; DROP TABLE training_metrics; DROP TABLE training_runs; DROP TABLE training_datasets;',
      );
    },
  },
];
