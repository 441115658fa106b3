import { credentials, Metadata, status, type CallOptions, type Client, type ServiceError } from '@grpc/grpc-js';
import {
  TenantDataDeletionClient,
  type DeleteProgress,
  type PreviewResponse,
  type Subject,
} from '../gen/bakery/erasure/v1/tenant_data_deletion';
import { TenantServiceClient } from '../gen/bakery/tenant/v1/tenant_service';
import { mintServiceToken } from '../services/kit/auth';

/**
 * A service that comes back should be reached again within a couple of seconds; grpc-js would
 * otherwise back off its reconnects up to two minutes, longer than a job's retry budget.
 */
const CHANNEL_OPTIONS = { 'grpc.initial_reconnect_backoff_ms': 200, 'grpc.max_reconnect_backoff_ms': 2000 };

/**
 * gRPC clients of every service, authenticated with the orchestrator's service token (re-minted well
 * before it expires), as promises.
 */
export class ServiceClients {
  private token?: { value: string; until: number };
  private readonly erasure = new Map<string, TenantDataDeletionClient>();
  private tenantClient?: TenantServiceClient;

  constructor(
    readonly registry: Record<string, string>,
    private readonly secret: Uint8Array,
  ) {}

  private async metadata(): Promise<Metadata> {
    if (!this.token || this.token.until < Date.now()) {
      this.token = { value: await mintServiceToken('orchestrator', this.secret, '1h'), until: Date.now() + 50 * 60_000 };
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

  erasureClient(service: string): TenantDataDeletionClient {
    let client = this.erasure.get(service);
    if (!client) {
      client = new TenantDataDeletionClient(this.address(service), credentials.createInsecure(), CHANNEL_OPTIONS);
      this.erasure.set(service, client);
    }
    return client;
  }

  tenant(): TenantServiceClient {
    this.tenantClient ??= new TenantServiceClient(this.address('tenant'), credentials.createInsecure(), CHANNEL_OPTIONS);
    return this.tenantClient;
  }

  async preview(service: string, subject: Subject, deadlineMs: number): Promise<PreviewResponse> {
    const metadata = await this.metadata();
    return new Promise((resolve, reject) =>
      this.erasureClient(service).preview({ subject }, metadata, { deadline: Date.now() + deadlineMs }, (error, response) =>
        error ? reject(error) : resolve(response!),
      ),
    );
  }

  /** Runs a Delete stream to its end; `onMessage` sees every message; `signal` cancels the call. */
  async delete(
    service: string,
    subject: Subject,
    jobId: string,
    deadlineMs: number,
    onMessage: (message: DeleteProgress) => void,
    signal: AbortSignal,
  ): Promise<void> {
    const metadata = await this.metadata();
    return new Promise((resolve, reject) => {
      const call = this.erasureClient(service).delete({ subject, jobId }, metadata, { deadline: Date.now() + deadlineMs });
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

  /** A unary TenantService call: `call('getTenantAdmins', request)`. */
  async tenantCall<Res>(method: keyof TenantServiceClient, request: object, deadlineMs = 10_000): Promise<Res> {
    const metadata = await this.metadata();
    const client = this.tenant() as unknown as Record<string, Function>;
    return new Promise((resolve, reject) =>
      client[method as string]!.call(client, request, metadata, { deadline: Date.now() + deadlineMs } as CallOptions, (error: ServiceError | null, response: Res) =>
        error ? reject(error) : resolve(response),
      ),
    );
  }

  close(): void {
    for (const client of this.erasure.values()) (client as Client).close();
    this.tenantClient?.close();
  }
}

/** Codes worth another attempt (DESIGN §5); everything else is the caller's or the data's problem. */
export const RETRYABLE = new Set<number>([status.UNAVAILABLE, status.DEADLINE_EXCEEDED, status.RESOURCE_EXHAUSTED, status.ABORTED]);

export function isRetryable(error: unknown): boolean {
  const code = (error as { code?: unknown })?.code;
  return typeof code === 'number' && RETRYABLE.has(code);
}

export function describe(error: unknown): string {
  const e = error as { code?: number; details?: string; message?: string };
  if (typeof e?.code === 'number' && e.code in status) return `${status[e.code]}: ${e.details || e.message}`;
  return e?.message ?? String(error);
}
