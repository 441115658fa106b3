import { envInt, serviceAddress } from '../services/kit/config';

/** The services the orchestrator drives, by phase (DESIGN §5): domain services first, identity last. */
export const DOMAIN_SERVICES = [
  'orders',
  'inventory',
  'recipes',
  'production',
  'sales',
  'suppliers',
  'pos',
  'external',
  'forecasting',
  'training',
  'notification',
  'alert-processor',
] as const;
export const IDENTITY_SERVICES = ['tenant', 'auth'] as const;
export const ALL_SERVICES = [...DOMAIN_SERVICES, ...IDENTITY_SERVICES];

export interface OrchestratorConfig {
  /** Service name → host:port (`<NAME>_ADDR`, default map of DESIGN §2). */
  registry: Record<string, string>;
  /** Domain services erased at once. */
  concurrency: number;
  /** Deadline of one attempt of a step (the product's specification: 60 s). */
  attemptDeadlineMs: number;
  /** Attempts per step before it fails for good (retryable errors only). */
  maxAttempts: number;
  /** Backoff: base delay, doubled per attempt with full jitter, capped. */
  backoffBaseMs: number;
  backoffMaxMs: number;
  /** How long a runner's claim on a job lasts without a heartbeat. */
  leaseMs: number;
}

export function orchestratorConfig(env: Record<string, string | undefined> = process.env): OrchestratorConfig {
  const registry = Object.fromEntries(ALL_SERVICES.map((name) => [name, serviceAddress(name, env)]));
  const leaseMs = envInt(env, 'ORCHESTRATOR_LEASE_MS', 15_000, 1000);
  return {
    registry,
    concurrency: envInt(env, 'ORCHESTRATOR_CONCURRENCY', 12, 1, 64),
    attemptDeadlineMs: envInt(env, 'ORCHESTRATOR_ATTEMPT_DEADLINE_MS', 60_000, 100),
    maxAttempts: envInt(env, 'ORCHESTRATOR_MAX_ATTEMPTS', 6, 1, 1000),
    backoffBaseMs: envInt(env, 'ORCHESTRATOR_BACKOFF_BASE_MS', 250, 1),
    backoffMaxMs: envInt(env, 'ORCHESTRATOR_BACKOFF_MAX_MS', 5_000, 1),
    leaseMs,
  };
}
