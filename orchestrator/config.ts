import { DOMAIN_SERVICES, IDENTITY_SERVICES } from '../mesh/catalog';
import { join } from 'node:path';
import { ConfigError, envBool, envInt, serviceAddress } from '../services/kit/config';
import { dataDir } from '../services/kit/paths';
import { limit } from '../services/kit/limits';
import { RETRYABLE_CODES, type RetryPolicy } from './retry';
import { webhookSettings, type WebhookSettings } from './webhooks';

export { DOMAIN_SERVICES, IDENTITY_SERVICES };
/** Every service an erasure reaches, domain services first, identity last (order of the catalog's phases). */
export const ALL_SERVICES: readonly string[] = [...DOMAIN_SERVICES, ...IDENTITY_SERVICES];

export interface OrchestratorConfig {
  /** Service name → host:port (`<NAME>_ADDR`, else the catalog's default port). */
  registry: Record<string, string>;
  /** Domain services erased at once. */
  concurrency: number;
  /** Deadline of one attempt of a step (the product's specification: 60 s). */
  attemptDeadlineMs: number;
  /** How every call to a service is retried: a step's attempts, verification, the tenant service. */
  retry: RetryPolicy;
  /** How long a runner's claim on a job lasts without a heartbeat. */
  leaseMs: number;
  /** What one caller may hold (the limits table, services/kit/limits.ts). */
  limits: CallerLimits;
  /** A RUNNING job with no recorded progress for this long is marked stalled (orchestrator/watchdog.ts). */
  stallAfterMs: number;
  /** How often the watchdog looks for stalled jobs and for open jobs nobody runs. */
  watchdogIntervalMs: number;
  /** Jobs run at once by this replica; the rest wait PENDING in arrival order (the limits table). */
  runningJobs: number;
  /** When the retention purge runs (cron, UTC; `ORCHESTRATOR_RETENTION_PURGE_CRON`, default daily 03:00; `off` for never). */
  retentionPurgeCron: string;
  /** Grace periods (soft delete) before an erasure runs. */
  grace: GraceSettings;
  /**
   * The time the law gives to answer an erasure request (GDPR Art. 12(3): one month), exported as
   * `erasure_legal_due_seconds` for the alert on open requests close to it (deploy/alerts.yml).
   */
  legalDueDays: number;
  /** How often the audit chain's head is signed when it moved (orchestrator/audit-heads.ts). */
  auditHeadIntervalMs: number;
  /** The outside sink of signed audit heads: a JSONL file, one signed head a line. */
  auditHeadsFile: string;
  /** Where the orchestrator's public keys are published as a JWKS file. */
  jwksFile: string;
  /** How long backups are kept: a certificate states until when backups may still hold the subject. */
  backupRetentionDays: number;
  /** Notifications by signed webhook (`ORCHESTRATOR_WEBHOOK_*`, orchestrator/webhooks.ts). */
  webhooks: WebhookSettings;
  /**
   * Four-eyes approval (`ORCHESTRATOR_FOUR_EYES`, on by default; `off`/`false` turns it off): a tenant erasure with a
   * grace of zero waits AWAITING_APPROVAL for a second person (orchestrator/approvals.ts). Any erasure
   * may ask for approval with `require_approval`, whatever this says.
   */
  fourEyesTenantAtOnce: boolean;
}

/**
 * Grace periods, in milliseconds. A request without `grace_period` gets the default of its subject
 * kind; an explicit one must lie in [minMs, maxMs], except that services may always ask for zero (the
 * orchestrator's own callers erase at once). A user's grace must also end before the request's due
 * date (received + one month) minus the step retry budget, so the erasure still finishes in time.
 */
export interface GraceSettings {
  tenantDefaultMs: number;
  userDefaultMs: number;
  minMs: number;
  maxMs: number;
}

const DAY_SECONDS = 24 * 3600;

export interface CallerLimits {
  openJobsPerCaller: number;
  watchersPerJob: number;
  watchersPerCaller: number;
}

