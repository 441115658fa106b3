import { DataTypes } from '../kit/column-types';
import type { Model, ModelStatic, Optional, Sequelize } from 'sequelize';
import { defineModels, defineTable, foreignKey, timestampNow, uuidPrimaryKey } from '../kit/models';

/** Roles as stored in tenant_members.role (a CHECK from the model's isIn). */
export const ROLES = ['OWNER', 'ADMIN', 'MEMBER', 'VIEWER'] as const;
export type RoleName = (typeof ROLES)[number];
export const TENANT_STATUSES = ['ACTIVE', 'DELETING'] as const;
export type TenantStatusName = (typeof TENANT_STATUSES)[number];
// SUSPENDED: paused while the tenant's erasure is requested (its grace period included); a restore
// makes it ACTIVE again. CANCELLED: cancelled before suspension existed (still restored by a cancel).
export const SUBSCRIPTION_STATUSES = ['ACTIVE', 'CANCELLED', 'SUSPENDED'] as const;
export type SubscriptionStatusName = (typeof SUBSCRIPTION_STATUSES)[number];

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

/**
 * The tenant database. A tenant erasure removes the tenant's memberships, subscription and tenant row
 * (the tenant.deleted event is written by a trigger on the tenant row, see migrations.ts); a user
 * erasure removes the user's memberships.
 */
export const tenants = defineTable(
  'tenants',
  {
    id: uuidPrimaryKey(),
    name: { type: DataTypes.TEXT, allowNull: false },
    ownerId: { type: DataTypes.UUID, allowNull: false },
    status: { type: DataTypes.TEXT, allowNull: false, defaultValue: 'ACTIVE', validate: { isIn: [[...TENANT_STATUSES]] } },
    createdAt: timestampNow(),
    deletingSince: DataTypes.DATE,
  },
  {
    modelName: 'Tenant',
    erasure: {
      tenant: { deleteBy: 'id' },
      user: {
        keep: {
          by: 'ownerId',
          reason:
            'a tenant always has an owner: a user who owns an ACTIVE tenant is not erased until the ownership is ' +
            "transferred (beforeErase refuses it), and a DELETING tenant's row goes with the tenant's own erasure",
        },
      },
    },
  },
);

export const tenantMembers = defineTable(
  'tenant_members',
  {
    id: uuidPrimaryKey(),
    tenantId: foreignKey('tenants'),
    userId: { type: DataTypes.UUID, allowNull: false },
    role: { type: DataTypes.TEXT, allowNull: false, validate: { isIn: [[...ROLES]] } },
    joinedAt: timestampNow(),
  },
  {
    modelName: 'TenantMember',
    erasure: { tenant: { deleteBy: 'tenantId' }, user: { deleteBy: 'userId' } },
    // One OWNER per tenant is a partial unique index, created in migrations.ts.
    indexes: [{ fields: ['tenantId', 'userId'], unique: true }],
  },
);

export const subscriptions = defineTable(
  'subscriptions',
  {
    id: uuidPrimaryKey(),
    tenantId: { ...foreignKey('tenants'), unique: true },
    plan: { type: DataTypes.TEXT, allowNull: false },
    status: { type: DataTypes.TEXT, allowNull: false, validate: { isIn: [[...SUBSCRIPTION_STATUSES]] } },
    startedAt: timestampNow(),
    cancelledAt: DataTypes.DATE,
  },
  { modelName: 'Subscription', erasure: { tenant: { deleteBy: 'tenantId' } } },
);

/**
 * Events for other systems, written in the transaction of the change they report. aggregate_id is
 * deliberately not named tenant_id/user_id: an event outlives the erasure it reports.
 */
export const outboxEvents = defineTable(
  'outbox_events',
  {
    id: { type: DataTypes.BIGINT, primaryKey: true, autoIncrement: true },
    eventType: { type: DataTypes.TEXT, allowNull: false },
    aggregateId: { type: DataTypes.UUID, allowNull: false },
    payload: { type: DataTypes.JSONB, allowNull: false },
    createdAt: timestampNow(),
  },
  {
    modelName: 'OutboxEvent',
    erasure: {
      noSubjectData:
        'events carry ids only (never names or emails) and record erasures themselves, so they survive them (an event table)',
    },
    indexes: [{ fields: ['aggregateId'] }],
  },
);

/** Every table of the tenant database, parents first. */
export const tables = [tenants, tenantMembers, subscriptions, outboxEvents];

/** The tenant database's models, as the service's handlers use them. */
export interface TenantModels {
  Tenant: ModelStatic<TenantRecord>;
  TenantMember: ModelStatic<MemberRecord>;
  Subscription: ModelStatic<SubscriptionRecord>;
  OutboxEvent: ModelStatic<OutboxEventRecord>;
}

/**
 * The models on `sequelize` (defined by the kit at start-up from `tables`, or here if not yet), with
 * the associations the handlers read through.
 */
export function tenantModels(sequelize: Sequelize): TenantModels {
  if (!sequelize.isDefined('Tenant')) defineModels(sequelize, tables);
  const models = sequelize.models as unknown as TenantModels;
  const { Tenant, TenantMember, Subscription, OutboxEvent } = models;
  if (!Tenant.associations.subscription) {
    // The foreign keys are the migration's; the associations only tell Sequelize how to join.
    const key = { foreignKey: 'tenantId', constraints: false };
    Tenant.hasOne(Subscription, { ...key, as: 'subscription' });
    TenantMember.belongsTo(Tenant, { ...key, as: 'tenant' });
  }
  return { Tenant, TenantMember, Subscription, OutboxEvent };
}
