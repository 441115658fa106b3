import { createHash, randomUUID } from 'node:crypto';
import type { Pool, PoolClient } from 'pg';
import type { PageCursor } from '../services/kit/pagination';
import { toPage } from '../services/kit/pagination';
import type { JobGaugeReading, TimeLeft } from '../services/kit/metrics';
import { withTransaction } from '../services/kit/transactions';
import { beginJobTrace } from './job-trace';
import type { Phase, StepDeclaration, StepKind, SubjectKind } from './steps';
import { CustomerSubjects, type CustomerJobOptions } from './customers';
import type { CustomerKey } from '../services/kit/customers';
import type { Tombstones } from './tombstones';
import type { AuditChain } from './audit-chain';
import type { AuditHeads } from './audit-heads';
import { exportArchiveOf, type Certificates } from './certificates';

/** Every status a job can have (the metrics report each, 0 included). */
export const JOB_STATUSES = ['SCHEDULED', 'PENDING', 'RUNNING', 'COMPLETED', 'FAILED', 'CANCELLED', 'AWAITING_APPROVAL', 'REJECTED', 'ON_HOLD'] as const;
export type JobStatusName = (typeof JOB_STATUSES)[number];
export type StepStatusName = 'PENDING' | 'RUNNING' | 'RETRYING' | 'SUCCEEDED' | 'FAILED' | 'CANCELLED' | 'ON_HOLD';
export const OPEN_STATUSES: readonly JobStatusName[] = ['PENDING', 'RUNNING'];
export const isOpen = (status: JobStatusName) => OPEN_STATUSES.includes(status);
/**
 * Jobs that have not ended: the open ones, those waiting out their grace period (SCHEDULED) and those
 * waiting for a second person's approval (AWAITING_APPROVAL) and those a legal hold stops (ON_HOLD). A
 * subject has at most one of them (a unique index), and a second request attaches to it.
 */
export const UNFINISHED_STATUSES: readonly JobStatusName[] = ['SCHEDULED', ...OPEN_STATUSES, 'AWAITING_APPROVAL', 'ON_HOLD'];
const UNFINISHED_SQL = UNFINISHED_STATUSES.map((s) => `'${s}'`).join(', ');

/** The error a restored job ends with (CANCELLED): the grace period ended early and nothing was deleted. */
export const RESTORED_ERROR = 'restored during the grace period; nothing was deleted';

export interface JobOptions {
  /** User jobs: erase owned tenants that have members but no other admin instead of refusing. */
  eraseOwnedTenants?: boolean;
  /** Customer jobs: the tenant and the kind of identifier (never the identifier). */
  customer?: CustomerJobOptions;
}

/** What a job does: erase its subject, or export it into an archive (orchestrator/export/). */
export type JobKind = 'erasure' | 'export';

export interface JobRow {
  id: string;
  job_kind: JobKind;
  subject_kind: SubjectKind;
  /**
   * The subject's id; for a job of a user whose erasure completed, the keyed hash of it
   * (`erased:k<version>:…`, the column subject_ref), the raw id being gone from the job records.
   */
  subject_id: string;
  status: JobStatusName;
  requested_by: string;
  request_id: string | null;
  viewers: string[];
  options: JobOptions;
  parent_job_id: string | null;
  trace_id: string;
  /** W3C traceparent of the job's root span (orchestrator/job-trace.ts); null for jobs recorded before it was kept. */
  trace_parent: string | null;
  error: string;
  cancel_requested: boolean;
  created_at: Date;
  started_at: Date | null;
  finished_at: Date | null;
  verified_at: Date | null;
  /** When a run last recorded anything (a step change or counts); the watchdog's measure. */
  last_progress_at: Date | null;
  /** Since when the watchdog has seen this RUNNING job without progress; null while it moves. */
  stalled_since: Date | null;
  /** When the request was received (the caller's earlier time, if given). */
  received_at: Date;
  /** When the request must be done: received_at plus one month. */
  due_at: Date;
  /** When the grace period ends and the job runs; null for a job without grace. */
  purge_at: Date | null;
  /** The job waits (or waited) for a second person (orchestrator/approvals.ts). */
  approval_required: boolean;
  /** The approver's or rejecter's keyed pseudonym; null before a decision. */
  approved_by: string | null;
  approved_at: Date | null;
  /** The due date before the first extension; null when never extended. */
  original_due_at: Date | null;
  /** The legal holds that stopped the job or kept part of it, over its life (orchestrator/holds.ts). */
  hold_ids: string[];
  /** What those holds kept, per hold and service (the latest count of each). */
  held: HeldPartRecord[];
}

/** What one legal hold kept of one service in a job (the contract's HeldPart). */
export interface HeldPartRecord {
  hold_id: string;
  service: string;
  /** Held tables; empty: the whole service. */
  entities: string[];
  rows: number;
  reason: string;
}

export interface EntityTally {
  action: number;
  rows: number;
  chunks: number;
  /** RETAIN entities: the legal reason and the declared period (`10y from issued_at`), as the service reported them. */
  retainReason?: string;
  retention?: string;
}

/** A step of a job: as the saga works on it, as watchers are told of it, and as the mapper shows it. */
export interface JobStep {
  jobId: string;
  name: string;
  phase: Phase;
  kind: StepKind;
  status: StepStatusName;
  /** Attempts over the job's whole life (a retried job's too). */
  attempts: number;
  rowsDeleted: number;
  /** What Preview found before the first attempt; null until then. */
  expectedRows: number | null;
  entities: Record<string, EntityTally>;
  lastError: string;
  /** When a step waiting between attempts tries again; null otherwise. */
  nextAttemptAt: Date | null;
  /** The service's policy fingerprint from its last Delete result (what the certificate states); null before. */
  policyFingerprint: string | null;
  startedAt: Date | null;
  finishedAt: Date | null;
}

/** The fields of a step a change may set. */
export type StepChanges = Partial<Omit<JobStep, 'jobId' | 'name' | 'phase' | 'kind'>>;

export interface NewJob {
  /** Default `erasure`. */
  jobKind?: JobKind;
  /**
   * The archive an export job (or an erasure with export_first) builds, recorded with the job: the
   * requester's public key the archive is encrypted to.
   */
  archive?: { recipient: object };
  subjectKind: SubjectKind;
  subjectId: string;
  requestedBy: string;
  requestId?: string;
  viewers: string[];
  options: JobOptions;
  parentJobId?: string;
  steps: StepDeclaration[];
  /** The most open jobs `requestedBy` may have; a new job beyond it is refused (OpenJobLimitReached). Unset: no limit. */
  openJobLimit?: number;
  /** When the request was received; default now. */
  receivedAt?: Date;
  /** When it must be done; default receivedAt plus one month. */
  dueAt?: Date;
  /**
   * The end of the grace period: the job is recorded SCHEDULED and its queue entry starts then. Unset
   * (or not in the future): at once. A request attaching to a SCHEDULED job moves its purge earlier.
   */
  purgeAt?: Date;
  /** For an export job: the most open export jobs `requestedBy` may have. */
  openExportLimit?: number;
  /** The job waits AWAITING_APPROVAL (no queue entry, nothing hidden) until a second person decides. */
  requireApproval?: boolean;
  /**
   * A customer job (`subjectId` is then the customer's keyed hash): the identifier, encrypted
   * (orchestrator/customers.ts), kept until the job ends.
   */
  sealedSubject?: string;
}

