import { decodeJwt } from 'jose';
import type { Pool } from 'pg';
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
import type { HostedService } from '../kit/server';
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

interface UserRow {
  id: string;
  email: string;
  full_name: string;
  created_at: Date;
}

const USER_COLUMNS = 'id, email, full_name, created_at';
const toProto = (row: UserRow): User => ({ id: row.id, email: row.email, fullName: row.full_name, createTime: row.created_at });

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

/** The AuthService implementation over the auth database. */
export function authApi(pool: Pool, deps: RpcDeps, ttl = tokenTtl()): HostedService {
  // Login spends the same scrypt work on an unknown email as on a wrong password (no timing oracle).
  const decoyHash = hashPassword('decoy password, never valid');

  const createUser = unary<CreateUserRequest, CreateUserResponse>(deps, 'CreateUser', async (request, { principal }) => {
    requireService(principal);
    const email = requireEmail(request.email);
    const fullName = requireFullName(request.fullName);
    const passwordHash = await hashPassword(requirePassword(request.password));
    const { rows } = await pool.query<UserRow>(
      `INSERT INTO users (email, full_name, password_hash) VALUES ($1, $2, $3)
       ON CONFLICT (email) DO NOTHING RETURNING ${USER_COLUMNS}`,
      [email, fullName, passwordHash],
    );
    if (!rows[0]) throw alreadyExists('a user with this email already exists', 'EMAIL_TAKEN');
    return { user: toProto(rows[0]) };
  });

  const getUser = unary<GetUserRequest, GetUserResponse>(deps, 'GetUser', async (request, { principal }) => {
    const userId = requireUuid(request.userId, 'user_id');
    if (principal.kind === 'user' && principal.userId !== userId) throw permissionDenied('a user may only read their own account');
    const { rows } = await pool.query<UserRow>(`SELECT ${USER_COLUMNS} FROM users WHERE id = $1`, [userId]);
    if (!rows[0]) throw notFound(`user ${userId} not found`);
    return { user: toProto(rows[0]) };
  });

  const login = unary<LoginRequest, LoginResponse>(
    deps,
    'Login',
    async (request, { metadata }) => {
      if (request.email.trim() === '' || request.password === '') throw invalidArgument('email and password are required');
      const { rows } = await pool.query<{ id: string; password_hash: string }>('SELECT id, password_hash FROM users WHERE email = $1', [
        request.email.trim().toLowerCase(),
      ]);
      const user = rows[0];
      if (!user) {
        await verifyPassword(request.password, await decoyHash);
        throw unauthenticated(INVALID_CREDENTIALS);
      }
      const succeeded = await verifyPassword(request.password, user.password_hash);
      const userAgent = metadata.get('user-agent')[0];
      await pool.query('INSERT INTO login_attempts (user_id, succeeded, user_agent) VALUES ($1, $2, $3)', [
        user.id,
        succeeded,
        userAgent === undefined ? null : String(userAgent).slice(0, 512),
      ]);
      if (!succeeded) throw unauthenticated(INVALID_CREDENTIALS);
      const accessToken = await mintUserToken(user.id, deps.secret, ttl);
      return { accessToken, expireTime: new Date(decodeJwt(accessToken).exp! * 1000), userId: user.id };
    },
    { public: true },
  );

  return { name: AUTH_SERVICE, definition: AuthServiceService, implementation: { createUser, getUser, login } };
}
