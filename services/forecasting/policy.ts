import { definePolicy } from '../kit/deletion/policy';

export const deletionPolicy = definePolicy({
  service: 'forecasting',
  tables: {
    forecast_models: {
      tenant: { delete: { column: 'tenant_id' } },
      user: { anonymize: ['created_by', 'updated_by'] },
    },
    forecasts: {
      tenant: { delete: { column: 'tenant_id' } },
      user: { anonymize: ['created_by', 'approved_by'] },
    },
    forecast_points: { tenant: { delete: { parent: 'forecasts', column: 'forecast_id' } } },
    forecast_adjustments: {
      tenant: { delete: { parent: 'forecast_points', column: 'forecast_point_id' } },
      user: { anonymize: ['adjusted_by'] },
    },
  },
});
