import type { ServiceMigration } from '../kit/service-definition';

export const migrations: ServiceMigration[] = [
  {
    name: '0001_inventory',
    up: async ({ context: db }) => {
      await db.query(`
        CREATE TABLE ingredients (
          id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
          tenant_id uuid NOT NULL,
          sku text NOT NULL,
          name text NOT NULL,
          category text NOT NULL,
          unit text NOT NULL,
          allergens text,
          reorder_level numeric(12, 3) NOT NULL DEFAULT 0,
          created_by uuid,
          updated_by uuid,
          created_at timestamptz NOT NULL DEFAULT now()
        );
        CREATE INDEX ingredients_tenant_id_idx ON ingredients (tenant_id);
        CREATE UNIQUE INDEX ingredients_tenant_id_sku_key ON ingredients (tenant_id, sku);
        CREATE INDEX ingredients_created_by_idx ON ingredients (created_by);
        CREATE INDEX ingredients_updated_by_idx ON ingredients (updated_by);

        -- stock_lots carries no tenant_id: it is reached through its ingredient.
        CREATE TABLE stock_lots (
          id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
          ingredient_id uuid NOT NULL REFERENCES ingredients (id),
          lot_number text NOT NULL,
          supplier_name text,
          quantity numeric(12, 3) NOT NULL,
          unit_cost_cents integer NOT NULL,
          storage_location text,
          received_at timestamptz NOT NULL DEFAULT now(),
          best_before date,
          received_by uuid
        );
        CREATE INDEX stock_lots_ingredient_id_idx ON stock_lots (ingredient_id);
        CREATE INDEX stock_lots_received_by_idx ON stock_lots (received_by);

        CREATE TABLE stock_movements (
          id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
          tenant_id uuid NOT NULL,
          lot_id uuid NOT NULL REFERENCES stock_lots (id),
          movement_type text NOT NULL
            CHECK (movement_type IN ('RECEIPT', 'CONSUMPTION', 'WASTE', 'ADJUSTMENT')),
          quantity numeric(12, 3) NOT NULL,
          reason text,
          created_by uuid,
          created_at timestamptz NOT NULL DEFAULT now()
        );
        CREATE INDEX stock_movements_tenant_id_idx ON stock_movements (tenant_id);
        CREATE INDEX stock_movements_lot_id_idx ON stock_movements (lot_id);
        CREATE INDEX stock_movements_created_by_idx ON stock_movements (created_by);
      `);
    },
    down: async ({ context: db }) => {
      await db.query('DROP TABLE stock_movements; DROP TABLE stock_lots; DROP TABLE ingredients;');
    },
  },
];
