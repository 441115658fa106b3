import { createHmac, randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname } from 'node:path';
import type { Pool, PoolClient } from 'pg';
import { ConfigError } from '../services/kit/config';
import { dataDir } from '../services/kit/paths';
import type { SubjectKind } from './steps';

/**
 * Tombstones: what the orchestrator keeps of an erased subject — a keyed HMAC-SHA256 of its id,
 * never the id itself. The same hash (the subject's "ref") replaces the raw id in the job records
 * of an erased user, in the orchestrator's log lines and span attributes.
 *
 * Keys are versioned so they can rotate: `ORCHESTRATOR_TOMBSTONE_KEYS` (or a file named by
 * `ORCHESTRATOR_TOMBSTONE_KEYS_FILE`) holds `<version>:<secret>` entries separated by commas or new
 * lines; the highest version hashes new tombstones, every listed version is used to look one up.
 * A retired key must stay listed for as long as the tombstones it wrote matter (a hash cannot be
 * re-keyed without the raw id, which is gone). Local development: one key generated once under the
 * data folder (0600).
 */
export interface TombstoneKey {
  version: number;
  secret: Buffer;
}

export class TombstoneKeys {
  /** Newest first. */
  readonly keys: readonly TombstoneKey[];

  constructor(keys: TombstoneKey[]) {
    if (!keys.length) throw new ConfigError('at least one tombstone key is needed');
    this.keys = [...keys].sort((a, b) => b.version - a.version);
  }

  get current(): TombstoneKey {
    return this.keys[0]!;
  }

  /** The ref under one key: `erased:k<version>:<base64url HMAC-SHA256 of "<kind>:<id>">`. */
  ref(kind: SubjectKind, id: string, key: TombstoneKey = this.current): string {
    return `erased:k${key.version}:${createHmac('sha256', key.secret).update(`${kind}:${id.toLowerCase()}`).digest('base64url')}`;
  }

  /** The subject's ref under every key (to look up tombstones written before a rotation). */
  refs(kind: SubjectKind, id: string): string[] {
    return this.keys.map((key) => this.ref(kind, id, key));
  }

  /**
   * A keyed hash of another identifier that must not appear in clear (who asked for an erasure, in the
   * audit chain and the certificate): `<purpose>:k<version>:<base64url HMAC-SHA256 of "<purpose>:<value>">`.
   */
  pseudonym(purpose: string, value: string): string {
    const key = this.current;
    return `${purpose}:k${key.version}:${createHmac('sha256', key.secret).update(`${purpose}:${value}`).digest('base64url')}`;
  }

  /** A short, stable reference for log lines: the first 12 characters of the current hash. */
  logRef(kind: SubjectKind, id: string): string {
    return this.ref(kind, id).slice(0, `erased:k${this.current.version}:`.length + 12);
  }
}

/** Parses `<version>:<secret>` entries; each secret at least 32 characters, versions unique positive integers. */
export function parseTombstoneKeys(text: string, source: string): TombstoneKeys {
  const keys: TombstoneKey[] = [];
  for (const entry of text.split(/[\s,]+/).filter(Boolean)) {
    const match = /^(\d{1,6}):(.+)$/.exec(entry);
    if (!match) throw new ConfigError(`${source}: each key must be "<version>:<secret>"`);
    const version = Number(match[1]);
    if (version < 1 || keys.some((k) => k.version === version)) throw new ConfigError(`${source}: key versions must be unique positive integers`);
    if (match[2]!.length < 32) throw new ConfigError(`${source}: key version ${version} must be at least 32 characters long`);
    keys.push({ version, secret: Buffer.from(match[2]!) });
  }
  if (!keys.length) throw new ConfigError(`${source} holds no key`);
  return new TombstoneKeys(keys);
}

/** The orchestrator's tombstone keys: from the environment, a mounted file, or (development) the data folder. */
export function tombstoneKeys(env: Record<string, string | undefined> = process.env): TombstoneKeys {
  if (env.ORCHESTRATOR_TOMBSTONE_KEYS) return parseTombstoneKeys(env.ORCHESTRATOR_TOMBSTONE_KEYS, 'ORCHESTRATOR_TOMBSTONE_KEYS');
  const configuredFile = env.ORCHESTRATOR_TOMBSTONE_KEYS_FILE;
  if (configuredFile) {
    if (!existsSync(configuredFile)) throw new ConfigError('ORCHESTRATOR_TOMBSTONE_KEYS_FILE names a file that does not exist');
    return parseTombstoneKeys(readFileSync(configuredFile, 'utf8'), 'ORCHESTRATOR_TOMBSTONE_KEYS_FILE');
  }
  const file = `${dataDir()}/tombstone-keys`;
  if (!existsSync(file)) {
    mkdirSync(dirname(file), { recursive: true, mode: 0o700 });
    try {
      writeFileSync(file, `1:${randomBytes(48).toString('base64url')}\n`, { flag: 'wx', mode: 0o600 });
    } catch (error) {
      // Another orchestrator created it first: use theirs.
      if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error;
    }
  }
  return parseTombstoneKeys(readFileSync(file, 'utf8'), file);
}

