/**
 * Customer subjects: a bakery's own customer, named by the tenant and exactly one identifier. The one
 * place where an identifier is normalized (used by the services and by the orchestrator) and where the
 * SQL spelling of the same normalization lives (used for matching and for the indexes that serve it),
 * so the two cannot drift apart.
 *
 * Errors name the field and the rule that failed, never the value (services/kit/validation.ts).
 */
import type { CustomerSubject } from '../../gen/bakery/erasure/v1/tenant_data_deletion';
import { invalidArgument, requireUuid } from './errors';
import { TEXT, safeHint } from './validation';

/** How a customer is identified. */
export type CustomerIdentifierKind = 'email' | 'phone' | 'customer_id';
export const CUSTOMER_IDENTIFIER_KINDS: readonly CustomerIdentifierKind[] = ['email', 'phone', 'customer_id'];

/** A customer subject, normalized. `value` is personal data: never log, trace or store it in clear. */
export interface CustomerKey {
  tenantId: string;
  identifier: CustomerIdentifierKind;
  value: string;
}

/** An e-mail address as matched: trimmed, lower-cased; INVALID_ARGUMENT unless it has one `@` between non-empty parts. */
export function normalizeEmail(raw: string, field = 'email'): string {
  const value = raw.trim().toLowerCase();
  if (!value) throw invalidArgument(`${field} is required`);
  if (value.length > TEXT.email.max) throw invalidArgument(`${field} must be at most ${TEXT.email.max} characters, got ${safeHint(value)}`);
  if (!/^[^@\s]+@[^@\s]+$/.test(value)) throw invalidArgument(`${field} must be an e-mail address (one "@" between non-empty parts, no spaces), got ${safeHint(value.replace(/@/g, ''))}`);
  return value;
}

/** Characters a phone number may be written with that matching ignores. */
const PHONE_SEPARATORS = /[\s().-]/g;

/** A phone number in E.164: `+` and 8–15 digits once spaces, dashes, dots and parentheses are removed. */
export function normalizePhone(raw: string, field = 'phone'): string {
  const value = raw.replace(PHONE_SEPARATORS, '');
  if (!value) throw invalidArgument(`${field} is required`);
  if (!/^\+[0-9]{8,15}$/.test(value)) {
    throw invalidArgument(`${field} must be in E.164 form: "+" and 8 to 15 digits (spaces, dashes, dots and parentheses are ignored), got a ${value.length}-character value`);
  }
  return value;
}

/** The tenant's own customer id, trimmed; at most 128 printable characters. */
export function normalizeCustomerId(raw: string, field = 'customer_id'): string {
  const value = raw.trim();
  if (!value) throw invalidArgument(`${field} is required`);
  if (value.length > 128 || /[\u0000-\u001f\u007f]/.test(value)) throw invalidArgument(`${field} must be 1–128 printable characters, got ${safeHint(value)}`);
  return value;
}

/** Validates and normalizes a CustomerSubject; INVALID_ARGUMENT naming the field, never the value. */
export function parseCustomerSubject(message: CustomerSubject | undefined, field = 'customer'): CustomerKey {
  if (!message) throw invalidArgument(`${field} is required: set ${field}.tenant_id and one of ${field}.email, ${field}.phone, ${field}.customer_id`);
  const tenantId = requireUuid(message.tenantId, `${field}.tenant_id`);
  const given = [message.email, message.phone, message.customerId].filter((v) => v !== undefined).length;
  if (given !== 1) throw invalidArgument(`${field} needs exactly one of email, phone, customer_id`);
  if (message.email !== undefined) return { tenantId, identifier: 'email', value: normalizeEmail(message.email, `${field}.email`) };
  if (message.phone !== undefined) return { tenantId, identifier: 'phone', value: normalizePhone(message.phone, `${field}.phone`) };
  return { tenantId, identifier: 'customer_id', value: normalizeCustomerId(message.customerId!, `${field}.customer_id`) };
}

/** The contract's message for a normalized key. */
export function customerMessage(key: CustomerKey): CustomerSubject {
  return {
    tenantId: key.tenantId,
    ...(key.identifier === 'email' && { email: key.value }),
    ...(key.identifier === 'phone' && { phone: key.value }),
    ...(key.identifier === 'customer_id' && { customerId: key.value }),
  };
}

/**
 * The statement parameter that names a customer to the kit's SQL: `$1::text[]` = {tenant id,
 * normalized value} (services/kit/deletion/plan.ts `customerScope`).
 */
export function customerParam(key: CustomerKey): string[] {
  return [key.tenantId, key.value];
}

/**
 * The SQL form of each normalization, applied to a column: what a row's identifier is compared by.
 * The same expressions are indexed (models.ts), so a match is one index probe. E-mail: btrim is the
 * SQL trim of spaces (JavaScript's trim also drops other white space; the kit stores nothing else).
 */
export function normalizedColumnSql(identifier: CustomerIdentifierKind, column: string): string {
  if (identifier === 'email') return `lower(btrim(${column}))`;
  if (identifier === 'phone') return `regexp_replace(${column}, '[[:space:]().-]', '', 'g')`;
  return `btrim(${column}::text)`;
}

/** Column names that mark a column as identifying a customer: such a column needs a customer rule (catalog.ts). */
export const identifiesCustomer = (column: string): boolean => /(^|_)(email|phone)$/.test(column);
