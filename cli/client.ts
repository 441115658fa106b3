/**
 * The CLI's connection to the mesh: the orchestrator (ORCHESTRATOR_ADDR) and, for the tenant list, the
 * tenant service (TENANT_ADDR), with a bearer token (ERASURE_TOKEN, or an operator token signed with
 * the operator key: ERASURE_SIGNING_KEY_FILE, or the development one under the data folder). Unary calls become promises; job streams are followed to
 * their end, reconnecting with WatchJob if the orchestrator restarts meanwhile.
 */
import { credentials, Metadata, status, type Client, type ClientReadableStream, type ServiceError } from '@grpc/grpc-js';
import { DeletionOrchestratorClient, JobStatus, type Job, type JobEvent } from '../gen/bakery/erasure/v1/deletion_orchestrator';
import { TenantServiceClient } from '../gen/bakery/tenant/v1/tenant_service';
import { TombstoneRegistryClient } from '../gen/bakery/erasure/v1/tombstone_registry';
import { userInfo } from 'node:os';
import { join, resolve } from 'node:path';
import { existsSync } from 'node:fs';
import { mintOperatorToken } from '../services/kit/auth';
import { OPERATOR_IDENTITY, loadSigningKey, privateKeyFile, type SigningKey } from '../services/kit/keys';
import { dataDir } from '../services/kit/paths';
import { serviceAddress } from '../services/kit/config';
import { unaryCall } from '../services/kit/unary';
import { isFinished } from './render';

type Env = Record<string, string | undefined>;

/** A failed RPC in one line: `NOT_FOUND: tenant … not found`, or what to do when nothing answers. */
export function describeRpcError(error: unknown, target: string, address: string): string {
  const e = error as Partial<ServiceError>;
  if (typeof e.code !== 'number') return (error as Error).message ?? String(error);
  if (e.code === status.UNAVAILABLE && /ECONNREFUSED|No connection established|failed to connect|Connection dropped/i.test(e.details ?? '')) {
    return `cannot reach the ${target} at ${address}: is the mesh running (npm start)? (set ${target === 'orchestrator' ? 'ORCHESTRATOR_ADDR' : 'TENANT_ADDR'} if it listens elsewhere)`;
  }
  return `${status[e.code] ?? e.code}: ${e.details || e.message}`;
}

export class RpcFailure extends Error {
  constructor(
    message: string,
    readonly code?: number,
  ) {
    super(message);
    this.name = 'RpcFailure';
  }
}

/** The development key folder as this command line's environment names it (`<ERASURE_DATA_DIR>/keys`). */
export function devKeysDirOf(env: Env): string {
  return join(env.ERASURE_DATA_DIR ? resolve(env.ERASURE_DATA_DIR) : dataDir(), 'keys');
}

/**
 * The private key of `identity` for the CLI: `file` (e.g. --key-file), or the development key set
 * (only present where the mesh was started locally). A missing key says what to do.
 */
export async function cliSigningKey(env: Env, identity: string, file?: string): Promise<SigningKey> {
  const path = file ?? privateKeyFile(devKeysDirOf(env), identity);
  if (!existsSync(path)) {
    throw new Error(`no private key for ${identity} at ${path}: start the mesh once (npm start) to generate the development keys, or give the key file`);
  }
  const key = await loadSigningKey(path);
  if (key.identity !== identity) throw new Error(`the key in ${path} belongs to ${key.identity}, not ${identity}`);
  return key;
}

/** Who the operator is: ERASURE_OPERATOR, or the login name. */
export function operatorName(env: Env): string {
  return env.ERASURE_OPERATOR || userInfo().username.replace(/[^A-Za-z0-9._-]/g, '-').slice(0, 64) || 'operator';
}

/** ERASURE_TOKEN, or an operator token (ERASURE_SIGNING_KEY_FILE or the development operator key). */
export async function cliToken(env: Env = process.env): Promise<string> {
  if (env.ERASURE_TOKEN) return env.ERASURE_TOKEN;
  return mintOperatorToken(await cliSigningKey(env, OPERATOR_IDENTITY, env.ERASURE_SIGNING_KEY_FILE || undefined), operatorName(env));
}

const UNARY_DEADLINE_MS = 30_000;

export class MeshClient {
  readonly orchestratorAddress: string;
  readonly tenantAddress: string;
  private orchestratorClient?: DeletionOrchestratorClient;
  private tenantClient?: TenantServiceClient;
  private registryClient?: TombstoneRegistryClient;
  /** The token and when to sign a fresh one (a long `watch` outlives one operator token). */
  private token?: { value: Promise<string>; renewAt: number };

  constructor(private readonly env: Env = process.env) {
    this.orchestratorAddress = serviceAddress('orchestrator', env);
    this.tenantAddress = serviceAddress('tenant', env);
  }

  private async metadata(): Promise<Metadata> {
    if (!this.token || Date.now() > this.token.renewAt) {
      // Renewed at 50 minutes: the CLI signs one-hour operator tokens (an ERASURE_TOKEN is the caller's to renew).
      this.token = { value: cliToken(this.env), renewAt: Date.now() + 50 * 60_000 };
    }
    const metadata = new Metadata();
    metadata.set('authorization', `Bearer ${await this.token.value}`);
    return metadata;
  }

  get orchestrator(): DeletionOrchestratorClient {
    return (this.orchestratorClient ??= new DeletionOrchestratorClient(this.orchestratorAddress, credentials.createInsecure()));
  }

