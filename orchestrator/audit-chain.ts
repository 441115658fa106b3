import { createHash } from 'node:crypto';
import type { Pool, PoolClient } from 'pg';
import { canonicalJson } from '../services/kit/canonical-json';
import { withTransaction } from '../services/kit/transactions';
import type { SubjectKind } from './steps';
import type { TombstoneKeys } from './tombstones';

/**
 * The tamper-evident audit chain (table erasure_audit_log, migration 0005). Every lifecycle event is
 * one entry; each entry's hash covers its own fields and the hash of the entry before, so changing,
 * removing or inserting an entry breaks every link after it. Appends lock the one-row head table
 * (erasure_audit_head) FOR UPDATE in the transaction that records the event: replicas append one at a
 * time, in the order they commit, and the chain never forks. Subjects are keyed hashes
 * (orchestrator/tombstones.ts), never ids; details carry no personal data.
 *
 * Signed heads (orchestrator/audit-heads.ts) pin the chain from outside the database.
 */

/** The `prev_hash` of the first entry. */
export const GENESIS_HASH = '0'.repeat(64);

export interface AuditEvent {
  /** What happened, e.g. `job.completed`, `step.succeeded`, `certificate.issued`, `retention.purged`. */
  kind: string;
  jobId?: string | null;
  /** The subject as its keyed hash (`erased:k<version>:…`). */
  subjectRef?: string | null;
  /** Identifiers, counts, statuses only: never a raw subject id, e-mail or free text a caller wrote. */
  details?: Record<string, unknown>;
}

export interface AuditEntry {
  seq: number;
  /** ISO 8601, milliseconds, UTC. */
  at: string;
  kind: string;
  job_id: string | null;
  subject_ref: string | null;
  key_version: number | null;
  details: Record<string, unknown>;
  prev_hash: string;
  hash: string;
}

/** The entry's hash: SHA-256 (hex) of the canonical JSON of every field but the hash itself. */
export function entryHash(entry: Omit<AuditEntry, 'hash'>): string {
  const { seq, at, kind, job_id, subject_ref, key_version, details, prev_hash } = entry;
  return createHash('sha256').update(canonicalJson({ seq, at, kind, job_id, subject_ref, key_version, details, prev_hash })).digest('hex');
}

/** The key version a ref was written under (`erased:k3:…` → 3). */
export function refKeyVersion(ref: string | null | undefined): number | null {
  const match = /^[a-z]+:k(\d+):/.exec(ref ?? '');
  return match ? Number(match[1]) : null;
}

/**
 * The head as a transaction that holds it locked reads it (it appended earlier in the same
 * transaction, so the FOR UPDATE lock is its own until the commit): the next append there can skip
 * reading and locking it again. `at` is the time the next entries get (same format as the head's read).
 */
export interface LockedHead {
  seq: number | string;
  hash: string;
  at: string;
}

export class AuditChain {
  constructor(
    private readonly pool: Pool,
    readonly keys: TombstoneKeys,
  ) {}

  /** A subject as the chain names it: its keyed hash (an id that is already one is kept as it is). */
  subjectRef(kind: SubjectKind, idOrRef: string): string {
    return idOrRef.startsWith('erased:') ? idOrRef : this.keys.ref(kind, idOrRef);
  }

  /**
   * Appends an entry inside the caller's transaction. Call it last in the transaction: the head stays
   * locked until the commit, which is what serializes appends.
   */
  async append(client: PoolClient, event: AuditEvent, locked?: LockedHead): Promise<AuditEntry> {
    return (await this.appendMany(client, [event], locked)).at(-1)!;
  }

  /**
   * Appends several entries, in order, inside the caller's transaction, with one head lock and one
   * INSERT: a batch of events (steps of concurrent jobs ending together) costs one turn at the head.
   * Same rule as `append`: call it last in the transaction.
   */
  async appendMany(client: PoolClient, events: readonly AuditEvent[], locked?: LockedHead): Promise<AuditEntry[]> {
    if (!events.length) return [];
    // Named statements: parsed once per connection, they are run with every status change.
    const head =
      locked ??
      (
        await client.query<{ seq: string; hash: string; at: string }>({
          name: 'erasure-audit-head',
          text: `SELECT seq, hash, to_char(clock_timestamp() AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"') AS at
               FROM erasure_audit_head FOR UPDATE`,
        })
      ).rows[0]!;
    const entries: AuditEntry[] = [];
    let seq = Number(head.seq);
    let prev = head.hash;
    for (const event of events) {
      const unhashed = {
        seq: ++seq,
        at: head.at,
        kind: event.kind,
        job_id: event.jobId ?? null,
        subject_ref: event.subjectRef ?? null,
        key_version: refKeyVersion(event.subjectRef),
        // Stored as JSONB and hashed as read back: the round trip must not change it.
        details: JSON.parse(canonicalJson(event.details ?? {})) as Record<string, unknown>,
        prev_hash: prev,
      };
      const entry: AuditEntry = { ...unhashed, hash: entryHash(unhashed) };
      entries.push(entry);
      prev = entry.hash;
    }
    const column = <K extends keyof AuditEntry>(key: K) => entries.map((entry) => entry[key]);
    await client.query({
      name: 'erasure-audit-append',
      text: `WITH appended AS (
               INSERT INTO erasure_audit_log (seq, at, kind, job_id, subject_ref, key_version, details, prev_hash, hash)
               SELECT * FROM unnest($1::bigint[], $2::timestamptz[], $3::text[], $4::uuid[], $5::text[], $6::int[], $7::jsonb[], $8::text[], $9::text[])
             )
             UPDATE erasure_audit_head SET seq = $10, hash = $11`,
      values: [column('seq'), column('at'), column('kind'), column('job_id'), column('subject_ref'), column('key_version'), column('details').map((d) => JSON.stringify(d)), column('prev_hash'), column('hash'), seq, prev],
    });
    return entries;
  }

  /**
   * Appends an event in a transaction of its own: for events that are not a job's state change
   * (a retention purge, a resurrection swept). Subject, when given, is hashed here.
   */
  appendAuditEvent(kind: string, details: Record<string, unknown> = {}, options: { jobId?: string; subject?: { kind: SubjectKind; id: string } } = {}): Promise<AuditEntry> {
    const subjectRef = options.subject ? this.subjectRef(options.subject.kind, options.subject.id) : null;
    return withTransaction(this.pool, (client) => this.append(client, { kind, jobId: options.jobId, subjectRef, details }));
  }
}

/** One page of the chain after `afterSeq`, in order. */
export async function readEntries(db: Pool | PoolClient, afterSeq: number, limit = 1000): Promise<AuditEntry[]> {
  const { rows } = await db.query<Omit<AuditEntry, 'seq' | 'at'> & { seq: string; at: Date }>(
    `SELECT seq, at, kind, job_id, subject_ref, key_version, details, prev_hash, hash
       FROM erasure_audit_log WHERE seq > $1 ORDER BY seq LIMIT $2`,
    [afterSeq, limit],
  );
  return rows.map((row) => ({ ...row, seq: Number(row.seq), at: row.at.toISOString() }));
}
