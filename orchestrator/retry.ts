import { status } from '@grpc/grpc-js';
import { isDatabaseUnavailable } from '../services/kit/pg-errors';
import { sleep } from '../services/kit/sleep';

/**
 * How a failed call is tried again, as data (in the manner of a Temporal retry policy): the n-th
 * retry waits a random time between half and all of
 * min(maximumIntervalMs, initialIntervalMs × backoffCoefficient^(n−1)) — exponential backoff with
 * jitter, so retries of many steps do not arrive together. Retries are bounded by time, not by count:
 * a service away for a rolling restart (tens of seconds) or a database failing over must not fail a
 * legally required erasure, so only a non-retryable error or an exhausted budget is final.
 */
export interface RetryPolicy {
  initialIntervalMs: number;
  backoffCoefficient: number;
  maximumIntervalMs: number;
  /** How long, from the first attempt, retryable errors are retried; no retry starts after it. */
  budgetMs: number;
  /** gRPC status codes worth another attempt; every other error is the caller's or the data's problem. */
  retryableCodes: ReadonlySet<number>;
}

/** Codes worth another attempt: the callee was away, slow, busy, or lost a race. */
export const RETRYABLE_CODES: ReadonlySet<number> = new Set([status.UNAVAILABLE, status.DEADLINE_EXCEEDED, status.RESOURCE_EXHAUSTED, status.ABORTED]);

/** An error no retry can fix, whatever its code (e.g. a refused ownership transfer). */
export class NonRetryableError extends Error {
  override name = 'NonRetryableError';
}

/** The retry budget ran out: says how many attempts were made over how long, and the last error. */
export class RetriesExhausted extends Error {
  override name = 'RetriesExhausted';
  constructor(
    readonly attempts: number,
    readonly elapsedMs: number,
    readonly lastError: unknown,
  ) {
    super(`gave up after ${attempts} attempts over ${(elapsedMs / 1000).toFixed(1)} s (retry budget spent): ${describeError(lastError)}`);
  }
}

/** Retryable: a code the policy names, or the orchestrator's own database being away. */
export function isRetryable(policy: Pick<RetryPolicy, 'retryableCodes'>, error: unknown): boolean {
  if (error instanceof NonRetryableError || error instanceof RetriesExhausted) return false;
  const code = (error as { code?: unknown } | undefined)?.code;
  if (typeof code === 'number') return policy.retryableCodes.has(code);
  return isDatabaseUnavailable(error);
}

/** The wait before retry number `retry` (1 = the first retry). */
export function retryDelay(policy: Pick<RetryPolicy, 'initialIntervalMs' | 'backoffCoefficient' | 'maximumIntervalMs'>, retry: number, random: () => number = Math.random): number {
  const ceiling = Math.min(policy.maximumIntervalMs, policy.initialIntervalMs * policy.backoffCoefficient ** Math.max(0, retry - 1));
  return Math.round(ceiling / 2 + random() * (ceiling / 2));
}

export interface RetryHooks {
  /** Before each attempt (1-based). A failure here counts as the attempt's failure. */
  onAttempt?(attempt: number): Promise<void> | void;
  /** After a failed attempt that will be retried, before the wait; `nextAttemptAt` is when the next one is due. */
  onRetry?(error: unknown, attempt: number, delayMs: number, nextAttemptAt: Date): Promise<void> | void;
}

export interface RetryClock {
  now(): number;
  random(): number;
}

const systemClock: RetryClock = { now: Date.now, random: Math.random };

/**
 * Runs `call` until it succeeds, fails with an error the policy does not retry (thrown as is), or the
 * budget is spent (RetriesExhausted: a retry whose wait would end past the budget is not made), or
 * `signal` aborts (during the wait or before an attempt: the last error is thrown). This is the one
 * place retries happen.
 */
export async function withRetry<T>(
  policy: RetryPolicy,
  signal: AbortSignal,
  call: (attempt: number) => Promise<T>,
  hooks: RetryHooks = {},
  clock: RetryClock = systemClock,
): Promise<T> {
  const started = clock.now();
  for (let attempt = 1; ; attempt++) {
    try {
      await hooks.onAttempt?.(attempt);
      return await call(attempt);
    } catch (error) {
      if (signal.aborted || !isRetryable(policy, error)) throw error;
      const delay = retryDelay(policy, attempt, clock.random);
      const elapsed = clock.now() - started;
      if (elapsed + delay > policy.budgetMs) throw new RetriesExhausted(attempt, elapsed, error);
      // A hook that cannot record the retry (e.g. the database is away) does not stop the retry.
      await Promise.resolve(hooks.onRetry?.(error, attempt, delay, new Date(clock.now() + delay))).catch(() => undefined);
      await sleep(delay, signal);
      if (signal.aborted) throw error;
    }
  }
}

/** A gRPC error as `CODE: details`, other errors by their message. */
export function describeError(error: unknown): string {
  const e = error as { code?: number; details?: string; message?: string } | undefined;
  if (typeof e?.code === 'number' && e.code in status) return `${status[e.code]}: ${e.details || e.message}`;
  return e?.message ?? String(error);
}
