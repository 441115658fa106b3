import type { Duration } from '../gen/google/protobuf/duration';
import type { Principal } from '../services/kit/auth';
import { failedPrecondition, invalidArgument } from '../services/kit/errors';
import type { GraceSettings } from './config';
import type { SubjectKind } from './steps';
import { oneMonthAfter } from './store';

/** When a request was received, when it is due, and when its grace ends (undefined: at once). */
export interface GraceSchedule {
  receivedAt: Date;
  dueAt: Date;
  purgeAt?: Date;
}

const DAY_MS = 24 * 3600_000;

/** A grace period of `ms` milliseconds as the request field. */
export const graceDuration = (ms: number): Duration => ({ seconds: String(Math.floor(ms / 1000)), nanos: (ms % 1000) * 1e6 });
/** An explicit zero grace: the erasure runs at once (what callers that do not mean a grace pass). */
export const AT_ONCE: Duration = graceDuration(0);

const UNIT_MS: Record<string, number> = { ms: 1, s: 1000, m: 60_000, h: 3600_000, d: DAY_MS };
/** `30d`, `12h`, `90m`, `45s`, `0` as milliseconds; undefined for anything else. */
export function parseGrace(text: string): number | undefined {
  if (text === '0') return 0;
  const match = /^(\d+)(ms|s|m|h|d)$/.exec(text);
  return match ? Number(match[1]) * UNIT_MS[match[2]!]! : undefined;
}
const describe = (ms: number) => (ms % DAY_MS === 0 ? `${ms / DAY_MS} days` : `${ms / 1000} s`);

/** A Duration (the request field `field`) as milliseconds; INVALID_ARGUMENT for a negative or malformed one. */
export function durationMs(duration: Duration, field = 'grace_period'): number {
  const seconds = Number(duration.seconds);
  if (!Number.isSafeInteger(seconds) || !Number.isInteger(duration.nanos) || Math.abs(duration.nanos) > 999_999_999) {
    throw invalidArgument(`${field} is not a valid duration`);
  }
  if (seconds < 0 || duration.nanos < 0) throw invalidArgument(`${field} must not be negative`);
  return seconds * 1000 + Math.floor(duration.nanos / 1e6);
}

/**
 * The schedule of a DeleteTenant/DeleteUser request, checked before anything is recorded: the grace
 * (absent: the default of the subject kind; explicit: within the operator's range, zero always allowed
 * for services), the time it was received (never in the future), its due date (one month later), and for
 * a user a grace that ends no later than the due date minus the step retry budget.
 */
export function graceSchedule(
  input: { gracePeriod?: Duration; receivedTime?: Date },
  kind: SubjectKind,
  principal: Principal,
  settings: GraceSettings,
  retryBudgetMs: number,
  now = new Date(),
): GraceSchedule {
  const receivedAt = input.receivedTime ?? now;
  if (Number.isNaN(receivedAt.getTime())) throw invalidArgument('received_time is not a valid time');
  if (receivedAt.getTime() > now.getTime()) throw invalidArgument('received_time must not be in the future');
  const dueAt = oneMonthAfter(receivedAt);
  if (dueAt.getTime() <= now.getTime()) throw invalidArgument('received_time is more than one month ago: the request is already past its due date');

  let graceMs: number;
  if (input.gracePeriod === undefined) graceMs = kind === 'tenant' ? settings.tenantDefaultMs : settings.userDefaultMs;
  else {
    graceMs = durationMs(input.gracePeriod);
    const zeroForService = graceMs === 0 && principal.kind === 'service';
    if (!zeroForService && (graceMs < settings.minMs || graceMs > settings.maxMs)) {
      throw invalidArgument(`grace_period must be between ${describe(settings.minMs)} and ${describe(settings.maxMs)}`, 'GRACE_PERIOD_OUT_OF_RANGE');
    }
  }
  if (graceMs === 0) return { receivedAt, dueAt };
  const purgeAt = new Date(now.getTime() + graceMs);
  const latest = dueAt.getTime() - retryBudgetMs;
  if (kind === 'user' && purgeAt.getTime() > latest) {
    throw failedPrecondition(
      `grace_period would end at ${purgeAt.toISOString()}, later than the request's due date ${dueAt.toISOString()} minus the step retry budget (${describe(retryBudgetMs)}); choose a grace ending by ${new Date(latest).toISOString()}`,
      'GRACE_ENDS_AFTER_DUE_DATE',
    );
  }
  return { receivedAt, dueAt, purgeAt };
}