  get tenant(): TenantServiceClient {
    return (this.tenantClient ??= new TenantServiceClient(this.tenantAddress, credentials.createInsecure()));
  }

  /** The orchestrator's TombstoneRegistry (same address as the orchestrator). */
  get registry(): TombstoneRegistryClient {
    return (this.registryClient ??= new TombstoneRegistryClient(this.orchestratorAddress, credentials.createInsecure()));
  }

  /** A unary call as a promise; failures become one-line RpcFailures. */
  async call<Res>(target: 'orchestrator' | 'tenant' | 'registry', method: string, request: unknown, deadlineMs = UNARY_DEADLINE_MS): Promise<Res> {
    const client: Client = target === 'orchestrator' ? this.orchestrator : target === 'registry' ? this.registry : this.tenant;
    const address = target === 'tenant' ? this.tenantAddress : this.orchestratorAddress;
    const metadata = await this.metadata();
    try {
      return (await unaryCall(client, method as never, request as never, { metadata, deadlineMs })) as Res;
    } catch (error) {
      const failure = error as ServiceError;
      throw new RpcFailure(describeRpcError(failure, target === 'registry' ? 'orchestrator' : target, address), failure.code);
    }
  }

  /**
   * Follows a job stream (DeleteTenant, DeleteUser or WatchJob) to its end and returns the final job.
   * When the stream breaks with UNAVAILABLE after the job is known (the orchestrator restarted), it
   * watches the job again for up to `reconnectMs`; the new stream starts with a fresh snapshot.
   */
  async follow(
    start: (metadata: Metadata) => ClientReadableStream<JobEvent>,
    onEvent: (event: JobEvent) => void,
    options: { signal?: AbortSignal; reconnectMs?: number } = {},
  ): Promise<Job> {
    let jobId: string | undefined;
    let last: Job | undefined;
    let opener = start;
    const reconnectUntil = () => Date.now() + (options.reconnectMs ?? 60_000);
    let deadline = reconnectUntil();
    for (;;) {
      const metadata = await this.metadata();
      const outcome = await new Promise<{ finished?: Job; error?: ServiceError; aborted?: boolean }>((resolve) => {
        const call = opener(metadata);
        let finished: Job | undefined;
        const onAbort = () => {
          call.cancel();
          resolve({ aborted: true });
        };
        options.signal?.addEventListener('abort', onAbort, { once: true });
        call.on('data', (event: JobEvent) => {
          const job = event.snapshot ?? event.finished;
          if (job) {
            jobId = job.id;
            last = job;
            deadline = reconnectUntil();
          }
          if (event.finished) finished = event.finished;
          onEvent(event);
        });
        call.on('error', (error: ServiceError) => {
          options.signal?.removeEventListener('abort', onAbort);
          resolve({ error });
        });
        call.on('end', () => {
          options.signal?.removeEventListener('abort', onAbort);
          resolve({ finished });
        });
      });
      if (outcome.aborted) throw new RpcFailure('interrupted', status.CANCELLED);
      if (outcome.finished) return outcome.finished;
      // A job awaiting approval, or one a legal hold stops, is answered with its snapshot: it may wait
      // for months, nothing to follow until someone decides or releases.
      if (!outcome.error && last && (isFinished(last.status) || last.status === JobStatus.JOB_STATUS_AWAITING_APPROVAL || last.status === JobStatus.JOB_STATUS_ON_HOLD)) return last;
      const error = outcome.error;
      const retryable = !error || error.code === status.UNAVAILABLE || error.code === status.INTERNAL;
      if (!jobId || !retryable || Date.now() > deadline) {
        if (error) throw new RpcFailure(describeRpcError(error, 'orchestrator', this.orchestratorAddress), error.code);
        throw new RpcFailure(`the job stream ended before job ${jobId ?? ''} finished`);
      }
      // Reconnect to the same job: a fresh snapshot comes first, so nothing is lost.
      const id = jobId;
      opener = (md) => this.orchestrator.watchJob({ jobId: id }, md);
      await new Promise((resolve) => setTimeout(resolve, 1000));
    }
  }

  /** The bytes of an export archive (DownloadExport), piece by piece as they arrive. */
  async *download(jobId: string): AsyncGenerator<Buffer> {
    const call = this.orchestrator.downloadExport({ jobId }, await this.metadata());
    try {
      for await (const message of call) yield Buffer.from((message as { data: Uint8Array }).data);
    } catch (error) {
      const failure = error as ServiceError;
      throw new RpcFailure(describeRpcError(failure, 'orchestrator', this.orchestratorAddress), failure.code);
    }
  }

  /** Opens a job stream and returns its first snapshot (for `--detach`, where the stream ends there). */
  async firstSnapshot(start: (metadata: Metadata) => ClientReadableStream<JobEvent>): Promise<Job> {
    const metadata = await this.metadata();
    return new Promise<Job>((resolve, reject) => {
      const call = start(metadata);
      let snapshot: Job | undefined;
      call.on('data', (event: JobEvent) => {
        if (snapshot || !event.snapshot) return;
        snapshot = event.snapshot;
        resolve(snapshot);
        call.cancel();
      });
      call.on('error', (error: ServiceError) => {
        if (!snapshot) reject(new RpcFailure(describeRpcError(error, 'orchestrator', this.orchestratorAddress), error.code));
      });
      call.on('end', () => snapshot || reject(new RpcFailure('the orchestrator ended the stream without a job')));
    });
  }

  close(): void {
    this.orchestratorClient?.close();
    this.tenantClient?.close();
    this.registryClient?.close();
  }
}
