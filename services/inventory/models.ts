import { DataTypes, type Sequelize } from 'sequelize';

/** Sequelize models of the inventory database; the schema itself is owned by the migrations. */
export function defineModels(sequelize: Sequelize): void {
  const common = { underscored: true, timestamps: false } as const;
  const Ingredient = sequelize.define(
    'Ingredient',
    {
      id: { type: DataTypes.UUID, primaryKey: true, defaultValue: DataTypes.UUIDV4 },
      tenantId: { type: DataTypes.UUID, allowNull: false },
      sku: { type: DataTypes.TEXT, allowNull: false },
      name: { type: DataTypes.TEXT, allowNull: false },
      category: { type: DataTypes.TEXT, allowNull: false },
      unit: { type: DataTypes.TEXT, allowNull: false },
      allergens: DataTypes.TEXT,
      reorderLevel: { type: DataTypes.DECIMAL(12, 3), allowNull: false },
      createdBy: DataTypes.UUID,
      updatedBy: DataTypes.UUID,
      createdAt: DataTypes.DATE,
    },
    { ...common, tableName: 'ingredients' },
  );
  const StockLot = sequelize.define(
    'StockLot',
    {
      id: { type: DataTypes.UUID, primaryKey: true, defaultValue: DataTypes.UUIDV4 },
      ingredientId: { type: DataTypes.UUID, allowNull: false },
      lotNumber: { type: DataTypes.TEXT, allowNull: false },
      supplierName: DataTypes.TEXT,
      quantity: { type: DataTypes.DECIMAL(12, 3), allowNull: false },
      unitCostCents: { type: DataTypes.INTEGER, allowNull: false },
      storageLocation: DataTypes.TEXT,
      receivedAt: DataTypes.DATE,
      bestBefore: DataTypes.DATEONLY,
      receivedBy: DataTypes.UUID,
    },
    { ...common, tableName: 'stock_lots' },
  );
  const StockMovement = sequelize.define(
    'StockMovement',
    {
      id: { type: DataTypes.UUID, primaryKey: true, defaultValue: DataTypes.UUIDV4 },
      tenantId: { type: DataTypes.UUID, allowNull: false },
      lotId: { type: DataTypes.UUID, allowNull: false },
      movementType: { type: DataTypes.TEXT, allowNull: false },
      quantity: { type: DataTypes.DECIMAL(12, 3), allowNull: false },
      reason: DataTypes.TEXT,
      createdBy: DataTypes.UUID,
      createdAt: DataTypes.DATE,
    },
    { ...common, tableName: 'stock_movements' },
  );
  Ingredient.hasMany(StockLot, { foreignKey: 'ingredientId' });
  StockLot.belongsTo(Ingredient, { foreignKey: 'ingredientId' });
  StockLot.hasMany(StockMovement, { foreignKey: 'lotId' });
  StockMovement.belongsTo(StockLot, { foreignKey: 'lotId' });
}