/** One month after `from` (GDPR Art. 12(3)), the calendar way: 31 Jan → 28/29 Feb (the date clamps to the month's end). */
export const oneMonthAfter = (from: Date): Date => monthsAfter(from, 1);

/** `months` calendar months after `from`, the day clamped to the month's end (31 Jan + 2 → 31 Mar, + 1 → 28/29 Feb). */
export function monthsAfter(from: Date, months: number): Date {
  const due = new Date(from);
  const day = due.getUTCDate();
  due.setUTCDate(1);
  due.setUTCMonth(due.getUTCMonth() + months);
  const lastDay = new Date(Date.UTC(due.getUTCFullYear(), due.getUTCMonth() + 1, 0)).getUTCDate();
  due.setUTCDate(Math.min(day, lastDay));
  return due;
}

export interface ListFilter {
  status?: JobStatusName;
  subjectKind?: SubjectKind;
  subjectId?: string;
  /** The subject's keyed hashes: jobs of an erased user keep only those. */
  subjectRefs?: string[];
  /** Only jobs this user may see (initiator or viewer); unset for services. */
  visibleTo?: string;
  pageSize: number;
  after?: PageCursor;
  /** Only jobs due before this time. */
  dueBefore?: Date;
  /** Only jobs that have not ended (UNFINISHED_STATUSES). */
  unfinished?: boolean;
  /** `due`: soonest due first (the page cursor is then the last row's due_at); default newest first. */
  order?: 'created' | 'due';
}

/** Puts a recorded job on the durable queue, inside the transaction that records it. */
export interface JobQueue {
  /** `startAfter`: the entry is not handed out before then (the durable timer of a grace period). */
  enqueue(client: PoolClient, jobId: string, startAfter?: Date): Promise<void>;
}

/** A request id already names a job for another subject. */
export class RequestIdReused extends Error {
  override name = 'RequestIdReused';
}

/** The caller already has as many open jobs as the limit allows. */
export class OpenJobLimitReached extends Error {
  override name = 'OpenJobLimitReached';
  constructor(
    readonly limit: number,
    readonly exports = false,
  ) {
    super(`open ${exports ? 'export ' : ''}jobs per caller limit reached (${limit}); wait for one of your jobs to end`);
  }
}

/** The subject already has another open job (at most one per subject). */
export class JobAlreadyOpen extends Error {
  override name = 'JobAlreadyOpen';
}

// An erased user's jobs have no subject_id any more, only its keyed hash.
const JOB_COLUMNS = `id, job_kind, subject_kind, COALESCE(subject_id::text, subject_ref) AS subject_id, status, requested_by, request_id, viewers, options, parent_job_id,
  trace_id, trace_parent, error, cancel_requested, created_at, started_at, finished_at, verified_at, last_progress_at, stalled_since,
  received_at, due_at, purge_at, approval_required, approved_by, approved_at, original_due_at, hold_ids, held`;

interface StepRow {
  job_id: string;
  name: string;
  phase: Phase;
  kind: StepKind;
  status: StepStatusName;
  attempts: number;
  rows_deleted: string;
  expected_rows: string | null;
  entities: Record<string, EntityTally>;
  last_error: string;
  next_attempt_at: Date | null;
  policy_fingerprint: string | null;
  started_at: Date | null;
  finished_at: Date | null;
}

const STEP_COLUMNS =
  'job_id, name, phase, kind, status, attempts, rows_deleted, expected_rows, entities, last_error, next_attempt_at, policy_fingerprint, started_at, finished_at';

/** JobStep field → column. */
const STEP_FIELDS: Record<keyof StepChanges, string> = {
  status: 'status',
  attempts: 'attempts',
  rowsDeleted: 'rows_deleted',
  expectedRows: 'expected_rows',
  entities: 'entities',
  lastError: 'last_error',
  nextAttemptAt: 'next_attempt_at',
  policyFingerprint: 'policy_fingerprint',
  startedAt: 'started_at',
  finishedAt: 'finished_at',
};

function toStep(row: StepRow): JobStep {
  return {
    jobId: row.job_id,
    name: row.name,
    phase: row.phase,
    kind: row.kind,
    status: row.status,
    attempts: row.attempts,
    rowsDeleted: Number(row.rows_deleted),
    expectedRows: row.expected_rows === null ? null : Number(row.expected_rows),
    entities: row.entities ?? {},
    lastError: row.last_error,
    nextAttemptAt: row.next_attempt_at,
    policyFingerprint: row.policy_fingerprint,
    startedAt: row.started_at,
    finishedAt: row.finished_at,
  };
}

const UNIQUE_VIOLATION = '23505';
const isUniqueViolation = (error: unknown) => (error as { code?: unknown } | undefined)?.code === UNIQUE_VIOLATION;

/** A changed column of a step: kept unless the batch entry's changes (`u.c`) name it. */
const stepColumn = (field: keyof StepChanges, type: string) => {
  const column = STEP_FIELDS[field];
  const value = type === 'jsonb' ? `u.c->'${field}'` : `(u.c->>'${field}')::${type}`;
  return `${column} = CASE WHEN u.c ? '${field}' THEN ${value} ELSE s.${column} END`;
};

/**
 * Applies a batch of step changes ($1: JSON array of { job_id, name, c: changes }) in one statement;
 * the same statement records that their jobs moved (at most once a second, so busy steps do not
 * queue on the job row) and clears stall marks. Returns each changed step with its job's subject
 * (for the audit entries of step ends).
 */
const STEP_BATCH_UPDATE = `WITH u AS (
    SELECT * FROM jsonb_to_recordset($1::jsonb) AS u(job_id uuid, name text, c jsonb)
  ), steps AS (
    UPDATE erasure_job_steps s SET ${[
      stepColumn('status', 'text'),
      stepColumn('attempts', 'int'),
      stepColumn('rowsDeleted', 'bigint'),
      stepColumn('expectedRows', 'bigint'),
      stepColumn('entities', 'jsonb'),
      stepColumn('lastError', 'text'),
      stepColumn('nextAttemptAt', 'timestamptz'),
      stepColumn('policyFingerprint', 'text'),
      stepColumn('startedAt', 'timestamptz'),
      stepColumn('finishedAt', 'timestamptz'),
    ].join(',\n        ')}
      FROM u WHERE s.job_id = u.job_id AND s.name = u.name
    RETURNING s.job_id, s.name, s.rows_deleted, s.attempts
  ), moved AS (
    UPDATE erasure_jobs SET last_progress_at = now(), stalled_since = NULL
     WHERE id IN (SELECT job_id FROM steps)
       AND (last_progress_at IS NULL OR last_progress_at < now() - interval '1 second' OR stalled_since IS NOT NULL)
  )
  SELECT j.id, steps.name, j.subject_kind, COALESCE(j.subject_id::text, j.subject_ref) AS subject_id, steps.rows_deleted, steps.attempts
    FROM steps JOIN erasure_jobs j ON j.id = steps.job_id`;

