import { definePolicy } from '../kit/deletion/policy';

export const deletionPolicy = definePolicy({
  service: 'orders',
  tables: {
    customers: { tenant: { delete: { column: 'tenant_id' } }, user: { anonymize: ['created_by'] } },
    customer_orders: {
      tenant: { delete: { column: 'tenant_id' } },
      user: { anonymize: ['created_by', 'updated_by'] },
    },
    order_items: { tenant: { delete: { parent: 'customer_orders', column: 'order_id' } } },
  },
});
