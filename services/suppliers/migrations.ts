import type { ServiceMigration } from '../kit/service-definition';

export const migrations: ServiceMigration[] = [
  {
    name: '0001_suppliers',
    up: async ({ context: db }) => {
      await db.query(`
        CREATE TABLE suppliers (
          id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
          tenant_id uuid NOT NULL,
          supplier_number text NOT NULL,
          name text NOT NULL,
          category text NOT NULL,
          email text,
          phone text,
          city text,
          payment_terms_days integer NOT NULL DEFAULT 30,
          active boolean NOT NULL DEFAULT true,
          created_by uuid,
          created_at timestamptz NOT NULL DEFAULT now()
        );
        CREATE INDEX suppliers_tenant_id_idx ON suppliers (tenant_id);
        CREATE UNIQUE INDEX suppliers_tenant_id_supplier_number_key ON suppliers (tenant_id, supplier_number);
        CREATE INDEX suppliers_created_by_idx ON suppliers (created_by);

        -- supplier_contacts carries no tenant_id: it is reached through its supplier.
        CREATE TABLE supplier_contacts (
          id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
          supplier_id uuid NOT NULL REFERENCES suppliers (id),
          full_name text,
          role text NOT NULL,
          email text,
          phone text,
          is_primary boolean NOT NULL DEFAULT false
        );
        CREATE INDEX supplier_contacts_supplier_id_idx ON supplier_contacts (supplier_id);

        CREATE TABLE purchase_orders (
          id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
          tenant_id uuid NOT NULL,
          supplier_id uuid NOT NULL REFERENCES suppliers (id),
          po_number text NOT NULL,
          status text NOT NULL CHECK (status IN ('DRAFT', 'SUBMITTED', 'APPROVED', 'DELIVERED', 'CANCELLED')),
          ordered_at timestamptz NOT NULL DEFAULT now(),
          expected_delivery date,
          total_cents integer NOT NULL DEFAULT 0,
          currency text NOT NULL DEFAULT 'EUR',
          created_by uuid,
          approved_by uuid,
          approved_at timestamptz
        );
        CREATE INDEX purchase_orders_tenant_id_idx ON purchase_orders (tenant_id);
        CREATE UNIQUE INDEX purchase_orders_tenant_id_po_number_key ON purchase_orders (tenant_id, po_number);
        CREATE INDEX purchase_orders_supplier_id_idx ON purchase_orders (supplier_id);
        CREATE INDEX purchase_orders_created_by_idx ON purchase_orders (created_by);
        CREATE INDEX purchase_orders_approved_by_idx ON purchase_orders (approved_by);

        -- purchase_order_lines carries no tenant_id: it is reached through its purchase order.
        CREATE TABLE purchase_order_lines (
          id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
          purchase_order_id uuid NOT NULL REFERENCES purchase_orders (id),
          line_number integer NOT NULL,
          item_name text NOT NULL,
          quantity numeric(12, 3) NOT NULL,
          unit text NOT NULL,
          unit_price_cents integer NOT NULL
        );
        CREATE INDEX purchase_order_lines_purchase_order_id_idx ON purchase_order_lines (purchase_order_id);
      `);
    },
    down: async ({ context: db }) => {
      await db.query(
        'DROP TABLE purchase_order_lines; DROP TABLE purchase_orders; DROP TABLE supplier_contacts; DROP TABLE suppliers;',
      );
    },
  },
];
