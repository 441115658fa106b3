import { definePolicy } from '../kit/deletion/policy';

export const deletionPolicy = definePolicy({
  service: 'notification',
  tables: {
    notification_templates: {
      tenant: { delete: { column: 'tenant_id' } },
      user: { anonymize: ['created_by', 'updated_by'] },
    },
    notification_preferences: {
      tenant: { delete: { column: 'tenant_id' } },
      user: { delete: { column: 'user_id' } },
    },
    notifications: { tenant: { delete: { column: 'tenant_id' } }, user: { anonymize: ['recipient_user_id'] } },
    notification_deliveries: { tenant: { delete: { parent: 'notifications', column: 'notification_id' } } },
  },
});
