import { DataTypes } from '../kit/column-types';
import { defineTable, foreignKey, timestampNow, uuidPrimaryKey } from '../kit/models';

/** Sales history cut into datasets that demand-forecasting models are trained on. */
export const trainingDatasets = defineTable(
  'training_datasets',
  {
    id: uuidPrimaryKey(),
    tenantId: { type: DataTypes.UUID, allowNull: false },
    name: { type: DataTypes.TEXT, allowNull: false },
    productName: { type: DataTypes.TEXT, allowNull: false },
    source: { type: DataTypes.TEXT, allowNull: false },
    periodStart: { type: DataTypes.DATEONLY, allowNull: false },
    periodEnd: { type: DataTypes.DATEONLY, allowNull: false },
    rowCount: { type: DataTypes.INTEGER, allowNull: false, defaultValue: 0 },
    createdBy: DataTypes.UUID,
    createdAt: timestampNow(),
  },
  { modelName: 'TrainingDataset', erasure: { tenant: { deleteBy: 'tenantId' }, user: { anonymize: ['createdBy'] } } },
);

export const trainingRuns = defineTable(
  'training_runs',
  {
    id: uuidPrimaryKey(),
    tenantId: { type: DataTypes.UUID, allowNull: false },
    datasetId: foreignKey('training_datasets'),
    modelType: { type: DataTypes.TEXT, allowNull: false },
    horizonDays: { type: DataTypes.INTEGER, allowNull: false },
    status: { type: DataTypes.TEXT, allowNull: false },
    hyperparameters: { type: DataTypes.JSONB, allowNull: false, defaultValue: {} },
    mape: DataTypes.DECIMAL(6, 3),
    startedBy: DataTypes.UUID,
    startedAt: timestampNow(),
    finishedAt: DataTypes.DATE,
  },
  { modelName: 'TrainingRun', erasure: { tenant: { deleteBy: 'tenantId' }, user: { anonymize: ['startedBy'] } } },
);

/** training_metrics carries no tenant_id: it is reached through its run. */
export const trainingMetrics = defineTable(
  'training_metrics',
  {
    id: uuidPrimaryKey(),
    runId: foreignKey('training_runs'),
    epoch: { type: DataTypes.INTEGER, allowNull: false },
    metricName: { type: DataTypes.TEXT, allowNull: false },
    value: { type: DataTypes.DOUBLE, allowNull: false },
    recordedAt: timestampNow(),
  },
  { modelName: 'TrainingMetric', erasure: { tenant: { deleteThrough: 'runId' } } },
);

/** A run whose model was promoted to produce the daily bake plan forecast. */
export const modelVersions = defineTable(
  'model_versions',
  {
    id: uuidPrimaryKey(),
    tenantId: { type: DataTypes.UUID, allowNull: false },
    runId: foreignKey('training_runs'),
    version: { type: DataTypes.TEXT, allowNull: false },
    isActive: { type: DataTypes.BOOLEAN, allowNull: false, defaultValue: false },
    notes: DataTypes.TEXT,
    promotedBy: DataTypes.UUID,
    promotedAt: timestampNow(),
  },
  { modelName: 'ModelVersion', erasure: { tenant: { deleteBy: 'tenantId' }, user: { anonymize: ['promotedBy'] } } },
);

/** Every table of the training database, parents first. */
export const tables = [trainingDatasets, trainingRuns, trainingMetrics, modelVersions];
