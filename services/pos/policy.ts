import { definePolicy } from '../kit/deletion/policy';

export const deletionPolicy = definePolicy({
  service: 'pos',
  tables: {
    pos_configurations: {
      tenant: { delete: { column: 'tenant_id' } },
      user: { anonymize: ['created_by', 'updated_by'] },
    },
    pos_sessions: {
      tenant: { delete: { column: 'tenant_id' } },
      user: { anonymize: ['opened_by', 'closed_by'] },
    },
    pos_transactions: { tenant: { delete: { parent: 'pos_sessions', column: 'session_id' } } },
    pos_cash_movements: {
      tenant: { delete: { column: 'tenant_id' } },
      user: { anonymize: ['performed_by'] },
    },
  },
});