/** Step statuses that end a step: each is an audit entry (the others are progress). */
const STEP_ENDS: readonly StepStatusName[] = ['SUCCEEDED', 'FAILED', 'CANCELLED', 'ON_HOLD'];

/** What records a job's lifecycle besides the job tables (orchestrator/audit-chain.ts, orchestrator/certificates.ts). */
export interface JobLifecycle {
  audit: AuditChain;
  certificates: Certificates;
  heads: AuditHeads;
  /** Told of every status change inside its transaction (the webhook outbox, orchestrator/webhooks.ts). */
  notifications?: StatusNotifications;
}

/** What hears of a job's new status in the transaction that records it (and keeps the statuses it notifies). */
export interface StatusNotifications {
  statusChanged(client: PoolClient, jobId: string, status: string): Promise<void>;
}

/**
 * The orchestrator's job records: written before any work starts. Every change of a job's status
 * (and its verification) and every step's end goes through `updateJob`, `updateStep`, `complete`,
 * `reopen` or `createOrAttach`, which append the audit entry in the same transaction: a status added
 * later is audited without further code.
 */
export class JobStore {
  constructor(
    readonly pool: Pool,
    private readonly queue: JobQueue,
    /** Where a completed erasure leaves its tombstone; without one (some tests) none is left. */
    readonly tombstones?: Tombstones,
    /** The audit chain and certificates; without them (some tests) nothing is audited. */
    readonly lifecycle?: JobLifecycle,
  ) {}

  /** Appends the audit entry of a job's event (inside the caller's transaction; its last statement). */
  private async auditJob(
    client: PoolClient,
    kind: string,
    job: { id: string; subject_kind: SubjectKind; subject_id: string },
    details: Record<string, unknown> = {},
  ): Promise<void> {
    const audit = this.lifecycle?.audit;
    if (!audit) return;
    await audit.append(client, { kind, jobId: job.id, subjectRef: audit.subjectRef(job.subject_kind, job.subject_id), details });
  }

  /**
   * A job's status changed: its notification is written in the same transaction, next to the audit
   * entry (before it, which stays the transaction's last statement, except on completion, whose
   * notification names the certificate issued after the entry).
   */
  private async notify(client: PoolClient, jobId: string, status: JobStatusName): Promise<void> {
    await this.lifecycle?.notifications?.statusChanged(client, jobId, status);
  }

  /**
   * Records a job, its steps, its trace and its queue entry in one transaction, or returns the job
   * that already answers this request: the job with the same request id, else the subject's open
   * job. Throws RequestIdReused when the request id names another subject's job.
   */
  async createOrAttach(input: NewJob): Promise<{ job: JobRow; created: boolean }> {
    for (let attempt = 0; attempt < 5; attempt++) {
      const existing = await this.findExisting(input);
      if (existing) return { job: (await this.moveEarlier(existing, input.purgeAt)) ?? existing, created: false };
      const receivedAt = input.receivedAt ?? new Date();
      const scheduled = input.purgeAt !== undefined && input.purgeAt.getTime() > Date.now();
      // A job awaiting approval keeps its grace's end in purge_at; the approval decides what happens then.
      const status: JobStatusName = input.requireApproval ? 'AWAITING_APPROVAL' : scheduled ? 'SCHEDULED' : 'PENDING';
      const id = randomUUID();
      const jobTrace = beginJobTrace(id, { 'erasure.subject_kind': input.subjectKind });
      try {
        const job = await withTransaction(this.pool, async (client) => {
          if (input.openJobLimit !== undefined) await this.checkOpenJobLimit(client, input.requestedBy, input.openJobLimit);
          if (input.openExportLimit !== undefined) await this.checkOpenJobLimit(client, input.requestedBy, input.openExportLimit, 'export');
          const { rows } = await client.query<JobRow>(
            `INSERT INTO erasure_jobs (id, subject_kind, subject_id, status, requested_by, request_id, viewers, options, parent_job_id, trace_id, trace_parent,
                                       received_at, due_at, purge_at, job_kind, approval_required, subject_ref, subject_sealed)
             VALUES ($1, $2, $3, $11, $4, $5, $6, $7, $8, $9, $10, $12, $13, $14, $15, $16, $17, $18) RETURNING ${JOB_COLUMNS}`,
            [
              id,
              input.subjectKind,
              // A customer has no id, only its keyed hash (orchestrator/customers.ts).
              input.subjectKind === 'customer' ? null : input.subjectId,
              input.requestedBy,
              input.requestId ?? null,
              input.viewers,
              input.options,
              input.parentJobId ?? null,
              jobTrace.traceId,
              jobTrace.traceparent,
              status,
              receivedAt,
              input.dueAt ?? oneMonthAfter(receivedAt),
              scheduled ? input.purgeAt : null,
              input.jobKind ?? 'erasure',
              input.requireApproval ?? false,
              input.subjectKind === 'customer' ? input.subjectId : null,
              input.sealedSubject ?? null,
            ],
          );
          if (input.archive) await client.query(`INSERT INTO export_archives (job_id, recipient) VALUES ($1, $2)`, [id, input.archive.recipient]);
          await client.query(
            `INSERT INTO erasure_job_steps (job_id, name, phase, kind, position, status)
             SELECT $1, s.name, s.phase, s.kind, s.position - 1, 'PENDING'
               FROM unnest($2::text[], $3::text[], $4::text[]) WITH ORDINALITY AS s (name, phase, kind, position)`,
            [id, input.steps.map((s) => s.name), input.steps.map((s) => s.phase), input.steps.map((s) => s.kind)],
          );
          // A scheduled job's entry is its durable timer: no replica gets it before the purge time. A job
          // awaiting approval gets its entry when approved (approve()).
          if (status !== 'AWAITING_APPROVAL') await this.queue.enqueue(client, id, scheduled ? input.purgeAt : undefined);
          await this.auditJob(client, 'job.requested', rows[0]!, {
            requester: this.lifecycle?.audit.keys.pseudonym('requester', input.requestedBy),
            parent_job_id: input.parentJobId ?? null,
            steps: input.steps.map((step) => step.name),
          });
          if (status === 'AWAITING_APPROVAL') await this.auditJob(client, 'job.awaiting_approval', rows[0]!, { status });
          return rows[0]!;
        });
        jobTrace.end();
        return { job, created: true };
      } catch (error) {
        // Another request created the subject's open job (or used the request id) first: attach to it.
        if (!isUniqueViolation(error)) throw error;
      }
    }
    throw new Error('could not create or find the job after repeated conflicts');
  }

