import { DataTypes } from '../kit/column-types';
import { defineTable, foreignKey, timestampNow, uuidPrimaryKey } from '../kit/models';

export const notificationTemplates = defineTable(
  'notification_templates',
  {
    id: uuidPrimaryKey(),
    tenantId: { type: DataTypes.UUID, allowNull: false },
    code: { type: DataTypes.TEXT, allowNull: false },
    channel: { type: DataTypes.TEXT, allowNull: false },
    locale: { type: DataTypes.TEXT, allowNull: false, defaultValue: 'de-DE' },
    subject: DataTypes.TEXT,
    body: { type: DataTypes.TEXT, allowNull: false },
    active: { type: DataTypes.BOOLEAN, allowNull: false, defaultValue: true },
    createdBy: DataTypes.UUID,
    updatedBy: DataTypes.UUID,
    createdAt: timestampNow(),
  },
  {
    modelName: 'NotificationTemplate',
    erasure: { tenant: { deleteBy: 'tenantId' }, user: { anonymize: ['createdBy', 'updatedBy'] } },
  },
);

/** Owned by the user: a user erasure deletes these rows outright. */
export const notificationPreferences = defineTable(
  'notification_preferences',
  {
    id: uuidPrimaryKey(),
    tenantId: { type: DataTypes.UUID, allowNull: false },
    userId: { type: DataTypes.UUID, allowNull: false },
    channel: { type: DataTypes.TEXT, allowNull: false },
    enabled: { type: DataTypes.BOOLEAN, allowNull: false, defaultValue: true },
    digest: { type: DataTypes.TEXT, allowNull: false, defaultValue: 'immediate' },
    quietHoursStart: DataTypes.TIME,
    quietHoursEnd: DataTypes.TIME,
    updatedAt: timestampNow(),
  },
  {
    modelName: 'NotificationPreference',
    erasure: { tenant: { deleteBy: 'tenantId' }, user: { deleteBy: 'userId' } },
  },
);

/** The recipient is referenced, not owned: the notification stays (anonymized) for the tenant. */
export const notifications = defineTable(
  'notifications',
  {
    id: uuidPrimaryKey(),
    tenantId: { type: DataTypes.UUID, allowNull: false },
    templateId: foreignKey('notification_templates', { nullable: true }),
    recipientUserId: DataTypes.UUID,
    channel: { type: DataTypes.TEXT, allowNull: false },
    priority: { type: DataTypes.TEXT, allowNull: false, defaultValue: 'normal' },
    subject: DataTypes.TEXT,
    body: { type: DataTypes.TEXT, allowNull: false },
    status: { type: DataTypes.TEXT, allowNull: false },
    scheduledAt: timestampNow(),
    createdAt: timestampNow(),
  },
  {
    modelName: 'Notification',
    erasure: { tenant: { deleteBy: 'tenantId' }, user: { anonymize: ['recipientUserId'] } },
  },
);

/** notification_deliveries carries no tenant_id: it is reached through its notification. */
export const notificationDeliveries = defineTable(
  'notification_deliveries',
  {
    id: uuidPrimaryKey(),
    notificationId: foreignKey('notifications'),
    attempt: { type: DataTypes.INTEGER, allowNull: false },
    provider: { type: DataTypes.TEXT, allowNull: false },
    providerMessageId: DataTypes.TEXT,
    status: { type: DataTypes.TEXT, allowNull: false },
    errorMessage: DataTypes.TEXT,
    attemptedAt: timestampNow(),
  },
  { modelName: 'NotificationDelivery', erasure: { tenant: { deleteThrough: 'notificationId' } } },
);

/**
 * Messages to a bakery's customers (an order is ready, a pickup reminder) by e-mail or SMS: the
 * customer's own data, deleted with them. Added by migration 0002.
 */
export const customerMessages = defineTable(
  'customer_messages',
  {
    id: uuidPrimaryKey(),
    tenantId: { type: DataTypes.UUID, allowNull: false },
    channel: { type: DataTypes.TEXT, allowNull: false, validate: { isIn: [['email', 'sms']] } },
    recipientEmail: DataTypes.TEXT,
    recipientPhone: DataTypes.TEXT,
    subject: DataTypes.TEXT,
    body: { type: DataTypes.TEXT, allowNull: false },
    status: { type: DataTypes.TEXT, allowNull: false },
    sentAt: timestampNow(),
  },
  {
    modelName: 'CustomerMessage',
    erasure: {
      tenant: { deleteBy: 'tenantId' },
      customer: { deleteBy: { tenant: 'tenantId', email: 'recipientEmail', phone: 'recipientPhone' }, describe: ['subject', 'body'] },
    },
  },
);

/** The tables of the first migration, parents first. */
const firstTables = [notificationTemplates, notificationPreferences, notifications, notificationDeliveries];

/** Every table of the notification database, parents first. */
export const tables = [...firstTables, customerMessages];

/** Migration 0001's tables (the models as they were then, minus what later migrations add). */
export const initialTables = firstTables;
