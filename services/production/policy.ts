import { definePolicy } from '../kit/deletion/policy';

export const deletionPolicy = definePolicy({
  service: 'production',
  tables: {
    ovens: { tenant: { delete: { column: 'tenant_id' } }, user: { anonymize: ['created_by'] } },
    production_batches: {
      tenant: { delete: { column: 'tenant_id' } },
      user: { anonymize: ['assigned_to', 'created_by'] },
    },
    batch_steps: {
      tenant: { delete: { parent: 'production_batches', column: 'batch_id' } },
      user: { anonymize: ['completed_by'] },
    },
    quality_checks: { tenant: { delete: { column: 'tenant_id' } }, user: { anonymize: ['checked_by'] } },
    oven_schedules: { tenant: { delete: { column: 'tenant_id' } }, user: { anonymize: ['booked_by'] } },
  },
});
