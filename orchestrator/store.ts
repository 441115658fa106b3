import { randomBytes, randomUUID } from 'node:crypto';
import type { Pool, PoolClient } from 'pg';

export type JobStatusName = 'PENDING' | 'RUNNING' | 'COMPLETED' | 'FAILED' | 'CANCELLED';
export type StepStatusName = 'PENDING' | 'RUNNING' | 'RETRYING' | 'SUCCEEDED' | 'FAILED' | 'CANCELLED';
export type Phase = 'prepare' | 'domain' | 'identity';
export type SubjectKind = 'tenant' | 'user';
export const OPEN_STATUSES: JobStatusName[] = ['PENDING', 'RUNNING'];

export interface JobOptions {
  /** User jobs: erase owned tenants that have members but no other admin instead of refusing. */
  eraseOwnedTenants?: boolean;
}

export interface JobRow {
  id: string;
  subject_kind: SubjectKind;
  subject_id: string;
  status: JobStatusName;
  requested_by: string;
  request_id: string | null;
  viewers: string[];
  options: JobOptions;
  parent_job_id: string | null;
  trace_id: string;
  error: string;
  cancel_requested: boolean;
  created_at: Date;
  started_at: Date | null;
  finished_at: Date | null;
  verified_at: Date | null;
}

export interface EntityTally {
  action: number;
  rows: number;
  chunks: number;
}

export interface StepRow {
  job_id: string;
  name: string;
  phase: Phase;
  position: number;
  status: StepStatusName;
  attempts: number;
  rows_deleted: string;
  expected_rows: string | null;
  entities: Record<string, EntityTally>;
  last_error: string;
  started_at: Date | null;
  finished_at: Date | null;
}

export interface NewJob {
  subjectKind: SubjectKind;
  subjectId: string;
  requestedBy: string;
  requestId?: string;
  viewers: string[];
  options: JobOptions;
  parentJobId?: string;
  steps: { name: string; phase: Phase }[];
}

export interface ListFilter {
  status?: JobStatusName;
  subjectKind?: SubjectKind;
  subjectId?: string;
  /** Only jobs this user may see (initiator or viewer); unset for services. */
  visibleTo?: string;
  pageSize: number;
  pageToken?: string;
}

const JOB_COLUMNS = `id, subject_kind, subject_id, status, requested_by, request_id, viewers, options, parent_job_id,
  trace_id, error, cancel_requested, created_at, started_at, finished_at, verified_at`;

/** Thrown when a request id is reused for another subject. */
export class RequestIdConflict extends Error {}

/** The orchestrator's job records (DESIGN §5): written before any work starts. */
export class JobStore {
  constructor(readonly pool: Pool) {}

  /**
   * Records a job and its steps, or returns the job that already answers this request: the job with
   * the same request id, else the subject's open job. `enqueue` runs in the same transaction, so a
   * job is never recorded without its queue entry.
   */
  async createOrAttach(input: NewJob, enqueue: (client: PoolClient, jobId: string) => Promise<void>): Promise<{ job: JobRow; created: boolean }> {
    for (let attempt = 0; attempt < 5; attempt++) {
      const existing = await this.findExisting(input);
      if (existing) return { job: existing, created: false };
      const client = await this.pool.connect();
      try {
        await client.query('BEGIN');
        const id = randomUUID();
        const { rows } = await client.query<JobRow>(
          `INSERT INTO erasure_jobs (id, subject_kind, subject_id, status, requested_by, request_id, viewers, options, parent_job_id, trace_id)
           VALUES ($1, $2, $3, 'PENDING', $4, $5, $6, $7, $8, $9) RETURNING ${JOB_COLUMNS}`,
          [id, input.subjectKind, input.subjectId, input.requestedBy, input.requestId ?? null, input.viewers, input.options, input.parentJobId ?? null, randomBytes(16).toString('hex')],
        );
        await client.query(
          `INSERT INTO erasure_job_steps (job_id, name, phase, position, status)
           SELECT $1, s.name, s.phase, s.position - 1, 'PENDING' FROM unnest($2::text[], $3::text[]) WITH ORDINALITY AS s (name, phase, position)`,
          [id, input.steps.map((s) => s.name), input.steps.map((s) => s.phase)],
        );
        await enqueue(client, id);
        await client.query('COMMIT');
        return { job: rows[0]!, created: true };
      } catch (error) {
        await client.query('ROLLBACK').catch(() => undefined);
        // 23505: another request created the subject's open job (or used the request id) first: attach to it.
        if ((error as { code?: string }).code !== '23505') throw error;
      } finally {
        client.release();
      }
    }
    throw new Error('could not create or find the job after repeated conflicts');
  }

