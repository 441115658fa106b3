import type { ServiceMigration } from '../kit/service-definition';

export const migrations: ServiceMigration[] = [
  {
    name: '0001_orders',
    up: async ({ context: db }) => {
      await db.query(`
        CREATE TABLE customers (
          id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
          tenant_id uuid NOT NULL,
          name text NOT NULL,
          email text,
          phone text,
          created_by uuid,
          created_at timestamptz NOT NULL DEFAULT now()
        );
        CREATE INDEX customers_tenant_id_idx ON customers (tenant_id);
        CREATE INDEX customers_created_by_idx ON customers (created_by);

        CREATE TABLE customer_orders (
          id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
          tenant_id uuid NOT NULL,
          customer_id uuid REFERENCES customers (id),
          order_number text NOT NULL,
          status text NOT NULL,
          pickup_at timestamptz,
          total_cents integer NOT NULL DEFAULT 0,
          created_by uuid,
          updated_by uuid,
          created_at timestamptz NOT NULL DEFAULT now()
        );
        CREATE INDEX customer_orders_tenant_id_idx ON customer_orders (tenant_id);
        CREATE INDEX customer_orders_customer_id_idx ON customer_orders (customer_id);
        CREATE INDEX customer_orders_created_by_idx ON customer_orders (created_by);
        CREATE INDEX customer_orders_updated_by_idx ON customer_orders (updated_by);

        -- order_items carries no tenant_id: it is reached through its order.
        CREATE TABLE order_items (
          id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
          order_id uuid NOT NULL REFERENCES customer_orders (id),
          product_name text NOT NULL,
          quantity integer NOT NULL,
          unit_price_cents integer NOT NULL
        );
        CREATE INDEX order_items_order_id_idx ON order_items (order_id);
      `);
    },
    down: async ({ context: db }) => {
      await db.query('DROP TABLE order_items; DROP TABLE customer_orders; DROP TABLE customers;');
    },
  },
];
