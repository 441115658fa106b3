import { randomUUID } from 'node:crypto';
import { status, type ServiceError } from '@grpc/grpc-js';
import type { Pool } from 'pg';
import type { Logger } from 'pino';
import type { AuditSink } from './tombstone-registry';
import type { DeleteProgress, EntityResult } from '../gen/bakery/erasure/v1/tenant_data_deletion';
import { sleep } from '../services/kit/sleep';
import type { ServiceClients } from './clients';
import { purgeHoldsFor, type HoldRow } from './holds';

/** One service's part of a run. */
export interface ServicePurgeOutcome {
  service: string;
  entities: { entity: string; action: number; rows: number }[];
  rows: number;
  error: string;
}

/** A run of the retention purge as recorded in `retention_purges` (migration 0008). */
/** The pg-boss queue of the daily purge's schedule (created at provisioning: mesh/provision.ts). */
export const RETENTION_PURGE_QUEUE = 'retention-purge';

export interface RetentionPurgeRecord {
  id: string;
  status: 'RUNNING' | 'COMPLETED' | 'FAILED';
  trigger: 'schedule' | 'operator';
  requestedBy: string;
  services: ServicePurgeOutcome[];
  totalRows: number;
  error: string;
  startedAt: Date;
  finishedAt?: Date;
  verifiedAt?: Date;
}

/** Advisory lock key: one retention purge at a time across replicas. */
const PURGE_LOCK = "hashtext('bakery.erasure.retention-purge')";

/**
 * The one place a finished retention purge leaves the orchestrator: a log line (no subject is named;
 * the services purge erased tenants only). The audit chain of issue 11 (item 5) hooks in here: each
 * run becomes one `retention.purged` audit event.
 */
export async function announceRetentionPurge(log: Logger, record: RetentionPurgeRecord, audit?: AuditSink): Promise<void> {
  await audit?.appendAuditEvent('retention.purged', {
    purge_id: record.id,
    status: record.status,
    trigger: record.trigger,
    rows: record.totalRows,
    services: record.services.filter((s) => s.rows || s.error).map((s) => ({ service: s.service, rows: s.rows, failed: !!s.error })),
  });
  log.info(
    { purge_id: record.id, status: record.status, trigger: record.trigger, rows: record.totalRows, services: record.services.filter((s) => s.rows || s.error).map((s) => ({ service: s.service, rows: s.rows, error: s.error || undefined })) },
    'retention purge finished',
  );
}

/**
 * The retention purge: an audited run of its own. Every data service removes the retained rows of
 * erased tenants whose retention period is over (TenantDataDeletion.PurgeExpired, chunks in SQL);
 * then a second call to each must remove nothing (verification: nothing expired is left). The run is
 * recorded before any work starts. One run at a time across replicas (an advisory lock); runs daily
 * by a pg-boss schedule (orchestrator/queue.ts) and on demand (PurgeExpiredRetention, `erasure
 * purge-expired`). A service that fails leaves the run FAILED; the next run picks up what is left.
 */
export class RetentionPurges {
  constructor(
    private readonly pool: Pool,
    private readonly clients: ServiceClients,
    private readonly services: readonly string[],
    private readonly log: Logger,
    private readonly options: { deadlineMs: number; concurrency: number; audit?: AuditSink; holds?: () => Promise<HoldRow[]> },
  ) {}

  /** Runs a purge now; ABORTED-like error when another run holds the lock (the caller may retry). */
  async run(trigger: RetentionPurgeRecord['trigger'], requestedBy: string, signal: AbortSignal = new AbortController().signal): Promise<RetentionPurgeRecord> {
    const lock = await this.pool.connect();
    try {
      const { rows } = await lock.query<{ locked: boolean }>(`SELECT pg_try_advisory_lock(${PURGE_LOCK}) AS locked`);
      if (!rows[0]!.locked) throw new RetentionPurgeBusy();
      try {
        return await this.runLocked(trigger, requestedBy, signal);
      } finally {
        await lock.query(`SELECT pg_advisory_unlock(${PURGE_LOCK})`);
      }
    } finally {
      lock.release();
    }
  }

  /** A recorded run. */
  async get(id: string): Promise<RetentionPurgeRecord | undefined> {
    const { rows } = await this.pool.query('SELECT * FROM retention_purges WHERE id = $1', [id]);
    return rows[0] && fromRow(rows[0]);
  }

