import { definePolicy } from '../kit/deletion/policy';

export const deletionPolicy = definePolicy({
  service: 'alert-processor',
  tables: {
    alert_rules: { tenant: { delete: { column: 'tenant_id' } }, user: { anonymize: ['created_by', 'updated_by'] } },
    alerts: { tenant: { delete: { column: 'tenant_id' } }, user: { anonymize: ['acknowledged_by'] } },
    alert_history: {
      tenant: { delete: { parent: 'alerts', column: 'alert_id' } },
      user: { anonymize: ['changed_by'] },
    },
  },
});