  private async findExisting(input: NewJob): Promise<JobRow | undefined> {
    if (input.requestId) {
      const { rows } = await this.pool.query<JobRow>(`SELECT ${JOB_COLUMNS} FROM erasure_jobs WHERE request_id = $1`, [input.requestId]);
      const byRequest = rows[0];
      if (byRequest) {
        if (byRequest.subject_kind !== input.subjectKind || byRequest.subject_id !== input.subjectId) {
          throw new RequestIdConflict(`request_id ${JSON.stringify(input.requestId)} was already used for another subject`);
        }
        return byRequest;
      }
    }
    const { rows } = await this.pool.query<JobRow>(
      `SELECT ${JOB_COLUMNS} FROM erasure_jobs WHERE subject_kind = $1 AND subject_id = $2 AND status IN ('PENDING', 'RUNNING')`,
      [input.subjectKind, input.subjectId],
    );
    return rows[0];
  }

  async get(id: string): Promise<JobRow | undefined> {
    const { rows } = await this.pool.query<JobRow>(`SELECT ${JOB_COLUMNS} FROM erasure_jobs WHERE id = $1`, [id]);
    return rows[0];
  }

  async steps(jobId: string): Promise<StepRow[]> {
    const { rows } = await this.pool.query<StepRow>(
      `SELECT job_id, name, phase, position, status, attempts, rows_deleted, expected_rows, entities, last_error, started_at, finished_at
         FROM erasure_job_steps WHERE job_id = $1 ORDER BY position`,
      [jobId],
    );
    return rows;
  }

  async stepsOf(jobIds: string[]): Promise<Map<string, StepRow[]>> {
    const { rows } = await this.pool.query<StepRow>(
      `SELECT job_id, name, phase, position, status, attempts, rows_deleted, expected_rows, '{}'::jsonb AS entities, last_error, started_at, finished_at
         FROM erasure_job_steps WHERE job_id = ANY($1::uuid[]) ORDER BY job_id, position`,
      [jobIds],
    );
    const byJob = new Map<string, StepRow[]>(jobIds.map((id) => [id, []]));
    for (const row of rows) byJob.get(row.job_id)!.push(row);
    return byJob;
  }

  /** Newest first; the page token is the last row's (created_at, id). */
  async list(filter: ListFilter): Promise<{ jobs: JobRow[]; nextPageToken: string }> {
    const where: string[] = [];
    const params: unknown[] = [];
    const add = (sql: string, value: unknown) => {
      params.push(value);
      where.push(sql.replace('?', `$${params.length}`));
    };
    if (filter.status) add('status = ?', filter.status);
    if (filter.subjectKind) add('subject_kind = ?', filter.subjectKind);
    if (filter.subjectId) add('subject_id = ?', filter.subjectId);
    if (filter.visibleTo) {
      params.push(filter.visibleTo);
      where.push(`(requested_by = 'user:' || $${params.length} OR $${params.length}::uuid = ANY(viewers))`);
    }
    if (filter.pageToken) {
      const [createdAt, id] = decodePageToken(filter.pageToken);
      params.push(createdAt, id);
      where.push(`(created_at, id) < ($${params.length - 1}::timestamptz, $${params.length}::uuid)`);
    }
    params.push(filter.pageSize + 1);
    const { rows } = await this.pool.query<JobRow>(
      `SELECT ${JOB_COLUMNS} FROM erasure_jobs ${where.length ? `WHERE ${where.join(' AND ')}` : ''}
        ORDER BY created_at DESC, id DESC LIMIT $${params.length}`,
      params,
    );
    const more = rows.length > filter.pageSize;
    const jobs = rows.slice(0, filter.pageSize);
    const last = jobs.at(-1);
    return { jobs, nextPageToken: more && last ? encodePageToken(last.created_at, last.id) : '' };
  }

  /**
   * Records `owner` as the job's runner (the caller holds the job's advisory lock, which is what keeps
   * runs exclusive; the lease columns show who runs it and since when it was last heard of).
   */
  async claim(id: string, owner: string, leaseMs: number): Promise<JobRow | undefined> {
    const { rows } = await this.pool.query<JobRow>(
      `UPDATE erasure_jobs SET lease_owner = $2, lease_until = now() + $3 * interval '1 millisecond'
        WHERE id = $1 AND status IN ('PENDING', 'RUNNING')
        RETURNING ${JOB_COLUMNS}`,
      [id, owner, leaseMs],
    );
    return rows[0];
  }

