import { Metadata, type CallOptions, type Client, type ClientUnaryCall, type ServiceError } from '@grpc/grpc-js';

/** The full overload of a generated client's unary method: (request, metadata, options, callback). */
export type UnaryMethod<Req, Res> = (
  request: Req,
  metadata: Metadata,
  options: Partial<CallOptions>,
  callback: (error: ServiceError | null, response: Res) => void,
) => ClientUnaryCall;

/**
 * The parameters of a method's last overload: for a generated unary method that is the full
 * (request, metadata, options, callback) form; a streaming method has no callback.
 */
type FullForm<F> = F extends (...args: infer A) => any ? A : never;
type UnaryForm<Req, Res> = [Req, Metadata, Partial<CallOptions>, (error: ServiceError | null, response: Res) => void];

/** The names of a generated client's unary methods (streaming methods and Client's own are left out). */
export type UnaryMethodName<C> = {
  [K in keyof C]: K extends keyof Client ? never : FullForm<C[K]> extends UnaryForm<any, any> ? K : never;
}[keyof C] &
  string;

export type UnaryRequest<C, K extends keyof C> = FullForm<C[K]> extends UnaryForm<infer Req, any> ? Req : never;
export type UnaryResponse<C, K extends keyof C> = FullForm<C[K]> extends UnaryForm<any, infer Res> ? Res : never;

export interface UnaryCallOptions {
  /** Sent with the call (e.g. `authorization`). */
  metadata?: Metadata;
  /** Deadline from now; unset: no deadline. */
  deadlineMs?: number;
  /** Cancels the call (it then fails with CANCELLED). */
  signal?: AbortSignal;
}

/**
 * One unary call of a generated grpc-js client as a promise, typed from the client:
 * `await unaryCall(client, 'preview', { subject }, { metadata, deadlineMs: 15_000 })`.
 * It rejects with the call's ServiceError (code, details, metadata) unchanged.
 */
export function unaryCall<C extends Client, K extends UnaryMethodName<C>>(
  client: C,
  method: K,
  request: UnaryRequest<C, K>,
  options: UnaryCallOptions = {},
): Promise<UnaryResponse<C, K>> {
  const fn = client[method] as unknown as UnaryMethod<UnaryRequest<C, K>, UnaryResponse<C, K>>;
  const callOptions: Partial<CallOptions> = options.deadlineMs === undefined ? {} : { deadline: Date.now() + options.deadlineMs };
  return new Promise((resolve, reject) => {
    const { signal } = options;
    const onAbort = () => call.cancel();
    const call = fn.call(client, request, options.metadata ?? new Metadata(), callOptions, (error, response) => {
      signal?.removeEventListener('abort', onAbort);
      if (error) reject(error);
      else resolve(response);
    });
    if (signal?.aborted) call.cancel();
    else signal?.addEventListener('abort', onAbort, { once: true });
  });
}

/** Metadata carrying `Authorization: Bearer <token>`; none when `token` is undefined. */
export function bearerMetadata(token: string | undefined): Metadata {
  const metadata = new Metadata();
  if (token !== undefined) metadata.set('authorization', `Bearer ${token}`);
  return metadata;
}
