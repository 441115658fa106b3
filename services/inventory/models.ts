import { DataTypes } from '../kit/column-types';
import { defineTable, foreignKey, timestampNow, uuidPrimaryKey } from '../kit/models';

export const ingredients = defineTable(
  'ingredients',
  {
    id: uuidPrimaryKey(),
    tenantId: { type: DataTypes.UUID, allowNull: false },
    sku: { type: DataTypes.TEXT, allowNull: false },
    name: { type: DataTypes.TEXT, allowNull: false },
    category: { type: DataTypes.TEXT, allowNull: false },
    unit: { type: DataTypes.TEXT, allowNull: false },
    allergens: DataTypes.TEXT,
    reorderLevel: { type: DataTypes.DECIMAL(12, 3), allowNull: false, defaultValue: 0 },
    createdBy: DataTypes.UUID,
    updatedBy: DataTypes.UUID,
    createdAt: timestampNow(),
  },
  {
    modelName: 'Ingredient',
    indexes: [{ unique: true, fields: ['tenantId', 'sku'] }],
    erasure: { tenant: { deleteBy: 'tenantId' }, user: { anonymize: ['createdBy', 'updatedBy'] } },
  },
);

/** stock_lots carries no tenant_id: it is reached through its ingredient. */
export const stockLots = defineTable(
  'stock_lots',
  {
    id: uuidPrimaryKey(),
    ingredientId: foreignKey('ingredients'),
    lotNumber: { type: DataTypes.TEXT, allowNull: false },
    supplierName: DataTypes.TEXT,
    quantity: { type: DataTypes.DECIMAL(12, 3), allowNull: false },
    unitCostCents: { type: DataTypes.INTEGER, allowNull: false },
    storageLocation: DataTypes.TEXT,
    receivedAt: timestampNow(),
    bestBefore: DataTypes.DATEONLY,
    receivedBy: DataTypes.UUID,
  },
  {
    modelName: 'StockLot',
    erasure: { tenant: { deleteThrough: 'ingredientId' }, user: { anonymize: ['receivedBy'] } },
  },
);

export const stockMovements = defineTable(
  'stock_movements',
  {
    id: uuidPrimaryKey(),
    tenantId: { type: DataTypes.UUID, allowNull: false },
    lotId: foreignKey('stock_lots'),
    movementType: {
      type: DataTypes.TEXT,
      allowNull: false,
      validate: { isIn: [['RECEIPT', 'CONSUMPTION', 'WASTE', 'ADJUSTMENT']] },
    },
    quantity: { type: DataTypes.DECIMAL(12, 3), allowNull: false },
    reason: DataTypes.TEXT,
    createdBy: DataTypes.UUID,
    createdAt: timestampNow(),
  },
  { modelName: 'StockMovement', erasure: { tenant: { deleteBy: 'tenantId' }, user: { anonymize: ['createdBy'] } } },
);

/** Every table of the inventory database, parents first. */
export const tables = [ingredients, stockLots, stockMovements];
