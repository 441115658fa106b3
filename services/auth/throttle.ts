import { createHash } from 'node:crypto';
import { Metadata, status, type ServiceError } from '@grpc/grpc-js';
import { QueryTypes, type Sequelize } from 'sequelize';
import { RpcError } from '../kit/errors';
import { limit } from '../kit/limits';

/**
 * Login throttling, kept in the auth database (table login_throttle) so that it holds across restarts
 * and replicas. Two counters per attempt: one per account (the e-mail address, whether or not a user
 * has it) and one per source address. Past its allowed failures within the window, a counter makes
 * every further attempt wait: the base delay, doubled with each further failure, up to the maximum
 * delay (a lockout). A successful login clears its account's counter.
 *
 * Keys are hashes, never the address itself: an unknown e-mail belongs to someone who is not a user.
 */
export interface ThrottleSettings {
  accountMaxFailures: number;
  sourceMaxFailures: number;
  windowSeconds: number;
  baseDelaySeconds: number;
  maxDelaySeconds: number;
}

export function throttleSettings(env: Record<string, string | undefined> = process.env): ThrottleSettings {
  return {
    accountMaxFailures: limit('loginAccountMaxFailures', env),
    sourceMaxFailures: limit('loginSourceMaxFailures', env),
    windowSeconds: limit('loginWindow', env),
    baseDelaySeconds: limit('loginBaseDelay', env),
    maxDelaySeconds: limit('loginMaxDelay', env),
  };
}

/** RESOURCE_EXHAUSTED that says when to retry: in the message and as `retry-after` (seconds) trailing metadata. */
export class RetryLaterError extends RpcError {
  constructor(
    message: string,
    readonly retryAfterSeconds: number,
    reason = 'LOGIN_THROTTLED',
  ) {
    super(status.RESOURCE_EXHAUSTED, message, reason);
  }

  override toServiceError(): Partial<ServiceError> {
    const error = super.toServiceError();
    (error.metadata ?? new Metadata()).set('retry-after', String(this.retryAfterSeconds));
    return error;
  }
}

export const accountKey = (email: string) => `account:${createHash('sha256').update(email).digest('base64url')}`;
/** `ipv4:127.0.0.1:5123` → the address without its port; unknown peers share one key. */
export function sourceKey(peer: string | undefined): string {
  const address = (peer ?? '').replace(/^ipv[46]:/, '').replace(/:\d+$/, '').replace(/^\[|\]$/g, '');
  return `source:${createHash('sha256').update(address || 'unknown').digest('base64url')}`;
}

export interface LoginThrottle {
  /** Throws RetryLaterError when either key is waiting. Called before any hashing. */
  check(keys: { account: string; source: string }): Promise<void>;
  /** Counts a failure against both keys (the same statements for a known and an unknown e-mail). */
  fail(keys: { account: string; source: string }): Promise<void>;
  /** Clears the account's counter after a successful login. */
  succeed(keys: { account: string }): Promise<void>;
}

export function loginThrottle(sequelize: Sequelize, settings = throttleSettings()): LoginThrottle {
  return {
    async check({ account, source }) {
      const rows = await sequelize.query<{ wait: number }>(
        `SELECT CAST(ceil(extract(epoch FROM max(locked_until) - now())) AS integer) AS wait
           FROM login_throttle WHERE key IN (:account, :source) AND locked_until > now()`,
        { replacements: { account, source }, type: QueryTypes.SELECT },
      );
      const wait = rows[0]?.wait;
      if (wait !== null && wait !== undefined && wait > 0) {
        throw new RetryLaterError(`too many failed logins; retry in ${wait} s`, wait);
      }
    },

    async fail({ account, source }) {
      // One statement per key: the count restarts after a quiet window; past the allowed failures the
      // wait doubles with each one, up to the maximum. Stale rows of other keys go at the same time.
      const upsert = `
        WITH expired AS (
          DELETE FROM login_throttle
           WHERE window_started_at < now() - make_interval(secs => :window)
             AND (locked_until IS NULL OR locked_until < now()) AND key <> :key
        )
        INSERT INTO login_throttle AS t (id, key, failures, window_started_at, locked_until)
        VALUES (gen_random_uuid(), :key, 1, now(), CASE WHEN 1 >= :max THEN now() + make_interval(secs => :base) END)
        ON CONFLICT (key) DO UPDATE SET
          failures = CASE WHEN t.window_started_at < now() - make_interval(secs => :window) THEN 1 ELSE t.failures + 1 END,
          window_started_at = CASE WHEN t.window_started_at < now() - make_interval(secs => :window) THEN now() ELSE t.window_started_at END,
          locked_until = CASE
            WHEN (CASE WHEN t.window_started_at < now() - make_interval(secs => :window) THEN 1 ELSE t.failures + 1 END) >= :max
            THEN now() + make_interval(secs => least(:maxDelay,
              :base * power(2, least(30, (CASE WHEN t.window_started_at < now() - make_interval(secs => :window) THEN 1 ELSE t.failures + 1 END) - :max))))
          END`;
      const common = { window: settings.windowSeconds, base: settings.baseDelaySeconds, maxDelay: settings.maxDelaySeconds };
      await sequelize.query(upsert, { replacements: { ...common, key: account, max: settings.accountMaxFailures } });
      await sequelize.query(upsert, { replacements: { ...common, key: source, max: settings.sourceMaxFailures } });
    },

    async succeed({ account }) {
      await sequelize.query('DELETE FROM login_throttle WHERE key = :account', { replacements: { account } });
    },
  };
}
