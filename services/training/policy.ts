import { definePolicy } from '../kit/deletion/policy';

export const deletionPolicy = definePolicy({
  service: 'training',
  tables: {
    training_datasets: { tenant: { delete: { column: 'tenant_id' } }, user: { anonymize: ['created_by'] } },
    training_runs: { tenant: { delete: { column: 'tenant_id' } }, user: { anonymize: ['started_by'] } },
    training_metrics: { tenant: { delete: { parent: 'training_runs', column: 'run_id' } } },
    model_versions: { tenant: { delete: { column: 'tenant_id' } }, user: { anonymize: ['promoted_by'] } },
  },
});
