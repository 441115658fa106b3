import { DataTypes, type Sequelize } from 'sequelize';

/** Sequelize models of the production database; the schema itself is owned by the migrations. */
export function defineModels(sequelize: Sequelize): void {
  const common = { underscored: true, timestamps: false } as const;
  const Oven = sequelize.define(
    'Oven',
    {
      id: { type: DataTypes.UUID, primaryKey: true, defaultValue: DataTypes.UUIDV4 },
      tenantId: { type: DataTypes.UUID, allowNull: false },
      name: { type: DataTypes.TEXT, allowNull: false },
      ovenType: { type: DataTypes.TEXT, allowNull: false },
      capacityTrays: { type: DataTypes.INTEGER, allowNull: false },
      maxTemperatureC: { type: DataTypes.INTEGER, allowNull: false },
      active: { type: DataTypes.BOOLEAN, allowNull: false },
      createdBy: DataTypes.UUID,
      createdAt: DataTypes.DATE,
    },
    { ...common, tableName: 'ovens' },
  );
  const ProductionBatch = sequelize.define(
    'ProductionBatch',
    {
      id: { type: DataTypes.UUID, primaryKey: true, defaultValue: DataTypes.UUIDV4 },
      tenantId: { type: DataTypes.UUID, allowNull: false },
      batchNumber: { type: DataTypes.TEXT, allowNull: false },
      productName: { type: DataTypes.TEXT, allowNull: false },
      recipeCode: DataTypes.TEXT,
      shift: { type: DataTypes.TEXT, allowNull: false },
      status: { type: DataTypes.TEXT, allowNull: false },
      plannedQuantity: { type: DataTypes.INTEGER, allowNull: false },
      producedQuantity: DataTypes.INTEGER,
      plannedStart: { type: DataTypes.DATE, allowNull: false },
      assignedTo: DataTypes.UUID,
      createdBy: DataTypes.UUID,
      createdAt: DataTypes.DATE,
    },
    { ...common, tableName: 'production_batches' },
  );
  const BatchStep = sequelize.define(
    'BatchStep',
    {
      id: { type: DataTypes.UUID, primaryKey: true, defaultValue: DataTypes.UUIDV4 },
      batchId: { type: DataTypes.UUID, allowNull: false },
      stepNumber: { type: DataTypes.INTEGER, allowNull: false },
      name: { type: DataTypes.TEXT, allowNull: false },
      startedAt: DataTypes.DATE,
      finishedAt: DataTypes.DATE,
      completedBy: DataTypes.UUID,
    },
    { ...common, tableName: 'batch_steps' },
  );
  const QualityCheck = sequelize.define(
    'QualityCheck',
    {
      id: { type: DataTypes.UUID, primaryKey: true, defaultValue: DataTypes.UUIDV4 },
      tenantId: { type: DataTypes.UUID, allowNull: false },
      batchId: { type: DataTypes.UUID, allowNull: false },
      checkType: { type: DataTypes.TEXT, allowNull: false },
      result: { type: DataTypes.TEXT, allowNull: false },
      measuredValue: DataTypes.DECIMAL(8, 2),
      notes: DataTypes.TEXT,
      checkedBy: DataTypes.UUID,
      checkedAt: DataTypes.DATE,
    },
    { ...common, tableName: 'quality_checks' },
  );
  const OvenSchedule = sequelize.define(
    'OvenSchedule',
    {
      id: { type: DataTypes.UUID, primaryKey: true, defaultValue: DataTypes.UUIDV4 },
      tenantId: { type: DataTypes.UUID, allowNull: false },
      ovenId: { type: DataTypes.UUID, allowNull: false },
      batchId: DataTypes.UUID,
      startsAt: { type: DataTypes.DATE, allowNull: false },
      endsAt: { type: DataTypes.DATE, allowNull: false },
      temperatureC: { type: DataTypes.INTEGER, allowNull: false },
      steam: { type: DataTypes.BOOLEAN, allowNull: false },
      bookedBy: DataTypes.UUID,
    },
    { ...common, tableName: 'oven_schedules' },
  );
  ProductionBatch.hasMany(BatchStep, { foreignKey: 'batchId' });
  BatchStep.belongsTo(ProductionBatch, { foreignKey: 'batchId' });
  ProductionBatch.hasMany(QualityCheck, { foreignKey: 'batchId' });
  QualityCheck.belongsTo(ProductionBatch, { foreignKey: 'batchId' });
  ProductionBatch.hasMany(OvenSchedule, { foreignKey: 'batchId' });
  OvenSchedule.belongsTo(ProductionBatch, { foreignKey: 'batchId' });
  Oven.hasMany(OvenSchedule, { foreignKey: 'ovenId' });
  OvenSchedule.belongsTo(Oven, { foreignKey: 'ovenId' });
}
