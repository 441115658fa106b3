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
import { maxTokenLifetime, mintUserToken } from '../kit/auth';
import type { SigningKey } from '../kit/keys';
import { envString } from '../kit/config';
import { alreadyExists, invalidArgument, notFound, permissionDenied, requireUuid, unauthenticated } from '../kit/errors';
import { unary, type RpcDeps } from '../kit/rpc';
import { withSequelizeErrors } from '../kit/sequelize-errors';
import type { HostedService } from '../kit/server';
import { authModels, type UserAttributes } from './models';
import { HashingGate } from './hashing-gate';
import { hashPassword, verifyPassword } from './passwords';
import { accountKey, loginThrottle, sourceKey, throttleSettings, type ThrottleSettings } from './throttle';
import { limit } from '../kit/limits';
import { count, instruments, zeroCounters } from '../kit/metrics';
import { TEXT, requireText } from '../kit/validation';
import type { ServerUnaryCall, sendUnaryData } from '@grpc/grpc-js';

export const AUTH_SERVICE = 'bakery.auth.v1.AuthService';

/** One message for a wrong password and an unknown email, so Login cannot be used to probe emails. */
export const INVALID_CREDENTIALS = 'invalid email or password';

const TTL_UNITS: Record<string, number> = { s: 1, m: 60, h: 3600, d: 86_400 };

/**
 * Lifetime of a Login token in seconds: `AUTH_TOKEN_TTL` (e.g. 15m, 1h), default 1h; never longer
 * than the user-token maximum every verifier enforces (services/kit/limits.ts).
 */
export function tokenTtl(env: Record<string, string | undefined> = process.env): number {
  const ttl = envString(env, 'AUTH_TOKEN_TTL', '1h');
  const match = /^(\d+)([smhd])$/.exec(ttl);
  if (!match) throw new Error(`AUTH_TOKEN_TTL must look like 30s, 15m or 1h, got ${JSON.stringify(ttl.slice(0, 16))}`);
  const seconds = Number(match[1]) * TTL_UNITS[match[2]!]!;
  const max = maxTokenLifetime('user', env);
  if (seconds < 1 || seconds > max) throw new Error(`AUTH_TOKEN_TTL must be between 1 s and the user token maximum of ${max} s`);
  return seconds;
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

function requirePassword(password: string, max: number): string {
  if (password.length < 8 || password.length > max) throw invalidArgument(`password must be 8 to ${max} characters long`);
  return password;
}

const requireFullName = (name: string): string => requireText(name, 'full_name', TEXT.fullName);

export interface AuthApiOptions {
  /** Token lifetime in seconds (default `tokenTtl()`). */
  ttl?: number;
  /** Login throttling (default from the limits table). */
  throttle?: ThrottleSettings;
}

/** The AuthService implementation over the auth database's models. */
export function authApi(sequelize: Sequelize, rpcDeps: RpcDeps, signer: SigningKey, options: AuthApiOptions = {}): HostedService {
  const ttl = options.ttl ?? tokenTtl();
  const deps = withSequelizeErrors(rpcDeps);
  const { User } = authModels(sequelize);
  zeroCounters(instruments.loginRefusals, [{ reason: 'throttled' }, { reason: 'invalid_credentials' }]);
  const throttle = loginThrottle(sequelize, options.throttle ?? throttleSettings());
  const passwordMax = limit('passwordMaxLength');
  const hashing = new HashingGate(limit('hashConcurrency'), limit('hashQueue'));
  /** The peer of each Login call, by its request object (the kit's handler context has no peer). */
  const peers = new WeakMap<object, string>();
  // Login spends the same scrypt work on an unknown email as on a wrong password (no timing oracle).
  const decoyHash = hashPassword('decoy password, never valid');

  const createUser = unary<CreateUserRequest, CreateUserResponse>(deps, 'CreateUser', async (request) => {
    // Who may create users is the caller rules' business (mesh/caller-rules.ts): onboarding services, operators.
    const email = requireEmail(request.email);
    const fullName = requireFullName(request.fullName);
    const password = requirePassword(request.password, passwordMax);
    const passwordHash = await hashing.run(() => hashPassword(password));
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
      // Caps first: nothing longer than the limits is looked up or hashed.
      const email = requireText(request.email, 'email', TEXT.email).toLowerCase();
      if (request.password.length > passwordMax) throw invalidArgument(`password must be at most ${passwordMax} characters`);
      const keys = { account: accountKey(email), source: sourceKey(peers.get(request)) };
      // A throttled account or source waits before any hashing.
      await throttle.check(keys).catch((error: unknown) => {
        count(instruments.loginRefusals, 1, { reason: 'throttled' });
        throw error;
      });
      // The one read of the hash: the default scope leaves it out.
      const user = await User.unscoped().findOne({ attributes: ['id', 'passwordHash'], where: { email } });
      // Login spends the same scrypt work and the same statements on an unknown e-mail as on a known one.
      const succeeded = await hashing.run(async () => verifyPassword(request.password, user?.passwordHash ?? (await decoyHash)));
      const userAgent = metadata.get('user-agent')[0];
      // One statement either way: it records the attempt of a known user and inserts nothing for an
      // unknown address (which is not stored at all).
      await sequelize.query(
        `INSERT INTO login_attempts (id, user_id, succeeded, user_agent)
         SELECT gen_random_uuid(), id, :succeeded, :userAgent FROM users WHERE email = :email`,
        { replacements: { succeeded: succeeded && !!user, userAgent: userAgent === undefined ? null : String(userAgent).slice(0, 512), email } },
      );
      if (!user || !succeeded) {
        await throttle.fail(keys);
        count(instruments.loginRefusals, 1, { reason: 'invalid_credentials' });
        throw unauthenticated(INVALID_CREDENTIALS);
      }
      await throttle.succeed(keys);
      // The same check every RPC makes of a user's token (services/kit/tombstone-client.ts): no token for
      // a user whose erasure is scheduled (grace period) or done.
      await deps.checkPrincipal?.({ kind: 'user', userId: user.id });
      const accessToken = await mintUserToken(signer, user.id, ttl);
      return { accessToken, expireTime: new Date(decodeJwt(accessToken).exp! * 1000), userId: user.id };
    },
    { public: true },
  );

  const loginWithPeer = (call: ServerUnaryCall<LoginRequest, LoginResponse>, callback: sendUnaryData<LoginResponse>) => {
    peers.set(call.request, call.getPeer());
    login(call, callback);
  };

  return { name: AUTH_SERVICE, definition: AuthServiceService, implementation: { createUser, getUser, login: loginWithPeer } };
}
