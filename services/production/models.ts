import { DataTypes } from '../kit/column-types';
import { defineTable, foreignKey, timestampNow, uuidPrimaryKey } from '../kit/models';

export const ovens = defineTable(
  'ovens',
  {
    id: uuidPrimaryKey(),
    tenantId: { type: DataTypes.UUID, allowNull: false },
    name: { type: DataTypes.TEXT, allowNull: false },
    ovenType: { type: DataTypes.TEXT, allowNull: false },
    capacityTrays: { type: DataTypes.INTEGER, allowNull: false },
    maxTemperatureC: { type: DataTypes.INTEGER, allowNull: false },
    active: { type: DataTypes.BOOLEAN, allowNull: false, defaultValue: true },
    createdBy: DataTypes.UUID,
    createdAt: timestampNow(),
  },
  { modelName: 'Oven', erasure: { tenant: { deleteBy: 'tenantId' }, user: { anonymize: ['createdBy'] } } },
);

/** recipe_code names a recipe of the recipes service (another database, so no FK). */
export const productionBatches = defineTable(
  'production_batches',
  {
    id: uuidPrimaryKey(),
    tenantId: { type: DataTypes.UUID, allowNull: false },
    batchNumber: { type: DataTypes.TEXT, allowNull: false },
    productName: { type: DataTypes.TEXT, allowNull: false },
    recipeCode: DataTypes.TEXT,
    shift: { type: DataTypes.TEXT, allowNull: false, validate: { isIn: [['NIGHT', 'EARLY', 'DAY']] } },
    status: {
      type: DataTypes.TEXT,
      allowNull: false,
      validate: { isIn: [['PLANNED', 'IN_PROGRESS', 'COMPLETED', 'CANCELLED']] },
    },
    plannedQuantity: { type: DataTypes.INTEGER, allowNull: false },
    producedQuantity: DataTypes.INTEGER,
    plannedStart: { type: DataTypes.DATE, allowNull: false },
    assignedTo: DataTypes.UUID,
    createdBy: DataTypes.UUID,
    createdAt: timestampNow(),
  },
  {
    modelName: 'ProductionBatch',
    indexes: [{ unique: true, fields: ['tenantId', 'batchNumber'] }],
    erasure: { tenant: { deleteBy: 'tenantId' }, user: { anonymize: ['assignedTo', 'createdBy'] } },
  },
);

/** batch_steps carries no tenant_id: it is reached through its batch. */
export const batchSteps = defineTable(
  'batch_steps',
  {
    id: uuidPrimaryKey(),
    batchId: foreignKey('production_batches'),
    stepNumber: { type: DataTypes.INTEGER, allowNull: false },
    name: { type: DataTypes.TEXT, allowNull: false },
    startedAt: DataTypes.DATE,
    finishedAt: DataTypes.DATE,
    completedBy: DataTypes.UUID,
  },
  { modelName: 'BatchStep', erasure: { tenant: { deleteThrough: 'batchId' }, user: { anonymize: ['completedBy'] } } },
);

export const qualityChecks = defineTable(
  'quality_checks',
  {
    id: uuidPrimaryKey(),
    tenantId: { type: DataTypes.UUID, allowNull: false },
    batchId: foreignKey('production_batches'),
    checkType: { type: DataTypes.TEXT, allowNull: false },
    result: { type: DataTypes.TEXT, allowNull: false, validate: { isIn: [['PASS', 'FAIL', 'REWORK']] } },
    measuredValue: DataTypes.DECIMAL(8, 2),
    notes: DataTypes.TEXT,
    checkedBy: DataTypes.UUID,
    checkedAt: timestampNow(),
  },
  { modelName: 'QualityCheck', erasure: { tenant: { deleteBy: 'tenantId' }, user: { anonymize: ['checkedBy'] } } },
);

export const ovenSchedules = defineTable(
  'oven_schedules',
  {
    id: uuidPrimaryKey(),
    tenantId: { type: DataTypes.UUID, allowNull: false },
    ovenId: foreignKey('ovens'),
    batchId: foreignKey('production_batches', { nullable: true }),
    startsAt: { type: DataTypes.DATE, allowNull: false },
    endsAt: { type: DataTypes.DATE, allowNull: false },
    temperatureC: { type: DataTypes.INTEGER, allowNull: false },
    steam: { type: DataTypes.BOOLEAN, allowNull: false, defaultValue: false },
    bookedBy: DataTypes.UUID,
  },
  { modelName: 'OvenSchedule', erasure: { tenant: { deleteBy: 'tenantId' }, user: { anonymize: ['bookedBy'] } } },
);

/** Every table of the production database, parents first. */
export const tables = [ovens, productionBatches, batchSteps, qualityChecks, ovenSchedules];
