import type { Seeder } from '../kit/service-definition';

/**
 * One till session holds 10 receipts and 1 cash movement (12 rows); terminals get about 20 sessions
 * each (the till is opened once per day), so rows/12 sessions and sessions/20 terminals.
 */
export const seed: Seeder = async (pool, { tenantId, userIds, rows }) => {
  const sessions = Math.max(1, Math.round(rows / 12));
  const terminals = Math.max(1, Math.ceil(sessions / 20));
  await pool.query(
    `WITH batch AS MATERIALIZED (
       SELECT upper(substr(md5(gen_random_uuid()::text), 1, 6)) AS tag
     ), cfg AS MATERIALIZED (
       SELECT c, gen_random_uuid() AS id FROM generate_series(0, $3::int - 1) c
     ), ci AS (
       INSERT INTO pos_configurations (id, tenant_id, terminal_name, shop_location, receipt_printer, currency,
                                       tse_serial, created_by, updated_by)
       SELECT cfg.id, $1, 'Till ' || (1 + cfg.c % 3) || ' / ' || batch.tag || '-' || cfg.c,
              (ARRAY['Main street shop','Market hall stall','Station kiosk'])[1 + (cfg.c / 3) % 3],
              (ARRAY['Epson TM-m30III','Star mC-Print3','Bixolon SRP-350'])[1 + cfg.c % 3],
              'EUR', 'TSE-' || batch.tag || '-' || lpad(cfg.c::text, 4, '0'),
              ($2::uuid[])[1 + cfg.c % cardinality($2::uuid[])],
              ($2::uuid[])[1 + (cfg.c + 1) % cardinality($2::uuid[])]
       FROM cfg CROSS JOIN batch
     ), s AS MATERIALIZED (
       SELECT g, gen_random_uuid() AS id, cfg.id AS configuration_id,
              date_trunc('day', now()) - ((g - 1) / $3::int) * interval '1 day' + interval '5 hours 30 minutes' AS opened_at,
              g <= $3::int AS still_open
       FROM generate_series(1, $4::int) g JOIN cfg ON cfg.c = g % $3::int
     ), si AS (
       INSERT INTO pos_sessions (id, tenant_id, configuration_id, status, opened_by, closed_by, opened_at, closed_at,
                                 opening_float_cents, closing_cash_cents)
       SELECT s.id, $1, s.configuration_id, CASE WHEN s.still_open THEN 'open' ELSE 'closed' END,
              ($2::uuid[])[1 + s.g % cardinality($2::uuid[])],
              CASE WHEN s.still_open THEN NULL ELSE ($2::uuid[])[1 + (s.g + 1) % cardinality($2::uuid[])] END,
              s.opened_at,
              CASE WHEN s.still_open THEN NULL ELSE s.opened_at + interval '12 hours 45 minutes' END,
              15000, CASE WHEN s.still_open THEN NULL ELSE 15000 + 4000 + (s.g * 131) % 60000 END
       FROM s
     ), ti AS (
       INSERT INTO pos_transactions (session_id, receipt_number, payment_method, item_count, total_cents, created_at)
       SELECT s.id, 'B' || batch.tag || '-' || s.g || '-' || lpad(i::text, 3, '0'),
              (ARRAY['cash','girocard','cash','contactless card','mobile'])[1 + (s.g + i) % 5],
              1 + (s.g * 7 + i) % 6, 90 + ((s.g * 7 + i) % 6) * 265 + (i * 35) % 120,
              s.opened_at + i * interval '47 minutes'
       FROM s CROSS JOIN generate_series(1, 10) i CROSS JOIN batch
     )
     INSERT INTO pos_cash_movements (tenant_id, session_id, movement_type, amount_cents, reason, performed_by,
                                     created_at)
     SELECT $1, s.id, (ARRAY['pay-in','pay-out','safe drop'])[1 + s.g % 3],
            (ARRAY[5000, 1850, 20000])[1 + s.g % 3],
            (ARRAY['Change rolls from bank','Milk from the corner shop','Midday safe drop'])[1 + s.g % 3],
            ($2::uuid[])[1 + s.g % cardinality($2::uuid[])], s.opened_at + interval '6 hours'
     FROM s`,
    [tenantId, userIds, terminals, sessions],
  );
};
