import { DataTypes } from '../kit/column-types';
import { defineTable, foreignKey, timestampNow, uuidPrimaryKey } from '../kit/models';

/** Thresholds on bakery sensors and stock levels (ovens, proofers, freezers, flour silos). */
export const alertRules = defineTable(
  'alert_rules',
  {
    id: uuidPrimaryKey(),
    tenantId: { type: DataTypes.UUID, allowNull: false },
    name: { type: DataTypes.TEXT, allowNull: false },
    equipment: { type: DataTypes.TEXT, allowNull: false },
    metric: { type: DataTypes.TEXT, allowNull: false },
    comparator: { type: DataTypes.TEXT, allowNull: false },
    threshold: { type: DataTypes.DECIMAL(10, 2), allowNull: false },
    severity: { type: DataTypes.TEXT, allowNull: false },
    enabled: { type: DataTypes.BOOLEAN, allowNull: false, defaultValue: true },
    createdBy: DataTypes.UUID,
    updatedBy: DataTypes.UUID,
    createdAt: timestampNow(),
  },
  {
    modelName: 'AlertRule',
    erasure: { tenant: { deleteBy: 'tenantId' }, user: { anonymize: ['createdBy', 'updatedBy'] } },
  },
);

export const alerts = defineTable(
  'alerts',
  {
    id: uuidPrimaryKey(),
    tenantId: { type: DataTypes.UUID, allowNull: false },
    ruleId: foreignKey('alert_rules'),
    status: { type: DataTypes.TEXT, allowNull: false },
    severity: { type: DataTypes.TEXT, allowNull: false },
    message: { type: DataTypes.TEXT, allowNull: false },
    observedValue: { type: DataTypes.DECIMAL(10, 2), allowNull: false },
    triggeredAt: timestampNow(),
    acknowledgedBy: DataTypes.UUID,
    acknowledgedAt: DataTypes.DATE,
    resolvedAt: DataTypes.DATE,
  },
  { modelName: 'Alert', erasure: { tenant: { deleteBy: 'tenantId' }, user: { anonymize: ['acknowledgedBy'] } } },
);

/** alert_history carries no tenant_id: it is reached through its alert. */
export const alertHistory = defineTable(
  'alert_history',
  {
    id: uuidPrimaryKey(),
    alertId: foreignKey('alerts'),
    fromStatus: DataTypes.TEXT,
    toStatus: { type: DataTypes.TEXT, allowNull: false },
    note: DataTypes.TEXT,
    changedBy: DataTypes.UUID,
    changedAt: timestampNow(),
  },
  {
    modelName: 'AlertHistory',
    erasure: { tenant: { deleteThrough: 'alertId' }, user: { anonymize: ['changedBy'] } },
  },
);

/** Every table of the alert-processor database, parents first. */
export const tables = [alertRules, alerts, alertHistory];
