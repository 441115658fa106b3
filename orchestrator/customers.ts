/**
 * Customer subjects in the orchestrator. A customer job must reach the services with the identifier
 * (they match on it), also when it resumes after a crash, yet nothing the orchestrator keeps may hold
 * the raw e-mail or phone for longer than the job runs:
 *
 * - the job's subject is `subject_ref`, the keyed hash of (tenant, identifier kind, normalized value)
 *   under the tombstone keys (orchestrator/tombstones.ts): what the job row, the audit chain, the
 *   certificate, logs and spans name;
 * - the normalized identifier is kept AES-256-GCM encrypted in `subject_sealed`, with a key derived
 *   from the current tombstone key, written with the job (before any work) and wiped by the database
 *   when the job ends (migration 0010's trigger).
 *
 * No tombstone is written and no resurrection sweep runs for a customer: a customer may order again.
 */
import { createCipheriv, createDecipheriv, createHmac, randomBytes } from 'node:crypto';
import type { CustomerKey, CustomerIdentifierKind } from '../services/kit/customers';
import { CUSTOMER_IDENTIFIER_KINDS } from '../services/kit/customers';
import type { TombstoneKey, TombstoneKeys } from './tombstones';

/** What a customer job records in clear besides the hash: the tenant (not personal data) and the kind of identifier. */
export interface CustomerJobOptions {
  tenantId: string;
  identifier: CustomerIdentifierKind;
}

/**
 * The id a customer is hashed by: tenant, kind and normalized value, one string. The value goes in as
 * hex: the tombstone hash lower-cases ids, and a tenant's customer ids may differ only in case.
 */
const hashedId = (key: CustomerKey): string => `${key.tenantId}:${key.identifier}:${Buffer.from(key.value, 'utf8').toString('hex')}`;

export class CustomerSubjects {
  constructor(private readonly keys: TombstoneKeys) {}

  /** The customer's keyed hash under the current key (`erased:k<version>:…`). */
  ref(key: CustomerKey): string {
    return this.keys.ref('customer', hashedId(key));
  }

  /** The customer's hash under every key (a listing finds jobs recorded before a key rotation). */
  refs(key: CustomerKey): string[] {
    return this.keys.refs('customer', hashedId(key));
  }

  /** `k<version>:<base64url iv ‖ tag ‖ ciphertext>` of the key as JSON, under the current key. */
  seal(key: CustomerKey): string {
    const version = this.keys.current;
    const iv = randomBytes(12);
    const cipher = createCipheriv('aes-256-gcm', sealingKey(version), iv);
    const body = Buffer.concat([cipher.update(JSON.stringify(key), 'utf8'), cipher.final()]);
    return `k${version.version}:${Buffer.concat([iv, cipher.getAuthTag(), body]).toString('base64url')}`;
  }

  /** The key back from `seal`; throws when the key version is no longer listed or the text was altered. */
  open(sealed: string): CustomerKey {
    const match = /^k(\d+):([A-Za-z0-9_-]+)$/.exec(sealed);
    const version = match && this.keys.keys.find((k) => k.version === Number(match[1]));
    if (!match || !version) throw new Error('the sealed customer identifier names no listed key version');
    const raw = Buffer.from(match[2]!, 'base64url');
    const decipher = createDecipheriv('aes-256-gcm', sealingKey(version), raw.subarray(0, 12));
    decipher.setAuthTag(raw.subarray(12, 28));
    const key = JSON.parse(Buffer.concat([decipher.update(raw.subarray(28)), decipher.final()]).toString('utf8')) as CustomerKey;
    if (!CUSTOMER_IDENTIFIER_KINDS.includes(key.identifier)) throw new Error('the sealed customer identifier is malformed');
    return key;
  }
}

/** A key of its own per purpose, derived from the tombstone key: the hashes and the seal never share one. */
function sealingKey(key: TombstoneKey): Buffer {
  return createHmac('sha256', key.secret).update('customer-subject-seal').digest();
}
