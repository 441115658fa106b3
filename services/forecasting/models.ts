import { DataTypes } from '../kit/column-types';
import { defineTable, foreignKey, timestampNow, uuidPrimaryKey } from '../kit/models';

export const forecastModels = defineTable(
  'forecast_models',
  {
    id: uuidPrimaryKey(),
    tenantId: { type: DataTypes.UUID, allowNull: false },
    name: { type: DataTypes.TEXT, allowNull: false },
    algorithm: { type: DataTypes.TEXT, allowNull: false },
    horizonDays: { type: DataTypes.INTEGER, allowNull: false },
    parameters: { type: DataTypes.JSONB, allowNull: false, defaultValue: {} },
    createdBy: DataTypes.UUID,
    updatedBy: DataTypes.UUID,
    createdAt: timestampNow(),
  },
  {
    modelName: 'ForecastModel',
    erasure: { tenant: { deleteBy: 'tenantId' }, user: { anonymize: ['createdBy', 'updatedBy'] } },
  },
);

export const forecasts = defineTable(
  'forecasts',
  {
    id: uuidPrimaryKey(),
    tenantId: { type: DataTypes.UUID, allowNull: false },
    modelId: foreignKey('forecast_models'),
    productName: { type: DataTypes.TEXT, allowNull: false },
    shopLocation: { type: DataTypes.TEXT, allowNull: false },
    status: { type: DataTypes.TEXT, allowNull: false },
    generatedAt: timestampNow(),
    createdBy: DataTypes.UUID,
    approvedBy: DataTypes.UUID,
  },
  {
    modelName: 'Forecast',
    erasure: { tenant: { deleteBy: 'tenantId' }, user: { anonymize: ['createdBy', 'approvedBy'] } },
  },
);

/** forecast_points carries no tenant_id: it is reached through its forecast. */
export const forecastPoints = defineTable(
  'forecast_points',
  {
    id: uuidPrimaryKey(),
    forecastId: foreignKey('forecasts'),
    targetDate: { type: DataTypes.DATEONLY, allowNull: false },
    horizonDay: { type: DataTypes.INTEGER, allowNull: false },
    predictedQuantity: { type: DataTypes.DECIMAL(10, 2), allowNull: false },
    lowerBound: DataTypes.DECIMAL(10, 2),
    upperBound: DataTypes.DECIMAL(10, 2),
  },
  { modelName: 'ForecastPoint', erasure: { tenant: { deleteThrough: 'forecastId' } } },
);

/** forecast_adjustments is two hops from a tenant_id: adjustment -> point -> forecast. */
export const forecastAdjustments = defineTable(
  'forecast_adjustments',
  {
    id: uuidPrimaryKey(),
    forecastPointId: foreignKey('forecast_points'),
    adjustedQuantity: { type: DataTypes.DECIMAL(10, 2), allowNull: false },
    reason: DataTypes.TEXT,
    adjustedBy: DataTypes.UUID,
    adjustedAt: timestampNow(),
  },
  {
    modelName: 'ForecastAdjustment',
    erasure: { tenant: { deleteThrough: 'forecastPointId' }, user: { anonymize: ['adjustedBy'] } },
  },
);

/** Every table of the forecasting database, parents first. */
export const tables = [forecastModels, forecasts, forecastPoints, forecastAdjustments];
