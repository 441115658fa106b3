import { randomUUID } from 'node:crypto';
import type { Pool, PoolClient } from 'pg';
import type { Logger } from 'pino';
import type { LegalHold, PlaceHoldRequest } from '../gen/bakery/erasure/v1/deletion_orchestrator';
import type { PurgeHold, Subject } from '../gen/bakery/erasure/v1/tenant_data_deletion';
import type { Principal } from '../services/kit/auth';
import { failedPrecondition, invalidArgument, notFound, permissionDenied, requireUuid, RpcError } from '../services/kit/errors';
import { parseSubject } from '../services/kit/erasure-service';
import { withTransaction } from '../services/kit/transactions';
import { status } from '@grpc/grpc-js';
import type { AuditChain } from './audit-chain';
import { principalName } from './authorization';
import type { ServiceClients } from './clients';
import { ALL_SERVICES } from './config';
import type { JobEvents } from './events';
import { describeError } from './retry';
import type { SubjectKind } from './steps';
import type { HeldPartRecord, JobRow, JobStore } from './store';
import type { TombstoneKeys } from './tombstones';
import { CustomerSubjects } from './customers';
import { parseCustomerSubject, type CustomerKey } from '../services/kit/customers';

/** A legal hold as stored (table legal_holds, migration 0011). */
export interface HoldRow {
  id: string;
  subject_kind: SubjectKind;
  subject_ref: string;
  tenant_id: string | null;
  services: string[];
  entities: string[];
  reason: string;
  placed_by: string;
  placed_at: Date;
  ends_at: Date | null;
  status: 'ACTIVE' | 'RELEASED' | 'EXPIRED';
  released_by: string | null;
  released_at: Date | null;
}

/** The longest reason accepted (the column's CHECK). */
const MAX_REASON = 500;

/** What a hold names: a tenant or user by id, a customer by its normalized identifier. */
export type HoldSubject = { kind: 'tenant' | 'user'; id: string } | { kind: 'customer'; key: CustomerKey };

/** A contract Subject as a hold's subject (INVALID_ARGUMENT for a malformed one). */
export function holdSubjectOf(subject: Subject | undefined): HoldSubject {
  if (subject?.customer !== undefined) return { kind: 'customer', key: parseCustomerSubject(subject.customer, 'subject.customer') };
  return parseSubject(subject) as HoldSubject;
}

/**
 * The ONE mapping from a subject to what a hold is filed under: its kind, its keyed hash (the audit
 * chain's `subjectRef`; every key version's, to find holds filed under an older key) and, for a
 * tenant (a bakery, not a person), its id, which the retention purge names to the services. A user's
 * id is never kept. A customer's hash is its jobs' `subject_ref` (orchestrator/customers.ts), so a
 * run of its job finds the hold; its tenant is not kept, so the tenant's retention purge is not held.
 */
export function holdKey(subject: HoldSubject, keys: TombstoneKeys): { kind: SubjectKind; ref: string; refs: string[]; tenantId: string | null } {
  if (subject.kind === 'customer') {
    const customers = new CustomerSubjects(keys);
    return { kind: 'customer', ref: customers.ref(subject.key), refs: customers.refs(subject.key), tenantId: null };
  }
  const { kind, id } = subject;
  return { kind, ref: keys.ref(kind, id), refs: keys.refs(kind, id), tenantId: kind === 'tenant' ? id : null };
}

/** An active hold: not released, and its end (if any) not passed. */
const ACTIVE_SQL = `status = 'ACTIVE' AND (ends_at IS NULL OR ends_at > now())`;

/** Whether a hold covers the whole subject (no services, no entities named). */
export const isWhole = (hold: Pick<HoldRow, 'services' | 'entities'>): boolean => hold.services.length === 0 && hold.entities.length === 0;

/**
 * What the holds keep of one service: nothing (`undefined`), all of it (`'all'`), or some tables.
 * A whole-subject hold is the job's to handle (it stops before anything runs).
 */
export function heldIn(holds: readonly HoldRow[], service: string): { scope: 'all' | string[]; holds: HoldRow[] } | undefined {
  const relevant = holds.filter((h) => isWhole(h) || h.services.includes(service) || h.entities.some((e) => e.startsWith(`${service}/`)));
  if (!relevant.length) return undefined;
  if (relevant.some((h) => isWhole(h) || h.services.includes(service))) return { scope: 'all', holds: relevant };
  const tables = [...new Set(relevant.flatMap((h) => h.entities.filter((e) => e.startsWith(`${service}/`)).map((e) => e.slice(service.length + 1))))];
  return { scope: tables, holds: relevant };
}

