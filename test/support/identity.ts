/**
 * Helpers for the identity services' tests: promise-returning clients typed from the generated server
 * interfaces, and the status code a call ends with.
 */
import { credentials, status, type Client, type handleUnaryCall, type ServiceError } from '@grpc/grpc-js';
import { AuthServiceClient, type AuthServiceServer } from '../../gen/bakery/auth/v1/auth_service';
import { TenantServiceClient, type TenantServiceServer } from '../../gen/bakery/tenant/v1/tenant_service';
import { bearerMetadata, unaryCall } from '../../services/kit/unary';

/** Every unary method of a service as `(request, token?) => Promise<response>`; no token sends none. */
export type Caller<Server> = {
  [Method in keyof Server]: Server[Method] extends handleUnaryCall<infer Req, infer Res>
    ? (request: Req, token?: string) => Promise<Res>
    : never;
} & { close(): void };

export function caller<Server>(client: Client): Caller<Server> {
  return new Proxy({} as Caller<Server>, {
    get: (_, name) => {
      if (name === 'close') return () => client.close();
      if (typeof (client as unknown as Record<string, unknown>)[name as string] !== 'function') return undefined;
      return (request: unknown, token?: string) => unaryCall(client, name as never, request as never, { metadata: bearerMetadata(token) });
    },
  });
}

export const tenantCaller = (address: string) =>
  caller<TenantServiceServer>(new TenantServiceClient(address, credentials.createInsecure()));
export const authCaller = (address: string) => caller<AuthServiceServer>(new AuthServiceClient(address, credentials.createInsecure()));

/** The status a call ends with (OK when it succeeds) and its message. */
export async function outcome(call: Promise<unknown>): Promise<{ code: status; message: string }> {
  try {
    await call;
    return { code: status.OK, message: '' };
  } catch (error) {
    const { code, details } = error as ServiceError;
    if (typeof code !== 'number') throw error;
    return { code, message: details };
  }
}

/** The name of a status code, for readable assertions (`PERMISSION_DENIED` rather than 7). */
export async function codeOf(call: Promise<unknown>): Promise<string> {
  return status[(await outcome(call)).code]!;
}
