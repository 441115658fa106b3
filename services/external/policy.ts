import { definePolicy } from '../kit/deletion/policy';

export const deletionPolicy = definePolicy({
  service: 'external',
  tables: {
    external_integrations: {
      tenant: { delete: { column: 'tenant_id' } },
      user: { anonymize: ['created_by', 'updated_by'] },
    },
    api_key_usage: {
      tenant: { delete: { parent: 'external_integrations', column: 'integration_id' } },
      user: { anonymize: ['requested_by'] },
    },
    external_data_cache: { tenant: { delete: { column: 'tenant_id' } } },
    external_sync_runs: {
      tenant: { delete: { column: 'tenant_id' } },
      user: { anonymize: ['triggered_by'] },
    },
  },
});
