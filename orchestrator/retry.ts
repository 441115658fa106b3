import { status } from '@grpc/grpc-js';
import { sleep } from '../services/kit/sleep';

/**
 * How a failed call is tried again, as data (in the manner of a Temporal retry policy): the n-th
 * retry waits a random time between half and all of
 * min(maximumIntervalMs, initialIntervalMs × backoffCoefficient^(n−1)) — exponential backoff with
 * jitter, so retries of many steps do not arrive together.
 */
export interface RetryPolicy {
  initialIntervalMs: number;
  backoffCoefficient: number;
  maximumIntervalMs: number;
  /** Attempts in all, the first included, before the last error is final. */
  maximumAttempts: number;
  /** gRPC status codes worth another attempt; every other error is the caller's or the data's problem. */
  retryableCodes: ReadonlySet<number>;
}

/** Codes worth another attempt: the callee was away, slow, busy, or lost a race. */
export const RETRYABLE_CODES: ReadonlySet<number> = new Set([status.UNAVAILABLE, status.DEADLINE_EXCEEDED, status.RESOURCE_EXHAUSTED, status.ABORTED]);

/** An error no retry can fix, whatever its code (e.g. a refused ownership transfer). */
export class NonRetryableError extends Error {
  override name = 'NonRetryableError';
}

export function isRetryable(policy: Pick<RetryPolicy, 'retryableCodes'>, error: unknown): boolean {
  if (error instanceof NonRetryableError) return false;
  const code = (error as { code?: unknown } | undefined)?.code;
  return typeof code === 'number' && policy.retryableCodes.has(code);
}

/** The wait before retry number `retry` (1 = the first retry). */
export function retryDelay(policy: RetryPolicy, retry: number, random: () => number = Math.random): number {
  const ceiling = Math.min(policy.maximumIntervalMs, policy.initialIntervalMs * policy.backoffCoefficient ** Math.max(0, retry - 1));
  return Math.round(ceiling / 2 + random() * (ceiling / 2));
}

export interface RetryHooks {
  /** Before each attempt (1-based). */
  onAttempt?(attempt: number): Promise<void> | void;
  /** After a failed attempt that will be retried, before the wait. */
  onRetry?(error: unknown, attempt: number, delayMs: number): Promise<void> | void;
}

/**
 * Runs `call` until it succeeds, fails with an error the policy does not retry, runs out of
 * attempts, or `signal` aborts (during the wait or before an attempt): the last error is thrown
 * then. This is the one place retries happen.
 */
export async function withRetry<T>(policy: RetryPolicy, signal: AbortSignal, call: (attempt: number) => Promise<T>, hooks: RetryHooks = {}): Promise<T> {
  for (let attempt = 1; ; attempt++) {
    await hooks.onAttempt?.(attempt);
    try {
      return await call(attempt);
    } catch (error) {
      if (signal.aborted || !isRetryable(policy, error) || attempt >= policy.maximumAttempts) throw error;
      const delay = retryDelay(policy, attempt);
      await hooks.onRetry?.(error, attempt, delay);
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
