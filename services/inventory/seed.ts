import type { Seeder } from '../kit/service-definition';

/**
 * Roughly 1 ingredient : 2 stock lots : 6 stock movements, i.e. rows/9 ingredients.
 * $1 tenant id, $2 user ids, $3 number of ingredients.
 */
export const seed: Seeder = async (pool, { tenantId, userIds, rows }) => {
  const ingredients = Math.max(1, Math.round(rows / 9));
  await pool.query(
    `WITH catalog (k, name, category, unit, allergens, reorder_level, cost_cents, storage, supplier, shelf_days) AS (
       VALUES (0, 'Wheat flour T550', 'FLOUR', 'kg', 'gluten', 200, 58, 'Dry store', 'Mühle Schmidt', 270),
              (1, 'Rye flour T1150', 'FLOUR', 'kg', 'gluten', 100, 72, 'Dry store', 'Mühle Schmidt', 180),
              (2, 'Spelt flour T630', 'FLOUR', 'kg', 'gluten', 80, 115, 'Dry store', 'Bio-Mühle Auental', 240),
              (3, 'Whole wheat flour', 'FLOUR', 'kg', 'gluten', 80, 69, 'Dry store', 'Bio-Mühle Auental', 150),
              (4, 'Fresh yeast', 'LEAVENING', 'kg', NULL, 5, 320, 'Walk-in cooler', 'Hefe & Co', 21),
              (5, 'Sea salt', 'SEASONING', 'kg', NULL, 20, 90, 'Dry store', 'Gastro Großhandel Nord', 1000),
              (6, 'Butter 82%', 'DAIRY', 'kg', 'milk', 40, 780, 'Walk-in cooler', 'Alpenmilch Molkerei', 60),
              (7, 'Whole milk 3.5%', 'DAIRY', 'l', 'milk', 30, 110, 'Walk-in cooler', 'Alpenmilch Molkerei', 10),
              (8, 'Free-range eggs', 'EGGS', 'pcs', 'eggs', 360, 28, 'Walk-in cooler', 'Hof Sonnental', 28),
              (9, 'Cane sugar', 'SUGAR', 'kg', NULL, 50, 95, 'Dry store', 'Zuckerwerk Nord', 720),
              (10, 'Dark chocolate 70%', 'CHOCOLATE', 'kg', 'milk, soy', 10, 1250, 'Dry store', 'Kakao Handelshaus', 365),
              (11, 'Ground hazelnuts', 'NUTS', 'kg', 'nuts', 10, 1490, 'Dry store', 'Nussland Import', 180),
              (12, 'Sesame seeds', 'SEEDS', 'kg', 'sesame', 5, 520, 'Dry store', 'Nussland Import', 365),
              (13, 'Ground cinnamon', 'SPICES', 'kg', NULL, 2, 2400, 'Dry store', 'Gewürzkontor Hansa', 540),
              (14, 'Pretzel lye 4%', 'PROCESSING_AID', 'l', NULL, 10, 350, 'Chemical cabinet', 'Gastro Großhandel Nord', 365),
              (15, 'Raisins', 'DRIED_FRUIT', 'kg', 'sulphites', 10, 640, 'Dry store', 'Nussland Import', 300)
     ), src AS (
       SELECT gen_random_uuid() AS id, g, c.*
       FROM generate_series(1, $3::int) g JOIN catalog c ON c.k = g % 16
     ), i AS (
       INSERT INTO ingredients (id, tenant_id, sku, name, category, unit, allergens, reorder_level,
                                created_by, updated_by, created_at)
       SELECT id, $1::uuid, 'ING-' || upper(substr(replace(id::text, '-', ''), 1, 12)),
              name || CASE WHEN g > 16
                           THEN ' (' || (ARRAY['organic', 'regional', 'bulk', 'premium', 'Demeter'])[1 + (g / 16) % 5] || ')'
                           ELSE '' END,
              category, unit, allergens, reorder_level,
              ($2::uuid[])[1 + g % greatest(cardinality($2::uuid[]), 1)],
              ($2::uuid[])[1 + (g + 1) % greatest(cardinality($2::uuid[]), 1)],
              now() - (g % 365) * interval '1 day'
       FROM src
       RETURNING id
     ), l AS (
       INSERT INTO stock_lots (ingredient_id, lot_number, supplier_name, quantity, unit_cost_cents,
                               storage_location, received_at, best_before, received_by)
       SELECT i.id,
              'L' || to_char(now() - n * interval '14 days', 'YYMMDD') || '-' || upper(substr(md5(random()::text), 1, 6)),
              s.supplier, round((s.reorder_level * (1.5 + random()))::numeric, 3),
              round(s.cost_cents * (0.9 + random() * 0.2))::int,
              s.storage || ', shelf ' || (1 + (s.g + n) % 12),
              now() - n * interval '14 days',
              (now() - n * interval '14 days')::date + s.shelf_days,
              ($2::uuid[])[1 + (s.g + n) % greatest(cardinality($2::uuid[]), 1)]
       FROM i JOIN src s USING (id) CROSS JOIN generate_series(0, 1) n
       RETURNING id, quantity, received_at, received_by
     )
     INSERT INTO stock_movements (tenant_id, lot_id, movement_type, quantity, reason, created_by, created_at)
     SELECT $1::uuid, l.id,
            CASE m WHEN 1 THEN 'RECEIPT' WHEN 2 THEN 'CONSUMPTION'
                   ELSE (ARRAY['WASTE', 'ADJUSTMENT'])[1 + (random() < 0.5)::int] END,
            CASE m WHEN 1 THEN l.quantity
                   WHEN 2 THEN -round(l.quantity * (0.3 + random() * 0.3)::numeric, 3)
                   ELSE -round(l.quantity * (random() * 0.03)::numeric, 3) END,
            CASE m WHEN 1 THEN 'Goods receipt, delivery note checked'
                   WHEN 2 THEN (ARRAY['Early shift dough production', 'Night shift bread run', 'Pastry prep'])[1 + (random() * 2)::int]
                   ELSE (ARRAY['Best-before date passed', 'Stocktake correction', 'Damaged sack', 'Spilled during weighing'])[1 + (random() * 3)::int] END,
            CASE m WHEN 1 THEN l.received_by
                   ELSE ($2::uuid[])[1 + (random() * 1000)::int % greatest(cardinality($2::uuid[]), 1)] END,
            l.received_at + (m - 1) * interval '2 days' + (random() * 10) * interval '1 hour'
     FROM l CROSS JOIN generate_series(1, 3) m`,
    [tenantId, userIds, ingredients],
  );
};
