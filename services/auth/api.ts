import { decodeJwt } from 'jose';
import { UniqueConstraintError, type Sequelize } from 'sequelize';
import {
  AuthServiceService,
  type CreateUserRequest,
  type CreateUserResponse,
  type GetUserRequest,
  type GetUserResponse,
  type LoginRequest,
  type LoginResponse,
  type User,
} from '../../gen/bakery/auth/v1/auth_service';
import { mintUserToken, requireService } from '../kit/auth';
import { envString } from '../kit/config';
import { alreadyExists, invalidArgument, notFound, permissionDenied, requireUuid, unauthenticated } from '../kit/errors';
import { unary, type RpcDeps } from '../kit/rpc';
import { withSequelizeErrors } from '../kit/sequelize-errors';
import type { HostedService } from '../kit/server';
import { authModels, type UserAttributes } from './models';
import { hashPassword, verifyPassword } from './passwords';

export const AUTH_SERVICE = 'bakery.auth.v1.AuthService';

/** One message for a wrong password and an unknown email, so Login cannot be used to probe emails. */
export const INVALID_CREDENTIALS = 'invalid email or password';

/** Lifetime of a Login token: `AUTH_TOKEN_TTL` (e.g. 15m, 1h, 1d), default 1h. */
export function tokenTtl(env: Record<string, string | undefined> = process.env): string {
  const ttl = envString(env, 'AUTH_TOKEN_TTL', '1h');
  if (!/^\d+[smhd]$/.test(ttl)) throw new Error(`AUTH_TOKEN_TTL must look like 30s, 15m, 1h or 1d, got ${JSON.stringify(ttl)}`);
  return ttl;
}

const toProto = (user: Pick<UserAttributes, 'id' | 'email' | 'fullName' | 'createdAt'>): User => ({
  id: user.id,
  email: user.email,
  fullName: user.fullName,
  createTime: user.createdAt,
});

/** Lower-cased and trimmed; messages never echo the address (no personal data in logs). */
function requireEmail(email: string): string {
  const normalized = email.trim().toLowerCase();
  if (normalized === '') throw invalidArgument('email is required');
  if (normalized.length > 254 || !/^[^\s@]+@[^\s@]+\.[^\s@]+$/.test(normalized)) throw invalidArgument('email is not a valid address');
  return normalized;
}

function requirePassword(password: string): string {
  if (password.length < 8 || password.length > 1024) throw invalidArgument('password must be 8 to 1024 characters long');
  return password;
}

function requireFullName(name: string): string {
  const trimmed = name.trim();
  if (trimmed === '') throw invalidArgument('full_name is required');
  if (trimmed.length > 200) throw invalidArgument('full_name must be at most 200 characters');
  return trimmed;
}

/** The AuthService implementation over the auth database's models. */
export function authApi(sequelize: Sequelize, rpcDeps: RpcDeps, ttl = tokenTtl()): HostedService {
  const deps = withSequelizeErrors(rpcDeps);
  const { User, LoginAttempt } = authModels(sequelize);
  // Login spends the same scrypt work on an unknown email as on a wrong password (no timing oracle).
  const decoyHash = hashPassword('decoy password, never valid');

  const createUser = unary<CreateUserRequest, CreateUserResponse>(deps, 'CreateUser', async (request, { principal }) => {
    requireService(principal);
    const email = requireEmail(request.email);
    const fullName = requireFullName(request.fullName);
    const passwordHash = await hashPassword(requirePassword(request.password));
    try {
      return { user: toProto(await User.create({ email, fullName, passwordHash })) };
    } catch (error) {
      // users_email_key is the one unique key an insert can hit (the id is new). The error itself
      // carries the address, so only this message goes on.
      if (error instanceof UniqueConstraintError) throw alreadyExists('a user with this email already exists', 'EMAIL_TAKEN');
      throw error;
    }
  });

  const getUser = unary<GetUserRequest, GetUserResponse>(deps, 'GetUser', async (request, { principal }) => {
    const userId = requireUuid(request.userId, 'user_id');
    if (principal.kind === 'user' && principal.userId !== userId) throw permissionDenied('a user may only read their own account');
    const user = await User.findByPk(userId);
    if (!user) throw notFound(`user ${userId} not found`);
    return { user: toProto(user) };
  });

  const login = unary<LoginRequest, LoginResponse>(
    deps,
    'Login',
    async (request, { metadata }) => {
      if (request.email.trim() === '' || request.password === '') throw invalidArgument('email and password are required');
      // The one read of the hash: the default scope leaves it out.
      const user = await User.unscoped().findOne({ attributes: ['id', 'passwordHash'], where: { email: request.email.trim().toLowerCase() } });
      if (!user) {
        await verifyPassword(request.password, await decoyHash);
        throw unauthenticated(INVALID_CREDENTIALS);
      }
      const succeeded = await verifyPassword(request.password, user.passwordHash);
      const userAgent = metadata.get('user-agent')[0];
      await LoginAttempt.create(
        { userId: user.id, succeeded, userAgent: userAgent === undefined ? null : String(userAgent).slice(0, 512) },
        { returning: false },
      );
      if (!succeeded) throw unauthenticated(INVALID_CREDENTIALS);
      const accessToken = await mintUserToken(user.id, deps.secret, ttl);
      return { accessToken, expireTime: new Date(decodeJwt(accessToken).exp! * 1000), userId: user.id };
    },
    { public: true },
  );

  return { name: AUTH_SERVICE, definition: AuthServiceService, implementation: { createUser, getUser, login } };
}