  /**
   * A request that attaches to a SCHEDULED job with an earlier purge time (or none: at once) moves the
   * purge there, with a queue entry that starts then (the later entry finds the job ended); the
   * earliest purge time wins. Returns the job when it changed, in the same transaction as its entry.
   */
  private async moveEarlier(job: JobRow, purgeAt: Date | undefined): Promise<JobRow | undefined> {
    if (job.status !== 'SCHEDULED') return undefined;
    // At once is the database's now(): the clock the claim compares purge_at with.
    const at = purgeAt && purgeAt.getTime() > Date.now() ? purgeAt : null;
    return withTransaction(this.pool, async (client) => {
      const { rows } = await client.query<JobRow>(
        `UPDATE erasure_jobs SET purge_at = coalesce($2::timestamptz, now())
          WHERE id = $1 AND status = 'SCHEDULED' AND purge_at > coalesce($2::timestamptz, now()) RETURNING ${JOB_COLUMNS}`,
        [job.id, at],
      );
      if (rows[0]) {
        await this.queue.enqueue(client, job.id, rows[0].purge_at!);
        // A second request moved the purge earlier: the change is part of the proof.
        await this.auditJob(client, 'job.purge_moved', rows[0], { from: job.purge_at?.toISOString() ?? null, to: rows[0].purge_at!.toISOString() });
      }
      return rows[0];
    });
  }

  /**
   * Ends a SCHEDULED job as restored (CANCELLED, nothing deleted) and returns it; undefined when the
   * job is not SCHEDULED any more (its purge claimed it first: the claim turns it PENDING under the
   * same row lock, so a restore and a purge never both win).
   */
  async restore(id: string): Promise<JobRow | undefined> {
    return withTransaction(this.pool, async (client) => {
      const { rows } = await client.query<JobRow>(
        `UPDATE erasure_jobs SET status = 'CANCELLED', error = $2, finished_at = now() WHERE id = $1 AND status = 'SCHEDULED' RETURNING ${JOB_COLUMNS}`,
        [id, RESTORED_ERROR],
      );
      if (rows[0]) {
        await client.query(`UPDATE erasure_job_steps SET status = 'CANCELLED', finished_at = now() WHERE job_id = $1`, [id]);
        await this.notify(client, id, 'CANCELLED');
        await this.auditJob(client, 'job.restored', rows[0], { status: 'CANCELLED' });
      }
      return rows[0];
    });
  }

  /**
   * A second person's decision on an AWAITING_APPROVAL job, in one transaction with its audit entries
   * (requester and decider as keyed pseudonyms). Approved, the job goes on: SCHEDULED with its queue
   * entry at the end of its grace when that is still ahead, else PENDING and queued now (`job.approved`,
   * then `job.<status>`). Rejected, it ends REJECTED with the reason and nothing done (`job.rejected`).
   * Undefined when the job is not AWAITING_APPROVAL; the caller checked who may decide.
   */
  async decideApproval(id: string, decider: string, decision: { approve: true } | { approve: false; reason: string }): Promise<JobRow | undefined> {
    return withTransaction(this.pool, async (client) => {
      // The purpose job.requested names people by: one person has one pseudonym whatever their role,
      // which is what shows in the chain that the approver is not the requester.
      const approver = this.lifecycle?.audit.keys.pseudonym('requester', decider) ?? null;
      const { rows } = decision.approve
        ? await client.query<JobRow>(
            `UPDATE erasure_jobs SET status = CASE WHEN purge_at > now() THEN 'SCHEDULED' ELSE 'PENDING' END,
                    purge_at = CASE WHEN purge_at > now() THEN purge_at END, approved_by = $2, approved_at = now()
              WHERE id = $1 AND status = 'AWAITING_APPROVAL' RETURNING ${JOB_COLUMNS}`,
            [id, approver],
          )
        : await client.query<JobRow>(
            `UPDATE erasure_jobs SET status = 'REJECTED', error = $3, approved_by = $2, approved_at = now(), finished_at = now()
              WHERE id = $1 AND status = 'AWAITING_APPROVAL' RETURNING ${JOB_COLUMNS}`,
            [id, approver, `rejected: ${decision.reason}`],
          );
      const job = rows[0];
      if (!job) return undefined;
      const people = { requester: this.lifecycle?.audit.keys.pseudonym('requester', job.requested_by), approver };
      if (!decision.approve) {
        await client.query(`UPDATE erasure_job_steps SET status = 'CANCELLED', finished_at = now() WHERE job_id = $1`, [id]);
        await this.notify(client, id, 'REJECTED');
        await this.auditJob(client, 'job.rejected', job, { ...people, status: job.status, reason: decision.reason });
        return job;
      }
      await this.queue.enqueue(client, id, job.purge_at ?? undefined);
      await this.auditJob(client, 'job.approved', job, { ...people, status: job.status });
      await this.auditJob(client, `job.${job.status.toLowerCase()}`, job, { status: job.status, purge_at: job.purge_at?.toISOString() ?? null });
      return job;
    });
  }

  /**
   * Moves an unfinished job's due date to `dueAt` (later than the current one, checked by the caller
   * against the legal limit), keeping the first due date, audited `job.deadline_extended` with the
   * reason and the operator's pseudonym. Undefined when the job has ended.
   */
  async extendDeadline(id: string, dueAt: Date, reason: string, by: string): Promise<JobRow | undefined> {
    return withTransaction(this.pool, async (client) => {
      const before = (await client.query<{ due_at: Date }>(`SELECT due_at FROM erasure_jobs WHERE id = $1 FOR UPDATE`, [id])).rows[0];
      const { rows } = await client.query<JobRow>(
        `UPDATE erasure_jobs SET original_due_at = coalesce(original_due_at, due_at), due_at = $2, due_extension_reason = $3
          WHERE id = $1 AND status IN (${UNFINISHED_SQL}) AND $2 > due_at RETURNING ${JOB_COLUMNS}`,
        [id, dueAt, reason],
      );
      const job = rows[0];
      if (!job) return undefined;
      await this.auditJob(client, 'job.deadline_extended', job, {
        from: before!.due_at.toISOString(),
        to: job.due_at.toISOString(),
        reason,
        by: this.lifecycle?.audit.keys.pseudonym('requester', by),
      });
      return job;
    });
  }

