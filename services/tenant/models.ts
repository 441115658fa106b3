import { DataTypes, type Sequelize } from 'sequelize';

/** Sequelize models of the tenant database; the schema itself is owned by the migrations. */
export function defineModels(sequelize: Sequelize): void {
  const common = { underscored: true, timestamps: false } as const;
  const Tenant = sequelize.define(
    'Tenant',
    {
      id: { type: DataTypes.UUID, primaryKey: true, defaultValue: DataTypes.UUIDV4 },
      name: { type: DataTypes.TEXT, allowNull: false },
      ownerId: { type: DataTypes.UUID, allowNull: false },
      status: { type: DataTypes.TEXT, allowNull: false },
      createdAt: DataTypes.DATE,
      deletingSince: DataTypes.DATE,
    },
    { ...common, tableName: 'tenants' },
  );
  const TenantMember = sequelize.define(
    'TenantMember',
    {
      id: { type: DataTypes.UUID, primaryKey: true, defaultValue: DataTypes.UUIDV4 },
      tenantId: { type: DataTypes.UUID, allowNull: false },
      userId: { type: DataTypes.UUID, allowNull: false },
      role: { type: DataTypes.TEXT, allowNull: false },
      joinedAt: DataTypes.DATE,
    },
    { ...common, tableName: 'tenant_members' },
  );
  const Subscription = sequelize.define(
    'Subscription',
    {
      id: { type: DataTypes.UUID, primaryKey: true, defaultValue: DataTypes.UUIDV4 },
      tenantId: { type: DataTypes.UUID, allowNull: false },
      plan: { type: DataTypes.TEXT, allowNull: false },
      status: { type: DataTypes.TEXT, allowNull: false },
      startedAt: DataTypes.DATE,
      cancelledAt: DataTypes.DATE,
    },
    { ...common, tableName: 'subscriptions' },
  );
  sequelize.define(
    'OutboxEvent',
    {
      id: { type: DataTypes.BIGINT, primaryKey: true, autoIncrement: true },
      eventType: { type: DataTypes.TEXT, allowNull: false },
      aggregateId: { type: DataTypes.UUID, allowNull: false },
      payload: { type: DataTypes.JSONB, allowNull: false },
      createdAt: DataTypes.DATE,
    },
    { ...common, tableName: 'outbox_events' },
  );
  Tenant.hasMany(TenantMember, { foreignKey: 'tenantId' });
  TenantMember.belongsTo(Tenant, { foreignKey: 'tenantId' });
  Tenant.hasOne(Subscription, { foreignKey: 'tenantId' });
  Subscription.belongsTo(Tenant, { foreignKey: 'tenantId' });
}