  private async runLocked(trigger: RetentionPurgeRecord['trigger'], requestedBy: string, signal: AbortSignal): Promise<RetentionPurgeRecord> {
    const id = randomUUID();
    await this.pool.query(`INSERT INTO retention_purges (id, status, trigger, requested_by) VALUES ($1, 'RUNNING', $2, $3)`, [id, trigger, requestedBy]);
    // Legal holds, read once per run: every held tenant's rows stay, in both passes.
    const holds = (await this.options.holds?.()) ?? [];
    const outcomes = await this.eachService((service) => this.purgeOne(service, id, signal, holds));
    const failed = outcomes.filter((o) => o.error);
    let error = failed.length ? `retention purge failed in ${failed.map((o) => `${o.service} (${o.error})`).join(', ')}` : '';
    let verifiedAt: Date | undefined;
    if (!error) {
      // Verification: a second pass must find nothing expired anywhere.
      const second = await this.eachService((service) => this.purgeOne(service, id, signal, holds));
      const left = second.filter((o) => o.error || o.rows > 0);
      if (left.length) error = `verification found expired rows or failed in ${left.map((o) => `${o.service} (${o.error || `${o.rows} rows`})`).join(', ')}`;
      else verifiedAt = new Date();
      for (const o of second) mergeInto(outcomes.find((x) => x.service === o.service)!, o);
    }
    const totalRows = outcomes.reduce((sum, o) => sum + o.rows, 0);
    const { rows } = await this.pool.query(
      `UPDATE retention_purges SET status = $2, services = $3, total_rows = $4, error = $5, finished_at = now(), verified_at = $6
        WHERE id = $1 RETURNING *`,
      [id, error ? 'FAILED' : 'COMPLETED', JSON.stringify(outcomes), totalRows, error, verifiedAt ?? null],
    );
    const record = fromRow(rows[0]);
    await announceRetentionPurge(this.log, record, this.options.audit);
    return record;
  }

  private async eachService(work: (service: string) => Promise<ServicePurgeOutcome>): Promise<ServicePurgeOutcome[]> {
    const queue = [...this.services];
    const results = new Map<string, ServicePurgeOutcome>();
    await Promise.all(
      Array.from({ length: Math.min(this.options.concurrency, queue.length) }, async () => {
        for (let service = queue.shift(); service; service = queue.shift()) results.set(service, await work(service));
      }),
    );
    return this.services.map((service) => results.get(service)!);
  }

  private async purgeOne(service: string, jobId: string, signal: AbortSignal, holds: HoldRow[]): Promise<ServicePurgeOutcome> {
    let result: { entities: EntityResult[] } | undefined;
    const attempt = () =>
      this.clients.purgeExpired(service, jobId, this.options.deadlineMs, (message: DeleteProgress) => {
        if (message.result) result = message.result;
      }, signal, purgeHoldsFor(holds, service));
    try {
      // A service restarting (UNAVAILABLE) gets a few more tries; anything else fails its part.
      for (let tries = 1; ; tries++) {
        try {
          await attempt();
          break;
        } catch (error) {
          if ((error as ServiceError).code !== status.UNAVAILABLE || tries === 3) throw error;
          await sleep(1000 * tries, signal);
        }
      }
    } catch (error) {
      const e = error as ServiceError;
      return { service, entities: [], rows: 0, error: e.code === undefined ? e.message : `${status[e.code]}: ${e.details}` };
    }
    const entities = (result?.entities ?? []).map((e) => ({ entity: e.entity, action: e.action, rows: Number(e.rows) })).filter((e) => e.rows > 0);
    return { service, entities, rows: entities.reduce((sum, e) => sum + e.rows, 0), error: '' };
  }
}

/** Another run holds the purge lock. */
export class RetentionPurgeBusy extends Error {
  override name = 'RetentionPurgeBusy';
  constructor() {
    super('a retention purge is running already; try again when it has finished');
  }
}

function mergeInto(target: ServicePurgeOutcome, more: ServicePurgeOutcome): void {
  for (const entity of more.entities) {
    const existing = target.entities.find((e) => e.entity === entity.entity);
    if (existing) existing.rows += entity.rows;
    else target.entities.push({ ...entity });
  }
  target.rows += more.rows;
}

function fromRow(row: Record<string, any>): RetentionPurgeRecord {
  return {
    id: row.id,
    status: row.status,
    trigger: row.trigger,
    requestedBy: row.requested_by,
    services: row.services,
    totalRows: Number(row.total_rows),
    error: row.error,
    startedAt: row.started_at,
    finishedAt: row.finished_at ?? undefined,
    verifiedAt: row.verified_at ?? undefined,
  };
}