  /** The subject's most recent job, if any. */
  async latestFor(subjectKind: SubjectKind, subjectId: string): Promise<JobRow | undefined> {
    const { rows } = await this.pool.query<JobRow>(
      `SELECT ${JOB_COLUMNS} FROM erasure_jobs WHERE subject_kind = $1 AND subject_id = $2 ORDER BY created_at DESC, id DESC LIMIT 1`,
      [subjectKind, subjectId],
    );
    return rows[0];
  }

  /**
   * The subject's unfinished job (SCHEDULED, PENDING, RUNNING or ON_HOLD), if any; of one kind when
   * `jobKind` is given. A customer is named by its keyed hashes (`subject_ref`, every key version's).
   */
  async unfinishedFor(subjectKind: SubjectKind, subject: string | readonly string[], jobKind?: JobKind): Promise<JobRow | undefined> {
    const match = subjectKind === 'customer' ? `subject_ref = ANY($2::text[])` : `subject_id = $2`;
    const { rows } = await this.pool.query<JobRow>(
      `SELECT ${JOB_COLUMNS} FROM erasure_jobs WHERE subject_kind = $1 AND ${match} AND status IN (${UNFINISHED_SQL}) AND ($3::text IS NULL OR job_kind = $3)`,
      [subjectKind, subjectKind === 'customer' ? [subject].flat() : subject, jobKind ?? null],
    );
    return rows[0];
  }

  /**
   * Refuses a new job when the caller already has `limit` open ones. The caller's advisory lock (held
   * to the end of the transaction) makes count-then-insert exact under concurrent requests.
   */
  private async checkOpenJobLimit(client: PoolClient, requestedBy: string, limit: number, kind?: JobKind): Promise<void> {
    await client.query(`SELECT pg_advisory_xact_lock(hashtext('erasure-open-jobs:' || $1))`, [requestedBy]);
    const { rows } = await client.query<{ n: number }>(
      `SELECT count(*)::int AS n FROM erasure_jobs WHERE requested_by = $1 AND status IN (${UNFINISHED_SQL}) AND ($2::text IS NULL OR job_kind = $2)`,
      [requestedBy, kind ?? null],
    );
    if (rows[0]!.n >= limit) throw new OpenJobLimitReached(limit, kind === 'export');
  }

  /** The caller's job for this request id (request ids belong to their caller), else the subject's open job. */
  private async findExisting(input: NewJob): Promise<JobRow | undefined> {
    if (input.requestId) {
      const { rows } = await this.pool.query<JobRow>(`SELECT ${JOB_COLUMNS} FROM erasure_jobs WHERE requested_by = $1 AND request_id = $2`, [
        input.requestedBy,
        input.requestId,
      ]);
      const byRequest = rows[0];
      if (byRequest) {
        if (byRequest.subject_kind !== input.subjectKind || byRequest.subject_id !== input.subjectId || byRequest.job_kind !== (input.jobKind ?? 'erasure')) {
          // The request id is the caller's own input: not repeated (it may carry anything).
          throw new RequestIdReused('request_id was already used by this caller for another subject');
        }
        return byRequest;
      }
    }
    const { rows } = await this.pool.query<JobRow>(
      `SELECT ${JOB_COLUMNS} FROM erasure_jobs WHERE job_kind = $3 AND subject_kind = $1 AND ${input.subjectKind === 'customer' ? 'subject_ref' : 'subject_id'} = $2
          AND status IN (${UNFINISHED_SQL})`,
      [input.subjectKind, input.subjectId, input.jobKind ?? 'erasure'],
    );
    return rows[0];
  }

  /** A customer job's identifier, decrypted (orchestrator/customers.ts); undefined once the job ended (wiped) or for other jobs. */
  async customerSubject(id: string): Promise<CustomerKey | undefined> {
    const { rows } = await this.pool.query<{ subject_sealed: string | null }>(`SELECT subject_sealed FROM erasure_jobs WHERE id = $1`, [id]);
    const sealed = rows[0]?.subject_sealed;
    if (!sealed || !this.tombstones) return undefined;
    return new CustomerSubjects(this.tombstones.keys).open(sealed);
  }

  async get(id: string): Promise<JobRow | undefined> {
    const { rows } = await this.pool.query<JobRow>({ name: 'erasure-job-get', text: `SELECT ${JOB_COLUMNS} FROM erasure_jobs WHERE id = $1`, values: [id] });
    return rows[0];
  }

  async steps(jobId: string, db: Pool | PoolClient = this.pool): Promise<JobStep[]> {
    const { rows } = await db.query<StepRow>({ name: 'erasure-job-steps', text: `SELECT ${STEP_COLUMNS} FROM erasure_job_steps WHERE job_id = $1 ORDER BY position`, values: [jobId] });
    return rows.map(toStep);
  }

  /** The steps of many jobs (a listing), without per-entity detail. */
  async stepsOf(jobIds: string[]): Promise<Map<string, JobStep[]>> {
    const { rows } = await this.pool.query<StepRow>(
      `SELECT ${STEP_COLUMNS.replace('entities', `'{}'::jsonb AS entities`)}
         FROM erasure_job_steps WHERE job_id = ANY($1::uuid[]) ORDER BY job_id, position`,
      [jobIds],
    );
    const byJob = new Map<string, JobStep[]>(jobIds.map((id) => [id, []]));
    for (const row of rows) byJob.get(row.job_id)!.push(toStep(row));
    return byJob;
  }

  /** Newest first, a page after `filter.after` (keyset pagination, services/kit/pagination.ts). */
  async list(filter: ListFilter): Promise<{ jobs: JobRow[]; nextPageToken: string }> {
    const where: string[] = [];
    const params: unknown[] = [];
    const param = (value: unknown) => {
      params.push(value);
      return `$${params.length}`;
    };
    if (filter.status) where.push(`status = ${param(filter.status)}`);
    if (filter.subjectKind) where.push(`subject_kind = ${param(filter.subjectKind)}`);
    if (filter.subjectKind === 'customer') where.push(`subject_ref = ANY(${param(filter.subjectRefs ?? [])}::text[])`);
    else if (filter.subjectId) {
      const byId = `subject_id = ${param(filter.subjectId)}::uuid`;
      where.push(filter.subjectRefs?.length ? `(${byId} OR subject_ref = ANY(${param(filter.subjectRefs)}::text[]))` : byId);
    }
    if (filter.visibleTo) {
      const user = param(filter.visibleTo);
      where.push(`(requested_by = 'user:' || ${user} OR ${user}::uuid = ANY(viewers))`);
    }
    if (filter.dueBefore) where.push(`due_at < ${param(filter.dueBefore)}::timestamptz`);
    if (filter.unfinished) where.push(`status IN (${UNFINISHED_SQL})`);
    // Keyset pagination on the listing's own order: (created_at, id) newest first, or (due_at, id) soonest first.
    const byDue = filter.order === 'due';
    if (filter.after) {
      where.push(`${byDue ? '(due_at, id) >' : '(created_at, id) <'} (${param(filter.after.createdAt)}::timestamptz, ${param(filter.after.id)}::uuid)`);
    }
    const { rows } = await this.pool.query<JobRow>(
      `SELECT ${JOB_COLUMNS} FROM erasure_jobs ${where.length ? `WHERE ${where.join(' AND ')}` : ''}
        ORDER BY ${byDue ? 'due_at, id' : 'created_at DESC, id DESC'} LIMIT ${param(filter.pageSize + 1)}`,
      params,
    );
    const { items, nextPageToken } = toPage(
      rows.map((row) => ({ row, id: row.id, created_at: byDue ? row.due_at : row.created_at })),
      filter.pageSize,
    );
    return { jobs: items.map((item) => item.row), nextPageToken };
  }

