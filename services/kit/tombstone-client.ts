import { credentials, Metadata, status } from '@grpc/grpc-js';
import { TombstoneRegistryClient } from '../../gen/bakery/erasure/v1/tombstone_registry';
import type { Principal } from './auth';
import { RpcError, unauthenticated } from './errors';
import { limit } from './limits';
import { unaryCall, type UnaryMethodName, type UnaryRequest, type UnaryResponse } from './unary';

/**
 * How every process learns that a subject was erased: it asks the orchestrator's TombstoneRegistry
 * (the orchestrator alone holds the tombstones and their hashing key) and keeps the answers a while.
 * "Erased" is final and kept long; "not erased" only a few seconds, so a process that was down
 * during the erasure, or that saw the user a moment before, learns it within that time.
 */
export interface TombstoneLookup {
  /** Whether the subject was erased. `fresh` skips a cached "not erased" (asked before an id is written). */
  isErased(kind: 'tenant' | 'user', id: string, options?: { fresh?: boolean }): Promise<boolean>;
  /** Whether the subject was erased, or (a user) is suspended while their erasure is SCHEDULED. */
  state(kind: 'tenant' | 'user', id: string): Promise<SubjectState>;
}

export interface SubjectState {
  erased: boolean;
  /** A user in their erasure's grace period: login and tokens are refused, nothing is deleted yet. */
  suspended: boolean;
}

export interface TombstoneCacheSettings {
  erasedTtlMs: number;
  clearTtlMs: number;
  maxEntries: number;
  deadlineMs: number;
}

/** One erased subject whose rows a sweep found and erased again. */
export interface SweptSubject {
  kind: 'tenant' | 'user';
  id: string;
  rows: number;
  entities: { entity: string; action: number; rows: number }[];
}

/**
 * What the resurrection sweep (services/kit/resurrection-sweep.ts) needs of the registry: a batch
 * question that is never answered from a cache, and where to report what it found.
 */
export interface SubjectRegistry {
  /** Whether each subject was erased, in order; at most 100 per call. Throws TombstoneRegistryUnavailable. */
  erasedAmong(subjects: { kind: 'tenant' | 'user'; id: string }[]): Promise<boolean[]>;
  /** Reports resurrections found by this process; at most 100 per call. Throws TombstoneRegistryUnavailable. */
  reportResurrections(found: SweptSubject[]): Promise<void>;
}

/** The cache and call settings from the limits table (services/kit/limits.ts). */
export function tombstoneCacheSettings(env: Record<string, string | undefined> = process.env): TombstoneCacheSettings {
  return {
    erasedTtlMs: limit('tombstoneErasedCacheTtl', env),
    clearTtlMs: limit('tombstoneClearCacheTtl', env),
    maxEntries: limit('tombstoneCacheEntries', env),
    deadlineMs: limit('tombstoneCheckDeadline', env),
  };
}

/** The registry could not answer: the caller should retry (the orchestrator may be restarting). */
export class TombstoneRegistryUnavailable extends Error {
  override name = 'TombstoneRegistryUnavailable';
}

/** Re-minted this often: well within any service token's lifetime. */
const TOKEN_REFRESH_MS = 5 * 60_000;
/** A restarted orchestrator should be reached again within a couple of seconds. */
const CHANNEL_OPTIONS = { 'grpc.initial_reconnect_backoff_ms': 200, 'grpc.max_reconnect_backoff_ms': 2000 };

/** A client of the orchestrator's TombstoneRegistry with a positive and a negative cache. */
export class TombstoneClient implements TombstoneLookup, SubjectRegistry {
  private readonly client: TombstoneRegistryClient;
  private readonly cache = new Map<string, SubjectState & { until: number }>();
  private readonly inFlight = new Map<string, Promise<SubjectState>>();
  private token?: { value: string; until: number };

  constructor(
    address: string,
    /** Mints this process's service token (the registry answers services only). */
    private readonly mintToken: () => Promise<string>,
    private readonly settings: TombstoneCacheSettings = tombstoneCacheSettings(),
  ) {
    this.client = new TombstoneRegistryClient(address, credentials.createInsecure(), CHANNEL_OPTIONS);
  }

  async isErased(kind: 'tenant' | 'user', id: string, options: { fresh?: boolean } = {}): Promise<boolean> {
    return (await this.lookup(kind, id, options)).erased;
  }

  /** A suspension is cached like "not erased" (briefly): a restore is seen within that time. */
  state(kind: 'tenant' | 'user', id: string): Promise<SubjectState> {
    return this.lookup(kind, id, {});
  }

  private async lookup(kind: 'tenant' | 'user', id: string, options: { fresh?: boolean }): Promise<SubjectState> {
    const key = `${kind}:${id.toLowerCase()}`;
    const cached = this.cache.get(key);
    if (cached && cached.until > Date.now() && (cached.erased || !options.fresh)) return { erased: cached.erased, suspended: cached.suspended };
    // Concurrent questions about one subject share one call.
    let pending = this.inFlight.get(key);
    if (!pending) {
      pending = this.ask(kind, id.toLowerCase()).finally(() => this.inFlight.delete(key));
      this.inFlight.set(key, pending);
    }
    const state = await pending;
    this.remember(key, state);
    return state;
  }

