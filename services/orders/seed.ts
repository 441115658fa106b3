import type { Seeder } from '../kit/service-definition';

/** Roughly 1 customer : 2 orders : 6 items, i.e. rows/9 customers. */
export const seed: Seeder = async (pool, { tenantId, userIds, rows }) => {
  const customers = Math.max(1, Math.floor(rows / 9));
  await pool.query(
    `WITH c AS (
       INSERT INTO customers (tenant_id, name, email, phone, created_by)
       SELECT $1, 'Customer ' || g, 'customer' || g || '@example.test', '+49 30 ' || (1000000 + g),
              ($2::uuid[])[1 + g % greatest(cardinality($2::uuid[]), 1)]
       FROM generate_series(1, $3::int) g
       RETURNING id, created_by
     ), o AS (
       INSERT INTO customer_orders (tenant_id, customer_id, order_number, status, pickup_at, total_cents,
                                    created_by, updated_by)
       SELECT $1, c.id, 'ORD-' || substr(c.id::text, 1, 8) || '-' || n,
              (ARRAY['NEW','BAKING','READY','PICKED_UP'])[1 + n % 4], now() + n * interval '1 day',
              0, c.created_by, ($2::uuid[])[1 + n % greatest(cardinality($2::uuid[]), 1)]
       FROM c CROSS JOIN generate_series(1, 2) n
       RETURNING id
     )
     INSERT INTO order_items (order_id, product_name, quantity, unit_price_cents)
     SELECT o.id, (ARRAY['Sourdough loaf','Croissant','Rye bread','Pretzel','Cinnamon roll','Baguette'])[i],
            1 + i % 5, 150 + i * 40
     FROM o CROSS JOIN generate_series(1, 3) i`,
    [tenantId, userIds, customers],
  );
};
