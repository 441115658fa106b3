import { DataTypes, type Sequelize } from 'sequelize';

/** Sequelize models of the alert-processor database; the schema itself is owned by the migrations. */
export function defineModels(sequelize: Sequelize): void {
  const common = { underscored: true, timestamps: false } as const;
  const AlertRule = sequelize.define(
    'AlertRule',
    {
      id: { type: DataTypes.UUID, primaryKey: true, defaultValue: DataTypes.UUIDV4 },
      tenantId: { type: DataTypes.UUID, allowNull: false },
      name: { type: DataTypes.TEXT, allowNull: false },
      equipment: { type: DataTypes.TEXT, allowNull: false },
      metric: { type: DataTypes.TEXT, allowNull: false },
      comparator: { type: DataTypes.TEXT, allowNull: false },
      threshold: { type: DataTypes.DECIMAL(10, 2), allowNull: false },
      severity: { type: DataTypes.TEXT, allowNull: false },
      enabled: { type: DataTypes.BOOLEAN, allowNull: false },
      createdBy: DataTypes.UUID,
      updatedBy: DataTypes.UUID,
      createdAt: DataTypes.DATE,
    },
    { ...common, tableName: 'alert_rules' },
  );
  const Alert = sequelize.define(
    'Alert',
    {
      id: { type: DataTypes.UUID, primaryKey: true, defaultValue: DataTypes.UUIDV4 },
      tenantId: { type: DataTypes.UUID, allowNull: false },
      ruleId: { type: DataTypes.UUID, allowNull: false },
      status: { type: DataTypes.TEXT, allowNull: false },
      severity: { type: DataTypes.TEXT, allowNull: false },
      message: { type: DataTypes.TEXT, allowNull: false },
      observedValue: { type: DataTypes.DECIMAL(10, 2), allowNull: false },
      triggeredAt: DataTypes.DATE,
      acknowledgedBy: DataTypes.UUID,
      acknowledgedAt: DataTypes.DATE,
      resolvedAt: DataTypes.DATE,
    },
    { ...common, tableName: 'alerts' },
  );
  const AlertHistory = sequelize.define(
    'AlertHistory',
    {
      id: { type: DataTypes.UUID, primaryKey: true, defaultValue: DataTypes.UUIDV4 },
      alertId: { type: DataTypes.UUID, allowNull: false },
      fromStatus: DataTypes.TEXT,
      toStatus: { type: DataTypes.TEXT, allowNull: false },
      note: DataTypes.TEXT,
      changedBy: DataTypes.UUID,
      changedAt: DataTypes.DATE,
    },
    { ...common, tableName: 'alert_history' },
  );
  AlertRule.hasMany(Alert, { foreignKey: 'ruleId' });
  Alert.belongsTo(AlertRule, { foreignKey: 'ruleId' });
  Alert.hasMany(AlertHistory, { foreignKey: 'alertId' });
  AlertHistory.belongsTo(Alert, { foreignKey: 'alertId' });
}