/** The holds of a retention purge for one service: held tenants, with the held tables (none listed: all). */
export function purgeHoldsFor(holds: readonly HoldRow[], service: string): PurgeHold[] {
  const byTenant = new Map<string, HoldRow[]>();
  for (const hold of holds) if (hold.tenant_id) byTenant.set(hold.tenant_id, [...(byTenant.get(hold.tenant_id) ?? []), hold]);
  return [...byTenant].flatMap(([tenantId, tenantHolds]) => {
    const held = heldIn(tenantHolds, service);
    return held ? [{ tenantId, entities: held.scope === 'all' ? [] : held.scope }] : [];
  });
}

/** A hold as the contract shows it. */
export function toHoldMessage(row: HoldRow): LegalHold {
  return {
    id: row.id,
    subjectKind: row.subject_kind,
    subjectRef: row.subject_ref,
    services: row.services,
    entities: row.entities,
    reason: row.reason,
    placedBy: row.placed_by,
    placeTime: row.placed_at,
    endTime: row.ends_at ?? undefined,
    status: row.status === 'ACTIVE' && row.ends_at && row.ends_at.getTime() <= Date.now() ? 'EXPIRED' : row.status,
    releasedBy: row.released_by ?? '',
    releaseTime: row.released_at ?? undefined,
  };
}

/**
 * Legal holds: placed and released by operators, stored with keyed hashes only, audited
 * (`hold.placed`, `hold.released`, `hold.expired`). A job reads its subject's active holds at the
 * start of every run (orchestrator/saga.ts): a whole-subject hold stops it ON_HOLD before anything is
 * deleted; a partial one keeps the held services' steps ON_HOLD and sends the held entities to the
 * services. A hold placed while the subject's job runs asks its runner to stop between chunks and
 * decide again (`hold_requested`, read by the heartbeat, and a `hold` event for speed). Releasing or
 * ending a hold puts the subject's ON_HOLD job back on the queue, in the same transaction.
 */
export class LegalHolds {
  private timer?: NodeJS.Timeout;
  private sweeping?: Promise<unknown>;

  constructor(
    private readonly pool: Pool,
    private readonly keys: TombstoneKeys,
    private readonly store: JobStore,
    private readonly events: JobEvents,
    private readonly clients: ServiceClients,
    private readonly log: Logger,
    private readonly audit?: AuditChain,
  ) {}

  /** An operator as the hold records name them: a keyed hash, compared on release. */
  private person(principal: Principal): string {
    return this.keys.pseudonym('holder', principalName(principal));
  }

  /** Validates and records a hold; the subject's open job is told to stop between chunks. */
  async place(principal: Principal, request: PlaceHoldRequest): Promise<HoldRow> {
    const subject = holdSubjectOf(request.subject);
    const reason = request.reason.trim();
    if (!reason) throw invalidArgument('reason is required: say why the data is held (e.g. a case reference)');
    if (reason.length > MAX_REASON) throw invalidArgument(`reason must be at most ${MAX_REASON} characters`);
    if (request.endTime && request.endTime.getTime() <= Date.now()) throw invalidArgument('end_time must be in the future');
    const services = [...new Set(request.services)];
    for (const service of services) if (!ALL_SERVICES.includes(service)) throw invalidArgument(`services: unknown service "${service.slice(0, 64)}"`);
    const entities = [...new Set(request.entities)];
    await this.checkEntities(request.subject!, entities);
    const key = holdKey(subject, this.keys);
    const id = randomUUID();
    const { hold, jobId } = await withTransaction(this.pool, async (client) => {
      const { rows } = await client.query<HoldRow>(
        `INSERT INTO legal_holds (id, subject_kind, subject_ref, tenant_id, services, entities, reason, placed_by, ends_at)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) RETURNING *`,
        [id, key.kind, key.ref, key.tenantId, services, entities, reason, this.person(principal), request.endTime ?? null],
      );
      // An export job reads, it erases nothing: a hold does not stop it.
      const open = await this.store.unfinishedFor(key.kind, subject.kind === 'customer' ? key.refs : subject.id, 'erasure');
      const stopped = open && (await this.store.requestHoldStop(client, open.id));
      // The reason is the operator's free text: it stays in the hold, not in the chain.
      await this.audit?.append(client, {
        kind: 'hold.placed',
        jobId: open?.id ?? null,
        subjectRef: key.ref,
        details: { hold_id: id, services, entities, ends_at: request.endTime?.toISOString() ?? null, placed_by: rows[0]!.placed_by },
      });
      return { hold: rows[0]!, jobId: stopped ? open!.id : undefined };
    });
    if (jobId) await this.events.publish({ kind: 'hold', jobId });
    this.log.info({ hold_id: id, subject_kind: key.kind, services, entities, job_id: jobId }, 'legal hold placed');
    return hold;
  }