  /** Extends the lease; says whether it is still ours and whether a cancellation was requested. */
  async heartbeat(id: string, owner: string, leaseMs: number): Promise<{ held: boolean; cancelRequested: boolean }> {
    const { rows } = await this.pool.query<{ cancel_requested: boolean }>(
      `UPDATE erasure_jobs SET lease_until = now() + $3 * interval '1 millisecond'
        WHERE id = $1 AND lease_owner = $2 RETURNING cancel_requested`,
      [id, owner, leaseMs],
    );
    return { held: rows.length === 1, cancelRequested: rows[0]?.cancel_requested ?? false };
  }

  async release(id: string, owner: string): Promise<void> {
    await this.pool.query(`UPDATE erasure_jobs SET lease_owner = NULL, lease_until = NULL WHERE id = $1 AND lease_owner = $2`, [id, owner]);
  }

  /** Open jobs, oldest first: at start-up each is tried; those whose runner is alive stay with it. */
  async openJobs(): Promise<string[]> {
    const { rows } = await this.pool.query<{ id: string }>(
      `SELECT id FROM erasure_jobs WHERE status IN ('PENDING', 'RUNNING') ORDER BY created_at`,
    );
    return rows.map((row) => row.id);
  }

  async updateJob(id: string, fields: Partial<Pick<JobRow, 'status' | 'error' | 'started_at' | 'finished_at' | 'verified_at' | 'cancel_requested'>>): Promise<void> {
    const keys = Object.keys(fields);
    if (!keys.length) return;
    await this.pool.query(
      `UPDATE erasure_jobs SET ${keys.map((key, i) => `${key} = $${i + 2}`).join(', ')} WHERE id = $1`,
      [id, ...keys.map((key) => (fields as Record<string, unknown>)[key])],
    );
  }

  async updateStep(
    jobId: string,
    name: string,
    fields: Partial<Pick<StepRow, 'status' | 'attempts' | 'last_error' | 'started_at' | 'finished_at' | 'entities'>> & {
      rows_deleted?: number;
      expected_rows?: number | null;
    },
  ): Promise<void> {
    const keys = Object.keys(fields);
    if (!keys.length) return;
    await this.pool.query(
      `UPDATE erasure_job_steps SET ${keys.map((key, i) => `${key} = $${i + 3}`).join(', ')} WHERE job_id = $1 AND name = $2`,
      [jobId, name, ...keys.map((key) => (fields as Record<string, unknown>)[key])],
    );
  }

  /** Records a cancellation request of an open job; returns false when the job is not open. */
  async requestCancel(id: string): Promise<boolean> {
    const { rowCount } = await this.pool.query(
      `UPDATE erasure_jobs SET cancel_requested = true WHERE id = $1 AND status IN ('PENDING', 'RUNNING')`,
      [id],
    );
    return rowCount === 1;
  }

  /**
   * Re-opens a FAILED or CANCELLED job: its unfinished steps go back to PENDING. Throws the unique
   * violation (23505) when the subject already has another open job.
   */
  async reopen(id: string, enqueue: (client: PoolClient, jobId: string) => Promise<void>): Promise<boolean> {
    const client = await this.pool.connect();
    try {
      await client.query('BEGIN');
      const { rowCount } = await client.query(
        `UPDATE erasure_jobs SET status = 'PENDING', error = '', cancel_requested = false, finished_at = NULL, verified_at = NULL
          WHERE id = $1 AND status IN ('FAILED', 'CANCELLED')`,
        [id],
      );
      if (rowCount !== 1) {
        await client.query('ROLLBACK');
        return false;
      }
      await client.query(
        `UPDATE erasure_job_steps SET status = 'PENDING', finished_at = NULL WHERE job_id = $1 AND status <> 'SUCCEEDED'`,
        [id],
      );
      await enqueue(client, id);
      await client.query('COMMIT');
      return true;
    } catch (error) {
      await client.query('ROLLBACK').catch(() => undefined);
      throw error;
    } finally {
      client.release();
    }
  }
}

function encodePageToken(createdAt: Date, id: string): string {
  return Buffer.from(`${createdAt.toISOString()}|${id}`).toString('base64url');
}

export function decodePageToken(token: string): [string, string] {
  const [createdAt, id] = Buffer.from(token, 'base64url').toString().split('|');
  if (!createdAt || !id || Number.isNaN(Date.parse(createdAt)) || !/^[0-9a-f-]{36}$/i.test(id)) {
    throw new Error('page_token is not a token this service issued');
  }
  return [createdAt, id];
}
