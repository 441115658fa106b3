import { status } from '@grpc/grpc-js';
import { BaseError, ConnectionAcquireTimeoutError } from 'sequelize';
import { RpcError } from './errors';
import { mapDatabaseError } from './pg-errors';
import type { RpcDeps } from './rpc';

/**
 * Maps a Sequelize error to the gRPC status the same failure gets through pg (see pg-errors.ts):
 * Sequelize wraps the driver's error in `.parent`, which carries the SQLSTATE. A database error with no
 * known mapping becomes INTERNAL naming only its SQLSTATE and constraint: a Sequelize error carries
 * the statement's bound parameters (an email, a password hash), which must not reach a log line.
 * Returns undefined for anything that is not a Sequelize error.
 */
export function mapSequelizeError(error: unknown): RpcError | undefined {
  if (!(error instanceof BaseError)) return undefined;
  // Every connection of the pool busy for the whole acquire timeout: worth retrying elsewhere or later.
  if (error instanceof ConnectionAcquireTimeoutError) {
    return new RpcError(status.UNAVAILABLE, 'database unavailable: no free connection', 'DATABASE_UNAVAILABLE');
  }
  const parent = (error as { parent?: unknown }).parent;
  if (!parent) return undefined;
  const mapped = mapDatabaseError(parent);
  if (mapped) return mapped;
  const { code, constraint } = parent as { code?: unknown; constraint?: unknown };
  const what = [typeof code === 'string' ? `SQLSTATE ${code}` : error.name, typeof constraint === 'string' ? `constraint ${constraint}` : '']
    .filter(Boolean)
    .join(', ');
  return new RpcError(status.INTERNAL, `internal database error (${what})`, 'INTERNAL');
}

/** `deps` whose error mapping also knows Sequelize's errors, for handlers that use models. */
export function withSequelizeErrors(deps: RpcDeps): RpcDeps {
  return { ...deps, mapError: (error) => mapSequelizeError(error) ?? deps.mapError?.(error) };
}
