import { createHmac, randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname } from 'node:path';
import type { Pool } from 'pg';
import { failedPrecondition } from '../kit/errors';
import { dataDir } from '../kit/paths';

/**
 * Whether a tenant or a user has been erased (the tombstone registry, asked through
 * services/kit/tombstone-client.ts; tests give one backed by a real table). The tenant service asks it
 * before it writes an id that came from a caller, so no RPC can bring an erased id back.
 */
export type IsErased = (kind: 'tenant' | 'user', id: string) => Promise<boolean>;

/**
 * FAILED_PRECONDITION when `id` names an erased subject. The message names the field, never the id:
 * an erased user's id must not reappear in this service's logs.
 */
export async function refuseErased(isErased: IsErased | undefined, kind: 'tenant' | 'user', id: string, field: string): Promise<void> {
  if (isErased && (await isErased(kind, id))) {
    throw failedPrecondition(`${field} names an erased ${kind}; an erased id cannot be used again`, 'SUBJECT_ERASED');
  }
}

/**
 * The key of the pseudonyms that replace an erased user's id in outbox payloads:
 * `ERASURE_PSEUDONYM_KEY` (at least 32 characters, the same for every replica), or for local
 * development one generated once under the data folder (0600).
 */
export function pseudonymKey(env: Record<string, string | undefined> = process.env): Buffer {
  const configured = env.ERASURE_PSEUDONYM_KEY;
  if (configured !== undefined && configured !== '') {
    if (configured.length < 32) throw new Error('ERASURE_PSEUDONYM_KEY must be at least 32 characters long');
    return Buffer.from(configured);
  }
  const file = `${dataDir()}/pseudonym-key`;
  if (!existsSync(file)) {
    mkdirSync(dirname(file), { recursive: true, mode: 0o700 });
    try {
      writeFileSync(file, randomBytes(48).toString('base64url'), { flag: 'wx', mode: 0o600 });
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error;
    }
  }
  return Buffer.from(readFileSync(file, 'utf8').trim());
}

/**
 * `erased:v1:<keyed hash>`: the same user gives the same pseudonym (events about one person can still
 * be related), but the id cannot be recovered or confirmed without the key.
 */
export function pseudonym(key: Buffer, kind: 'tenant' | 'user', id: string): string {
  return `erased:v1:${createHmac('sha256', key).update(`${kind}:${id.toLowerCase()}`).digest('base64url')}`;
}

/**
 * Replaces every top-level payload value equal to the user's id with its pseudonym, in SQL (no event
 * is loaded into memory). Run when the user is erased, so events written before the erasure keep no
 * raw id of them.
 */
export async function pseudonymizeOutbox(pool: Pool, key: Buffer, userId: string): Promise<number> {
  const { rowCount } = await pool.query(
    `UPDATE outbox_events
        SET payload = (SELECT jsonb_object_agg(k, CASE WHEN v = to_jsonb($1::text) THEN to_jsonb($2::text) ELSE v END)
                         FROM jsonb_each(payload) AS e(k, v))
      WHERE EXISTS (SELECT 1 FROM jsonb_each_text(payload) AS e(k, v) WHERE v = $1::text)`,
    [userId.toLowerCase(), pseudonym(key, 'user', userId)],
  );
  return rowCount ?? 0;
}
