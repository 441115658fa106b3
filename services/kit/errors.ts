import { status, Metadata, type ServiceError } from '@grpc/grpc-js';
import { safeHint } from './validation';

/** RpcError is thrown by handlers to answer with a specific gRPC status and a message naming the problem. */
export class RpcError extends Error {
  constructor(
    readonly code: status,
    message: string,
    /** Machine-readable reason, sent as `error-reason` trailing metadata (ErrorInfo-style). */
    readonly reason?: string,
  ) {
    super(message);
    this.name = 'RpcError';
  }

  toServiceError(): Partial<ServiceError> {
    const metadata = new Metadata();
    if (this.reason) metadata.set('error-reason', this.reason);
    return { code: this.code, details: this.message, metadata };
  }
}

export const invalidArgument = (message: string, reason = 'INVALID_ARGUMENT') =>
  new RpcError(status.INVALID_ARGUMENT, message, reason);
export const failedPrecondition = (message: string, reason = 'FAILED_PRECONDITION') =>
  new RpcError(status.FAILED_PRECONDITION, message, reason);
export const notFound = (message: string) => new RpcError(status.NOT_FOUND, message, 'NOT_FOUND');
export const unauthenticated = (message: string) => new RpcError(status.UNAUTHENTICATED, message, 'UNAUTHENTICATED');
export const permissionDenied = (message: string) =>
  new RpcError(status.PERMISSION_DENIED, message, 'PERMISSION_DENIED');
export const alreadyExists = (message: string, reason = 'ALREADY_EXISTS') => new RpcError(status.ALREADY_EXISTS, message, reason);
/** A lost race (e.g. a concurrent change won): the caller may re-read and retry. */
export const aborted = (message: string, reason = 'ABORTED') => new RpcError(status.ABORTED, message, reason);

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

export function isUuid(value: unknown): value is string {
  return typeof value === 'string' && UUID.test(value);
}

/** requireUuid returns the value lower-cased, or throws INVALID_ARGUMENT naming the field. */
export function requireUuid(value: string | undefined, field: string): string {
  if (value === undefined || value === '') throw invalidArgument(`${field} is required`);
  if (!isUuid(value)) throw invalidArgument(`${field} must be a UUID, got ${safeHint(value)}`); // never the value itself: it may be personal data
  return value.toLowerCase();
}
