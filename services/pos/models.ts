import { DataTypes, type Sequelize } from 'sequelize';

/** Sequelize models of the pos database; the schema itself is owned by the migrations. */
export function defineModels(sequelize: Sequelize): void {
  const common = { underscored: true, timestamps: false } as const;
  const PosConfiguration = sequelize.define(
    'PosConfiguration',
    {
      id: { type: DataTypes.UUID, primaryKey: true, defaultValue: DataTypes.UUIDV4 },
      tenantId: { type: DataTypes.UUID, allowNull: false },
      terminalName: { type: DataTypes.TEXT, allowNull: false },
      shopLocation: { type: DataTypes.TEXT, allowNull: false },
      receiptPrinter: DataTypes.TEXT,
      currency: { type: DataTypes.TEXT, allowNull: false },
      tseSerial: DataTypes.TEXT,
      createdBy: DataTypes.UUID,
      updatedBy: DataTypes.UUID,
      createdAt: DataTypes.DATE,
    },
    { ...common, tableName: 'pos_configurations' },
  );
  const PosSession = sequelize.define(
    'PosSession',
    {
      id: { type: DataTypes.UUID, primaryKey: true, defaultValue: DataTypes.UUIDV4 },
      tenantId: { type: DataTypes.UUID, allowNull: false },
      configurationId: { type: DataTypes.UUID, allowNull: false },
      status: { type: DataTypes.TEXT, allowNull: false },
      openedBy: DataTypes.UUID,
      closedBy: DataTypes.UUID,
      openedAt: DataTypes.DATE,
      closedAt: DataTypes.DATE,
      openingFloatCents: { type: DataTypes.INTEGER, allowNull: false },
      closingCashCents: DataTypes.INTEGER,
    },
    { ...common, tableName: 'pos_sessions' },
  );
  const PosTransaction = sequelize.define(
    'PosTransaction',
    {
      id: { type: DataTypes.UUID, primaryKey: true, defaultValue: DataTypes.UUIDV4 },
      sessionId: { type: DataTypes.UUID, allowNull: false },
      receiptNumber: { type: DataTypes.TEXT, allowNull: false },
      paymentMethod: { type: DataTypes.TEXT, allowNull: false },
      itemCount: { type: DataTypes.INTEGER, allowNull: false },
      totalCents: { type: DataTypes.INTEGER, allowNull: false },
      createdAt: DataTypes.DATE,
    },
    { ...common, tableName: 'pos_transactions' },
  );
  const PosCashMovement = sequelize.define(
    'PosCashMovement',
    {
      id: { type: DataTypes.UUID, primaryKey: true, defaultValue: DataTypes.UUIDV4 },
      tenantId: { type: DataTypes.UUID, allowNull: false },
      sessionId: { type: DataTypes.UUID, allowNull: false },
      movementType: { type: DataTypes.TEXT, allowNull: false },
      amountCents: { type: DataTypes.INTEGER, allowNull: false },
      reason: DataTypes.TEXT,
      performedBy: DataTypes.UUID,
      createdAt: DataTypes.DATE,
    },
    { ...common, tableName: 'pos_cash_movements' },
  );
  PosConfiguration.hasMany(PosSession, { foreignKey: 'configurationId' });
  PosSession.belongsTo(PosConfiguration, { foreignKey: 'configurationId' });
  PosSession.hasMany(PosTransaction, { foreignKey: 'sessionId' });
  PosTransaction.belongsTo(PosSession, { foreignKey: 'sessionId' });
  PosSession.hasMany(PosCashMovement, { foreignKey: 'sessionId' });
  PosCashMovement.belongsTo(PosSession, { foreignKey: 'sessionId' });
}
