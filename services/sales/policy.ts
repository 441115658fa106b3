import { definePolicy } from '../kit/deletion/policy';

const TAX_RETENTION = 'Tax law (e.g. §147 AO / §14b UStG): invoices are kept 10 years';

export const deletionPolicy = definePolicy({
  service: 'sales',
  tables: {
    sales_transactions: {
      tenant: { delete: { column: 'tenant_id' } },
      user: { anonymize: ['cashier_id'] },
    },
    sales_transaction_lines: {
      tenant: { delete: { parent: 'sales_transactions', column: 'transaction_id' } },
    },
    daily_sales_summaries: {
      tenant: { delete: { column: 'tenant_id' } },
      user: { anonymize: ['closed_by'] },
    },
    invoices: {
      tenant: {
        retain: {
          reason: TAX_RETENTION,
          column: 'tenant_id',
          anonymize: ['customer_name', 'customer_email', 'billing_address'],
        },
      },
      user: { anonymize: ['created_by'] },
    },
    invoice_lines: {
      tenant: { retain: { reason: TAX_RETENTION, column: 'tenant_id', anonymize: [] } },
    },
  },
});
