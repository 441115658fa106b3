import { DataTypes, type Sequelize } from 'sequelize';

/** Sequelize models of the training database; the schema itself is owned by the migrations. */
export function defineModels(sequelize: Sequelize): void {
  const common = { underscored: true, timestamps: false } as const;
  const TrainingDataset = sequelize.define(
    'TrainingDataset',
    {
      id: { type: DataTypes.UUID, primaryKey: true, defaultValue: DataTypes.UUIDV4 },
      tenantId: { type: DataTypes.UUID, allowNull: false },
      name: { type: DataTypes.TEXT, allowNull: false },
      productName: { type: DataTypes.TEXT, allowNull: false },
      source: { type: DataTypes.TEXT, allowNull: false },
      periodStart: { type: DataTypes.DATEONLY, allowNull: false },
      periodEnd: { type: DataTypes.DATEONLY, allowNull: false },
      rowCount: { type: DataTypes.INTEGER, allowNull: false },
      createdBy: DataTypes.UUID,
      createdAt: DataTypes.DATE,
    },
    { ...common, tableName: 'training_datasets' },
  );
  const TrainingRun = sequelize.define(
    'TrainingRun',
    {
      id: { type: DataTypes.UUID, primaryKey: true, defaultValue: DataTypes.UUIDV4 },
      tenantId: { type: DataTypes.UUID, allowNull: false },
      datasetId: { type: DataTypes.UUID, allowNull: false },
      modelType: { type: DataTypes.TEXT, allowNull: false },
      horizonDays: { type: DataTypes.INTEGER, allowNull: false },
      status: { type: DataTypes.TEXT, allowNull: false },
      hyperparameters: { type: DataTypes.JSONB, allowNull: false },
      mape: DataTypes.DECIMAL(6, 3),
      startedBy: DataTypes.UUID,
      startedAt: DataTypes.DATE,
      finishedAt: DataTypes.DATE,
    },
    { ...common, tableName: 'training_runs' },
  );
  const TrainingMetric = sequelize.define(
    'TrainingMetric',
    {
      id: { type: DataTypes.UUID, primaryKey: true, defaultValue: DataTypes.UUIDV4 },
      runId: { type: DataTypes.UUID, allowNull: false },
      epoch: { type: DataTypes.INTEGER, allowNull: false },
      metricName: { type: DataTypes.TEXT, allowNull: false },
      value: { type: DataTypes.DOUBLE, allowNull: false },
      recordedAt: DataTypes.DATE,
    },
    { ...common, tableName: 'training_metrics' },
  );
  const ModelVersion = sequelize.define(
    'ModelVersion',
    {
      id: { type: DataTypes.UUID, primaryKey: true, defaultValue: DataTypes.UUIDV4 },
      tenantId: { type: DataTypes.UUID, allowNull: false },
      runId: { type: DataTypes.UUID, allowNull: false },
      version: { type: DataTypes.TEXT, allowNull: false },
      isActive: { type: DataTypes.BOOLEAN, allowNull: false },
      notes: DataTypes.TEXT,
      promotedBy: DataTypes.UUID,
      promotedAt: DataTypes.DATE,
    },
    { ...common, tableName: 'model_versions' },
  );
  TrainingDataset.hasMany(TrainingRun, { foreignKey: 'datasetId' });
  TrainingRun.belongsTo(TrainingDataset, { foreignKey: 'datasetId' });
  TrainingRun.hasMany(TrainingMetric, { foreignKey: 'runId' });
  TrainingMetric.belongsTo(TrainingRun, { foreignKey: 'runId' });
  TrainingRun.hasMany(ModelVersion, { foreignKey: 'runId' });
  ModelVersion.belongsTo(TrainingRun, { foreignKey: 'runId' });
}
