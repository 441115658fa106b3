import { DataTypes, type Sequelize } from 'sequelize';

/** Sequelize models of the auth database; the schema itself is owned by the migrations. */
export function defineModels(sequelize: Sequelize): void {
  const common = { underscored: true, timestamps: false } as const;
  const User = sequelize.define(
    'User',
    {
      id: { type: DataTypes.UUID, primaryKey: true, defaultValue: DataTypes.UUIDV4 },
      email: { type: DataTypes.TEXT, allowNull: false, unique: true },
      fullName: { type: DataTypes.TEXT, allowNull: false },
      passwordHash: { type: DataTypes.TEXT, allowNull: false },
      createdAt: DataTypes.DATE,
    },
    // The hash is never part of what a model instance serialises by default.
    { ...common, tableName: 'users', defaultScope: { attributes: { exclude: ['passwordHash'] } } },
  );
  const RefreshToken = sequelize.define(
    'RefreshToken',
    {
      id: { type: DataTypes.UUID, primaryKey: true, defaultValue: DataTypes.UUIDV4 },
      userId: { type: DataTypes.UUID, allowNull: false },
      tokenHash: { type: DataTypes.TEXT, allowNull: false },
      createdAt: DataTypes.DATE,
      expiresAt: { type: DataTypes.DATE, allowNull: false },
      revokedAt: DataTypes.DATE,
    },
    { ...common, tableName: 'refresh_tokens' },
  );
  const UserConsent = sequelize.define(
    'UserConsent',
    {
      id: { type: DataTypes.UUID, primaryKey: true, defaultValue: DataTypes.UUIDV4 },
      userId: { type: DataTypes.UUID, allowNull: false },
      purpose: { type: DataTypes.TEXT, allowNull: false },
      granted: { type: DataTypes.BOOLEAN, allowNull: false },
      recordedAt: DataTypes.DATE,
    },
    { ...common, tableName: 'user_consents' },
  );
  const LoginAttempt = sequelize.define(
    'LoginAttempt',
    {
      id: { type: DataTypes.UUID, primaryKey: true, defaultValue: DataTypes.UUIDV4 },
      userId: { type: DataTypes.UUID, allowNull: false },
      succeeded: { type: DataTypes.BOOLEAN, allowNull: false },
      ipAddress: DataTypes.INET,
      userAgent: DataTypes.TEXT,
      attemptedAt: DataTypes.DATE,
    },
    { ...common, tableName: 'login_attempts' },
  );
  for (const child of [RefreshToken, UserConsent, LoginAttempt]) {
    User.hasMany(child, { foreignKey: 'userId' });
    child.belongsTo(User, { foreignKey: 'userId' });
  }
}
