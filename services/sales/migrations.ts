import type { ServiceMigration } from '../kit/service-definition';

export const migrations: ServiceMigration[] = [
  {
    name: '0001_sales',
    up: async ({ context: db }) => {
      await db.query(`
        CREATE TABLE sales_transactions (
          id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
          tenant_id uuid NOT NULL,
          receipt_number text NOT NULL,
          channel text NOT NULL,
          payment_method text NOT NULL,
          total_cents integer NOT NULL DEFAULT 0,
          cashier_id uuid,
          sold_at timestamptz NOT NULL DEFAULT now()
        );
        CREATE INDEX sales_transactions_tenant_id_idx ON sales_transactions (tenant_id);
        CREATE INDEX sales_transactions_cashier_id_idx ON sales_transactions (cashier_id);

        -- sales_transaction_lines carries no tenant_id: it is reached through its transaction.
        CREATE TABLE sales_transaction_lines (
          id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
          transaction_id uuid NOT NULL REFERENCES sales_transactions (id),
          product_name text NOT NULL,
          quantity integer NOT NULL,
          unit_price_cents integer NOT NULL,
          vat_rate numeric(4,2) NOT NULL
        );
        CREATE INDEX sales_transaction_lines_transaction_id_idx ON sales_transaction_lines (transaction_id);

        CREATE TABLE daily_sales_summaries (
          id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
          tenant_id uuid NOT NULL,
          business_date date NOT NULL,
          shop_location text NOT NULL,
          transaction_count integer NOT NULL DEFAULT 0,
          gross_cents integer NOT NULL DEFAULT 0,
          closed_by uuid,
          created_at timestamptz NOT NULL DEFAULT now()
        );
        CREATE INDEX daily_sales_summaries_tenant_id_idx ON daily_sales_summaries (tenant_id);
        CREATE INDEX daily_sales_summaries_closed_by_idx ON daily_sales_summaries (closed_by);

        -- Invoices are retained for tax law, so they must not reference rows that a tenant erasure
        -- deletes: the sale is kept as a plain uuid without a foreign key.
        CREATE TABLE invoices (
          id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
          tenant_id uuid NOT NULL,
          invoice_number text NOT NULL,
          sale_reference uuid,
          customer_name text,
          customer_email text,
          billing_address text,
          net_cents integer NOT NULL DEFAULT 0,
          vat_cents integer NOT NULL DEFAULT 0,
          gross_cents integer NOT NULL DEFAULT 0,
          issued_at timestamptz NOT NULL DEFAULT now(),
          created_by uuid
        );
        CREATE INDEX invoices_tenant_id_idx ON invoices (tenant_id);
        CREATE UNIQUE INDEX invoices_tenant_id_invoice_number_key ON invoices (tenant_id, invoice_number);
        CREATE INDEX invoices_sale_reference_idx ON invoices (sale_reference);
        CREATE INDEX invoices_created_by_idx ON invoices (created_by);

        -- Invoice lines are retained with their invoice (a retained parent, so the FK is safe).
        CREATE TABLE invoice_lines (
          id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
          tenant_id uuid NOT NULL,
          invoice_id uuid NOT NULL REFERENCES invoices (id),
          description text NOT NULL,
          quantity integer NOT NULL,
          unit_price_cents integer NOT NULL,
          vat_rate numeric(4,2) NOT NULL
        );
        CREATE INDEX invoice_lines_tenant_id_idx ON invoice_lines (tenant_id);
        CREATE INDEX invoice_lines_invoice_id_idx ON invoice_lines (invoice_id);
      `);
    },
    down: async ({ context: db }) => {
      await db.query(
        'DROP TABLE invoice_lines; DROP TABLE invoices; DROP TABLE daily_sales_summaries; ' +
          'DROP TABLE sales_transaction_lines; DROP TABLE sales_transactions;',
      );
    },
  },
];
