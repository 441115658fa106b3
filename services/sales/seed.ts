import type { Seeder } from '../kit/service-definition';

/**
 * Invoices go to the first three of the orders service's customers (the same e-mail addresses in
 * every tenant), so a customer erasure has retained invoices to anonymize.
 *
 * One "unit" is 2 sales (3 lines each), an invoice for one of them (3 lines) and one daily summary:
 * 13 rows, so rows/13 units. Prices are gross cents; German VAT is 7% for food and 19% for coffee.
 */
export const seed: Seeder = async (pool, { tenantId, userIds, rows }) => {
  const units = Math.max(1, Math.round(rows / 13));
  await pool.query(
    `WITH batch AS MATERIALIZED (
       SELECT upper(substr(md5(gen_random_uuid()::text), 1, 6)) AS tag
     ), catalog AS MATERIALIZED (
       SELECT ARRAY['Sourdough loaf','Butter croissant','Rye bread','Laugenbrezel','Cinnamon roll',
                    'Baguette','Spelt roll','Apple strudel','Filter coffee'] AS products,
              ARRAY[450,180,390,120,260,230,90,320,250] AS prices,
              ARRAY[7.00,7.00,7.00,7.00,7.00,7.00,7.00,7.00,19.00]::numeric[] AS vat_rates
     ), src AS MATERIALIZED (
       SELECT g, gen_random_uuid() AS id,
              ($2::uuid[])[1 + g % cardinality($2::uuid[])] AS cashier,
              date_trunc('minute', now()) - (g % 90) * interval '1 day' - (g % 540) * interval '1 minute' AS sold_at
       FROM generate_series(1, $3::int) g
     ), ln AS MATERIALIZED (
       SELECT src.id AS transaction_id, src.g, i,
              1 + (src.g * 3 + i) % 9 AS p, 1 + (src.g + i) % 4 AS qty
       FROM src CROSS JOIN generate_series(1, 3) i
     ), tot AS MATERIALIZED (
       SELECT ln.transaction_id,
              sum(ln.qty * catalog.prices[ln.p])::int AS gross,
              round(sum(ln.qty * catalog.prices[ln.p] * catalog.vat_rates[ln.p] / (100 + catalog.vat_rates[ln.p])))::int AS vat
       FROM ln CROSS JOIN catalog GROUP BY ln.transaction_id
     ), t AS (
       INSERT INTO sales_transactions (id, tenant_id, receipt_number, channel, payment_method, total_cents,
                                       cashier_id, sold_at)
       SELECT src.id, $1, 'R-' || to_char(src.sold_at, 'YYYYMMDD') || '-' || batch.tag || '-' || src.g,
              (ARRAY['counter','counter','counter','pre-order','delivery'])[1 + src.g % 5],
              (ARRAY['cash','girocard','credit card','cash','mobile'])[1 + (src.g / 5) % 5],
              tot.gross, src.cashier, src.sold_at
       FROM src JOIN tot ON tot.transaction_id = src.id CROSS JOIN batch
     ), l AS (
       INSERT INTO sales_transaction_lines (transaction_id, product_name, quantity, unit_price_cents, vat_rate)
       SELECT ln.transaction_id, catalog.products[ln.p], ln.qty, catalog.prices[ln.p], catalog.vat_rates[ln.p]
       FROM ln CROSS JOIN catalog
     ), inv AS (
       INSERT INTO invoices (tenant_id, invoice_number, sale_reference, customer_name, customer_email,
                             billing_address, net_cents, vat_cents, gross_cents, issued_at, created_by)
       SELECT $1, 'INV-' || to_char(src.sold_at, 'YYYY') || '-' || batch.tag || '-' || lpad(src.g::text, 6, '0'),
              src.id,
              fn.v || ' ' || sn.v,
              -- The orders service's customers (customerN@example.test), written as people type them.
              'Customer' || (1 + (src.g / 2) % 3) || '@Example.TEST',
              (ARRAY['Hauptstraße','Bahnhofstraße','Mühlenweg','Bäckergasse','Lindenallee'])[1 + src.g % 5]
                || ' ' || (1 + src.g % 120) || ', ' || (10115 + src.g % 900) || ' Berlin',
              tot.gross - tot.vat, tot.vat, tot.gross, src.sold_at + interval '5 minutes', src.cashier
       FROM src
       JOIN tot ON tot.transaction_id = src.id
       CROSS JOIN batch
       CROSS JOIN LATERAL (SELECT (ARRAY['Anna','Jonas','Leonie','Mehmet','Sophie','Lukas','Marie','Paul'])[1 + src.g % 8] AS v) fn
       CROSS JOIN LATERAL (SELECT (ARRAY['Müller','Schmidt','Yilmaz','Weber','Fischer','Becker','Wagner'])[1 + (src.g / 8) % 7] AS v) sn
       WHERE src.g % 2 = 0
       RETURNING id, tenant_id, sale_reference
     ), il AS (
       INSERT INTO invoice_lines (tenant_id, invoice_id, description, quantity, unit_price_cents, vat_rate)
       SELECT inv.tenant_id, inv.id, catalog.products[ln.p], ln.qty, catalog.prices[ln.p], catalog.vat_rates[ln.p]
       FROM inv JOIN ln ON ln.transaction_id = inv.sale_reference CROSS JOIN catalog
     )
     INSERT INTO daily_sales_summaries (tenant_id, business_date, shop_location, transaction_count, gross_cents,
                                        closed_by)
     SELECT $1, current_date - (d / 3), (ARRAY['Main street shop','Market hall stall','Station kiosk'])[1 + d % 3],
            60 + (d * 37) % 140, (60 + (d * 37) % 140) * (380 + d % 90),
            ($2::uuid[])[1 + d % cardinality($2::uuid[])]
     FROM generate_series(1, $4::int) d`,
    [tenantId, userIds, units * 2, units],
  );
};
