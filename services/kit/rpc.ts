import { status, type Metadata, type ServerUnaryCall, type ServerWritableStream, type sendUnaryData } from '@grpc/grpc-js';
import type { Logger } from 'pino';
import { callerRule } from '../../mesh/caller-rules';
import { authenticate, describePrincipal, type Principal } from './auth';
import { RpcError, permissionDenied } from './errors';
import type { TrustBundle } from './keys';

/** What every handler gets besides its request. */
export interface CallContext {
  principal: Principal;
  metadata: Metadata;
  /** Aborted when the client cancels or the deadline passes. */
  signal: AbortSignal;
  log: Logger;
}

export interface RpcDeps {
  /** The public keys tokens are verified against (services/kit/keys.ts). */
  trust: TrustBundle;
  log: Logger;
  /** Maps domain errors (e.g. database errors) to an RpcError; returns undefined when it does not know one. */
  mapError?: (error: unknown) => RpcError | undefined;
  /** Runs after authentication; throws to refuse the caller (an erased user: services/kit/tombstone-client.ts). */
  checkPrincipal?: (principal: Principal) => Promise<void>;
}

function toRpcError(error: unknown, deps: RpcDeps, method: string): RpcError {
  if (error instanceof RpcError) return error;
  const mapped = deps.mapError?.(error);
  if (mapped) return mapped;
  deps.log.error({ err: error, method }, 'unexpected error');
  return new RpcError(status.INTERNAL, `internal error in ${method}`, 'INTERNAL');
}

function logOutcome(deps: RpcDeps, method: string, started: number, error?: RpcError): void {
  const fields = { method, duration_ms: Math.round(performance.now() - started) };
  if (!error) deps.log.debug(fields, 'rpc ok');
  else if (error.code === status.INTERNAL || error.code === status.UNAVAILABLE) deps.log.error({ ...fields, code: status[error.code], error: error.message }, 'rpc failed');
  else deps.log.info({ ...fields, code: status[error.code], error: error.message }, 'rpc refused');
}

/** `/pkg.Service/Method` → `pkg.Service/Method`, the caller rules' key. */
const qualified = (path: string): string => path.replace(/^\//, '');

/**
 * Whether the caller rules (mesh/caller-rules.ts) admit this principal to this method;
 * PERMISSION_DENIED naming the method and the caller's kind (and service or operator name) otherwise.
 */
export function admit(method: string, principal: Principal): void {
  const rule = callerRule(method);
  const admitted =
    rule !== undefined &&
    (principal.kind === 'user'
      ? rule.users === true
      : principal.kind === 'operator'
        ? rule.operators === true
        : (rule.services ?? []).includes(principal.service));
  if (!admitted) throw permissionDenied(`${method} may not be called by ${describePrincipal(principal)}`);
}

/**
 * Authentication (an erased user's token is a dead credential: `checkPrincipal` refuses it as
 * UNAUTHENTICATED whatever the method), then the caller rules: the principal a handler may trust.
 */
async function authorizeCall(call: { metadata: Metadata; getPath(): string }, deps: RpcDeps): Promise<Principal> {
  const principal = await authenticate(call.metadata, deps.trust);
  await deps.checkPrincipal?.(principal);
  admit(qualified(call.getPath()), principal);
  return principal;
}

/** The context of an RPC that needs no token (e.g. Login): there is no principal. */
export type PublicCallContext = Omit<CallContext, 'principal'>;

/**
 * A unary handler: authenticates first, then runs `handler`; thrown errors become gRPC statuses.
 * With `{ public: true }` the RPC needs no token and is not authenticated at all.
 */
export function unary<Req, Res>(
  deps: RpcDeps,
  method: string,
  handler: (request: Req, ctx: CallContext) => Promise<Res>,
): (call: ServerUnaryCall<Req, Res>, callback: sendUnaryData<Res>) => void;
export function unary<Req, Res>(
  deps: RpcDeps,
  method: string,
  handler: (request: Req, ctx: PublicCallContext) => Promise<Res>,
  options: { public: true },
): (call: ServerUnaryCall<Req, Res>, callback: sendUnaryData<Res>) => void;
export function unary<Req, Res>(
  deps: RpcDeps,
  method: string,
  handler: (request: Req, ctx: CallContext) => Promise<Res>,
  options?: { public: true },
): (call: ServerUnaryCall<Req, Res>, callback: sendUnaryData<Res>) => void {
  return (call, callback) => {
    const started = performance.now();
    const controller = new AbortController();
    call.on('cancelled', () => controller.abort());
    (async () => {
      const context = { metadata: call.metadata, signal: controller.signal, log: deps.log };
      // The overload types a public handler's context without a principal.
      if (options?.public) {
        // A public handler must be public in the table too: one place says who may call what.
        if (callerRule(qualified(call.getPath()))?.public !== true) throw permissionDenied(`${qualified(call.getPath())} is not public in the caller rules`);
        return handler(call.request, context as CallContext);
      }
      return handler(call.request, { ...context, principal: await authorizeCall(call, deps) });
    })().then(
      (response) => {
        logOutcome(deps, method, started);
        callback(null, response);
      },
      (error) => {
        const rpcError = toRpcError(error, deps, method);
        logOutcome(deps, method, started, rpcError);
        callback(rpcError.toServiceError());
      },
    );
  };
}

/**
 * A server-streaming handler. `send` waits while the client is not reading, so a slow client slows
 * the producer instead of piling messages up in memory: it returns once the previous message has been
 * flushed into the HTTP/2 stream (its write callback), so at most one message waits there while the
 * next is made. `call.write()`'s return value is no bound: the call is an object-mode stream whose
 * high-water mark is 16 messages, not bytes (ServerWritableStreamImpl in node_modules/@grpc/grpc-js/build/src/server-call.js), i.e. up to 16 export batches of
 * ~512 KB each (services/kit/export.ts) plus their serialized copies.
 */
export function serverStream<Req, Res>(
  deps: RpcDeps,
  method: string,
  handler: (request: Req, ctx: CallContext, send: (message: Res) => Promise<void>) => Promise<void>,
): (call: ServerWritableStream<Req, Res>) => void {
  return (call) => {
    const started = performance.now();
    const controller = new AbortController();
    call.on('cancelled', () => controller.abort());
    const cancelled = () => new RpcError(status.CANCELLED, 'cancelled by the client');
    // Settles when the previous message was flushed (or failed to be), or when the call is cancelled:
    // grpc-js drops the write callbacks of a cancelled call.
    let previous: Promise<Error | null | undefined> = Promise.resolve(undefined);
    const send = async (message: Res): Promise<void> => {
      const failed = await previous;
      if (controller.signal.aborted) throw cancelled();
      if (failed) throw new RpcError(status.UNAVAILABLE, `the stream failed: ${failed.message}`);
      previous = new Promise((resolve) => {
        const onAbort = () => resolve(undefined);
        controller.signal.addEventListener('abort', onAbort, { once: true });
        call.write(message, (error?: Error | null) => {
          controller.signal.removeEventListener('abort', onAbort);
          resolve(error);
        });
      });
    };
    (async () => {
      const principal = await authorizeCall(call, deps);
      await handler(call.request, { principal, metadata: call.metadata, signal: controller.signal, log: deps.log }, send);
    })().then(
      () => {
        logOutcome(deps, method, started);
        call.end();
      },
      (error) => {
        const rpcError = toRpcError(error, deps, method);
        logOutcome(deps, method, started, rpcError);
        if (!controller.signal.aborted) call.emit('error', rpcError.toServiceError());
      },
    );
  };
}
