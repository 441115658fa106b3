import type { Seeder } from '../kit/service-definition';

/**
 * Roughly 1 supplier : 2 contacts : 2 purchase orders : 6 order lines, i.e. rows/11 suppliers.
 * $1 tenant id, $2 user ids, $3 number of suppliers.
 */
export const seed: Seeder = async (pool, { tenantId, userIds, rows }) => {
  const suppliers = Math.max(1, Math.round(rows / 11));
  await pool.query(
    `WITH catalog (k, name, category, city, domain, phone_prefix, terms) AS (
       VALUES (0, 'Mühle Schmidt GmbH', 'FLOUR', 'Hamburg', 'muehle-schmidt.example', '+49 40', 30),
              (1, 'Bio-Mühle Auental', 'FLOUR', 'Freiburg', 'bio-muehle-auental.example', '+49 761', 14),
              (2, 'Alpenmilch Molkerei eG', 'DAIRY', 'Kempten', 'alpenmilch.example', '+49 831', 10),
              (3, 'Hof Sonnental', 'EGGS', 'Lüneburg', 'hof-sonnental.example', '+49 4131', 14),
              (4, 'Zuckerwerk Nord GmbH', 'SUGAR', 'Bremen', 'zuckerwerk-nord.example', '+49 421', 30),
              (5, 'Hefe & Co KG', 'YEAST', 'Hannover', 'hefe-co.example', '+49 511', 14),
              (6, 'Kakao Handelshaus BV', 'CHOCOLATE', 'Rotterdam', 'kakao-handelshaus.example', '+31 10', 45),
              (7, 'Nussland Import GmbH', 'NUTS', 'Hamburg', 'nussland.example', '+49 40', 30),
              (8, 'Verpackung Plus GmbH', 'PACKAGING', 'Köln', 'verpackung-plus.example', '+49 221', 60),
              (9, 'Gastro Großhandel Nord', 'WHOLESALE', 'Kiel', 'gastro-nord.example', '+49 431', 30)
     ), items (k, i, item, unit, qty, price_cents) AS (
       VALUES (0, 1, 'Wheat flour T550, 25 kg sack', 'kg', 1000, 58), (0, 2, 'Rye flour T1150, 25 kg sack', 'kg', 500, 72),
              (0, 3, 'Whole wheat flour, 25 kg sack', 'kg', 250, 69),
              (1, 1, 'Spelt flour T630, organic', 'kg', 500, 115), (1, 2, 'Whole spelt flour, organic', 'kg', 250, 125),
              (1, 3, 'Rye flour T997, organic', 'kg', 250, 80),
              (2, 1, 'Butter 82%, 10 kg block', 'kg', 100, 780), (2, 2, 'Whole milk 3.5%', 'l', 200, 110),
              (2, 3, 'Cream 32%', 'l', 40, 390),
              (3, 1, 'Free-range eggs, size M', 'pcs', 1800, 28), (3, 2, 'Liquid whole egg, pasteurised', 'kg', 20, 590),
              (3, 3, 'Egg yolk, pasteurised', 'kg', 10, 990),
              (4, 1, 'Cane sugar', 'kg', 250, 95), (4, 2, 'Icing sugar', 'kg', 50, 140), (4, 3, 'Brown sugar', 'kg', 50, 160),
              (5, 1, 'Fresh yeast, 1 kg block', 'kg', 25, 320), (5, 2, 'Dry yeast', 'kg', 5, 980),
              (5, 3, 'Malt extract', 'kg', 10, 450),
              (6, 1, 'Dark chocolate 70% callets', 'kg', 25, 1250), (6, 2, 'Milk chocolate callets', 'kg', 25, 1090),
              (6, 3, 'Cocoa powder', 'kg', 10, 890),
              (7, 1, 'Ground hazelnuts', 'kg', 20, 1490), (7, 2, 'Sesame seeds', 'kg', 25, 520), (7, 3, 'Raisins', 'kg', 25, 640),
              (8, 1, 'Paper bread bags', 'pcs', 5000, 3), (8, 2, 'Cake boxes 28 cm', 'pcs', 500, 38),
              (8, 3, 'Pastry trays', 'pcs', 1000, 12),
              (9, 1, 'Sea salt, coarse', 'kg', 100, 90), (9, 2, 'Pretzel lye 4%', 'l', 60, 350),
              (9, 3, 'Baking paper rolls', 'pcs', 24, 450)
     ), src AS (
       SELECT gen_random_uuid() AS id, g, c.*
       FROM generate_series(1, $3::int) g JOIN catalog c ON c.k = g % 10
     ), s AS (
       INSERT INTO suppliers (id, tenant_id, supplier_number, name, category, email, phone, city, payment_terms_days,
                              active, created_by, created_at)
       SELECT id, $1::uuid, 'SUP-' || upper(substr(replace(id::text, '-', ''), 1, 12)),
              name || CASE WHEN g >= 10 THEN ' – depot ' || (g / 10) ELSE '' END,
              category, 'orders@' || domain, phone_prefix || ' ' || (100000 + g * 37 % 900000), city, terms,
              g % 13 <> 12, ($2::uuid[])[1 + g % greatest(cardinality($2::uuid[]), 1)],
              now() - (g % 900) * interval '1 day'
       FROM src
       RETURNING id
     ), sc AS (
       INSERT INTO supplier_contacts (supplier_id, full_name, role, email, phone, is_primary)
       SELECT s.id, p.first || ' ' || p.last, (ARRAY['Sales representative', 'Accounts receivable'])[n],
              lower(p.first) || '.' || lower(p.last) || '@' || src.domain,
              src.phone_prefix || ' ' || (200000 + (src.g * 7 + n) * 53 % 700000), n = 1
       FROM s JOIN src USING (id) CROSS JOIN generate_series(1, 2) n
       CROSS JOIN LATERAL (
         SELECT (ARRAY['Anna', 'Jonas', 'Lea', 'Mehmet', 'Sophie', 'Lukas', 'Marta', 'Pieter', 'Clara', 'Tobias'])[1 + (src.g + n) % 10] AS first,
                (ARRAY['Becker', 'Hoffmann', 'Yilmaz', 'Schulz', 'de Vries', 'Wagner', 'Kowalski', 'Fischer', 'Jansen', 'Braun',
                       'Keller'])[1 + (src.g * 3 + n) % 11] AS last
       ) p
     ), posrc AS (
       SELECT gen_random_uuid() AS id, s.id AS supplier_id, src.k, src.g, n, 1 + (src.g + n) % 3 AS factor,
              (ARRAY['DELIVERED', 'DELIVERED', 'APPROVED', 'SUBMITTED', 'DRAFT', 'DELIVERED', 'CANCELLED'])[1 + (src.g * 2 + n) % 7] AS status,
              now() - ((src.g * 2 + n) % 400) * interval '1 day' - (src.g % 9) * interval '1 hour' AS ordered_at
       FROM s JOIN src USING (id) CROSS JOIN generate_series(1, 2) n
     ), po AS (
       INSERT INTO purchase_orders (id, tenant_id, supplier_id, po_number, status, ordered_at, expected_delivery,
                                    total_cents, currency, created_by, approved_by, approved_at)
       SELECT p.id, $1::uuid, p.supplier_id,
              'PO-' || to_char(p.ordered_at, 'YYYY') || '-' || upper(substr(replace(p.id::text, '-', ''), 1, 10)),
              p.status, p.ordered_at, (p.ordered_at + interval '3 days')::date,
              p.factor * (SELECT sum(it.qty * it.price_cents) FROM items it WHERE it.k = p.k), 'EUR',
              ($2::uuid[])[1 + (p.g + p.n) % greatest(cardinality($2::uuid[]), 1)],
              CASE WHEN p.status IN ('APPROVED', 'DELIVERED')
                   THEN ($2::uuid[])[1 + (p.g + p.n + 1) % greatest(cardinality($2::uuid[]), 1)] END,
              CASE WHEN p.status IN ('APPROVED', 'DELIVERED') THEN p.ordered_at + interval '3 hours' END
       FROM posrc p
       RETURNING id
     )
     INSERT INTO purchase_order_lines (purchase_order_id, line_number, item_name, quantity, unit, unit_price_cents)
     SELECT po.id, it.i, it.item, it.qty * p.factor, it.unit, it.price_cents
     FROM po JOIN posrc p USING (id) JOIN items it ON it.k = p.k`,
    [tenantId, userIds, suppliers],
  );
};
