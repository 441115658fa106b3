import { status } from '@grpc/grpc-js';
import { RpcError } from './errors';

/**
 * Maps database failures to gRPC statuses so callers know what to retry: a lost connection or a
 * server going away is UNAVAILABLE, a lost race ABORTED, exhaustion RESOURCE_EXHAUSTED; a foreign key
 * that blocks a delete is FAILED_PRECONDITION (retrying will not help).
 */
export function mapDatabaseError(error: unknown): RpcError | undefined {
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
