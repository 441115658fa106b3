import type { Seeder } from '../kit/service-definition';

/**
 * About 4% integrations, 50% hourly API usage rows, 34% cached payloads and the rest sync runs,
 * spread round-robin over the integrations.
 */
export const seed: Seeder = async (pool, { tenantId, userIds, rows }) => {
  const integrations = Math.max(1, Math.round(rows * 0.04));
  const usage = Math.max(1, Math.round(rows * 0.5));
  const cache = Math.max(1, Math.round(rows * 0.34));
  const runs = Math.max(1, rows - integrations - usage - cache);
  await pool.query(
    `WITH batch AS MATERIALIZED (
       SELECT upper(substr(md5(gen_random_uuid()::text), 1, 6)) AS tag
     ), prov AS MATERIALIZED (
       SELECT ARRAY['dwd-weather','flour-price-feed','lieferando','datev-export','school-holidays','google-business']
                AS keys,
              ARRAY['DWD weather forecast','Wholesale flour price index','Lieferando delivery orders',
                    'DATEV accounting export','School holiday calendar','Google Business reviews'] AS names,
              ARRAY['https://api.brightsky.dev','https://prices.example-mill.de/v2','https://api.lieferando.example/v1',
                    'https://datev.example.de/api','https://ferien-api.example/v1','https://mybusiness.example.com/v4']
                AS urls,
              ARRAY['/weather','/prices/wheat-type-550','/orders','/bookings','/holidays/BE','/reviews'] AS endpoints
     ), ig AS MATERIALIZED (
       SELECT c, gen_random_uuid() AS id, 1 + c % 6 AS p FROM generate_series(0, $3::int - 1) c
     ), ii AS (
       INSERT INTO external_integrations (id, tenant_id, provider, display_name, base_url, api_key_hint, status,
                                          created_by, updated_by, created_at)
       SELECT ig.id, $1, prov.keys[ig.p], prov.names[ig.p] || CASE WHEN ig.c >= 6 THEN ' #' || (1 + ig.c / 6) ELSE '' END,
              prov.urls[ig.p], '••••' || substr(md5(ig.id::text), 1, 4),
              (ARRAY['active','active','active','paused','error'])[1 + ig.c % 5],
              ($2::uuid[])[1 + ig.c % cardinality($2::uuid[])],
              ($2::uuid[])[1 + (ig.c + 2) % cardinality($2::uuid[])],
              now() - (30 + ig.c) * interval '1 day'
       FROM ig CROSS JOIN prov
     ), ui AS (
       INSERT INTO api_key_usage (integration_id, usage_hour, endpoint, request_count, error_count, requested_by)
       SELECT ig.id, date_trunc('hour', now()) - (g / $3::int) * interval '1 hour', prov.endpoints[ig.p],
              5 + (g * 17) % 240, CASE WHEN g % 23 = 0 THEN 1 + g % 4 ELSE 0 END,
              CASE WHEN g % 4 = 0 THEN ($2::uuid[])[1 + g % cardinality($2::uuid[])] END
       FROM generate_series(1, $4::int) g JOIN ig ON ig.c = g % $3::int CROSS JOIN prov
     ), di AS (
       INSERT INTO external_data_cache (tenant_id, integration_id, cache_key, payload, fetched_at, expires_at)
       SELECT $1, ig.id,
              prov.keys[ig.p] || ':' || to_char(current_date + (g / $3::int) % 14, 'YYYY-MM-DD') || ':' || batch.tag || '-' || g,
              CASE ig.p
                WHEN 1 THEN jsonb_build_object('date', current_date + (g / $3::int) % 14, 'temp_c', 4 + g % 22,
                                               'rain_mm', (g % 9) * 0.4, 'city', 'Berlin')
                WHEN 2 THEN jsonb_build_object('flour', 'Type 550 wheat', 'eur_per_tonne', 380 + g % 90,
                                               'mill', 'Rosenmühle')
                WHEN 5 THEN jsonb_build_object('state', 'BE', 'holiday', (ARRAY['Winterferien','Osterferien',
                                               'Sommerferien','Herbstferien'])[1 + g % 4])
                ELSE jsonb_build_object('items', 1 + g % 12, 'source', prov.keys[ig.p])
              END,
              now() - (g % 48) * interval '30 minutes', now() + (6 + g % 18) * interval '1 hour'
       FROM generate_series(1, $5::int) g JOIN ig ON ig.c = g % $3::int CROSS JOIN prov CROSS JOIN batch
     )
     INSERT INTO external_sync_runs (tenant_id, integration_id, status, records_fetched, error_message, triggered_by,
                                     started_at, finished_at)
     SELECT $1, ig.id, CASE WHEN g % 11 = 0 THEN 'failed' ELSE 'succeeded' END,
            CASE WHEN g % 11 = 0 THEN 0 ELSE 10 + (g * 7) % 300 END,
            CASE WHEN g % 11 = 0 THEN 'HTTP 503 from ' || prov.urls[ig.p] END,
            CASE WHEN g % 3 = 0 THEN ($2::uuid[])[1 + g % cardinality($2::uuid[])] END,
            now() - g * interval '1 hour', now() - g * interval '1 hour' + (20 + g % 90) * interval '1 second'
     FROM generate_series(1, $6::int) g JOIN ig ON ig.c = g % $3::int CROSS JOIN prov`,
    [tenantId, userIds, integrations, usage, cache, runs],
  );
};
