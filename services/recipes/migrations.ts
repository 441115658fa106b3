import type { ServiceMigration } from '../kit/service-definition';

export const migrations: ServiceMigration[] = [
  {
    name: '0001_recipes',
    up: async ({ context: db }) => {
      await db.query(`
        CREATE TABLE recipes (
          id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
          tenant_id uuid NOT NULL,
          code text NOT NULL,
          name text NOT NULL,
          category text NOT NULL,
          version integer NOT NULL DEFAULT 1,
          yield_quantity integer NOT NULL,
          yield_unit text NOT NULL,
          bake_temperature_c integer,
          bake_minutes integer,
          notes text,
          created_by uuid,
          updated_by uuid,
          created_at timestamptz NOT NULL DEFAULT now(),
          updated_at timestamptz NOT NULL DEFAULT now()
        );
        CREATE INDEX recipes_tenant_id_idx ON recipes (tenant_id);
        CREATE UNIQUE INDEX recipes_tenant_id_code_key ON recipes (tenant_id, code);
        CREATE INDEX recipes_created_by_idx ON recipes (created_by);
        CREATE INDEX recipes_updated_by_idx ON recipes (updated_by);

        -- recipe_ingredients and recipe_steps carry no tenant_id: they are reached through their recipe.
        -- ingredient_ref points at an inventory ingredient (another service's database, so no FK).
        CREATE TABLE recipe_ingredients (
          id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
          recipe_id uuid NOT NULL REFERENCES recipes (id),
          position integer NOT NULL,
          ingredient_name text NOT NULL,
          ingredient_ref uuid,
          quantity numeric(10, 3) NOT NULL,
          unit text NOT NULL,
          baker_percentage numeric(6, 2)
        );
        CREATE INDEX recipe_ingredients_recipe_id_idx ON recipe_ingredients (recipe_id);

        CREATE TABLE recipe_steps (
          id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
          recipe_id uuid NOT NULL REFERENCES recipes (id),
          step_number integer NOT NULL,
          title text NOT NULL,
          instruction text NOT NULL,
          duration_minutes integer,
          temperature_c integer
        );
        CREATE INDEX recipe_steps_recipe_id_idx ON recipe_steps (recipe_id);

        -- A baker's own rating of a recipe after a test bake: owned by the user (user_id).
        CREATE TABLE recipe_ratings (
          id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
          tenant_id uuid NOT NULL,
          recipe_id uuid NOT NULL REFERENCES recipes (id),
          user_id uuid NOT NULL,
          rating smallint NOT NULL CHECK (rating BETWEEN 1 AND 5),
          comment text,
          created_at timestamptz NOT NULL DEFAULT now()
        );
        CREATE INDEX recipe_ratings_tenant_id_idx ON recipe_ratings (tenant_id);
        CREATE INDEX recipe_ratings_recipe_id_idx ON recipe_ratings (recipe_id);
        CREATE INDEX recipe_ratings_user_id_idx ON recipe_ratings (user_id);
      `);
    },
    down: async ({ context: db }) => {
      await db.query(
        'DROP TABLE recipe_ratings; DROP TABLE recipe_steps; DROP TABLE recipe_ingredients; DROP TABLE recipes;',
      );
    },
  },
];
