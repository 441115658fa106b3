import { DataTypes, fn, type Model, type ModelStatic, type Optional, type Sequelize } from 'sequelize';

/** Roles as stored in tenant_members.role. */
export type RoleName = 'OWNER' | 'ADMIN' | 'MEMBER' | 'VIEWER';
export type TenantStatusName = 'ACTIVE' | 'DELETING';
export type SubscriptionStatusName = 'ACTIVE' | 'CANCELLED';

export interface TenantAttributes {
  id: string;
  name: string;
  ownerId: string;
  status: TenantStatusName;
  createdAt: Date;
  deletingSince: Date | null;
}
/** A tenant row; `subscription` is present when read with it. */
export interface TenantRecord
  extends Model<TenantAttributes, Optional<TenantAttributes, 'id' | 'status' | 'createdAt' | 'deletingSince'>>,
    TenantAttributes {
  subscription?: SubscriptionRecord | null;
}

export interface MemberAttributes {
  id: string;
  tenantId: string;
  userId: string;
  role: RoleName;
  joinedAt: Date;
}
/** A membership row; `tenant` is present when read with it. */
export interface MemberRecord extends Model<MemberAttributes, Optional<MemberAttributes, 'id' | 'joinedAt'>>, MemberAttributes {
  tenant?: TenantRecord;
}

export interface SubscriptionAttributes {
  id: string;
  tenantId: string;
  plan: string;
  status: SubscriptionStatusName;
  startedAt: Date;
  cancelledAt: Date | null;
}
export interface SubscriptionRecord
  extends Model<SubscriptionAttributes, Optional<SubscriptionAttributes, 'id' | 'startedAt' | 'cancelledAt'>>,
    SubscriptionAttributes {}

export interface OutboxEventAttributes {
  id: string;
  eventType: string;
  aggregateId: string;
  payload: Record<string, unknown>;
  createdAt: Date;
}
export interface OutboxEventRecord
  extends Model<OutboxEventAttributes, Optional<OutboxEventAttributes, 'id' | 'createdAt'>>,
    OutboxEventAttributes {}

/** The tenant database's models, as the service's handlers use them. */
export interface TenantModels {
  Tenant: ModelStatic<TenantRecord>;
  TenantMember: ModelStatic<MemberRecord>;
  Subscription: ModelStatic<SubscriptionRecord>;
  OutboxEvent: ModelStatic<OutboxEventRecord>;
}

/**
 * Defines the models of the tenant database on `sequelize`. Ids and timestamps default to SQL
 * functions, so an insert through a model takes them from the database (the transaction's now()),
 * exactly as an insert in SQL does, and reads them back.
 */
export function defineModels(sequelize: Sequelize): TenantModels {
  const common = { underscored: true, timestamps: false } as const;
  const Tenant = sequelize.define<TenantRecord>(
    'Tenant',
    {
      id: { type: DataTypes.UUID, primaryKey: true, defaultValue: fn('gen_random_uuid') },
      name: { type: DataTypes.TEXT, allowNull: false },
      ownerId: { type: DataTypes.UUID, allowNull: false },
      status: { type: DataTypes.TEXT, allowNull: false, defaultValue: 'ACTIVE' },
      createdAt: { type: DataTypes.DATE, allowNull: false, defaultValue: fn('now') },
      deletingSince: DataTypes.DATE,
    },
    { ...common, tableName: 'tenants' },
  );
  const TenantMember = sequelize.define<MemberRecord>(
    'TenantMember',
    {
      id: { type: DataTypes.UUID, primaryKey: true, defaultValue: fn('gen_random_uuid') },
      tenantId: { type: DataTypes.UUID, allowNull: false },
      userId: { type: DataTypes.UUID, allowNull: false },
      role: { type: DataTypes.TEXT, allowNull: false },
      joinedAt: { type: DataTypes.DATE, allowNull: false, defaultValue: fn('now') },
    },
    { ...common, tableName: 'tenant_members' },
  );
  const Subscription = sequelize.define<SubscriptionRecord>(
    'Subscription',
    {
      id: { type: DataTypes.UUID, primaryKey: true, defaultValue: fn('gen_random_uuid') },
      tenantId: { type: DataTypes.UUID, allowNull: false },
      plan: { type: DataTypes.TEXT, allowNull: false },
      status: { type: DataTypes.TEXT, allowNull: false },
      startedAt: { type: DataTypes.DATE, allowNull: false, defaultValue: fn('now') },
      cancelledAt: DataTypes.DATE,
    },
    { ...common, tableName: 'subscriptions' },
  );
  const OutboxEvent = sequelize.define<OutboxEventRecord>(
    'OutboxEvent',
    {
      id: { type: DataTypes.BIGINT, primaryKey: true, autoIncrement: true },
      eventType: { type: DataTypes.TEXT, allowNull: false },
      aggregateId: { type: DataTypes.UUID, allowNull: false },
      payload: { type: DataTypes.JSONB, allowNull: false },
      createdAt: { type: DataTypes.DATE, allowNull: false, defaultValue: fn('now') },
    },
    { ...common, tableName: 'outbox_events' },
  );
  Tenant.hasMany(TenantMember, { foreignKey: 'tenantId', as: 'members' });
  TenantMember.belongsTo(Tenant, { foreignKey: 'tenantId', as: 'tenant' });
  Tenant.hasOne(Subscription, { foreignKey: 'tenantId', as: 'subscription' });
  Subscription.belongsTo(Tenant, { foreignKey: 'tenantId', as: 'tenant' });
  return { Tenant, TenantMember, Subscription, OutboxEvent };
}

/** The models defined on `sequelize` (by the kit at start-up), defining them if they are not yet. */
export function tenantModels(sequelize: Sequelize): TenantModels {
  if (!sequelize.isDefined('Tenant')) return defineModels(sequelize);
  const { Tenant, TenantMember, Subscription, OutboxEvent } = sequelize.models;
  return { Tenant, TenantMember, Subscription, OutboxEvent } as unknown as TenantModels;
}
