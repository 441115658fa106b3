import { status } from '@grpc/grpc-js';
import { RpcError } from './errors';

/**
 * Maps database failures to gRPC statuses so callers know what to retry: a lost connection or a
 * server going away is UNAVAILABLE, a lost race ABORTED, exhaustion RESOURCE_EXHAUSTED; a foreign key
 * that blocks a delete is FAILED_PRECONDITION (retrying will not help).
 */
/**
 * Whether an error means the database is away rather than wrong: connection refused, reset or cut off,
 * the server shutting down or starting up (57P01–57P03), too many connections. Such errors end when the
 * server is back, so they are worth retrying; pg reports a cut connection by message alone.
 */
export function isDatabaseUnavailable(error: unknown): boolean {
  const { code, message } = (error ?? {}) as { code?: unknown; message?: unknown };
  if (typeof code === 'string') {
    if (['ECONNREFUSED', 'ECONNRESET', 'EPIPE', 'ETIMEDOUT', 'ENOTCONN', '57P01', '57P02', '57P03', '53300'].includes(code) || code.startsWith('08')) return true;
  }
  return typeof message === 'string' && /Connection terminated|connection error|not queryable|timeout exceeded when trying to connect|terminating connection/i.test(message);
}

export function mapDatabaseError(error: unknown): RpcError | undefined {
  if (isDatabaseUnavailable(error)) {
    return new RpcError(status.UNAVAILABLE, `database unavailable: ${(error as { message?: string }).message}`, 'DATABASE_UNAVAILABLE');
  }
  const { code, message, constraint, table } = (error ?? {}) as {
    code?: string;
    message?: string;
    constraint?: string;
    table?: string;
  };
  if (typeof code !== 'string') return undefined;
  if (['ECONNREFUSED', 'ECONNRESET', 'EPIPE', 'ETIMEDOUT'].includes(code) || code.startsWith('08') || code === '57P01' || code === '57P02' || code === '57P03') {
    return new RpcError(status.UNAVAILABLE, `database unavailable: ${message}`, 'DATABASE_UNAVAILABLE');
  }
  if (code === '40001' || code === '40P01' || code === '55P03') {
    return new RpcError(status.ABORTED, `database conflict, retry: ${message}`, 'DATABASE_CONFLICT');
  }
  if (code.startsWith('53')) return new RpcError(status.RESOURCE_EXHAUSTED, `database out of resources: ${message}`, 'DATABASE_EXHAUSTED');
  if (code === '57014') return new RpcError(status.DEADLINE_EXCEEDED, `database statement timed out: ${message}`, 'DATABASE_TIMEOUT');
  if (code === '23503') {
    return new RpcError(
      status.FAILED_PRECONDITION,
      `rows are still referenced (constraint ${constraint ?? '?'} on ${table ?? '?'}): ${message}`,
      'STILL_REFERENCED',
    );
  }
  return undefined;
}
