import type { ServiceMigration } from '../kit/service-definition';

export const migrations: ServiceMigration[] = [
  {
    name: '0001_forecasting',
    up: async ({ context: db }) => {
      await db.query(`
        CREATE TABLE forecast_models (
          id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
          tenant_id uuid NOT NULL,
          name text NOT NULL,
          algorithm text NOT NULL,
          horizon_days integer NOT NULL,
          parameters jsonb NOT NULL DEFAULT '{}'::jsonb,
          created_by uuid,
          updated_by uuid,
          created_at timestamptz NOT NULL DEFAULT now()
        );
        CREATE INDEX forecast_models_tenant_id_idx ON forecast_models (tenant_id);
        CREATE INDEX forecast_models_created_by_idx ON forecast_models (created_by);
        CREATE INDEX forecast_models_updated_by_idx ON forecast_models (updated_by);

        CREATE TABLE forecasts (
          id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
          tenant_id uuid NOT NULL,
          model_id uuid NOT NULL REFERENCES forecast_models (id),
          product_name text NOT NULL,
          shop_location text NOT NULL,
          status text NOT NULL,
          generated_at timestamptz NOT NULL DEFAULT now(),
          created_by uuid,
          approved_by uuid
        );
        CREATE INDEX forecasts_tenant_id_idx ON forecasts (tenant_id);
        CREATE INDEX forecasts_model_id_idx ON forecasts (model_id);
        CREATE INDEX forecasts_created_by_idx ON forecasts (created_by);
        CREATE INDEX forecasts_approved_by_idx ON forecasts (approved_by);

        -- forecast_points carries no tenant_id: it is reached through its forecast.
        CREATE TABLE forecast_points (
          id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
          forecast_id uuid NOT NULL REFERENCES forecasts (id),
          target_date date NOT NULL,
          horizon_day integer NOT NULL,
          predicted_quantity numeric(10,2) NOT NULL,
          lower_bound numeric(10,2),
          upper_bound numeric(10,2)
        );
        CREATE INDEX forecast_points_forecast_id_idx ON forecast_points (forecast_id);

        -- forecast_adjustments is two hops from a tenant_id: adjustment -> point -> forecast.
        CREATE TABLE forecast_adjustments (
          id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
          forecast_point_id uuid NOT NULL REFERENCES forecast_points (id),
          adjusted_quantity numeric(10,2) NOT NULL,
          reason text,
          adjusted_by uuid,
          adjusted_at timestamptz NOT NULL DEFAULT now()
        );
        CREATE INDEX forecast_adjustments_forecast_point_id_idx ON forecast_adjustments (forecast_point_id);
        CREATE INDEX forecast_adjustments_adjusted_by_idx ON forecast_adjustments (adjusted_by);
      `);
    },
    down: async ({ context: db }) => {
      await db.query(
        'DROP TABLE forecast_adjustments; DROP TABLE forecast_points; DROP TABLE forecasts; ' +
          'DROP TABLE forecast_models;',
      );
    },
  },
];
