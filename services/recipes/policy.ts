import { definePolicy } from '../kit/deletion/policy';

export const deletionPolicy = definePolicy({
  service: 'recipes',
  tables: {
    recipes: {
      tenant: { delete: { column: 'tenant_id' } },
      user: { anonymize: ['created_by', 'updated_by'] },
    },
    recipe_ingredients: { tenant: { delete: { parent: 'recipes', column: 'recipe_id' } } },
    recipe_steps: { tenant: { delete: { parent: 'recipes', column: 'recipe_id' } } },
    // A baker's own ratings are theirs: a user erasure deletes them.
    recipe_ratings: {
      tenant: { delete: { column: 'tenant_id' } },
      user: { delete: { column: 'user_id' } },
    },
  },
});