  /**
   * Records `owner` as the job's runner (the caller holds the job's advisory lock, which is what keeps
   * runs exclusive; the lease columns show who runs it and since when it was last heard of). A
   * SCHEDULED job whose purge time has come is claimed too and turns PENDING in the same statement,
   * so a restore (which needs SCHEDULED) can no longer win; one not yet due is not claimed.
   */
  async claim(id: string, owner: string, leaseMs: number): Promise<JobRow | undefined> {
    const { rows } = await this.pool.query<JobRow>({
      name: 'erasure-job-claim',
      text: `UPDATE erasure_jobs SET lease_owner = $2, lease_until = now() + $3 * interval '1 millisecond',
              status = CASE WHEN status = 'SCHEDULED' THEN 'PENDING' ELSE status END
        WHERE id = $1 AND (status IN ('PENDING', 'RUNNING') OR (status = 'SCHEDULED' AND purge_at <= now()))
        RETURNING ${JOB_COLUMNS}`,
      values: [id, owner, leaseMs],
    });
    return rows[0];
  }

  /** What the metrics gauges show (services/kit/metrics.ts): jobs per status, stalled ones, the oldest open one's age. */
  async jobGauges(): Promise<JobGaugeReading> {
    const { rows } = await this.pool.query<{ status: JobStatusName; n: number; stalled: number; oldest: number | null }>(
      `SELECT status, count(*)::int AS n, count(*) FILTER (WHERE stalled_since IS NOT NULL)::int AS stalled,
              EXTRACT(EPOCH FROM now() - min(created_at))::float8 AS oldest
         FROM erasure_jobs GROUP BY status`,
    );
    const byStatus: Record<string, number> = Object.fromEntries(JOB_STATUSES.map((status) => [status, 0]));
    let stalled = 0;
    let oldestOpenAgeSeconds = 0;
    for (const row of rows) {
      byStatus[row.status] = row.n;
      if (row.status === 'RUNNING') stalled = row.stalled;
      if (isOpen(row.status)) oldestOpenAgeSeconds = Math.max(oldestOpenAgeSeconds, row.oldest ?? 0);
    }
    const { rows: due } = await this.pool.query<Record<TimeLeft, number>>(
      `SELECT count(*) FILTER (WHERE due_at <= now())::int AS overdue,
              count(*) FILTER (WHERE due_at > now() AND due_at <= now() + interval '1 day')::int AS "1d",
              count(*) FILTER (WHERE due_at > now() + interval '1 day' AND due_at <= now() + interval '7 days')::int AS "7d",
              count(*) FILTER (WHERE due_at > now() + interval '7 days')::int AS later
         FROM erasure_jobs WHERE status IN (${UNFINISHED_SQL})`,
    );
    return { byStatus, stalled, oldestOpenAgeSeconds, openByTimeLeft: due[0]! };
  }

  /** Extends the lease; says whether it is still ours and whether a cancellation was requested. */
  async heartbeat(id: string, owner: string, leaseMs: number): Promise<{ held: boolean; cancelRequested: boolean; holdRequested: boolean }> {
    const { rows } = await this.pool.query<{ cancel_requested: boolean; hold_requested: boolean }>({
      name: 'erasure-job-heartbeat',
      text: `UPDATE erasure_jobs SET lease_until = now() + $3 * interval '1 millisecond'
        WHERE id = $1 AND lease_owner = $2 RETURNING cancel_requested, hold_requested`,
      values: [id, owner, leaseMs],
    });
    return { held: rows.length === 1, cancelRequested: rows[0]?.cancel_requested ?? false, holdRequested: rows[0]?.hold_requested ?? false };
  }

  async release(id: string, owner: string): Promise<void> {
    await this.pool.query({ name: 'erasure-job-release', text: `UPDATE erasure_jobs SET lease_owner = NULL, lease_until = NULL WHERE id = $1 AND lease_owner = $2`, values: [id, owner] });
  }

  /**
   * Open jobs in arrival order (at most `limit`), and SCHEDULED ones whose purge time has passed (a
   * backstop for a lost timer entry): each is tried; those whose runner is alive stay with it.
   */
  async openJobs(limit = 1000): Promise<string[]> {
    const { rows } = await this.pool.query<{ id: string }>(
      `(SELECT id, created_at FROM erasure_jobs WHERE status IN ('PENDING', 'RUNNING') ORDER BY created_at, id LIMIT $1)
       UNION ALL
       (SELECT id, created_at FROM erasure_jobs WHERE status = 'SCHEDULED' AND purge_at <= now() ORDER BY purge_at, id LIMIT $1)
       ORDER BY created_at, id LIMIT $1`,
      [limit],
    );
    return rows.map((row) => row.id);
  }

  /**
   * Marks RUNNING jobs without recorded progress for `stallAfterMs` as stalled, and returns only the
   * ones this call marked: each stall is reported once, even with several replicas watching.
   */
  async markStalled(stallAfterMs: number): Promise<{ id: string; trace_id: string; last_progress_at: Date | null; lease_owner: string | null }[]> {
    const { rows } = await this.pool.query<{ id: string; trace_id: string; last_progress_at: Date | null; lease_owner: string | null }>(
      `UPDATE erasure_jobs SET stalled_since = now()
        WHERE status = 'RUNNING' AND stalled_since IS NULL
          AND coalesce(last_progress_at, started_at, created_at) < now() - $1 * interval '1 millisecond'
        RETURNING id, trace_id, last_progress_at, lease_owner`,
      [stallAfterMs],
    );
    return rows;
  }