export function orchestratorConfig(env: Record<string, string | undefined> = process.env): OrchestratorConfig {
  const registry = Object.fromEntries(ALL_SERVICES.map((name) => [name, serviceAddress(name, env)]));
  return {
    registry,
    concurrency: envInt(env, 'ORCHESTRATOR_CONCURRENCY', 12, 1, 64),
    attemptDeadlineMs: envInt(env, 'ORCHESTRATOR_ATTEMPT_DEADLINE_MS', 60_000, 100),
    retry: {
      initialIntervalMs: envInt(env, 'ORCHESTRATOR_BACKOFF_BASE_MS', 250, 1),
      backoffCoefficient: 2,
      maximumIntervalMs: envInt(env, 'ORCHESTRATOR_BACKOFF_MAX_MS', 30_000, 1),
      // 15 minutes: longer than a rolling restart or a database failover, short enough that a service
      // that is really gone fails its step the same day.
      budgetMs: envInt(env, 'ORCHESTRATOR_STEP_RETRY_BUDGET_MS', 15 * 60_000, 1),
      retryableCodes: RETRYABLE_CODES,
    },
    leaseMs: envInt(env, 'ORCHESTRATOR_LEASE_MS', 15_000, 1000),
    limits: {
      openJobsPerCaller: limit('openJobsPerCaller', env),
      watchersPerJob: limit('watchersPerJob', env),
      watchersPerCaller: limit('watchersPerCaller', env),
    },
    stallAfterMs: envInt(env, 'ORCHESTRATOR_STALL_AFTER_MS', 5 * 60_000, 100),
    watchdogIntervalMs: envInt(env, 'ORCHESTRATOR_WATCHDOG_INTERVAL_MS', 10_000, 100),
    runningJobs: limit('runningJobsPerReplica', env),
    retentionPurgeCron: retentionPurgeCron(env),
    legalDueDays: envInt(env, 'ORCHESTRATOR_LEGAL_DUE_DAYS', 30, 1, 365),
    auditHeadIntervalMs: envInt(env, 'ORCHESTRATOR_AUDIT_HEAD_INTERVAL_MS', 60_000, 100),
    auditHeadsFile: env.ORCHESTRATOR_AUDIT_HEADS_FILE || join(dataDir(), 'audit', 'signed-heads.jsonl'),
    jwksFile: env.ORCHESTRATOR_JWKS_FILE || join(dataDir(), 'audit', 'orchestrator-jwks.json'),
    backupRetentionDays: envInt(env, 'ORCHESTRATOR_BACKUP_RETENTION_DAYS', 35, 0, 3650),
    grace: graceSettings(env),
    webhooks: webhookSettings(env),
    fourEyesTenantAtOnce: envBool(env, 'ORCHESTRATOR_FOUR_EYES', true),
  };
}

function graceSettings(env: Record<string, string | undefined>): GraceSettings {
  const maxSeconds = envInt(env, 'ORCHESTRATOR_GRACE_MAX_SECONDS', 90 * DAY_SECONDS, 0);
  const minSeconds = envInt(env, 'ORCHESTRATOR_GRACE_MIN_SECONDS', 0, 0, maxSeconds);
  return {
    // A tenant (a bakery's account) is kept 30 days: enough to notice a mistaken or malicious request.
    tenantDefaultMs: envInt(env, 'ORCHESTRATOR_TENANT_GRACE_SECONDS', 30 * DAY_SECONDS, minSeconds, maxSeconds) * 1000,
    // A user's erasure must be done within one month of receipt (GDPR Art. 12(3)): a week leaves room.
    userDefaultMs: envInt(env, 'ORCHESTRATOR_USER_GRACE_SECONDS', 7 * DAY_SECONDS, minSeconds, maxSeconds) * 1000,
    minMs: minSeconds * 1000,
    maxMs: maxSeconds * 1000,
  };
}

/** `ORCHESTRATOR_RETENTION_PURGE_CRON`: five cron fields (UTC) or `off`; default every day at 03:00 UTC. */
function retentionPurgeCron(env: Record<string, string | undefined>): string {
  const value = (env.ORCHESTRATOR_RETENTION_PURGE_CRON ?? '').trim() || '0 3 * * *';
  if (value !== 'off' && !/^(\S+\s+){4}\S+$/.test(value)) {
    throw new ConfigError(`ORCHESTRATOR_RETENTION_PURGE_CRON must be five cron fields or "off", got ${JSON.stringify(value.slice(0, 64))}`);
  }
  return value;
}
