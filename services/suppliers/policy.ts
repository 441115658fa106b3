import { definePolicy } from '../kit/deletion/policy';

export const deletionPolicy = definePolicy({
  service: 'suppliers',
  tables: {
    suppliers: { tenant: { delete: { column: 'tenant_id' } }, user: { anonymize: ['created_by'] } },
    supplier_contacts: { tenant: { delete: { parent: 'suppliers', column: 'supplier_id' } } },
    purchase_orders: {
      tenant: { delete: { column: 'tenant_id' } },
      user: { anonymize: ['created_by', 'approved_by'] },
    },
    purchase_order_lines: {
      tenant: { delete: { parent: 'purchase_orders', column: 'purchase_order_id' } },
    },
  },
});
