import { DataTypes, type Sequelize } from 'sequelize';

/** Sequelize models of the external database; the schema itself is owned by the migrations. */
export function defineModels(sequelize: Sequelize): void {
  const common = { underscored: true, timestamps: false } as const;
  const ExternalIntegration = sequelize.define(
    'ExternalIntegration',
    {
      id: { type: DataTypes.UUID, primaryKey: true, defaultValue: DataTypes.UUIDV4 },
      tenantId: { type: DataTypes.UUID, allowNull: false },
      provider: { type: DataTypes.TEXT, allowNull: false },
      displayName: { type: DataTypes.TEXT, allowNull: false },
      baseUrl: { type: DataTypes.TEXT, allowNull: false },
      apiKeyHint: DataTypes.TEXT,
      status: { type: DataTypes.TEXT, allowNull: false },
      createdBy: DataTypes.UUID,
      updatedBy: DataTypes.UUID,
      createdAt: DataTypes.DATE,
    },
    { ...common, tableName: 'external_integrations' },
  );
  const ApiKeyUsage = sequelize.define(
    'ApiKeyUsage',
    {
      id: { type: DataTypes.UUID, primaryKey: true, defaultValue: DataTypes.UUIDV4 },
      integrationId: { type: DataTypes.UUID, allowNull: false },
      usageHour: { type: DataTypes.DATE, allowNull: false },
      endpoint: { type: DataTypes.TEXT, allowNull: false },
      requestCount: { type: DataTypes.INTEGER, allowNull: false },
      errorCount: { type: DataTypes.INTEGER, allowNull: false },
      requestedBy: DataTypes.UUID,
    },
    { ...common, tableName: 'api_key_usage' },
  );
  const ExternalDataCache = sequelize.define(
    'ExternalDataCache',
    {
      id: { type: DataTypes.UUID, primaryKey: true, defaultValue: DataTypes.UUIDV4 },
      tenantId: { type: DataTypes.UUID, allowNull: false },
      integrationId: { type: DataTypes.UUID, allowNull: false },
      cacheKey: { type: DataTypes.TEXT, allowNull: false },
      payload: { type: DataTypes.JSONB, allowNull: false },
      fetchedAt: DataTypes.DATE,
      expiresAt: DataTypes.DATE,
    },
    { ...common, tableName: 'external_data_cache' },
  );
  const ExternalSyncRun = sequelize.define(
    'ExternalSyncRun',
    {
      id: { type: DataTypes.UUID, primaryKey: true, defaultValue: DataTypes.UUIDV4 },
      tenantId: { type: DataTypes.UUID, allowNull: false },
      integrationId: { type: DataTypes.UUID, allowNull: false },
      status: { type: DataTypes.TEXT, allowNull: false },
      recordsFetched: { type: DataTypes.INTEGER, allowNull: false },
      errorMessage: DataTypes.TEXT,
      triggeredBy: DataTypes.UUID,
      startedAt: DataTypes.DATE,
      finishedAt: DataTypes.DATE,
    },
    { ...common, tableName: 'external_sync_runs' },
  );
  ExternalIntegration.hasMany(ApiKeyUsage, { foreignKey: 'integrationId' });
  ApiKeyUsage.belongsTo(ExternalIntegration, { foreignKey: 'integrationId' });
  ExternalIntegration.hasMany(ExternalDataCache, { foreignKey: 'integrationId' });
  ExternalDataCache.belongsTo(ExternalIntegration, { foreignKey: 'integrationId' });
  ExternalIntegration.hasMany(ExternalSyncRun, { foreignKey: 'integrationId' });
  ExternalSyncRun.belongsTo(ExternalIntegration, { foreignKey: 'integrationId' });
}
