import type { Seeder } from '../kit/service-definition';

const CHANNELS = ['email', 'push', 'in_app', 'sms'];

/**
 * Every user gets a preference row per channel (2–4 channels, fewer when the plan is small). The rest
 * of the budget goes to up to 40 templates and notifications, half of them high priority with a second
 * delivery attempt, i.e. 2.5 rows per notification.
 */
export const seed: Seeder = async (pool, { tenantId, userIds, rows }) => {
  const users = userIds.length;
  const channels = users === 0 ? 0 : Math.min(CHANNELS.length, Math.max(2, Math.floor((rows * 0.2) / users)));
  const rest = Math.max(0, rows - users * channels);
  const templates = Math.min(40, Math.max(1, Math.floor(rest / 16)));
  const notifications = Math.max(1, Math.floor((rest - templates) / 2.5));
  await pool.query(
    `WITH p AS (
       INSERT INTO notification_preferences (tenant_id, user_id, channel, enabled, digest, quiet_hours_start,
                                             quiet_hours_end)
       SELECT $1::uuid, u.id, ($4::text[])[c], c <> 4 OR u.n % 2 = 0,
              (ARRAY['immediate','immediate','hourly','daily'])[c],
              CASE WHEN c IN (2, 4) THEN time '21:00' END, CASE WHEN c IN (2, 4) THEN time '03:30' END
       FROM unnest($2::uuid[]) WITH ORDINALITY u (id, n)
       CROSS JOIN generate_series(1, $5::int) c
     ), kinds (k, code, subject, body) AS (
       VALUES
         (0, 'order_ready_for_pickup', 'Your order is ready', 'Order {{ref}} is ready for pickup at the counter.'),
         (1, 'oven_temperature_alert', 'Oven temperature alert', 'Deck oven {{ref}} is above 260 °C, check the bake.'),
         (2, 'low_flour_stock', 'Flour running low', 'Rye flour type 1150 lot {{ref}} is below 50 kg.'),
         (3, 'shift_schedule_published', 'New shift plan', 'The early shift plan for week {{week}} is published.'),
         (4, 'supplier_delivery_delayed', 'Delivery delayed', 'Mill delivery {{ref}} is delayed by two hours.'),
         (5, 'proofer_humidity_alert', 'Proofer humidity alert', 'Proofer {{ref}} humidity dropped below 70 %.'),
         (6, 'daily_production_plan', 'Tomorrow''s bake plan', 'Bake plan {{ref}}: 240 pretzels, 120 sourdough loaves.'),
         (7, 'wholesale_order_received', 'New wholesale order', 'Cafe order {{ref}} for 80 croissants was received.')
     ), t AS (
       INSERT INTO notification_templates (tenant_id, code, channel, subject, body, created_by, updated_by)
       SELECT $1::uuid, kinds.code || '_v' || (1 + g / 8), ($4::text[])[1 + g % 4], kinds.subject, kinds.body,
              ($2::uuid[])[1 + g % NULLIF(cardinality($2::uuid[]), 0)],
              CASE WHEN g % 3 = 0 THEN ($2::uuid[])[1 + (g + 1) % NULLIF(cardinality($2::uuid[]), 0)] END
       FROM generate_series(0, $3::int - 1) g JOIN kinds ON kinds.k = g % 8
       RETURNING id, channel, subject, body
     ), tk AS (
       SELECT row_number() OVER () - 1 AS k, t.* FROM t
     ), n AS (
       INSERT INTO notifications (tenant_id, template_id, recipient_user_id, channel, priority, subject, body,
                                  status, scheduled_at, created_at)
       SELECT $1::uuid, tk.id, ($2::uuid[])[1 + g % NULLIF(cardinality($2::uuid[]), 0)], tk.channel,
              (ARRAY['normal','high'])[1 + g % 2], tk.subject,
              replace(replace(tk.body, '{{ref}}', to_char(g, 'FM000000')), '{{week}}', (1 + g % 52)::text),
              (ARRAY['DELIVERED','SENT','DELIVERED','READ','FAILED'])[1 + g % 5],
              now() - (g % 720) * interval '1 hour', now() - (g % 720) * interval '1 hour' - interval '2 minutes'
       FROM generate_series(1, $6::int) g JOIN tk ON tk.k = g % $3::int
       RETURNING id, channel, priority, status, scheduled_at
     )
     INSERT INTO notification_deliveries (notification_id, attempt, provider, provider_message_id, status,
                                          error_message, attempted_at)
     SELECT n.id, a,
            CASE n.channel WHEN 'email' THEN 'postmark' WHEN 'sms' THEN 'twilio' WHEN 'push' THEN 'fcm'
                           ELSE 'internal' END,
            n.channel || '-' || substr(md5(n.id::text || a), 1, 16),
            CASE WHEN a = 1 AND n.priority = 'high' THEN 'FAILED' ELSE n.status END,
            CASE WHEN a = 1 AND n.priority = 'high' THEN 'provider timeout after 10 s'
                 WHEN n.status = 'FAILED' THEN 'recipient unreachable' END,
            n.scheduled_at + a * interval '30 seconds'
     FROM n CROSS JOIN generate_series(1, 2) a
     WHERE a = 1 OR n.priority = 'high'`,
    [tenantId, userIds, templates, CHANNELS, channels, notifications],
  );
  // Pickup messages to the orders service's first customers (their e-mail and phone as it seeds them).
  await pool.query(
    `INSERT INTO customer_messages (tenant_id, channel, recipient_email, recipient_phone, subject, body, status, sent_at)
     SELECT $1::uuid, (ARRAY['email','sms'])[1 + m % 2], 'customer' || c || '@example.test', '+49 30 ' || (1000000 + c),
            'Your order is ready', 'Your order is ready for pickup at the counter.', 'DELIVERED', now() - m * interval '1 day'
     FROM generate_series(1, $2::int) c CROSS JOIN generate_series(1, 2) m`,
    [tenantId, Math.min(3, Math.max(1, Math.floor(rows / 50)))],
  );
};
