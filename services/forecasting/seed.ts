import type { Seeder } from '../kit/service-definition';

/**
 * Each forecast has a 7-day horizon (7 points) and one manual adjustment by a baker: 9 rows per
 * forecast, plus one model per 15 forecasts.
 */
export const seed: Seeder = async (pool, { tenantId, userIds, rows }) => {
  const forecasts = Math.max(1, Math.round(rows / 9.1));
  const models = Math.max(1, Math.ceil(forecasts / 15));
  await pool.query(
    `WITH m AS MATERIALIZED (
       SELECT c, gen_random_uuid() AS id FROM generate_series(0, $3::int - 1) c
     ), mi AS (
       INSERT INTO forecast_models (id, tenant_id, name, algorithm, horizon_days, parameters, created_by, updated_by,
                                    created_at)
       SELECT m.id, $1,
              (ARRAY['Weekday bread demand','Weekend pastry demand','Holiday cake orders','Market stall rolls',
                     'Seasonal stollen'])[1 + m.c % 5] || ' v' || (1 + m.c / 5),
              (ARRAY['holt-winters','sarima','gradient-boosting','moving-average'])[1 + m.c % 4], 7,
              jsonb_build_object('seasonality', 7, 'lookback_weeks', 8 + m.c % 5,
                                 'features', jsonb_build_array('weekday','weather','school_holidays')),
              ($2::uuid[])[1 + m.c % cardinality($2::uuid[])],
              ($2::uuid[])[1 + (m.c + 1) % cardinality($2::uuid[])],
              now() - (60 + m.c) * interval '1 day'
       FROM m
     ), f AS MATERIALIZED (
       SELECT g, gen_random_uuid() AS id, m.id AS model_id,
              date_trunc('day', now()) - (g / 12) * interval '1 day' + interval '3 hours' AS generated_at,
              30 + (g * 13) % 170 AS base_qty
       FROM generate_series(1, $4::int) g JOIN m ON m.c = g % $3::int
     ), fi AS (
       INSERT INTO forecasts (id, tenant_id, model_id, product_name, shop_location, status, generated_at, created_by,
                              approved_by)
       SELECT f.id, $1, f.model_id,
              (ARRAY['Sourdough loaf','Butter croissant','Rye bread','Laugenbrezel','Cinnamon roll','Baguette',
                     'Spelt roll','Poppy seed roll','Apple strudel','Bienenstich','Franzbrötchen','Seeded rye'])[1 + f.g % 12],
              (ARRAY['Main street shop','Market hall stall','Station kiosk'])[1 + (f.g / 12) % 3],
              CASE WHEN f.g % 5 = 0 THEN 'draft' ELSE 'approved' END, f.generated_at,
              ($2::uuid[])[1 + f.g % cardinality($2::uuid[])],
              CASE WHEN f.g % 5 = 0 THEN NULL ELSE ($2::uuid[])[1 + (f.g + 1) % cardinality($2::uuid[])] END
       FROM f
     ), p AS MATERIALIZED (
       SELECT gen_random_uuid() AS id, f.id AS forecast_id, f.g, d, f.generated_at,
              round(f.base_qty * (CASE WHEN extract(isodow FROM f.generated_at + d * interval '1 day') >= 6
                                       THEN 1.35 ELSE 1 END) * (0.9 + (f.g * d % 7) * 0.03), 2) AS qty
       FROM f CROSS JOIN generate_series(1, 7) d
     ), pi AS (
       INSERT INTO forecast_points (id, forecast_id, target_date, horizon_day, predicted_quantity, lower_bound,
                                    upper_bound)
       SELECT p.id, p.forecast_id, (p.generated_at + p.d * interval '1 day')::date, p.d, p.qty,
              round(p.qty * (0.92 - p.d * 0.01), 2), round(p.qty * (1.08 + p.d * 0.01), 2)
       FROM p
     )
     INSERT INTO forecast_adjustments (forecast_point_id, adjusted_quantity, reason, adjusted_by, adjusted_at)
     SELECT p.id, round(p.qty * (ARRAY[1.2, 0.8, 1.5, 0.9])[1 + p.g % 4], 2),
            (ARRAY['Farmers market next to the shop','Rain forecast, fewer walk-ins','School fete pre-order',
                   'Oven 2 in maintenance'])[1 + p.g % 4],
            ($2::uuid[])[1 + p.g % cardinality($2::uuid[])], p.generated_at + interval '2 hours'
     FROM p WHERE p.d = 1 + p.g % 7`,
    [tenantId, userIds, models, forecasts],
  );
};
