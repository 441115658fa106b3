import type { Seeder } from '../kit/service-definition';

/**
 * Per dataset: 3 runs (one per model type), 6 metrics per run (mae and rmse over 3 epochs) and the
 * prophet run promoted to a model version, i.e. 23 rows per dataset.
 */
export const seed: Seeder = async (pool, { tenantId, userIds, rows }) => {
  const datasets = Math.max(1, Math.round(rows / 23));
  await pool.query(
    `WITH d AS (
       INSERT INTO training_datasets (tenant_id, name, product_name, source, period_start, period_end, row_count,
                                      created_by)
       SELECT $1::uuid, p.product || ' daily sales ' || to_char(p.start, 'YYYY-MM') || ' #' || g, p.product,
              (ARRAY['pos_sales','customer_orders','wholesale_orders'])[1 + g % 3],
              p.start, p.start + 364, 365 * (1 + g % 4),
              ($2::uuid[])[1 + g % NULLIF(cardinality($2::uuid[]), 0)]
       FROM generate_series(1, $3::int) g
       CROSS JOIN LATERAL (
         SELECT (ARRAY['Sourdough loaf','Croissant','Rye bread','Pretzel','Cinnamon roll','Baguette',
                       'Spelt roll','Apple strudel','Poppy seed cake','Ciabatta'])[1 + g % 10] AS product,
                current_date - 365 - (g % 180) AS start
       ) p
       RETURNING id, created_by
     ), r AS (
       INSERT INTO training_runs (tenant_id, dataset_id, model_type, horizon_days, status, hyperparameters, mape,
                                  started_by, started_at, finished_at)
       SELECT $1::uuid, d.id, (ARRAY['prophet','xgboost','sarima'])[n], (ARRAY[7,14,28])[n],
              CASE n WHEN 3 THEN 'FAILED' ELSE 'COMPLETED' END,
              CASE n
                WHEN 1 THEN jsonb_build_object('seasonality_mode', 'multiplicative', 'holidays', 'DE')
                WHEN 2 THEN jsonb_build_object('max_depth', 6, 'learning_rate', 0.05, 'n_estimators', 400)
                ELSE jsonb_build_object('order', jsonb_build_array(1, 1, 1), 'seasonal_period', 7)
              END,
              CASE WHEN n < 3 THEN round((6 + random() * 12)::numeric, 3) END,
              COALESCE(d.created_by, ($2::uuid[])[1 + n % NULLIF(cardinality($2::uuid[]), 0)]),
              now() - n * interval '2 hours', now() - n * interval '2 hours' + interval '17 minutes'
       FROM d CROSS JOIN generate_series(1, 3) n
       RETURNING id, model_type, started_by, finished_at
     ), m AS (
       INSERT INTO training_metrics (run_id, epoch, metric_name, value, recorded_at)
       SELECT r.id, e, (ARRAY['mae','rmse'])[k], round((4 + 20.0 / e + random() * 3 + k)::numeric, 4),
              r.finished_at - (3 - e) * interval '5 minutes'
       FROM r CROSS JOIN generate_series(1, 3) e CROSS JOIN generate_series(1, 2) k
     )
     INSERT INTO model_versions (tenant_id, run_id, version, is_active, notes, promoted_by, promoted_at)
     SELECT $1::uuid, r.id, to_char(r.finished_at, '"v"YYYY.MM.DD') || '-' || substr(r.id::text, 1, 6),
            true, 'Promoted after 28-day backtest for the morning bake plan', r.started_by, r.finished_at
     FROM r WHERE r.model_type = 'prophet'`,
    [tenantId, userIds, datasets],
  );
};
