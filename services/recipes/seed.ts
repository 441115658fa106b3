import type { Seeder } from '../kit/service-definition';

/**
 * Roughly 1 recipe : 4 ingredient lines : 4 steps : 1 rating, i.e. rows/10 recipes.
 * $1 tenant id, $2 user ids, $3 number of recipes.
 */
export const seed: Seeder = async (pool, { tenantId, userIds, rows }) => {
  const recipes = Math.max(1, Math.round(rows / 10));
  await pool.query(
    `WITH catalog (k, name, category, yield_quantity, yield_unit, temp, bake_min, bulk_min, flour_g,
                   i2, i3, i4, p2, p3, p4, notes) AS (
       VALUES (0, 'Sourdough country loaf', 'BREAD', 12, 'loaves', 240, 45, 240, 6000,
               'Water', 'Sea salt', 'Sourdough starter', 72, 2.0, 20, 'Retard overnight at 4 °C for a deeper crust.'),
              (1, 'Rye sourdough bread', 'BREAD', 10, 'loaves', 250, 60, 90, 5000,
               'Water', 'Sea salt', 'Sourdough starter', 80, 2.0, 40, NULL),
              (2, 'Butter croissant', 'VIENNOISERIE', 48, 'pieces', 190, 18, 60, 3000,
               'Whole milk 3.5%', 'Butter 82%', 'Fresh yeast', 55, 50, 3.5, 'Laminate with three single folds; keep butter at 12 °C.'),
              (3, 'Laugenbrezel', 'PRETZELS', 40, 'pieces', 220, 16, 30, 3500,
               'Water', 'Sea salt', 'Fresh yeast', 58, 2.0, 3.0, 'Dip in 4 % lye, sprinkle with coarse salt.'),
              (4, 'Baguette tradition', 'BREAD', 20, 'pieces', 250, 24, 120, 5000,
               'Water', 'Sea salt', 'Poolish', 68, 1.8, 30, NULL),
              (5, 'Cinnamon roll', 'SWEET_DOUGH', 36, 'pieces', 180, 22, 60, 3000,
               'Whole milk 3.5%', 'Cane sugar', 'Fresh yeast', 60, 12, 4.0, 'Glaze while still warm.'),
              (6, 'Spelt wholegrain rolls', 'ROLLS', 60, 'pieces', 230, 20, 60, 4000,
               'Water', 'Sea salt', 'Fresh yeast', 70, 2.0, 2.5, NULL),
              (7, 'Chocolate hazelnut babka', 'SWEET_DOUGH', 8, 'loaves', 175, 40, 90, 2500,
               'Whole milk 3.5%', 'Butter 82%', 'Fresh yeast', 50, 25, 4.0, 'Filling: dark chocolate 70 % and ground hazelnuts.'),
              (8, 'Sesame Kaiser rolls', 'ROLLS', 60, 'pieces', 230, 18, 45, 4000,
               'Water', 'Sea salt', 'Fresh yeast', 62, 2.0, 3.0, 'Stamp before the final proof, seed the tops.'),
              (9, 'Christmas stollen', 'SEASONAL', 10, 'loaves', 170, 55, 45, 3000,
               'Whole milk 3.5%', 'Butter 82%', 'Fresh yeast', 30, 50, 6.0, 'Soak raisins in rum the day before.')
     ), src AS (
       SELECT gen_random_uuid() AS id, g, c.*,
              CASE WHEN c.category IN ('SWEET_DOUGH', 'VIENNOISERIE', 'SEASONAL') THEN 'Wheat flour T405'
                   WHEN c.k = 1 THEN 'Rye flour T1150' WHEN c.k = 6 THEN 'Spelt flour T630'
                   ELSE 'Wheat flour T550' END AS flour
       FROM generate_series(1, $3::int) g JOIN catalog c ON c.k = g % 10
     ), r AS (
       INSERT INTO recipes (id, tenant_id, code, name, category, version, yield_quantity, yield_unit,
                            bake_temperature_c, bake_minutes, notes, created_by, updated_by, created_at, updated_at)
       SELECT id, $1::uuid, 'RCP-' || upper(substr(replace(id::text, '-', ''), 1, 12)),
              name || CASE WHEN g >= 10
                           THEN ' (' || (ARRAY['organic', 'wholegrain', 'mini', 'seeded', 'family size', 'vegan'])[1 + (g / 10) % 6] || ')'
                           ELSE '' END,
              category, 1 + (g / 10) % 4,
              yield_quantity, yield_unit, temp, bake_min, notes,
              ($2::uuid[])[1 + g % greatest(cardinality($2::uuid[]), 1)],
              ($2::uuid[])[1 + (g + 2) % greatest(cardinality($2::uuid[]), 1)],
              now() - (g % 700) * interval '1 day', now() - (g % 30) * interval '1 day'
       FROM src
       RETURNING id
     ), ri AS (
       INSERT INTO recipe_ingredients (recipe_id, position, ingredient_name, quantity, unit, baker_percentage)
       SELECT r.id, n, (ARRAY[s.flour, s.i2, s.i3, s.i4])[n],
              round(s.flour_g * (ARRAY[100, s.p2, s.p3, s.p4])[n] / 100.0, 1), 'g',
              (ARRAY[100, s.p2, s.p3, s.p4])[n]
       FROM r JOIN src s USING (id) CROSS JOIN generate_series(1, 4) n
     ), rs AS (
       INSERT INTO recipe_steps (recipe_id, step_number, title, instruction, duration_minutes, temperature_c)
       SELECT r.id, n,
              (ARRAY['Mixing', 'Bulk fermentation', 'Dividing and shaping', 'Baking'])[n],
              CASE n WHEN 1 THEN 'Mix ' || s.flour || ', ' || lower(s.i2) || ' and ' || lower(s.i4)
                                 || ' on slow speed for 5 minutes, then fast for 7; target dough temperature 25 °C.'
                     WHEN 2 THEN 'Rest covered for ' || s.bulk_min || ' minutes; stretch and fold once half-way.'
                     WHEN 3 THEN 'Divide into ' || s.yield_quantity || ' ' || s.yield_unit
                                 || ', pre-shape, rest 15 minutes, shape and place on trays.'
                     ELSE 'Bake at ' || s.temp || ' °C for ' || s.bake_min || ' minutes'
                          || CASE WHEN s.category IN ('BREAD', 'ROLLS') THEN ' with steam' ELSE '' END
                          || '; cool on racks.' END,
              (ARRAY[12, s.bulk_min, 25, s.bake_min])[n],
              CASE n WHEN 4 THEN s.temp WHEN 2 THEN 26 END
       FROM r JOIN src s USING (id) CROSS JOIN generate_series(1, 4) n
     )
     INSERT INTO recipe_ratings (tenant_id, recipe_id, user_id, rating, comment, created_at)
     SELECT $1::uuid, r.id, ($2::uuid[])[1 + (s.g + 1) % cardinality($2::uuid[])], 3 + s.g % 3,
            (ARRAY['Great oven spring, keep as is.', 'Crumb a bit dense, try 2 % more water.',
                   'Customers love it, add to the weekend range.', NULL,
                   'Crust too dark on deck 2, reduce by 10 °C.'])[1 + s.g % 5],
            now() - (s.g % 60) * interval '1 day'
     FROM r JOIN src s USING (id)
     WHERE cardinality($2::uuid[]) > 0`,
    [tenantId, userIds, recipes],
  );
};
