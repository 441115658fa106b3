import { ConfigError } from './config';

/**
 * The one table of limits: what one caller, one connection or one request may use. Every entry is read
 * through `limit(name)`, from its environment variable or its default, and validated like the rest of
 * the configuration (services/kit/config.ts): a bad value stops the process at start with a message
 * naming the variable. Benchmarks and chaos runs print `limitSettings()` so a result says what it ran with.
 */
export interface LimitSpec {
  /** The environment variable that overrides the default. */
  env: string;
  default: number;
  unit: string;
  description: string;
  /** Smallest accepted value (default 1). */
  min?: number;
}

export const LIMITS = {
  loginAccountMaxFailures: {
    env: 'LOGIN_ACCOUNT_MAX_FAILURES',
    default: 5,
    unit: 'failures',
    description: 'failed logins for one e-mail address within the window before each further attempt waits (growing delays)',
  },
  loginSourceMaxFailures: {
    env: 'LOGIN_SOURCE_MAX_FAILURES',
    default: 50,
    unit: 'failures',
    description: 'failed logins from one source address within the window before each further attempt waits',
  },
  loginWindow: {
    env: 'LOGIN_WINDOW_SECONDS',
    default: 900,
    unit: 's',
    description: 'the window in which failed logins are counted; a quiet window starts the count again',
  },
  loginBaseDelay: {
    env: 'LOGIN_BASE_DELAY_SECONDS',
    default: 1,
    unit: 's',
    description: 'the wait after the last allowed failure; it doubles with every further failure',
  },
  loginMaxDelay: {
    env: 'LOGIN_MAX_DELAY_SECONDS',
    default: 900,
    unit: 's',
    description: 'the longest wait (lockout) one account or source can be given',
  },
  passwordMaxLength: {
    env: 'PASSWORD_MAX_LENGTH',
    default: 1024,
    unit: 'characters',
    description: 'longest password accepted; longer ones are refused before any hashing',
  },
  hashConcurrency: {
    env: 'AUTH_HASH_CONCURRENCY',
    default: 4,
    unit: 'hashes',
    description: 'password hashes computed at once by one auth process (each takes about 16 MiB and 0.2 s of a core)',
  },
  hashQueue: {
    env: 'AUTH_HASH_QUEUE',
    default: 64,
    unit: 'requests',
    description: 'requests waiting for a hashing slot; beyond it, RESOURCE_EXHAUSTED',
  },
  maxMessageSize: {
    env: 'GRPC_MAX_MESSAGE_BYTES',
    default: 1024 * 1024,
    unit: 'bytes',
    description: 'largest gRPC message a server receives or sends',
    min: 1024,
  },
  keepaliveTime: {
    env: 'GRPC_KEEPALIVE_TIME_MS',
    default: 60_000,
    unit: 'ms',
    description: 'a server pings an idle connection after this long',
  },
  keepaliveTimeout: {
    env: 'GRPC_KEEPALIVE_TIMEOUT_MS',
    default: 20_000,
    unit: 'ms',
    description: 'a connection whose ping is not answered within this is closed',
  },
  connectionMaxAge: {
    env: 'GRPC_MAX_CONNECTION_AGE_MS',
    default: 30 * 60_000,
    unit: 'ms',
    description: 'a server asks a client to reconnect after this long (spreads load, ends long-lived sessions)',
  },
  connectionMaxAgeGrace: {
    env: 'GRPC_MAX_CONNECTION_AGE_GRACE_MS',
    default: 60_000,
    unit: 'ms',
    description: 'calls in flight on a connection past its age get this long to finish',
  },
  minPingInterval: {
    env: 'GRPC_MIN_PING_INTERVAL_MS',
    default: 10_000,
    unit: 'ms',
    description: 'a client that pings more often than this is disconnected',
  },
  userTokenMaxLifetime: {
    env: 'USER_TOKEN_MAX_LIFETIME_SECONDS',
    default: 3600,
    unit: 's',
    description: 'longest exp − iat a user token (signed by auth) may have; longer ones are refused whoever signed them',
  },
  serviceTokenMaxLifetime: {
    env: 'SERVICE_TOKEN_MAX_LIFETIME_SECONDS',
    default: 3600,
    unit: 's',
    description: 'longest exp − iat a service token may have',
  },
  operatorTokenMaxLifetime: {
    env: 'OPERATOR_TOKEN_MAX_LIFETIME_SECONDS',
    default: 8 * 3600,
    unit: 's',
    description: 'longest exp − iat an operator token may have (a working day at most)',
  },
  tokenClockSkew: {
    env: 'TOKEN_CLOCK_SKEW_SECONDS',
    default: 30,
    unit: 's',
    description: 'clock difference tolerated between the signer and the verifier for exp and iat',
    min: 0,
  },
  openJobsPerCaller: {
    env: 'ORCHESTRATOR_OPEN_JOBS_PER_CALLER',
    // A service erasing many tenants at once (the mesh's own test erases 50) stays within it.
    default: 100,
    unit: 'jobs',
    description: 'PENDING or RUNNING jobs one caller (a user, or a service identity) may have started; a new job beyond it is RESOURCE_EXHAUSTED (attaching to an open job is not a new job)',
  },
  watchersPerJob: {
    env: 'ORCHESTRATOR_WATCHERS_PER_JOB',
    default: 32,
    unit: 'streams',
    description: 'open job streams (WatchJob, DeleteTenant, DeleteUser) on one job, per orchestrator replica',
  },
  watchersPerCaller: {
    env: 'ORCHESTRATOR_WATCHERS_PER_CALLER',
    default: 64,
    unit: 'streams',
    description: 'open job streams (WatchJob, DeleteTenant, DeleteUser) of one caller, per orchestrator replica',
  },
  tombstoneErasedCacheTtl: {
    env: 'TOMBSTONE_ERASED_CACHE_MS',
    default: 60 * 60_000,
    unit: 'ms',
    description: 'how long a process remembers that a subject was erased (an erasure is final, so this can be long)',
  },
  tombstoneClearCacheTtl: {
    env: 'TOMBSTONE_CLEAR_CACHE_MS',
    default: 5_000,
    unit: 'ms',
    description: "how long a process trusts an answer that a subject was not erased: the longest an erased user's token is still accepted after the erasure completes (writes of ids ask afresh)",
    min: 0,
  },
  tombstoneCacheEntries: {
    env: 'TOMBSTONE_CACHE_ENTRIES',
    default: 10_000,
    unit: 'subjects',
    description: 'subjects whose tombstone answer one process keeps (oldest dropped first)',
  },
  verifiedTokenCacheEntries: {
    env: 'VERIFIED_TOKEN_CACHE_ENTRIES',
    default: 1_000,
    unit: 'tokens',
    description: 'tokens one process remembers as verified until their expiry, so a caller\'s next call skips the signature check (oldest dropped first; 0: verify every call)',
    min: 0,
  },
  tombstoneCheckDeadline: {
    env: 'TOMBSTONE_CHECK_DEADLINE_MS',
    default: 2_000,
    unit: 'ms',
    description: "deadline of one CheckSubjects call to the orchestrator; without an answer a user's call is refused UNAVAILABLE (retryable)",
  },
  resurrectionSweepInterval: {
    env: 'RESURRECTION_SWEEP_INTERVAL_MS',
    default: 15 * 60_000,
    unit: 'ms',
    description: 'how often each data service sweeps its database for rows of erased subjects (and once at start-up, before it reports SERVING)',
  },
  resurrectionSweepRetry: {
    env: 'RESURRECTION_SWEEP_RETRY_MS',
    default: 10_000,
    unit: 'ms',
    description: 'how soon a sweep that could not finish (tombstone registry unreachable) is tried again',
  },
  resurrectionSweepStartupWait: {
    env: 'RESURRECTION_SWEEP_STARTUP_WAIT_MS',
    default: 60_000,
    unit: 'ms',
    description: 'the longest a starting service waits for its first sweep before it reports SERVING anyway (with a warning; the sweep goes on retrying)',
    min: 0,
  },
  resurrectionSweepBatch: {
    env: 'RESURRECTION_SWEEP_BATCH',
    default: 100,
    unit: 'subjects',
    description: 'distinct subject ids a sweep reads from the database and asks the tombstone registry about at once (the registry takes at most 100)',
  },
  runningJobsPerReplica: {
    env: 'ORCHESTRATOR_RUNNING_JOBS_PER_REPLICA',
    default: 8,
    unit: 'jobs',
    description: 'erasure jobs one orchestrator replica runs at once; the rest wait PENDING in arrival order (each running job holds up to one pool connection at a time per step in flight)',
  },
  exportPageRows: {
    env: 'EXPORT_PAGE_ROWS',
    // Measured (npm run bench -- export): 1,000-row pages took twice as long as 5,000-row ones, each page
    // re-reading the parents of tables reached through them; 5,000 rows are about 1–2 MB of JSON.
    default: 5_000,
    unit: 'rows',
    description: "rows one Export statement reads at a time (one page in a service's memory; a slow reader pauses between pages)",
  },
  exportArchiveMaxBytes: {
    env: 'EXPORT_ARCHIVE_MAX_BYTES',
    default: 2 * 1024 * 1024 * 1024,
    unit: 'bytes',
    description: 'largest export archive (plaintext bytes of all its files); an export beyond it fails, keeping nothing',
  },
  exportRetention: {
    env: 'EXPORT_RETENTION_SECONDS',
    default: 7 * 24 * 3600,
    unit: 's',
    description: 'how long a sealed export archive is kept for download before the sweep deletes it',
  },
  exportSweepInterval: {
    env: 'EXPORT_SWEEP_INTERVAL_MS',
    default: 60_000,
    unit: 'ms',
    description: 'how often each orchestrator replica deletes the export archives past their expiry',
  },
  openExportsPerCaller: {
    env: 'ORCHESTRATOR_OPEN_EXPORTS_PER_CALLER',
    default: 2,
    unit: 'jobs',
    description: 'PENDING or RUNNING export jobs one caller may have started; a new export beyond it is RESOURCE_EXHAUSTED',
  },
} as const satisfies Record<string, LimitSpec>;

export type LimitName = keyof typeof LIMITS;

/** The value of one limit: its environment variable (a whole number ≥ its minimum) or its default. */
export function limit(name: LimitName, env: Record<string, string | undefined> = process.env): number {
  const spec: LimitSpec = LIMITS[name];
  const raw = env[spec.env];
  if (raw === undefined || raw.trim() === '') return spec.default;
  if (!/^\d+$/.test(raw.trim())) throw new ConfigError(`${spec.env} must be a whole number of ${spec.unit}, got ${JSON.stringify(raw.slice(0, 32))}`);
  const value = Number(raw.trim());
  const min = spec.min ?? 1;
  if (!Number.isSafeInteger(value) || value < min) throw new ConfigError(`${spec.env} must be at least ${min} ${spec.unit}, got ${value}`);
  return value;
}

/** Every limit with the value in effect, for benchmarks and chaos runs to print. */
export function limitSettings(env: Record<string, string | undefined> = process.env): Record<string, string> {
  return Object.fromEntries(Object.keys(LIMITS).map((name) => [LIMITS[name as LimitName].env, `${limit(name as LimitName, env)} ${LIMITS[name as LimitName].unit}`]));
}
