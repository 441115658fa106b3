import { DataTypes } from '../kit/column-types';
import { defineTable, foreignKey, timestampNow, uuidPrimaryKey } from '../kit/models';

export const posConfigurations = defineTable(
  'pos_configurations',
  {
    id: uuidPrimaryKey(),
    tenantId: { type: DataTypes.UUID, allowNull: false },
    terminalName: { type: DataTypes.TEXT, allowNull: false },
    shopLocation: { type: DataTypes.TEXT, allowNull: false },
    receiptPrinter: DataTypes.TEXT,
    currency: { type: DataTypes.TEXT, allowNull: false, defaultValue: 'EUR' },
    tseSerial: DataTypes.TEXT,
    createdBy: DataTypes.UUID,
    updatedBy: DataTypes.UUID,
    createdAt: timestampNow(),
  },
  {
    modelName: 'PosConfiguration',
    erasure: { tenant: { deleteBy: 'tenantId' }, user: { anonymize: ['createdBy', 'updatedBy'] } },
  },
);

export const posSessions = defineTable(
  'pos_sessions',
  {
    id: uuidPrimaryKey(),
    tenantId: { type: DataTypes.UUID, allowNull: false },
    configurationId: foreignKey('pos_configurations'),
    status: { type: DataTypes.TEXT, allowNull: false },
    openedBy: DataTypes.UUID,
    closedBy: DataTypes.UUID,
    openedAt: timestampNow(),
    closedAt: DataTypes.DATE,
    openingFloatCents: { type: DataTypes.INTEGER, allowNull: false, defaultValue: 0 },
    closingCashCents: DataTypes.INTEGER,
  },
  {
    modelName: 'PosSession',
    erasure: { tenant: { deleteBy: 'tenantId' }, user: { anonymize: ['openedBy', 'closedBy'] } },
  },
);

/** pos_transactions carries no tenant_id: it is reached through its session. */
export const posTransactions = defineTable(
  'pos_transactions',
  {
    id: uuidPrimaryKey(),
    sessionId: foreignKey('pos_sessions'),
    receiptNumber: { type: DataTypes.TEXT, allowNull: false },
    paymentMethod: { type: DataTypes.TEXT, allowNull: false },
    itemCount: { type: DataTypes.INTEGER, allowNull: false },
    totalCents: { type: DataTypes.INTEGER, allowNull: false },
    createdAt: timestampNow(),
  },
  { modelName: 'PosTransaction', erasure: { tenant: { deleteThrough: 'sessionId' } } },
);

export const posCashMovements = defineTable(
  'pos_cash_movements',
  {
    id: uuidPrimaryKey(),
    tenantId: { type: DataTypes.UUID, allowNull: false },
    sessionId: foreignKey('pos_sessions'),
    movementType: { type: DataTypes.TEXT, allowNull: false },
    amountCents: { type: DataTypes.INTEGER, allowNull: false },
    reason: DataTypes.TEXT,
    performedBy: DataTypes.UUID,
    createdAt: timestampNow(),
  },
  {
    modelName: 'PosCashMovement',
    erasure: { tenant: { deleteBy: 'tenantId' }, user: { anonymize: ['performedBy'] } },
  },
);

/** Every table of the pos database, parents first. */
export const tables = [posConfigurations, posSessions, posTransactions, posCashMovements];
