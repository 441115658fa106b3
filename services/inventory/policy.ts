import { definePolicy } from '../kit/deletion/policy';

export const deletionPolicy = definePolicy({
  service: 'inventory',
  tables: {
    ingredients: {
      tenant: { delete: { column: 'tenant_id' } },
      user: { anonymize: ['created_by', 'updated_by'] },
    },
    stock_lots: {
      tenant: { delete: { parent: 'ingredients', column: 'ingredient_id' } },
      user: { anonymize: ['received_by'] },
    },
    stock_movements: {
      tenant: { delete: { column: 'tenant_id' } },
      user: { anonymize: ['created_by'] },
    },
  },
});
