import { DataTypes } from '../kit/column-types';
import { defineTable, foreignKey, timestampNow, uuidPrimaryKey } from '../kit/models';

export const externalIntegrations = defineTable(
  'external_integrations',
  {
    id: uuidPrimaryKey(),
    tenantId: { type: DataTypes.UUID, allowNull: false },
    provider: { type: DataTypes.TEXT, allowNull: false },
    displayName: { type: DataTypes.TEXT, allowNull: false },
    baseUrl: { type: DataTypes.TEXT, allowNull: false },
    apiKeyHint: DataTypes.TEXT,
    status: { type: DataTypes.TEXT, allowNull: false },
    createdBy: DataTypes.UUID,
    updatedBy: DataTypes.UUID,
    createdAt: timestampNow(),
  },
  {
    modelName: 'ExternalIntegration',
    erasure: { tenant: { deleteBy: 'tenantId' }, user: { anonymize: ['createdBy', 'updatedBy'] } },
  },
);

/** api_key_usage carries no tenant_id: it is reached through its integration. */
export const apiKeyUsage = defineTable(
  'api_key_usage',
  {
    id: uuidPrimaryKey(),
    integrationId: foreignKey('external_integrations'),
    usageHour: { type: DataTypes.DATE, allowNull: false },
    endpoint: { type: DataTypes.TEXT, allowNull: false },
    requestCount: { type: DataTypes.INTEGER, allowNull: false, defaultValue: 0 },
    errorCount: { type: DataTypes.INTEGER, allowNull: false, defaultValue: 0 },
    requestedBy: DataTypes.UUID,
  },
  {
    modelName: 'ApiKeyUsage',
    erasure: { tenant: { deleteThrough: 'integrationId' }, user: { anonymize: ['requestedBy'] } },
  },
);

export const externalDataCache = defineTable(
  'external_data_cache',
  {
    id: uuidPrimaryKey(),
    tenantId: { type: DataTypes.UUID, allowNull: false },
    integrationId: foreignKey('external_integrations'),
    cacheKey: { type: DataTypes.TEXT, allowNull: false },
    payload: { type: DataTypes.JSONB, allowNull: false },
    fetchedAt: timestampNow(),
    expiresAt: DataTypes.DATE,
  },
  { modelName: 'ExternalDataCache', erasure: { tenant: { deleteBy: 'tenantId' } } },
);

export const externalSyncRuns = defineTable(
  'external_sync_runs',
  {
    id: uuidPrimaryKey(),
    tenantId: { type: DataTypes.UUID, allowNull: false },
    integrationId: foreignKey('external_integrations'),
    status: { type: DataTypes.TEXT, allowNull: false },
    recordsFetched: { type: DataTypes.INTEGER, allowNull: false, defaultValue: 0 },
    errorMessage: DataTypes.TEXT,
    triggeredBy: DataTypes.UUID,
    startedAt: timestampNow(),
    finishedAt: DataTypes.DATE,
  },
  {
    modelName: 'ExternalSyncRun',
    erasure: { tenant: { deleteBy: 'tenantId' }, user: { anonymize: ['triggeredBy'] } },
  },
);

/** Every table of the external database, parents first. */
export const tables = [externalIntegrations, apiKeyUsage, externalDataCache, externalSyncRuns];