export interface TombstoneStatus {
  erased: boolean;
  erasedAt?: Date;
  /** A user whose erasure is SCHEDULED (grace period): login and tokens are refused until a restore or the purge. */
  suspended: boolean;
}

/** The tombstone table (migration 0004). */
export class Tombstones {
  constructor(
    private readonly pool: Pool,
    readonly keys: TombstoneKeys,
  ) {}

  /** Records the subject's tombstone inside the caller's transaction (idempotent). */
  async record(client: PoolClient, kind: SubjectKind, id: string, jobId: string): Promise<void> {
    await client.query(
      `INSERT INTO erasure_tombstones (subject_kind, subject_ref, key_version, job_id) VALUES ($1, $2, $3, $4)
       ON CONFLICT (subject_ref) DO NOTHING`,
      [kind, this.keys.ref(kind, id), this.keys.current.version, jobId],
    );
  }

  /** Whether each subject was erased, in the order asked; one query for all of them. */
  async check(subjects: { kind: SubjectKind; id: string }[]): Promise<TombstoneStatus[]> {
    if (!subjects.length) return [];
    const refsOf = subjects.map((s) => this.keys.refs(s.kind, s.id));
    const { rows } = await this.pool.query<{ subject_ref: string; erased_at: Date }>(
      'SELECT subject_ref, erased_at FROM erasure_tombstones WHERE subject_ref = ANY($1::text[])',
      [refsOf.flat()],
    );
    const found = new Map(rows.map((row) => [row.subject_ref, row.erased_at]));
    // Suspension is read from the jobs themselves (one fact in one place): a SCHEDULED user job.
    const userIds = subjects.filter((s) => s.kind === 'user').map((s) => s.id.toLowerCase());
    const suspended = new Set<string>();
    if (userIds.length) {
      const scheduled = await this.pool.query<{ subject_id: string }>(
        `SELECT subject_id::text FROM erasure_jobs WHERE subject_kind = 'user' AND status = 'SCHEDULED' AND subject_id = ANY($1::uuid[])`,
        [userIds],
      );
      for (const row of scheduled.rows) suspended.add(row.subject_id);
    }
    return refsOf.map((refs, i) => {
      const at = refs.map((ref) => found.get(ref)).find((date) => date !== undefined);
      const isSuspended = subjects[i]!.kind === 'user' && suspended.has(subjects[i]!.id.toLowerCase());
      return at ? { erased: true, erasedAt: at, suspended: false } : { erased: false, suspended: isSuspended };
    });
  }
}

/** Rows of one erased subject that a service's sweep found and erased again. */
export interface ResurrectionReport {
  kind: SubjectKind;
  id: string;
  rows: number;
  /** table → rows */
  entities: Record<string, number>;
}

/** One recorded resurrection, as the log and the audit chain see it: the subject by its keyed hash only. */
export interface RecordedResurrection {
  service: string;
  kind: SubjectKind;
  subjectRef: string;
  rows: number;
  entities: Record<string, number>;
}

/** Resurrections (migration 0007): what the services' sweeps found of erased subjects. */
export class Resurrections {
  constructor(
    private readonly pool: Pool,
    private readonly tombstones: Tombstones,
  ) {}

  /**
   * Records what `service` found, one row per subject, under the subject's existing tombstone (the ref
   * written under whichever key version was current then). Returns the entries recorded; a subject
   * without a tombstone is left out (`notErased` counts them): only erased subjects can resurrect.
   */
  async record(service: string, reports: ResurrectionReport[]): Promise<{ recorded: RecordedResurrection[]; notErased: number }> {
    const found = reports.filter((report) => report.rows > 0);
    if (!found.length) return { recorded: [], notErased: 0 };
    const refsOf = found.map((report) => this.tombstones.keys.refs(report.kind, report.id));
    const { rows } = await this.pool.query<{ subject_ref: string }>(
      'SELECT subject_ref FROM erasure_tombstones WHERE subject_ref = ANY($1::text[])',
      [refsOf.flat()],
    );
    const existing = new Set(rows.map((row) => row.subject_ref));
    const recorded: RecordedResurrection[] = [];
    found.forEach((report, i) => {
      const subjectRef = refsOf[i]!.find((ref) => existing.has(ref));
      if (subjectRef) recorded.push({ service, kind: report.kind, subjectRef, rows: report.rows, entities: report.entities });
    });
    if (recorded.length) {
      await this.pool.query(
        `INSERT INTO erasure_resurrections (subject_kind, subject_ref, service, rows, entities)
         SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::bigint[], $5::jsonb[])`,
        [
          recorded.map((r) => r.kind),
          recorded.map((r) => r.subjectRef),
          recorded.map((r) => r.service),
          recorded.map((r) => r.rows),
          recorded.map((r) => JSON.stringify(r.entities)),
        ],
      );
    }
    return { recorded, notErased: found.length - recorded.length };
  }
}