  /** Each `service/table` must name a table the service's policy covers for this kind of subject (asked of the service). */
  private async checkEntities(subject: Subject, entities: string[]): Promise<void> {
    const byService = new Map<string, string[]>();
    for (const entity of entities) {
      const [service, table, ...rest] = entity.split('/');
      if (!service || !table || rest.length) throw invalidArgument(`entities: "${entity.slice(0, 64)}" must be service/table`);
      if (!ALL_SERVICES.includes(service)) throw invalidArgument(`entities: unknown service "${service.slice(0, 64)}"`);
      byService.set(service, [...(byService.get(service) ?? []), table]);
    }
    for (const [service, tables] of byService) {
      let known: Set<string>;
      try {
        known = new Set((await this.clients.preview(service, subject, 15_000)).entities.map((e) => e.entity));
      } catch (error) {
        throw new RpcError(status.UNAVAILABLE, `could not check the entities of ${service} (${describeError(error)}); nothing was placed, retry`, 'SERVICE_UNAVAILABLE');
      }
      const unknown = tables.filter((table) => !known.has(table));
      if (unknown.length) throw invalidArgument(`entities: ${service} has no entity ${unknown.map((t) => `"${t.slice(0, 64)}"`).join(', ')} for a ${holdSubjectOf(subject).kind}`);
    }
  }

  /** Ends a hold: another operator than the one who placed it. The subject's ON_HOLD job resumes (its id is returned). */
  async release(principal: Principal, holdId: string): Promise<{ hold: HoldRow; resumed?: string }> {
    const id = requireUuid(holdId, 'hold_id');
    const by = this.person(principal);
    const released = await withTransaction(this.pool, async (client) => {
      const { rows } = await client.query<HoldRow>(`SELECT * FROM legal_holds WHERE id = $1 FOR UPDATE`, [id]);
      const hold = rows[0];
      if (!hold) throw notFound(`hold ${id} not found`);
      if (hold.status !== 'ACTIVE') throw failedPrecondition(`hold ${id} is ${hold.status} already`, 'HOLD_NOT_ACTIVE');
      if (hold.placed_by === by) throw permissionDenied('the operator who placed a hold cannot release it; another operator must');
      const { rows: updated } = await client.query<HoldRow>(
        `UPDATE legal_holds SET status = 'RELEASED', released_by = $2, released_at = now() WHERE id = $1 RETURNING *`,
        [id, by],
      );
      return { hold: updated[0]!, resumed: await this.ended(client, updated[0]!, 'hold.released', { released_by: by }) };
    });
    this.log.info({ hold_id: id }, 'legal hold released');
    return released;
  }

  /** A hold ended (released or expired): audited, and the subject's ON_HOLD job queued again, in `client`'s transaction. */
  private async ended(client: PoolClient, hold: HoldRow, kind: 'hold.released' | 'hold.expired', details: Record<string, unknown>): Promise<string | undefined> {
    const job = await this.onHoldJobOf(hold);
    const resumed = job && (await this.store.resumeFromHold(client, job.id, { hold_id: hold.id, cause: kind }));
    await this.audit?.append(client, { kind, jobId: job?.id ?? null, subjectRef: hold.subject_ref, details: { hold_id: hold.id, ...details } });
    return resumed ? job.id : undefined;
  }

  /** The ON_HOLD job of the hold's subject (found by keyed hash: a hold does not keep a user's id). */
  private async onHoldJobOf(hold: HoldRow): Promise<JobRow | undefined> {
    for (const job of await this.store.onHoldJobs()) {
      if (job.subject_kind !== hold.subject_kind) continue;
      const subject = await this.subjectOfJob(job);
      if (subject && holdKey(subject, this.keys).refs.includes(hold.subject_ref)) return job;
    }
    return undefined;
  }

  /** A job's subject as holds name it; a customer's from its sealed identifier (undefined once the job ended). */
  async subjectOfJob(job: JobRow): Promise<HoldSubject | undefined> {
    if (job.subject_kind !== 'customer') return { kind: job.subject_kind, id: job.subject_id };
    const key = await this.store.customerSubject(job.id);
    return key && { kind: 'customer', key };
  }