  async updateJob(
    id: string,
    fields: Partial<Pick<JobRow, 'status' | 'error' | 'started_at' | 'finished_at' | 'cancel_requested' | 'last_progress_at' | 'stalled_since'>>,
  ): Promise<void> {
    const keys = Object.keys(fields);
    if (!keys.length) return;
    const text = `UPDATE erasure_jobs SET ${keys.map((key, i) => `${key} = $${i + 2}`).join(', ')} WHERE id = $1
      RETURNING id, subject_kind, COALESCE(subject_id::text, subject_ref) AS subject_id, status`;
    // Named by a digest of the columns it sets (a handful of shapes, from the callers' literals; a
    // statement name longer than 63 bytes would be cut by the server), so each is planned once per connection.
    const sql = { name: `erasure-job-update-${createHash('sha256').update(keys.join(',')).digest('hex').slice(0, 16)}`, text, values: [id, ...keys.map((key) => (fields as Record<string, unknown>)[key])] };
    // A new status is a lifecycle event: audited in the same transaction.
    if (!this.lifecycle || fields.status === undefined) {
      await this.pool.query(sql);
      return;
    }
    await withTransaction(this.pool, async (db) => {
      const { rows } = await db.query<{ id: string; subject_kind: SubjectKind; subject_id: string; status: JobStatusName }>(sql);
      const job = rows[0];
      if (job) await this.auditStatus(db, job);
    });
  }

  /**
   * The one record of a job's status change, in its transaction: the webhook outbox row of a notified
   * status (orchestrator/webhooks.ts) and the audit entry `job.<status lowercased>` (e.g. `job.on_hold`).
   */
  private async auditStatus(db: PoolClient, job: { id: string; subject_kind: SubjectKind; subject_id: string; status: JobStatusName }, details: Record<string, unknown> = {}): Promise<void> {
    await this.notify(db, job.id, job.status);
    await this.auditJob(db, `job.${job.status.toLowerCase()}`, job, { status: job.status, ...details });
  }

  /**
   * A legal hold stops an open job (orchestrator/holds.ts): ON_HOLD, naming the holds, and what they
   * keep. Steps cut off mid-attempt go back to PENDING. False when the job is not open any more.
   */
  async putOnHold(id: string, holdIds: string[], held: HeldPartRecord[]): Promise<boolean> {
    return withTransaction(this.pool, async (client) => {
      const { rows } = await client.query<JobRow>(
        `UPDATE erasure_jobs SET status = 'ON_HOLD', hold_requested = false, stalled_since = NULL,
                hold_ids = ARRAY(SELECT DISTINCT unnest(hold_ids || $2::uuid[])), held = $3
          WHERE id = $1 AND status IN ('PENDING', 'RUNNING') RETURNING ${JOB_COLUMNS}`,
        [id, holdIds, JSON.stringify(held)],
      );
      if (!rows[0]) return false;
      await client.query(`UPDATE erasure_job_steps SET status = 'PENDING', next_attempt_at = NULL WHERE job_id = $1 AND status IN ('RUNNING', 'RETRYING')`, [id]);
      await this.auditStatus(client, rows[0], { hold_ids: holdIds });
      return true;
    });
  }

  /**
   * A hold was released or ended: an ON_HOLD job goes back to PENDING (its held steps too, their
   * counts to be taken again) and to the queue, in the caller's transaction. The run decides again
   * what the remaining holds keep. False when the job is not ON_HOLD.
   */
  async resumeFromHold(client: PoolClient, id: string, cause: Record<string, unknown>): Promise<boolean> {
    const { rows } = await client.query<JobRow>(`UPDATE erasure_jobs SET status = 'PENDING' WHERE id = $1 AND status = 'ON_HOLD' RETURNING ${JOB_COLUMNS}`, [id]);
    if (!rows[0]) return false;
    await client.query(`UPDATE erasure_job_steps SET status = 'PENDING', expected_rows = NULL, finished_at = NULL WHERE job_id = $1 AND status = 'ON_HOLD'`, [id]);
    await this.queue.enqueue(client, id);
    await this.auditStatus(client, rows[0], cause);
    return true;
  }

  /** A hold was placed on the subject of an open job: its runner stops between chunks (heartbeat) and decides again. */
  async requestHoldStop(client: PoolClient, id: string): Promise<boolean> {
    const { rowCount } = await client.query(`UPDATE erasure_jobs SET hold_requested = true WHERE id = $1 AND status IN ('PENDING', 'RUNNING')`, [id]);
    return rowCount === 1;
  }

  /** A run takes in the holds placed so far: clears the request, before it reads them. */
  async clearHoldRequest(id: string): Promise<void> {
    await this.pool.query(`UPDATE erasure_jobs SET hold_requested = false WHERE id = $1 AND hold_requested`, [id]);
  }

  /** Records what partial holds keep of a running job (shown by GetJob and the certificate). */
  async recordHeld(id: string, holdIds: string[], held: HeldPartRecord[]): Promise<void> {
    await this.pool.query(`UPDATE erasure_jobs SET hold_ids = ARRAY(SELECT DISTINCT unnest(hold_ids || $2::uuid[])), held = $3 WHERE id = $1`, [id, holdIds, JSON.stringify(held)]);
  }

  /** Unfinished jobs of a kind whose subject id (never a keyed hash: those ended) is one of `ids`; for holds, which know users by hash only. */
  async onHoldJobs(): Promise<JobRow[]> {
    const { rows } = await this.pool.query<JobRow>(`SELECT ${JOB_COLUMNS} FROM erasure_jobs WHERE status = 'ON_HOLD'`);
    return rows;
  }

  /**
   * A job ends COMPLETED, in one transaction with what a completed erasure leaves behind: the
   * subject's tombstone and, for a user, the keyed hash instead of their id in every job record
   * (subject, initiator, viewers, request ids, error texts, step details). An erasure's verification
   * (`job.verified_at`, set by the run when no service found anything left) is recorded here too, its
   * audit entry just before the completion's. A crash before the commit leaves the job open and its
   * run repeats, verification included; after it, nothing of the raw id is left here.
   */
  async complete(job: JobRow, finishedAt: Date): Promise<void> {
    const head = await withTransaction(this.pool, async (client) => {
      // An export job erased nothing: it leaves no tombstone and gets no deletion certificate.
      // A customer leaves no tombstone: they may order again (orchestrator/customers.ts).
      if (this.tombstones && job.job_kind === 'erasure' && job.subject_kind !== 'customer') {
        await this.tombstones.record(client, job.subject_kind, job.subject_id, job.id);
        if (job.subject_kind === 'user') await this.pseudonymizeUser(client, job.subject_id, this.tombstones.keys.ref('user', job.subject_id));
      }
      await client.query({
        name: 'erasure-job-complete',
        text: `UPDATE erasure_jobs SET status = 'COMPLETED', error = '', finished_at = $2, verified_at = $3 WHERE id = $1`,
        values: [job.id, finishedAt, job.verified_at],
      });
      if (!this.lifecycle) return undefined;
      // What the certificate states is read before the head is locked: every other job's audit entry
      // waits for this transaction's commit from the moment the completion entry is appended.
      const certified = job.job_kind === 'erasure' ? { steps: await this.steps(job.id, client), archive: (await exportArchiveOf(client, job.id)) ?? null } : undefined;
      // The verification's and the completion's entries (one turn at the head), then the certificate
      // under the head that holds them: all or nothing.
      const audit = this.lifecycle.audit;
      const subjectRef = audit.subjectRef(job.subject_kind, job.subject_id);
      const completed = (
        await audit.appendMany(client, [
          ...(job.verified_at ? [{ kind: 'job.verified', jobId: job.id, subjectRef }] : []),
          { kind: 'job.completed', jobId: job.id, subjectRef, details: { status: 'COMPLETED' } },
        ])
      ).at(-1)!;
      const head = certified ? await this.lifecycle.certificates.issue(client, job, certified.steps, finishedAt, certified.archive, completed) : undefined;
      // After the certificate: the notification names it.
      await this.notify(client, job.id, 'COMPLETED');
      return head;
    });
    if (head) this.lifecycle!.heads.export(head);
  }

