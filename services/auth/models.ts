import { DataTypes } from '../kit/column-types';
import type { Model, ModelStatic, Optional, Sequelize } from 'sequelize';
import { defineModels, defineTable, foreignKey, timestampNow, uuidPrimaryKey } from '../kit/models';

export interface UserAttributes {
  id: string;
  email: string;
  fullName: string;
  passwordHash: string;
  createdAt: Date;
}
export interface UserRecord extends Model<UserAttributes, Optional<UserAttributes, 'id' | 'createdAt'>>, UserAttributes {}

export interface RefreshTokenAttributes {
  id: string;
  userId: string;
  tokenHash: string;
  createdAt: Date;
  expiresAt: Date;
  revokedAt: Date | null;
}
export interface RefreshTokenRecord
  extends Model<RefreshTokenAttributes, Optional<RefreshTokenAttributes, 'id' | 'createdAt' | 'revokedAt'>>,
    RefreshTokenAttributes {}

export interface UserConsentAttributes {
  id: string;
  userId: string;
  purpose: string;
  granted: boolean;
  recordedAt: Date;
}
export interface UserConsentRecord
  extends Model<UserConsentAttributes, Optional<UserConsentAttributes, 'id' | 'recordedAt'>>,
    UserConsentAttributes {}

export interface LoginAttemptAttributes {
  id: string;
  userId: string;
  succeeded: boolean;
  ipAddress: string | null;
  userAgent: string | null;
  attemptedAt: Date;
}
export interface LoginAttemptRecord
  extends Model<LoginAttemptAttributes, Optional<LoginAttemptAttributes, 'id' | 'ipAddress' | 'userAgent' | 'attemptedAt'>>,
    LoginAttemptAttributes {}

/** The auth database holds no tenant data; a user erasure removes every row of the user. */
export const users = defineTable(
  'users',
  {
    id: uuidPrimaryKey(),
    // Stored lower-cased (a CHECK in migrations.ts), so one address is one user whatever its case.
    email: { type: DataTypes.TEXT, allowNull: false, unique: true },
    fullName: { type: DataTypes.TEXT, allowNull: false },
    passwordHash: { type: DataTypes.TEXT, allowNull: false, secret: true },
    createdAt: timestampNow(),
  },
  {
    modelName: 'User',
    erasure: { user: { deleteBy: 'id' }, customer: { notCustomerData: "platform users (a bakery's staff) are erased as users, not as a bakery's customers" } },
  },
);

export const refreshTokens = defineTable(
  'refresh_tokens',
  {
    id: uuidPrimaryKey(),
    userId: foreignKey('users'),
    tokenHash: { type: DataTypes.TEXT, allowNull: false, unique: true, secret: true },
    createdAt: timestampNow(),
    expiresAt: { type: DataTypes.DATE, allowNull: false },
    revokedAt: DataTypes.DATE,
  },
  { modelName: 'RefreshToken', erasure: { user: { deleteBy: 'userId' } } },
);

export const userConsents = defineTable(
  'user_consents',
  {
    id: uuidPrimaryKey(),
    userId: foreignKey('users'),
    purpose: { type: DataTypes.TEXT, allowNull: false },
    granted: { type: DataTypes.BOOLEAN, allowNull: false },
    recordedAt: timestampNow(),
  },
  { modelName: 'UserConsent', erasure: { user: { deleteBy: 'userId' } }, indexes: [{ fields: ['userId', 'purpose'], unique: true }] },
);

/**
 * Only attempts against known users are kept: an unknown email is personal data of someone who is not
 * a user, so it is not stored at all.
 */
export const loginAttempts = defineTable(
  'login_attempts',
  {
    id: uuidPrimaryKey(),
    userId: foreignKey('users'),
    succeeded: { type: DataTypes.BOOLEAN, allowNull: false },
    ipAddress: DataTypes.INET,
    userAgent: DataTypes.TEXT,
    attemptedAt: timestampNow(),
  },
  { modelName: 'LoginAttempt', erasure: { user: { deleteBy: 'userId' } }, indexes: [{ fields: ['userId', 'attemptedAt'] }] },
);

/**
 * Failed-login counters per account and per source (services/auth/throttle.ts). Keyed by a hash of the
 * e-mail address or source address, never the address itself; a row lives for one window.
 */
export const loginThrottle = defineTable(
  'login_throttle',
  {
    id: uuidPrimaryKey(),
    key: { type: DataTypes.TEXT, allowNull: false, unique: true },
    failures: { type: DataTypes.INTEGER, allowNull: false },
    windowStartedAt: { type: DataTypes.DATE, allowNull: false },
    lockedUntil: DataTypes.DATE,
  },
  {
    modelName: 'LoginThrottle',
    erasure: {
      noSubjectData:
        'counters keyed by a hash of an e-mail or source address (no user id), each kept for one throttling window only',
    },
  },
);

/** Every table of the auth database, parents first. */
export const tables = [users, refreshTokens, userConsents, loginAttempts, loginThrottle];

/** The auth database's models, as the service's handlers use them. */
export interface AuthModels {
  User: ModelStatic<UserRecord>;
  RefreshToken: ModelStatic<RefreshTokenRecord>;
  UserConsent: ModelStatic<UserConsentRecord>;
  LoginAttempt: ModelStatic<LoginAttemptRecord>;
}

/**
 * The models on `sequelize` (defined by the kit at start-up from `tables`, or here if not yet). The
 * password hash is left out of every read unless a query asks for it (`User.unscoped()`).
 */
export function authModels(sequelize: Sequelize): AuthModels {
  if (!sequelize.isDefined('User')) defineModels(sequelize, tables);
  const { User, RefreshToken, UserConsent, LoginAttempt } = sequelize.models as unknown as AuthModels;
  User.addScope('defaultScope', { attributes: { exclude: ['passwordHash'] } }, { override: true });
  return { User, RefreshToken, UserConsent, LoginAttempt };
}