  /** Active holds of a subject (what a run of its job respects). */
  async activeFor(subject: HoldSubject): Promise<HoldRow[]> {
    const key = holdKey(subject, this.keys);
    const { rows } = await this.pool.query<HoldRow>(
      `SELECT * FROM legal_holds WHERE subject_kind = $1 AND subject_ref = ANY($2::text[]) AND ${ACTIVE_SQL} ORDER BY placed_at, id`,
      [key.kind, key.refs],
    );
    return rows;
  }

  /** Active holds on tenants (the retention purge skips their rows). */
  async activeTenantHolds(): Promise<HoldRow[]> {
    const { rows } = await this.pool.query<HoldRow>(`SELECT * FROM legal_holds WHERE tenant_id IS NOT NULL AND ${ACTIVE_SQL}`);
    return rows;
  }

  /** Holds, newest first (at most 500), of one subject or all, active only unless `includeEnded`. */
  async list(subject: Subject | undefined, includeEnded: boolean): Promise<HoldRow[]> {
    const where: string[] = [];
    const params: unknown[] = [];
    if (subject && (subject.tenantId !== undefined || subject.userId !== undefined || subject.customer !== undefined)) {
      const key = holdKey(holdSubjectOf(subject), this.keys);
      params.push(key.kind, key.refs);
      where.push(`subject_kind = $1 AND subject_ref = ANY($2::text[])`);
    }
    if (!includeEnded) where.push(ACTIVE_SQL);
    const { rows } = await this.pool.query<HoldRow>(
      `SELECT * FROM legal_holds ${where.length ? `WHERE ${where.join(' AND ')}` : ''} ORDER BY placed_at DESC, id DESC LIMIT 500`,
      params,
    );
    return rows;
  }

  /** Marks holds whose end passed EXPIRED (audited) and resumes what they stopped; returns how many. */
  async expireDue(): Promise<number> {
    const { rows: due } = await this.pool.query<{ id: string }>(`SELECT id FROM legal_holds WHERE status = 'ACTIVE' AND ends_at <= now()`);
    let expired = 0;
    for (const { id } of due) {
      await withTransaction(this.pool, async (client) => {
        const { rows } = await client.query<HoldRow>(
          `UPDATE legal_holds SET status = 'EXPIRED', released_at = ends_at WHERE id = $1 AND status = 'ACTIVE' AND ends_at <= now() RETURNING *`,
          [id],
        );
        if (!rows[0]) return; // another replica expired it
        await this.ended(client, rows[0], 'hold.expired', { ended_at: rows[0].ends_at!.toISOString() });
        expired++;
      });
    }
    return expired;
  }

  /** Expires due holds every `intervalMs` (state in the database: a restart loses nothing). */
  start(intervalMs: number): void {
    this.timer = setInterval(() => {
      this.sweeping ??= this.expireDue()
        .catch((error) => this.log.warn({ err: error }, 'hold expiry sweep failed; trying again'))
        .finally(() => (this.sweeping = undefined));
    }, intervalMs);
    this.timer.unref();
  }

  async stop(): Promise<void> {
    clearInterval(this.timer);
    await this.sweeping;
  }
}

/**
 * What a run does about its subject's holds before it erases anything: the hold ids that concern
 * it, whether one covers the whole subject, and, per service, what is held.
 */
export interface HoldDecision {
  holds: HoldRow[];
  whole: HoldRow[];
  held(service: string): { scope: 'all' | string[]; holds: HoldRow[] } | undefined;
}

export function decide(holds: HoldRow[]): HoldDecision {
  return { holds, whole: holds.filter(isWhole), held: (service) => heldIn(holds, service) };
}

/** The held parts of a job (one per hold and service) from the holds and what each service previewed as held. */
export function heldParts(decision: HoldDecision, services: readonly string[], heldRows: (service: string) => number): HeldPartRecord[] {
  return services.flatMap((service) => {
    const held = decision.held(service);
    if (!held) return [];
    return held.holds.map((hold) => ({
      hold_id: hold.id,
      service,
      entities: held.scope === 'all' || hold.services.includes(service) ? [] : hold.entities.filter((e) => e.startsWith(`${service}/`)).map((e) => e.slice(service.length + 1)),
      rows: heldRows(service),
      reason: hold.reason,
    }));
  });
}