  close(): void {
    this.client.close();
  }

  private async ask(kind: 'tenant' | 'user', id: string): Promise<SubjectState> {
    const response = await this.call('checkSubjects', { subjects: [kind === 'tenant' ? { tenantId: id } : { userId: id }] });
    const answer = response.statuses[0];
    if (!answer) throw new TombstoneRegistryUnavailable('tombstone registry answered without a status');
    return { erased: answer.erased, suspended: answer.suspended };
  }

  async erasedAmong(subjects: { kind: 'tenant' | 'user'; id: string }[]): Promise<boolean[]> {
    if (!subjects.length) return [];
    const request = { subjects: subjects.map(({ kind, id }) => (kind === 'tenant' ? { tenantId: id } : { userId: id })) };
    const response = await this.call('checkSubjects', request);
    if (response.statuses.length !== subjects.length) throw new TombstoneRegistryUnavailable('tombstone registry answered with the wrong number of statuses');
    return response.statuses.map((s) => s.erased);
  }

  async reportResurrections(found: SweptSubject[]): Promise<void> {
    if (!found.length) return;
    await this.call('reportResurrections', {
      resurrections: found.map(({ kind, id, rows, entities }) => ({
        subject: kind === 'tenant' ? { tenantId: id } : { userId: id },
        rows: String(rows),
        entities: entities.map((e) => ({ entity: e.entity, action: e.action, rows: String(e.rows), chunks: '0', retainReason: '', retention: '' })),
      })),
    });
  }

  /** One call to the registry as this process; any failure is TombstoneRegistryUnavailable (retry later). */
  private async call<M extends UnaryMethodName<TombstoneRegistryClient>>(
    method: M,
    request: UnaryRequest<TombstoneRegistryClient, M>,
  ): Promise<UnaryResponse<TombstoneRegistryClient, M>> {
    try {
      const metadata = new Metadata();
      metadata.set('authorization', `Bearer ${await this.serviceToken()}`);
      return await unaryCall(this.client, method, request, { metadata, deadlineMs: this.settings.deadlineMs });
    } catch (error) {
      const code = (error as { code?: number }).code;
      throw new TombstoneRegistryUnavailable(`tombstone registry did not answer (${code === undefined ? (error as Error).message : status[code]})`);
    }
  }

  private async serviceToken(): Promise<string> {
    if (!this.token || this.token.until < Date.now()) this.token = { value: await this.mintToken(), until: Date.now() + TOKEN_REFRESH_MS };
    return this.token.value;
  }

  private remember(key: string, state: SubjectState): void {
    const ttl = state.erased ? this.settings.erasedTtlMs : this.settings.clearTtlMs;
    if (ttl <= 0) return;
    this.cache.delete(key); // re-inserted last: the Map's order is the eviction order
    this.cache.set(key, { ...state, until: Date.now() + ttl });
    while (this.cache.size > this.settings.maxEntries) this.cache.delete(this.cache.keys().next().value!);
  }
}

/**
 * The kit's check after authentication (RpcDeps.checkPrincipal): an erased user's token, and that of
 * a user whose erasure is SCHEDULED (grace period), is refused UNAUTHENTICATED on every RPC. Fail closed: when the registry cannot answer, a user's call is
 * refused UNAVAILABLE (retryable) — a process that cannot tell whether a user was erased acts for
 * nobody. Service tokens are not subjects and are not asked about.
 */
export function refuseErasedUsers(lookup: Pick<TombstoneLookup, 'state'>): (principal: Principal) => Promise<void> {
  return async (principal) => {
    if (principal.kind !== 'user') return;
    let state: SubjectState;
    try {
      state = await lookup.state('user', principal.userId);
    } catch (error) {
      if (error instanceof TombstoneRegistryUnavailable) {
        throw new RpcError(status.UNAVAILABLE, "cannot confirm the user's account is still active (tombstone registry unavailable); retry shortly", 'TOMBSTONE_REGISTRY_UNAVAILABLE');
      }
      throw error;
    }
    if (state.erased) throw unauthenticated('user is erased');
    if (state.suspended) throw unauthenticated('user is suspended: their erasure is scheduled (an operator can restore them)');
  };
}

/** For write guards (services/tenant/erased.ts): asks afresh, so a just-erased id is never written back. */
export function freshIsErased(lookup: TombstoneLookup): (kind: 'tenant' | 'user', id: string) => Promise<boolean> {
  return async (kind, id) => {
    try {
      return await lookup.isErased(kind, id, { fresh: true });
    } catch (error) {
      if (error instanceof TombstoneRegistryUnavailable) {
        throw new RpcError(status.UNAVAILABLE, 'cannot confirm the id was not erased (tombstone registry unavailable); retry shortly', 'TOMBSTONE_REGISTRY_UNAVAILABLE');
      }
      throw error;
    }
  };
}
