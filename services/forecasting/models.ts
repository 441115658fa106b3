import { DataTypes, type Sequelize } from 'sequelize';

/** Sequelize models of the forecasting database; the schema itself is owned by the migrations. */
export function defineModels(sequelize: Sequelize): void {
  const common = { underscored: true, timestamps: false } as const;
  const ForecastModel = sequelize.define(
    'ForecastModel',
    {
      id: { type: DataTypes.UUID, primaryKey: true, defaultValue: DataTypes.UUIDV4 },
      tenantId: { type: DataTypes.UUID, allowNull: false },
      name: { type: DataTypes.TEXT, allowNull: false },
      algorithm: { type: DataTypes.TEXT, allowNull: false },
      horizonDays: { type: DataTypes.INTEGER, allowNull: false },
      parameters: { type: DataTypes.JSONB, allowNull: false },
      createdBy: DataTypes.UUID,
      updatedBy: DataTypes.UUID,
      createdAt: DataTypes.DATE,
    },
    { ...common, tableName: 'forecast_models' },
  );
  const Forecast = sequelize.define(
    'Forecast',
    {
      id: { type: DataTypes.UUID, primaryKey: true, defaultValue: DataTypes.UUIDV4 },
      tenantId: { type: DataTypes.UUID, allowNull: false },
      modelId: { type: DataTypes.UUID, allowNull: false },
      productName: { type: DataTypes.TEXT, allowNull: false },
      shopLocation: { type: DataTypes.TEXT, allowNull: false },
      status: { type: DataTypes.TEXT, allowNull: false },
      generatedAt: DataTypes.DATE,
      createdBy: DataTypes.UUID,
      approvedBy: DataTypes.UUID,
    },
    { ...common, tableName: 'forecasts' },
  );
  const ForecastPoint = sequelize.define(
    'ForecastPoint',
    {
      id: { type: DataTypes.UUID, primaryKey: true, defaultValue: DataTypes.UUIDV4 },
      forecastId: { type: DataTypes.UUID, allowNull: false },
      targetDate: { type: DataTypes.DATEONLY, allowNull: false },
      horizonDay: { type: DataTypes.INTEGER, allowNull: false },
      predictedQuantity: { type: DataTypes.DECIMAL(10, 2), allowNull: false },
      lowerBound: DataTypes.DECIMAL(10, 2),
      upperBound: DataTypes.DECIMAL(10, 2),
    },
    { ...common, tableName: 'forecast_points' },
  );
  const ForecastAdjustment = sequelize.define(
    'ForecastAdjustment',
    {
      id: { type: DataTypes.UUID, primaryKey: true, defaultValue: DataTypes.UUIDV4 },
      forecastPointId: { type: DataTypes.UUID, allowNull: false },
      adjustedQuantity: { type: DataTypes.DECIMAL(10, 2), allowNull: false },
      reason: DataTypes.TEXT,
      adjustedBy: DataTypes.UUID,
      adjustedAt: DataTypes.DATE,
    },
    { ...common, tableName: 'forecast_adjustments' },
  );
  ForecastModel.hasMany(Forecast, { foreignKey: 'modelId' });
  Forecast.belongsTo(ForecastModel, { foreignKey: 'modelId' });
  Forecast.hasMany(ForecastPoint, { foreignKey: 'forecastId' });
  ForecastPoint.belongsTo(Forecast, { foreignKey: 'forecastId' });
  ForecastPoint.hasMany(ForecastAdjustment, { foreignKey: 'forecastPointId' });
  ForecastAdjustment.belongsTo(ForecastPoint, { foreignKey: 'forecastPointId' });
}
