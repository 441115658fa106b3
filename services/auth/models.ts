import { DataTypes, fn, type Model, type ModelStatic, type Optional, type Sequelize } from 'sequelize';

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

/** The auth database's models, as the service's handlers use them. */
export interface AuthModels {
  User: ModelStatic<UserRecord>;
  RefreshToken: ModelStatic<RefreshTokenRecord>;
  UserConsent: ModelStatic<UserConsentRecord>;
  LoginAttempt: ModelStatic<LoginAttemptRecord>;
}

/**
 * Defines the models of the auth database on `sequelize`. Ids and timestamps default to SQL functions,
 * so an insert through a model takes them from the database, exactly as an insert in SQL does.
 */
export function defineModels(sequelize: Sequelize): AuthModels {
  const common = { underscored: true, timestamps: false } as const;
  // Fresh objects per attribute: Sequelize annotates the definitions it is given.
  const id = () => ({ type: DataTypes.UUID, primaryKey: true, defaultValue: fn('gen_random_uuid') });
  const now = () => ({ type: DataTypes.DATE, allowNull: false, defaultValue: fn('now') });
  const User = sequelize.define<UserRecord>(
    'User',
    {
      id: id(),
      email: { type: DataTypes.TEXT, allowNull: false, unique: true },
      fullName: { type: DataTypes.TEXT, allowNull: false },
      passwordHash: { type: DataTypes.TEXT, allowNull: false },
      createdAt: now(),
    },
    // The hash is never part of what a model instance serialises by default.
    { ...common, tableName: 'users', defaultScope: { attributes: { exclude: ['passwordHash'] } } },
  );
  const RefreshToken = sequelize.define<RefreshTokenRecord>(
    'RefreshToken',
    {
      id: id(),
      userId: { type: DataTypes.UUID, allowNull: false },
      tokenHash: { type: DataTypes.TEXT, allowNull: false },
      createdAt: now(),
      expiresAt: { type: DataTypes.DATE, allowNull: false },
      revokedAt: DataTypes.DATE,
    },
    { ...common, tableName: 'refresh_tokens' },
  );
  const UserConsent = sequelize.define<UserConsentRecord>(
    'UserConsent',
    {
      id: id(),
      userId: { type: DataTypes.UUID, allowNull: false },
      purpose: { type: DataTypes.TEXT, allowNull: false },
      granted: { type: DataTypes.BOOLEAN, allowNull: false },
      recordedAt: now(),
    },
    { ...common, tableName: 'user_consents' },
  );
  const LoginAttempt = sequelize.define<LoginAttemptRecord>(
    'LoginAttempt',
    {
      id: id(),
      userId: { type: DataTypes.UUID, allowNull: false },
      succeeded: { type: DataTypes.BOOLEAN, allowNull: false },
      ipAddress: DataTypes.INET,
      userAgent: DataTypes.TEXT,
      attemptedAt: now(),
    },
    { ...common, tableName: 'login_attempts' },
  );
  for (const child of [RefreshToken, UserConsent, LoginAttempt] as ModelStatic<Model>[]) {
    User.hasMany(child, { foreignKey: 'userId' });
    child.belongsTo(User, { foreignKey: 'userId' });
  }
  return { User, RefreshToken, UserConsent, LoginAttempt };
}

/** The models defined on `sequelize` (by the kit at start-up), defining them if they are not yet. */
export function authModels(sequelize: Sequelize): AuthModels {
  if (!sequelize.isDefined('User')) return defineModels(sequelize);
  const { User, RefreshToken, UserConsent, LoginAttempt } = sequelize.models;
  return { User, RefreshToken, UserConsent, LoginAttempt } as unknown as AuthModels;
}
