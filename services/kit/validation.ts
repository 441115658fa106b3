import { invalidArgument } from './errors';

/**
 * Input checks shared by every service. A refusal names the field and what was wrong, never the raw
 * value: a caller's input may be personal data (an e-mail sent as a user id) and errors end up in logs.
 * What an error may say about a value is `safeHint(value)`: its length and its shape, nothing of it.
 */

/** A short description of a value that repeats none of it, e.g. "a 23-character value that looks like an e-mail address". */
export function safeHint(value: unknown): string {
  if (typeof value !== 'string') return `a value of type ${typeof value}`;
  if (value === '') return 'an empty value';
  const shape = value.includes('@')
    ? ' that looks like an e-mail address'
    : /[\u0000-\u001f\u007f]/.test(value)
      ? ' with control characters'
      : /^\s|\s$/.test(value)
        ? ' with surrounding spaces'
        : '';
  return `a ${value.length}-character value${shape}`;
}

export interface TextLimits {
  /** Longest accepted value, in characters (after trimming when `trim`). */
  max: number;
  /** Shortest accepted value (default 1: required). 0 accepts the empty string. */
  min?: number;
  /** Trim surrounding white space first (default true). */
  trim?: boolean;
}

/** A string field within its length limits (trimmed unless `trim: false`); INVALID_ARGUMENT otherwise. */
export function requireText(value: string | undefined, field: string, limits: TextLimits): string {
  const text = limits.trim === false ? (value ?? '') : (value ?? '').trim();
  const min = limits.min ?? 1;
  if (text.length < min) throw invalidArgument(min === 1 ? `${field} is required` : `${field} must be at least ${min} characters long`);
  if (text.length > limits.max) throw invalidArgument(`${field} must be at most ${limits.max} characters, got ${safeHint(text)}`);
  return text;
}

/**
 * An enum field (ts-proto's numeric enums) that holds one of `allowed`. A number the schema does not
 * know (proto3 keeps unknown enum values) or an unspecified one is INVALID_ARGUMENT; the message lists
 * the accepted names.
 */
export function requireEnum<E extends number>(value: number, enumObject: Record<string | number, string | number>, field: string, allowed?: readonly E[]): E {
  const accepted = (allowed ?? (Object.values(enumObject).filter((v): v is number => typeof v === 'number' && v !== 0) as E[])) as readonly number[];
  if (!Number.isInteger(value) || !accepted.includes(value)) {
    const names = accepted.map((v) => enumObject[v]).join(', ');
    throw invalidArgument(`${field} must be one of ${names}, got ${Number.isInteger(value) && value >= 0 && value < 1e6 ? value : 'an out-of-range number'}`);
  }
  return value as E;
}

/** Common caps, one place: a name shown to people, a free-text reason, an e-mail address (RFC 5321). */
export const TEXT = {
  name: { max: 200 },
  reason: { max: 1000 },
  email: { max: 254 },
  fullName: { max: 200 },
  plan: { max: 32 },
  pageToken: { max: 512, min: 0, trim: false },
  requestId: { max: 128 },
} as const satisfies Record<string, TextLimits>;
