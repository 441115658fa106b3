import { DataTypes, type Sequelize } from 'sequelize';

/** Sequelize models of the notification database; the schema itself is owned by the migrations. */
export function defineModels(sequelize: Sequelize): void {
  const common = { underscored: true, timestamps: false } as const;
  const NotificationTemplate = sequelize.define(
    'NotificationTemplate',
    {
      id: { type: DataTypes.UUID, primaryKey: true, defaultValue: DataTypes.UUIDV4 },
      tenantId: { type: DataTypes.UUID, allowNull: false },
      code: { type: DataTypes.TEXT, allowNull: false },
      channel: { type: DataTypes.TEXT, allowNull: false },
      locale: { type: DataTypes.TEXT, allowNull: false },
      subject: DataTypes.TEXT,
      body: { type: DataTypes.TEXT, allowNull: false },
      active: { type: DataTypes.BOOLEAN, allowNull: false },
      createdBy: DataTypes.UUID,
      updatedBy: DataTypes.UUID,
      createdAt: DataTypes.DATE,
    },
    { ...common, tableName: 'notification_templates' },
  );
  sequelize.define(
    'NotificationPreference',
    {
      id: { type: DataTypes.UUID, primaryKey: true, defaultValue: DataTypes.UUIDV4 },
      tenantId: { type: DataTypes.UUID, allowNull: false },
      userId: { type: DataTypes.UUID, allowNull: false },
      channel: { type: DataTypes.TEXT, allowNull: false },
      enabled: { type: DataTypes.BOOLEAN, allowNull: false },
      digest: { type: DataTypes.TEXT, allowNull: false },
      quietHoursStart: DataTypes.TIME,
      quietHoursEnd: DataTypes.TIME,
      updatedAt: DataTypes.DATE,
    },
    { ...common, tableName: 'notification_preferences' },
  );
  const Notification = sequelize.define(
    'Notification',
    {
      id: { type: DataTypes.UUID, primaryKey: true, defaultValue: DataTypes.UUIDV4 },
      tenantId: { type: DataTypes.UUID, allowNull: false },
      templateId: DataTypes.UUID,
      recipientUserId: DataTypes.UUID,
      channel: { type: DataTypes.TEXT, allowNull: false },
      priority: { type: DataTypes.TEXT, allowNull: false },
      subject: DataTypes.TEXT,
      body: { type: DataTypes.TEXT, allowNull: false },
      status: { type: DataTypes.TEXT, allowNull: false },
      scheduledAt: DataTypes.DATE,
      createdAt: DataTypes.DATE,
    },
    { ...common, tableName: 'notifications' },
  );
  const NotificationDelivery = sequelize.define(
    'NotificationDelivery',
    {
      id: { type: DataTypes.UUID, primaryKey: true, defaultValue: DataTypes.UUIDV4 },
      notificationId: { type: DataTypes.UUID, allowNull: false },
      attempt: { type: DataTypes.INTEGER, allowNull: false },
      provider: { type: DataTypes.TEXT, allowNull: false },
      providerMessageId: DataTypes.TEXT,
      status: { type: DataTypes.TEXT, allowNull: false },
      errorMessage: DataTypes.TEXT,
      attemptedAt: DataTypes.DATE,
    },
    { ...common, tableName: 'notification_deliveries' },
  );
  NotificationTemplate.hasMany(Notification, { foreignKey: 'templateId' });
  Notification.belongsTo(NotificationTemplate, { foreignKey: 'templateId' });
  Notification.hasMany(NotificationDelivery, { foreignKey: 'notificationId' });
  NotificationDelivery.belongsTo(Notification, { foreignKey: 'notificationId' });
}