  private async pseudonymizeUser(client: PoolClient, userId: string, ref: string): Promise<void> {
    await client.query(
      `UPDATE erasure_jobs SET subject_id = NULL, subject_ref = $2 WHERE subject_kind = 'user' AND subject_id = $1::uuid`,
      [userId, ref],
    );
    await client.query(
      `UPDATE erasure_jobs
          SET requested_by = CASE WHEN requested_by = 'user:' || $1 THEN 'user:' || $2 ELSE requested_by END,
              viewers = array_remove(viewers, $1::uuid),
              request_id = replace(request_id, $1, $2),
              error = replace(error, $1, $2)
        WHERE requested_by = 'user:' || $1 OR $1::uuid = ANY(viewers) OR strpos(request_id, $1) > 0 OR strpos(error, $1) > 0`,
      [userId, ref],
    );
    await client.query(
      `UPDATE erasure_job_steps SET last_error = replace(last_error, $1, $2), entities = replace(entities::text, $1, $2)::jsonb
        WHERE strpos(last_error, $1) > 0 OR strpos(entities::text, $1) > 0`,
      [userId, ref],
    );
  }

  async updateStep(jobId: string, name: string, changes: StepChanges): Promise<void> {
    await this.updateSteps([{ jobId, name, changes }]);
  }

  /**
   * Applies step changes, each as `updateStep` would, in one transaction: a batch of steps (of one
   * job or of several) that changed together costs one commit, and the ends among them one turn at
   * the audit chain's head (each end is still its own audit entry, in the batch's order).
   */
  async updateSteps(updates: readonly { jobId: string; name: string; changes: StepChanges }[]): Promise<void> {
    const changed = updates.filter(({ changes }) => Object.values(changes).some((value) => value !== undefined));
    if (!changed.length) return;
    // One statement for the whole batch: each step's changes as JSON (a key present is a column set,
    // null included; JSON leaves out what is undefined), applied by STEP_BATCH_UPDATE.
    const batch = JSON.stringify(changed.map(({ jobId, name, changes }) => ({ job_id: jobId, name, c: changes })));
    const query = { name: 'erasure-step-batch', text: STEP_BATCH_UPDATE, values: [batch] };
    const ends = this.lifecycle ? changed.filter(({ changes }) => changes.status && STEP_ENDS.includes(changes.status)) : [];
    if (!ends.length) {
      await this.pool.query(query);
      return;
    }
    await withTransaction(this.pool, async (db) => {
      const { rows } = await db.query<{ id: string; name: string; subject_kind: SubjectKind; subject_id: string; rows_deleted: string; attempts: number }>(query);
      // A step's end is a lifecycle event: audited in the same transaction, in the batch's order.
      const audit = this.lifecycle!.audit;
      const events = ends.flatMap(({ jobId, name, changes }) => {
        const step = rows.find((row) => row.id === jobId && row.name === name);
        if (!step) return [];
        return [{
          kind: `step.${changes.status!.toLowerCase()}`,
          jobId,
          subjectRef: audit.subjectRef(step.subject_kind, step.subject_id),
          details: { step: name, status: changes.status, rows: Number(step.rows_deleted), attempts: step.attempts },
        }];
      });
      await audit.appendMany(db, events);
    });
  }

  /**
   * Marks the steps of a phase as started in one statement (RUNNING, one attempt more, started now
   * unless they started before), so a run records the start of a whole phase at the cost of one step.
   */
  async startSteps(jobId: string, names: readonly string[], at: Date): Promise<void> {
    if (!names.length) return;
    await this.pool.query({
      name: 'erasure-steps-start',
      text: `WITH steps AS (
         UPDATE erasure_job_steps SET status = 'RUNNING', attempts = attempts + 1, started_at = COALESCE(started_at, $3), next_attempt_at = NULL
          WHERE job_id = $1 AND name = ANY($2::text[]) RETURNING job_id
       )
       UPDATE erasure_jobs SET last_progress_at = now(), stalled_since = NULL WHERE id IN (SELECT job_id FROM steps)`,
      values: [jobId, names, at],
    });
  }

  /** Records a cancellation request of an open job; returns false when the job is not open. */
  async requestCancel(id: string): Promise<boolean> {
    const { rowCount } = await this.pool.query(`UPDATE erasure_jobs SET cancel_requested = true WHERE id = $1 AND status IN ('PENDING', 'RUNNING')`, [id]);
    return rowCount === 1;
  }

  /**
   * Re-opens a FAILED or CANCELLED job and queues it again, in one transaction: its unfinished steps
   * go back to PENDING. False when the job is not FAILED or CANCELLED, or was restored (a restore
   * returned the subject to use: erasing it again takes a new request); JobAlreadyOpen when the
   * subject has another open job.
   */
  async reopen(id: string): Promise<boolean> {
    try {
      return await withTransaction(this.pool, async (client) => {
        const { rowCount } = await client.query(
          `UPDATE erasure_jobs SET status = 'PENDING', error = '', cancel_requested = false, finished_at = NULL, verified_at = NULL
            WHERE id = $1 AND status IN ('FAILED', 'CANCELLED') AND NOT (status = 'CANCELLED' AND error = $2)`,
          [id, RESTORED_ERROR],
        );
        if (rowCount !== 1) return false;
        await client.query(`UPDATE erasure_job_steps SET status = 'PENDING', finished_at = NULL WHERE job_id = $1 AND status <> 'SUCCEEDED'`, [id]);
        await this.queue.enqueue(client, id);
        const job = (await client.query<JobRow>(`SELECT ${JOB_COLUMNS} FROM erasure_jobs WHERE id = $1`, [id])).rows[0]!;
        await this.notify(client, id, 'PENDING');
        await this.auditJob(client, 'job.reopened', job, { status: 'PENDING' });
        return true;
      });
    } catch (error) {
      if (isUniqueViolation(error)) throw new JobAlreadyOpen(`the subject of job ${id} already has another open job`);
      throw error;
    }
  }
}
