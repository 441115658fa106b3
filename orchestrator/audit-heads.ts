import { appendFileSync, mkdirSync } from 'node:fs';
import { dirname } from 'node:path';
import { CompactSign } from 'jose';
import type { Logger } from 'pino';
import type { Pool, PoolClient } from 'pg';
import { canonicalJson } from '../services/kit/canonical-json';
import { TOKEN_ALGORITHM, type SigningKey } from '../services/kit/keys';
import { withTransaction } from '../services/kit/transactions';
import type { LockedHead } from './audit-chain';

/** The JWS `typ` of a signed audit head, and the payload's `typ`. */
export const AUDIT_HEAD_TYPE = 'erasure-audit-head';

/** A signed head: the chain's last entry (seq, hash) at a time, signed with the orchestrator's key. */
export interface SignedHead {
  seq: number;
  hash: string;
  signed_at: string;
  kid: string;
  /** Compact JWS over the canonical JSON of `{ typ, seq, hash, signed_at }`. */
  jws: string;
}

/**
 * Signs the audit chain's head (orchestrator/audit-chain.ts): periodically, when the chain has grown,
 * and for each deletion certificate (which carries the head it was issued under). Each signed head is
 * stored in erasure_audit_signed_heads and appended as one JSON line to the outside sink (a file the
 * operator may put on other storage): whoever rewrites the database cannot rewrite those.
 */
export class AuditHeads {
  private timer?: NodeJS.Timeout;
  private running?: Promise<unknown>;

  constructor(
    private readonly pool: Pool,
    private readonly signer: SigningKey,
    /** The outside sink: a JSONL file (ORCHESTRATOR_AUDIT_HEADS_FILE). */
    readonly sinkFile: string,
    private readonly log: Logger,
  ) {}

  /**
   * Signs the head as the caller's transaction sees it and records it there (once per seq: a head
   * another replica signed first is returned instead). `recorded` is true when this call recorded it:
   * the caller writes it out with `export` after the commit.
   */
  async signWithin(client: PoolClient): Promise<{ head: SignedHead; recorded: boolean } | undefined> {
    const { rows } = await client.query<{ seq: string; hash: string; at: string }>(
      `SELECT seq, hash, to_char(clock_timestamp() AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"') AS at FROM erasure_audit_head`,
    );
    const head = rows[0]!;
    if (Number(head.seq) === 0) return undefined;
    const existing = await client.query<{ seq: string; hash: string; signed_at: Date; kid: string; jws: string }>(
      'SELECT seq, hash, signed_at, kid, jws FROM erasure_audit_signed_heads WHERE seq = $1',
      [Number(head.seq)],
    );
    if (existing.rows[0]) return { head: toSignedHead(existing.rows[0]), recorded: false };
    return this.record(client, head);
  }

  /**
   * Signs and records the head the caller's transaction has just moved by appending (it holds it
   * locked), as the append returned it, dated when the entries were. Nothing else can have signed a
   * seq that is not committed yet, so the head is neither read again nor looked for among the signed.
   */
  signAppended(client: PoolClient, appended: LockedHead): Promise<{ head: SignedHead; recorded: boolean }> {
    return this.record(client, appended);
  }

  private async record(client: PoolClient, head: LockedHead): Promise<{ head: SignedHead; recorded: boolean }> {
    const seq = Number(head.seq);
    const payload = { typ: AUDIT_HEAD_TYPE, seq, hash: head.hash, signed_at: head.at };
    const jws = await new CompactSign(new TextEncoder().encode(canonicalJson(payload)))
      .setProtectedHeader({ alg: TOKEN_ALGORITHM, kid: this.signer.kid, typ: AUDIT_HEAD_TYPE })
      .sign(this.signer.key);
    const signed: SignedHead = { seq, hash: payload.hash, signed_at: payload.signed_at, kid: this.signer.kid, jws };
    const inserted = await client.query(
      `INSERT INTO erasure_audit_signed_heads (seq, hash, signed_at, kid, jws) VALUES ($1, $2, $3, $4, $5) ON CONFLICT (seq) DO NOTHING`,
      [signed.seq, signed.hash, signed.signed_at, signed.kid, signed.jws],
    );
    return { head: signed, recorded: inserted.rowCount === 1 };
  }

  /** Appends a signed head to the outside sink (one JSON line). */
  export(head: SignedHead): void {
    mkdirSync(dirname(this.sinkFile), { recursive: true, mode: 0o700 });
    appendFileSync(this.sinkFile, `${JSON.stringify(head)}\n`, { mode: 0o600 });
  }

  /** Signs the current head unless it is signed already, records it and writes it out. */
  async signNow(): Promise<SignedHead | undefined> {
    const signed = await withTransaction(this.pool, (client) => this.signWithin(client));
    if (signed?.recorded) this.export(signed.head);
    return signed?.head;
  }

  /** Signs the head every `intervalMs` (when it moved). */
  start(intervalMs: number): void {
    this.timer = setInterval(() => {
      if (this.running) return;
      this.running = this.signNow()
        .catch((error) => this.log.warn({ err: error }, 'could not sign the audit head; next try at the next interval'))
        .finally(() => (this.running = undefined));
    }, intervalMs);
    this.timer.unref();
  }

  async stop(): Promise<void> {
    clearInterval(this.timer);
    await this.running;
  }
}

export function toSignedHead(row: { seq: string | number; hash: string; signed_at: Date | string; kid: string; jws: string }): SignedHead {
  return {
    seq: Number(row.seq),
    hash: row.hash,
    signed_at: row.signed_at instanceof Date ? row.signed_at.toISOString() : row.signed_at,
    kid: row.kid,
    jws: row.jws,
  };
}
