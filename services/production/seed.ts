import type { Seeder } from '../kit/service-definition';

/**
 * Per batch: 4 batch steps, 2 quality checks (none yet for planned batches), 1 oven slot; one oven per
 * 16 batches. That is about 7.9 rows per batch. $1 tenant id, $2 user ids, $3 batches, $4 ovens.
 */
export const seed: Seeder = async (pool, { tenantId, userIds, rows }) => {
  const batches = Math.max(1, Math.round(rows / 7.9));
  const ovens = Math.max(1, Math.ceil(batches / 16));
  await pool.query(
    `WITH o AS (
       INSERT INTO ovens (tenant_id, name, oven_type, capacity_trays, max_temperature_c, active, created_by)
       SELECT $1::uuid, (ARRAY['Deck oven', 'Rack oven', 'Convection oven', 'Deck oven', 'Wood-fired oven'])[1 + n % 5] || ' ' || n,
              (ARRAY['DECK', 'RACK', 'CONVECTION', 'DECK', 'WOOD_FIRED'])[1 + n % 5],
              (ARRAY[8, 18, 10, 8, 4])[1 + n % 5], (ARRAY[300, 280, 250, 300, 450])[1 + n % 5], n % 11 <> 10,
              ($2::uuid[])[1 + n % greatest(cardinality($2::uuid[]), 1)]
       FROM generate_series(1, $4::int) n
       RETURNING id
     ), oa AS (
       SELECT array_agg(id) AS ids FROM o
     ), catalog (k, product, recipe_code, qty, temp, bake_min, steam) AS (
       VALUES (0, 'Sourdough country loaf', 'SD-COUNTRY', 60, 240, 45, true),
              (1, 'Rye sourdough bread', 'RYE-SD', 40, 250, 60, true),
              (2, 'Butter croissant', 'CROISSANT', 240, 190, 18, false),
              (3, 'Laugenbrezel', 'PRETZEL', 200, 220, 16, false),
              (4, 'Baguette tradition', 'BAGUETTE', 120, 250, 24, true),
              (5, 'Cinnamon roll', 'CINNAMON-ROLL', 144, 180, 22, false),
              (6, 'Spelt wholegrain rolls', 'SPELT-ROLL', 300, 230, 20, true),
              (7, 'Sesame Kaiser rolls', 'KAISER', 300, 230, 18, true)
     ), src AS (
       SELECT gen_random_uuid() AS id, g, c.*, d.day_offset,
              (ARRAY['NIGHT', 'EARLY', 'DAY'])[1 + g % 3] AS shift,
              date_trunc('day', now()) - d.day_offset * interval '1 day'
                + (ARRAY[1, 5, 10])[1 + g % 3] * interval '1 hour' AS planned_start,
              CASE WHEN d.day_offset < 0 THEN 'PLANNED' WHEN d.day_offset = 0 THEN 'IN_PROGRESS'
                   WHEN g % 37 = 0 THEN 'CANCELLED' ELSE 'COMPLETED' END AS status
       FROM generate_series(1, $3::int) g
       JOIN catalog c ON c.k = g % 8
       CROSS JOIN LATERAL (SELECT CASE WHEN g % 10 = 0 THEN -(1 + g % 3) ELSE g / 12 END AS day_offset) d
     ), b AS (
       INSERT INTO production_batches (id, tenant_id, batch_number, product_name, recipe_code, shift, status,
                                       planned_quantity, produced_quantity, planned_start, assigned_to, created_by,
                                       created_at)
       SELECT id, $1::uuid,
              'PB-' || to_char(planned_start, 'YYYYMMDD') || '-' || upper(substr(replace(id::text, '-', ''), 1, 10)),
              product, recipe_code, shift, status, qty,
              CASE status WHEN 'COMPLETED' THEN qty - g % 7 END, planned_start,
              ($2::uuid[])[1 + g % greatest(cardinality($2::uuid[]), 1)],
              ($2::uuid[])[1 + (g + 1) % greatest(cardinality($2::uuid[]), 1)],
              planned_start - interval '2 days'
       FROM src
       RETURNING id
     ), bs AS (
       INSERT INTO batch_steps (batch_id, step_number, name, started_at, finished_at, completed_by)
       SELECT b.id, n, (ARRAY['Mixing', 'Proofing', 'Baking', 'Cooling'])[n], t.started_at,
              t.started_at + (ARRAY[15, 90, s.bake_min, 45])[n] * interval '1 minute',
              CASE WHEN t.started_at IS NOT NULL
                   THEN ($2::uuid[])[1 + (s.g + n) % greatest(cardinality($2::uuid[]), 1)] END
       FROM b JOIN src s USING (id) CROSS JOIN generate_series(1, 4) n
       CROSS JOIN LATERAL (
         SELECT CASE WHEN s.status IN ('COMPLETED', 'CANCELLED') AND NOT (s.status = 'CANCELLED' AND n > 1)
                       OR s.status = 'IN_PROGRESS' AND n <= 2
                     THEN s.planned_start + (ARRAY[0, 15, 105, 105 + s.bake_min])[n] * interval '1 minute'
                END AS started_at
       ) t
     ), qc AS (
       INSERT INTO quality_checks (tenant_id, batch_id, check_type, result, measured_value, notes, checked_by, checked_at)
       SELECT $1::uuid, b.id, (ARRAY['CORE_TEMPERATURE', 'PIECE_WEIGHT'])[n],
              CASE WHEN (s.g + n) % 23 = 0 THEN 'FAIL' WHEN (s.g + n) % 17 = 0 THEN 'REWORK' ELSE 'PASS' END,
              CASE n WHEN 1 THEN round((94 + random() * 5)::numeric, 1)
                     ELSE round((CASE WHEN s.qty >= 200 THEN 85 ELSE 750 END * (0.97 + random() * 0.06))::numeric, 1) END,
              CASE WHEN (s.g + n) % 23 = 0 THEN (ARRAY['Core below 96 °C, batch re-baked 5 min.', 'Underweight pieces, divider recalibrated.'])[n]
                   WHEN (s.g + n) % 17 = 0 THEN 'Uneven colour on the left deck, rotated trays.' END,
              ($2::uuid[])[1 + (s.g + n + 1) % greatest(cardinality($2::uuid[]), 1)],
              s.planned_start + (105 + s.bake_min + 10 * n) * interval '1 minute'
       FROM b JOIN src s USING (id) CROSS JOIN generate_series(1, 2) n
       WHERE s.status <> 'PLANNED'
     )
     INSERT INTO oven_schedules (tenant_id, oven_id, batch_id, starts_at, ends_at, temperature_c, steam, booked_by)
     SELECT $1::uuid, oa.ids[1 + s.g % cardinality(oa.ids)], b.id,
            s.planned_start + interval '105 minutes', s.planned_start + (105 + s.bake_min) * interval '1 minute',
            s.temp, s.steam, ($2::uuid[])[1 + (s.g + 2) % greatest(cardinality($2::uuid[]), 1)]
     FROM b JOIN src s USING (id) CROSS JOIN oa`,
    [tenantId, userIds, batches, ovens],
  );
};
