import type { Seeder } from '../kit/service-definition';

/**
 * Up to 60 rules; alerts cycle OPEN / ACKNOWLEDGED / RESOLVED with 1 / 2 / 3 history rows, i.e. 3 rows
 * per alert on average.
 */
export const seed: Seeder = async (pool, { tenantId, userIds, rows }) => {
  const rules = Math.min(60, Math.max(1, Math.floor(rows / 40)));
  const alerts = Math.max(1, Math.floor((rows - rules) / 3));
  await pool.query(
    `WITH kinds (k, name, equipment, metric, comparator, threshold, severity) AS (
       VALUES
         (0, 'Deck oven overheating', 'Deck oven', 'oven_temperature_c', '>', 260.0, 'critical'),
         (1, 'Proofer humidity low', 'Proofer', 'proofer_humidity_pct', '<', 70.0, 'warning'),
         (2, 'Freezer too warm', 'Blast freezer', 'freezer_temperature_c', '>', -15.0, 'critical'),
         (3, 'Flour silo low', 'Flour silo', 'flour_stock_kg', '<', 250.0, 'warning'),
         (4, 'Dough mixer overload', 'Spiral mixer', 'mixer_motor_load_pct', '>', 90.0, 'warning'),
         (5, 'Fridge door left open', 'Walk-in fridge', 'door_open_minutes', '>', 5.0, 'info')
     ), r AS (
       INSERT INTO alert_rules (tenant_id, name, equipment, metric, comparator, threshold, severity, enabled,
                                created_by, updated_by)
       SELECT $1::uuid, kinds.name, kinds.equipment || ' ' || (1 + g / 6), kinds.metric, kinds.comparator,
              kinds.threshold, kinds.severity, g % 11 <> 10,
              ($2::uuid[])[1 + g % NULLIF(cardinality($2::uuid[]), 0)],
              CASE WHEN g % 2 = 0 THEN ($2::uuid[])[1 + (g + 1) % NULLIF(cardinality($2::uuid[]), 0)] END
       FROM generate_series(0, $3::int - 1) g JOIN kinds ON kinds.k = g % 6
       RETURNING id, name, equipment, comparator, threshold, severity
     ), rk AS (
       SELECT row_number() OVER () - 1 AS k, r.* FROM r
     ), a AS (
       INSERT INTO alerts (tenant_id, rule_id, status, severity, message, observed_value, triggered_at,
                           acknowledged_by, acknowledged_at, resolved_at)
       SELECT $1::uuid, rk.id, s.status, rk.severity,
              rk.name || ' on ' || rk.equipment || ': ' || v.observed || ' (limit ' || rk.threshold || ')',
              v.observed, s.at,
              CASE WHEN s.status <> 'OPEN' THEN ($2::uuid[])[1 + g % NULLIF(cardinality($2::uuid[]), 0)] END,
              CASE WHEN s.status <> 'OPEN' THEN s.at + interval '4 minutes' END,
              CASE WHEN s.status = 'RESOLVED' THEN s.at + interval '25 minutes' END
       FROM generate_series(1, $4::int) g
       JOIN rk ON rk.k = g % $3::int
       CROSS JOIN LATERAL (
         SELECT (ARRAY['OPEN','ACKNOWLEDGED','RESOLVED'])[1 + g % 3] AS status,
                now() - (g % 2000) * interval '37 minutes' AS at
       ) s
       CROSS JOIN LATERAL (
         SELECT round(rk.threshold + CASE WHEN rk.comparator = '>' THEN 1 ELSE -1 END
                                     * (0.5 + (g % 17) * abs(rk.threshold) / 100 + (g % 7)), 2) AS observed
       ) v
       RETURNING id, status, triggered_at, acknowledged_by, acknowledged_at, resolved_at
     )
     INSERT INTO alert_history (alert_id, from_status, to_status, note, changed_by, changed_at)
     SELECT a.id, (ARRAY[NULL, 'OPEN', 'ACKNOWLEDGED'])[step], (ARRAY['OPEN','ACKNOWLEDGED','RESOLVED'])[step],
            (ARRAY['Triggered by sensor reading', 'Shift lead is checking the equipment',
                   'Back within limits after adjustment'])[step],
            CASE WHEN step > 1 THEN a.acknowledged_by END,
            CASE step WHEN 1 THEN a.triggered_at WHEN 2 THEN a.acknowledged_at ELSE a.resolved_at END
     FROM a CROSS JOIN generate_series(1, 3) step
     WHERE step <= CASE a.status WHEN 'OPEN' THEN 1 WHEN 'ACKNOWLEDGED' THEN 2 ELSE 3 END`,
    [tenantId, userIds, rules, alerts],
  );
};
