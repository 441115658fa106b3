import type { Pool, PoolClient } from 'pg';
import { GENESIS_HASH, entryHash, readEntries } from './audit-chain';
import { AUDIT_HEAD_TYPE, toSignedHead, type SignedHead } from './audit-heads';
import { verifySigned, type Jwks } from './certificates';

/** Where a signed head to check came from: the database's table, or kept outside it. */
export interface HeadToCheck {
  source: string;
  jws: string;
}

export interface AuditReport {
  ok: boolean;
  /** Entries walked. */
  entries: number;
  /** The last entry's seq and hash (0 and the genesis hash for an empty chain). */
  last: { seq: number; hash: string };
  /** The first broken link: the entry where the chain stops being what was written. */
  firstBroken?: { seq: number; reason: string };
  /** Every other problem: heads that do not match, the head row, bad signatures. */
  problems: string[];
  /** Signed heads checked (and matched). */
  headsChecked: number;
}

/**
 * Walks the audit chain from its first entry (pages of 1,000, in seq order) and checks every link:
 * seqs without gaps, each `prev_hash` equal to the hash before, each hash equal to the hash of the
 * entry's fields. Then checks the chain against the head row and against every signed head — those
 * stored in the database and those kept outside (`outside`): each signature must verify with `jwks`
 * and the chain must hold the signed hash at the signed seq. A chain rewritten with its stored heads
 * fails against a head kept outside; a truncated tail fails against any head signed after the cut.
 */
export async function verifyAuditChain(db: Pool | PoolClient, jwks: Jwks, outside: HeadToCheck[] = []): Promise<AuditReport> {
  const problems: string[] = [];
  const stored = (
    await db.query<{ seq: string; hash: string; signed_at: Date; kid: string; jws: string }>('SELECT seq, hash, signed_at, kid, jws FROM erasure_audit_signed_heads ORDER BY seq')
  ).rows.map(toSignedHead);
  const heads: { source: string; head?: { seq: number; hash: string } }[] = [];
  for (const candidate of [...stored.map((head) => ({ source: `stored head ${head.seq}`, jws: head.jws, row: head })), ...outside.map((h) => ({ ...h, row: undefined as SignedHead | undefined }))]) {
    try {
      const { payload } = await verifySigned<{ seq: number; hash: string }>(candidate.jws, jwks, AUDIT_HEAD_TYPE);
      if (candidate.row && (candidate.row.seq !== payload.seq || candidate.row.hash !== payload.hash)) {
        problems.push(`${candidate.source}: its columns do not match its signed payload (seq ${payload.seq})`);
      }
      heads.push({ source: candidate.source, head: { seq: payload.seq, hash: payload.hash } });
    } catch (error) {
      problems.push(`${candidate.source}: signature does not verify (${(error as Error).message})`);
    }
  }
  const wanted = new Map<number, string>();
  for (const { head } of heads) if (head) wanted.set(head.seq, '');

  let previous = { seq: 0, hash: GENESIS_HASH };
  let firstBroken: AuditReport['firstBroken'];
  let entries = 0;
  for (let page = await readEntries(db, 0); page.length; page = await readEntries(db, previous.seq)) {
    for (const entry of page) {
      entries++;
      if (!firstBroken) {
        if (entry.seq !== previous.seq + 1) firstBroken = { seq: previous.seq + 1, reason: `entry ${previous.seq + 1} is missing (the next entry is ${entry.seq})` };
        else if (entry.prev_hash !== previous.hash) firstBroken = { seq: entry.seq, reason: `entry ${entry.seq} does not link to entry ${previous.seq} (prev_hash differs)` };
        else if (entryHash(entry) !== entry.hash) firstBroken = { seq: entry.seq, reason: `entry ${entry.seq} was changed (its contents do not match its hash)` };
      }
      if (wanted.has(entry.seq)) wanted.set(entry.seq, entry.hash);
      previous = { seq: entry.seq, hash: entry.hash };
    }
  }

  const headRow = (await db.query<{ seq: string; hash: string }>('SELECT seq, hash FROM erasure_audit_head')).rows[0];
  if (!headRow) problems.push('the head row (erasure_audit_head) is gone');
  else if (Number(headRow.seq) !== previous.seq || headRow.hash !== previous.hash) {
    problems.push(`the head row says seq ${headRow.seq}, but the chain ends at seq ${previous.seq}${Number(headRow.seq) > previous.seq ? ' (entries after it were removed)' : ''}`);
  }
  let headsChecked = 0;
  for (const { source, head } of heads) {
    if (!head) continue;
    headsChecked++;
    if (head.seq > previous.seq) problems.push(`${source} (signed at seq ${head.seq}): the chain ends at seq ${previous.seq}; entries after it were removed`);
    else if (wanted.get(head.seq) !== head.hash) problems.push(`${source}: entry ${head.seq} differs from the signed head (the chain was rewritten)`);
  }
  return { ok: !firstBroken && !problems.length, entries, last: previous, firstBroken, problems, headsChecked };
}

/**
 * Signed heads given to `erasure audit verify --head`: a compact JWS, or a file holding one JWS, or
 * JSON lines as the outside sink writes them (`{ "jws": … }` per line).
 */
export function parseHeads(text: string, source: string): HeadToCheck[] {
  const lines = text.split('\n').map((line) => line.trim()).filter(Boolean);
  return lines.map((line, index) => {
    const label = lines.length > 1 ? `${source} line ${index + 1}` : source;
    if (line.startsWith('{')) {
      const jws = (JSON.parse(line) as { jws?: unknown }).jws;
      if (typeof jws !== 'string') throw new Error(`${label} has no "jws"`);
      return { source: label, jws };
    }
    return { source: label, jws: line };
  });
}
