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

/** Authentication, then the caller rules: the principal a handler may trust. */
async function authorizeCall(call: { metadata: Metadata; getPath(): string }, deps: RpcDeps): Promise<Principal> {
  const principal = await authenticate(call.metadata, deps.trust);
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
 * the producer instead of piling messages up in memory.
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
    const send = (message: Res): Promise<void> =>
      new Promise((resolve, reject) => {
        if (controller.signal.aborted) return reject(new RpcError(status.CANCELLED, 'cancelled by the client'));
        if (call.write(message)) return resolve();
        const onDrain = () => {
          controller.signal.removeEventListener('abort', onAbort);
          resolve();
        };
        const onAbort = () => {
          call.off('drain', onDrain);
          reject(new RpcError(status.CANCELLED, 'cancelled by the client'));
        };
        call.once('drain', onDrain);
        controller.signal.addEventListener('abort', onAbort, { once: true });
      });
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
