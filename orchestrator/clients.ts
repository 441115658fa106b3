import { credentials, Metadata, status as grpcStatus, type Client, type ClientReadableStream, type ServiceError } from '@grpc/grpc-js';
import { TenantDataDeletionClient, type DeleteProgress, type ExportChunk, type PreviewResponse, type PurgeHold, type Subject } from '../gen/bakery/erasure/v1/tenant_data_deletion';
import { TenantServiceClient } from '../gen/bakery/tenant/v1/tenant_service';
import { maxTokenLifetime, mintServiceToken } from '../services/kit/auth';
import type { SigningKey } from '../services/kit/keys';
import { unaryCall, type UnaryMethodName, type UnaryRequest, type UnaryResponse } from '../services/kit/unary';

/**
 * A service that comes back should be reached again within a couple of seconds; grpc-js would
 * otherwise back off its reconnects up to two minutes, longer than a job's retry budget.
 */
const CHANNEL_OPTIONS = { 'grpc.initial_reconnect_backoff_ms': 200, 'grpc.max_reconnect_backoff_ms': 2000 };

type TenantMethod = UnaryMethodName<TenantServiceClient>;

/**
 * gRPC clients of every service, authenticated with the orchestrator's service token (signed with its
 * own key, re-minted well before it expires), as promises.
 */
export class ServiceClients {
  private token?: { value: string; until: number };
  private readonly erasure = new Map<string, TenantDataDeletionClient>();
  private tenantClient?: TenantServiceClient;

  constructor(
    readonly registry: Record<string, string>,
    private readonly signer: SigningKey,
  ) {}

  private async metadata(): Promise<Metadata> {
    if (!this.token || this.token.until < Date.now()) {
      // The longest lifetime verifiers accept, replaced when five sixths of it have passed.
      const ttl = maxTokenLifetime('service');
      this.token = { value: await mintServiceToken(this.signer, ttl), until: Date.now() + Math.floor((ttl * 1000 * 5) / 6) };
    }
    const metadata = new Metadata();
    metadata.set('authorization', `Bearer ${this.token.value}`);
    return metadata;
  }

  private address(service: string): string {
    const address = this.registry[service];
    if (!address) throw new Error(`no address for service "${service}"`);
    return address;
  }

  private erasureClient(service: string): TenantDataDeletionClient {
    let client = this.erasure.get(service);
    if (!client) {
      client = new TenantDataDeletionClient(this.address(service), credentials.createInsecure(), CHANNEL_OPTIONS);
      this.erasure.set(service, client);
    }
    return client;
  }

  private tenant(): TenantServiceClient {
    this.tenantClient ??= new TenantServiceClient(this.address('tenant'), credentials.createInsecure(), CHANNEL_OPTIONS);
    return this.tenantClient;
  }

  /** `heldEntities`: tables of the service under a legal hold, counted as held (orchestrator/holds.ts). */
  async preview(service: string, subject: Subject, deadlineMs: number, heldEntities: string[] = []): Promise<PreviewResponse> {
    return unaryCall(this.erasureClient(service), 'preview', { subject, heldEntities }, { metadata: await this.metadata(), deadlineMs });
  }

  /**
   * Runs a Delete stream to its end; `onMessage` sees every message; `signal` cancels the call.
   * The call is sent only over a connected channel (else it fails UNAVAILABLE, unsent), and `onSent`
   * is told when it goes out: a caller can tell a Delete that never reached the service from one that
   * may have removed rows.
   */
  async delete(
    service: string,
    subject: Subject,
    jobId: string,
    deadlineMs: number,
    onMessage: (message: DeleteProgress) => void,
    signal: AbortSignal,
    options: { heldEntities?: string[]; stopIfFound?: boolean; onSent?: () => void } = {},
  ): Promise<void> {
    const { heldEntities = [], stopIfFound = false, onSent = () => undefined } = options;
    const metadata = await this.metadata();
    const client = this.erasureClient(service);
    await connected(client, Math.min(deadlineMs, CONNECT_WAIT_MS), signal);
    onSent();
    return runStream(client.delete({ subject, jobId, heldEntities, stopIfFound }, metadata, { deadline: Date.now() + deadlineMs }), onMessage, signal);
  }

  /** Runs a PurgeExpired stream to its end (expired retained rows of erased tenants; `holds`: tenants under a legal hold, skipped). */
  async purgeExpired(service: string, jobId: string, deadlineMs: number, onMessage: (message: DeleteProgress) => void, signal: AbortSignal, holds: PurgeHold[] = []): Promise<void> {
    const metadata = await this.metadata();
    return runStream(this.erasureClient(service).purgeExpired({ jobId, holds }, metadata, { deadline: Date.now() + deadlineMs }), onMessage, signal);
  }

  /**
   * An Export stream, read with `for await`: the next message is read only when the loop asks for it,
   * so a slow archive write holds the service back (HTTP/2 flow control) instead of buffering here.
   * `signal` cancels the call.
   */
  async *export(service: string, subject: Subject, jobId: string, deadlineMs: number, signal: AbortSignal): AsyncGenerator<ExportChunk> {
    const metadata = await this.metadata();
    const call = this.erasureClient(service).export({ subject, jobId }, metadata, { deadline: Date.now() + deadlineMs });
    const onAbort = () => call.cancel();
    signal.addEventListener('abort', onAbort, { once: true });
    try {
      for await (const message of call) yield message as ExportChunk;
    } finally {
      signal.removeEventListener('abort', onAbort);
      call.cancel();
    }
  }

  /** A unary TenantService call, typed by method: `tenantCall('getTenantAdmins', { tenantId })`. */
  async tenantCall<K extends TenantMethod>(
    method: K,
    request: UnaryRequest<TenantServiceClient, K>,
    deadlineMs = 10_000,
  ): Promise<UnaryResponse<TenantServiceClient, K>> {
    return unaryCall(this.tenant(), method, request, { metadata: await this.metadata(), deadlineMs });
  }

  close(): void {
    for (const client of this.erasure.values()) client.close();
    this.tenantClient?.close();
  }
}

/** How long a call waits for its service's channel to connect before it fails unsent. */
const CONNECT_WAIT_MS = 5_000;

/**
 * Resolves once the client's channel is connected; fails UNAVAILABLE (retryable) when it is not
 * within `waitMs`, CANCELLED at once when `signal` aborts first.
 */
function connected(client: Client, waitMs: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    const cancelled = () => reject(Object.assign(new Error('cancelled before the call was sent'), { code: grpcStatus.CANCELLED }));
    if (signal.aborted) return cancelled();
    signal.addEventListener('abort', cancelled, { once: true });
    client.waitForReady(Date.now() + waitMs, (error) => {
      signal.removeEventListener('abort', cancelled);
      if (error) reject(Object.assign(new Error(`not connected: ${error.message}`), { code: grpcStatus.UNAVAILABLE }));
      else resolve();
    });
  });
}

/** Follows a server stream to its end: each message to `onMessage`; `signal` cancels the call. */
function runStream(call: ClientReadableStream<DeleteProgress>, onMessage: (message: DeleteProgress) => void, signal: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    const onAbort = () => call.cancel();
    signal.addEventListener('abort', onAbort, { once: true });
    call.on('data', onMessage);
    call.on('error', (error: ServiceError) => {
      signal.removeEventListener('abort', onAbort);
      reject(error);
    });
    call.on('end', () => {
      signal.removeEventListener('abort', onAbort);
      resolve();
    });
  });
}
