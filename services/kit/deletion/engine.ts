import { createHash } from 'node:crypto';
import type { Pool } from 'pg';
import { trace, SpanStatusCode, type Span } from '@opentelemetry/api';
import type { EntityAction } from '../../../gen/bakery/erasure/v1/tenant_data_deletion';
import type { ChunkConfig } from '../config';
import { count, instruments, observeMs } from '../metrics';
import { sleep } from '../sleep';
import { CATALOG_FINGERPRINT_SQL, catalogFingerprint, coverageProblems, deleteOrder, readCatalog } from './catalog';
import { BEFORE_ALL_IDS, buildPlans, buildPurgePlans, distinctIdsSql, heldClosure, type ChunkPlan, type EntityPlan, type PlanKind, type Plans, type SubjectParam } from './plan';
import type { DeletionPolicy, Retention } from './policy';
import { fingerprint } from '../canonical-json';

const tracer = trace.getTracer('bakery-erasure-kit');

export interface EntityCount {
  entity: string;
  action: EntityAction;
  rows: number;
  retainedRows: number;
  /** Rows a legal hold keeps (held entities only). */
  heldRows: number;
  retainReason?: string;
  /** When the first and the last retained row's retention period ends (RETAIN with a period). */
  earliestExpiry?: Date;
  latestExpiry?: Date;
}

/** One entity's share of a committed chunk. */
export interface ChunkEvent {
  entity: string;
  action: EntityAction;
  chunkRows: number;
  entityRowsDone: number;
  totalRowsDone: number;
  expectedTotalRows: number;
  chunkDurationMs: number;
}

export interface EntityOutcome {
  entity: string;
  action: EntityAction;
  rows: number;
  chunks: number;
}

/**
 * Thrown when the database does not match the service's models (drift, an unclassified table or
 * column, an unsound rule); the message names every problem.
 */
export class CoverageError extends Error {
  constructor(readonly problems: string[]) {
    super(`the database does not match the service's models: ${problems.join('; ')}`);
    this.name = 'CoverageError';
  }
}

/** Thrown between chunks when the caller went away; committed chunks stay committed. */
export class DeletionCancelled extends Error {
  constructor() {
    super('deletion cancelled by the caller');
    this.name = 'DeletionCancelled';
  }
}

/** Thrown when a chunk failed; committed chunks stay committed. */
export class DeletionFailed extends Error {
  constructor(override readonly cause: unknown) {
    super((cause as Error)?.message ?? String(cause));
    this.name = 'DeletionFailed';
  }
}

interface SoundCheck {
  fingerprint: string;
  order: string[];
  plans: Map<string, PlanSet>;
}

/** A statement node-postgres prepares once per connection under `name` (so it is parsed and planned once there). */
interface NamedQuery {
  name: string;
  text: string;
}

/**
 * Named by a digest of the text, as a name must keep its text on a connection. PostgreSQL still
 * plans the first five runs of a prepared statement for their parameters and keeps a generic plan
 * only when it costs no more than those (plan_cache_mode auto), so a subject far larger than the
 * average keeps getting plans of its own.
 */
function named(prefix: string, text: string): NamedQuery {
  return { name: `bakery-erasure-${prefix}-${createHash('sha256').update(text).digest('hex').slice(0, 32)}`, text };
}

/**
 * Plans with their statements named: the one that counts a subject ($1) and fingerprints the
 * catalog, each chunk (by index into plans.chunks), and the bare count (plans.countSql) a pass
 * ends with.
 */
interface PlanSet {
  plans: Plans;
  checkedCount: NamedQuery;
  chunks: NamedQuery[];
  recount?: NamedQuery;
}

/** A row of plan.ts countSql (`rows_0`, …), with `catalog_fingerprint` when asked. */
type CountRow = Record<string, string | Date | null>;

/** The entity counts of one row of plan.ts countSql over `plans`. */
function countsOf(plans: EntityPlan[], row: CountRow): EntityCount[] {
  const number = (value: string | Date | null | undefined) => (value == null ? 0 : Number(value));
  return plans.map((plan, i) => ({
    entity: plan.entity,
    action: plan.action,
    rows: number(row[`rows_${i}`]),
    retainedRows: number(row[`retained_${i}`]),
    heldRows: number(row[`held_${i}`]),
    retainReason: plan.retainReason,
    earliestExpiry: (row[`earliest_${i}`] as Date | null | undefined) ?? undefined,
    latestExpiry: (row[`latest_${i}`] as Date | null | undefined) ?? undefined,
  }));
}

/** Plan sets kept per checked catalog (kind × held tables); past this many the cache starts over. */
const MAX_CACHED_PLAN_SETS = 64;

/** How many times to count when the schema changed under each count (it then checks again). */
const MAX_COUNTS = 3;

/** How many passes to make when rows are still found after a pass (rows written meanwhile). */
const MAX_PASSES = 3;

/**
 * The deletion engine of one service: checks the models and policy against the catalog, previews
 * exactly, and deletes in time-sized ctid chunks, each one statement (one short transaction), never
 * loading rows into Node.
 */
/** A retention period in words (`10y from issued_at`); empty when none is declared. */
function describeRetention(retention: Retention | undefined): string {
  if (!retention) return '';
  const period = [retention.years ? `${retention.years}y` : '', retention.days ? `${retention.days}d` : ''].filter(Boolean).join(' ');
  return `${period || '0d'} from ${retention.from}`;
}

export class DeletionEngine {
  /**
   * The last check that passed: the catalog's fingerprint it was made on, the delete order, and the
   * plans built on that order (by kind and held tables). A check that failed is not kept: the next
   * call checks again.
   */
  private sound?: SoundCheck;

  constructor(
    readonly serviceName: string,
    readonly policy: DeletionPolicy,
    readonly pool: Pool,
    private readonly chunks: ChunkConfig,
  ) {}

  /**
   * `sha256:<hex>` of the declared policy (every table's rules and the event tables), reported with
   * each Delete result so a deletion certificate names the exact rules applied.
   */
  get policyFingerprint(): string {
    return fingerprint({ service: this.serviceName, tables: this.policy.tables, eventTables: this.policy.eventTables ?? [] });
  }

  /** Why a table's rows are kept on a tenant erasure, and for how long (`10y from issued_at`); undefined unless retained. */
  retention(table: string): { reason: string; period: string } | undefined {
    const rule = this.policy.tables[table]?.tenant;
    if (!rule || !('retain' in rule)) return undefined;
    return { reason: rule.retain.reason, period: describeRetention(rule.retain.retention) };
  }

  /**
   * Reads the catalog and returns the plans, or throws CoverageError (fail closed). `held` names
   * tables under a legal hold (UnknownEntity for a table the policy does not know).
   */
  async plans(kind: PlanKind, held: readonly string[] = []): Promise<Plans> {
    return this.plansOn(await this.check(), kind, held).plans;
  }

  /** The tables in delete order once the catalog check passed, or throws CoverageError (fail closed). */
  async deleteOrder(): Promise<string[]> {
    return (await this.check()).order;
  }

  /**
   * The catalog check: the catalog's fingerprint (catalog.ts; taken now unless given) is compared
   * with that of the last check that passed, and only when they differ is the catalog read and
   * checked again. The fingerprint is taken before the catalog is read: a change in between leaves a
   * fingerprint that no longer matches, and the next call checks again.
   */
  private async check(fingerprint?: string): Promise<SoundCheck> {
    fingerprint ??= await catalogFingerprint(this.pool);
    if (this.sound?.fingerprint !== fingerprint) {
      this.sound = undefined;
      const catalog = await readCatalog(this.pool);
      const problems = coverageProblems(this.policy, catalog);
      if (problems.length) throw new CoverageError(problems);
      this.sound = { fingerprint, order: deleteOrder(this.policy, catalog), plans: new Map() };
    }
    return this.sound;
  }

  /** The plans on a checked catalog, built once per kind and held tables. */
  private plansOn(sound: SoundCheck, kind: PlanKind, held: readonly string[]): PlanSet {
    const closure = heldClosure(this.policy, held);
    const key = `${kind} ${[...closure].sort().join(' ')}`;
    let set = sound.plans.get(key);
    if (!set) {
      if (sound.plans.size >= MAX_CACHED_PLAN_SETS) sound.plans.clear();
      const plans = buildPlans(this.policy, sound.order, kind, closure);
      // The counts and the catalog's fingerprint in one statement (one snapshot); named (prepared),
      // so each connection plans it once, by a digest of its text, as a name must keep its text.
      const text = `SELECT (${CATALOG_FINGERPRINT_SQL}) AS catalog_fingerprint${plans.countSql ? `, counts.* FROM (${plans.countSql}) counts` : ''}`;
      // The chunks and the count after a pass are named too: a small subject's erasure is a handful
      // of statements per service, and planning each one again on every call cost more than running it.
      set = {
        plans,
        checkedCount: named('count', text),
        chunks: plans.chunks.map((chunk) => named('chunk', chunk.sql)),
        recount: plans.countSql ? named('recount', plans.countSql) : undefined,
      };
      sound.plans.set(key, set);
    }
    return set;
  }

  /** Coverage problems right now (empty when sound); used for the erasure health status. */
  async problems(): Promise<string[]> {
    return coverageProblems(this.policy, await readCatalog(this.pool));
  }

  async preview(kind: PlanKind, subjectId: SubjectParam, held: readonly string[] = []): Promise<EntityCount[]> {
    return (await this.checkedCount(kind, subjectId, held)).counts;
  }

  /**
   * The plans and the subject's counts, checked against the catalog by the counting statement itself:
   * it also returns the catalog's fingerprint, and the counts stand only when that is the fingerprint
   * the plans were checked on, so a subject costs one statement and a schema change is seen by the
   * very next call. Otherwise the catalog is checked again (CoverageError when it no longer matches,
   * fail closed) and the subject counted again on the new plans; the same when the statement fails
   * (a table dropped), whose error stands when the catalog did not change.
   */
  private async checkedCount(kind: PlanKind, subjectId: SubjectParam, held: readonly string[]): Promise<{ plans: Plans; set: PlanSet; counts: EntityCount[] }> {
    let sound = this.sound ?? (await this.check());
    for (let attempt = 1; ; attempt++) {
      const set = this.plansOn(sound, kind, held);
      const { plans, checkedCount } = set;
      let row: CountRow;
      try {
        row = (await this.pool.query<CountRow>({ ...checkedCount, values: plans.countSql ? [subjectId] : [] })).rows[0]!;
      } catch (error) {
        const now = await this.check();
        if (now.fingerprint === sound.fingerprint || attempt === MAX_COUNTS) throw error;
        sound = now;
        continue;
      }
      if (row.catalog_fingerprint === sound.fingerprint) return { plans, set, counts: countsOf(plans.entities, row) };
      if (attempt === MAX_COUNTS) throw new Error(`the database's schema changed during each of ${MAX_COUNTS} counts`);
      sound = await this.check(row.catalog_fingerprint as string);
    }
  }

  /**
   * Counts the subject's rows of every entity of the plan set in one statement (plan.ts countSql,
   * named, so the same statement whichever entities are still left: one prepared statement per plan
   * set, not one per subset).
   */
  private async count(set: PlanSet, subjectId: SubjectParam): Promise<EntityCount[]> {
    return set.recount ? countsOf(set.plans.entities, (await this.pool.query<CountRow>({ ...set.recount, values: [subjectId] })).rows[0]!) : [];
  }

  /**
   * Erases the subject's rows chunk by chunk in delete order, calling `onStart` with the rows found
   * before the first chunk (it may stop the call there, nothing changed) and `onChunk` for every entity a committed chunk touched (awaiting both, so
   * a slow reader slows the deletion instead of buffering progress). Stops between chunks when
   * `signal` is aborted.
   */
  async erase(
    kind: PlanKind,
    subjectId: SubjectParam,
    onChunk: (event: ChunkEvent) => Promise<void>,
    signal: AbortSignal,
    held: readonly string[] = [],
    onStart: (expectedTotal: number) => Promise<'go' | 'stop'> = async () => 'go',
  ): Promise<{ expectedTotal: number; outcomes: EntityOutcome[] }> {
    const { plans, set, counts: expected } = await this.checkedCount(kind, subjectId, held);
    const expectedTotal = expected.reduce((sum, entity) => sum + entity.rows, 0);
    // Before the first chunk: the caller learns what this call will act on from the call itself,
    // and may stop it there (DeleteRequest.stop_if_found).
    if ((await onStart(expectedTotal)) === 'stop') return { expectedTotal, outcomes: [] };
    const outcomes = new Map<string, EntityOutcome>(
      plans.entities.map((plan) => [plan.entity, { entity: plan.entity, action: plan.action, rows: 0, chunks: 0 }]),
    );
    const remaining = (counts: EntityCount[]) => new Set(counts.filter((c) => c.rows > 0).map((c) => c.entity));
    let totalDone = 0;

    let left = remaining(expected);
    for (let pass = 0; left.size > 0; pass++) {
      if (pass === MAX_PASSES) {
        throw new DeletionFailed(new Error(`rows still present after ${MAX_PASSES} passes in: ${[...left].join(', ')}`));
      }
      for (const [index, chunk] of plans.chunks.entries()) {
        if (!chunk.entities.some((e) => left.has(e.entity))) continue;
        const root = chunk.entities.at(-1)!.entity;
        await tracer.startActiveSpan(
          'erasure.entity',
          { attributes: { 'erasure.service': this.serviceName, 'erasure.entity': root } },
          async (span) => {
            try {
              await this.runChunks(chunk, set.chunks[index]!, subjectId, signal, async (counts, durationMs) => {
                observeMs(instruments.chunkDuration, durationMs, { service: this.serviceName, entity: root });
                for (const [i, { entity, action }] of chunk.entities.entries()) {
                  const rows = counts[i]!;
                  if (rows === 0) continue;
                  count(instruments.rowsErased, rows, { service: this.serviceName, entity });
                  const outcome = outcomes.get(entity)!;
                  outcome.rows += rows;
                  outcome.chunks += 1;
                  totalDone += rows;
                  await onChunk({
                    entity,
                    action,
                    chunkRows: rows,
                    entityRowsDone: outcome.rows,
                    totalRowsDone: totalDone,
                    expectedTotalRows: expectedTotal,
                    chunkDurationMs: durationMs,
                  });
                }
              });
              span.setAttribute('erasure.rows_deleted', chunk.entities.reduce((s, e) => s + outcomes.get(e.entity)!.rows, 0));
            } catch (error) {
              recordError(span, error);
              throw error;
            } finally {
              span.end();
            }
          },
        );
      }
      // Verify: rows written meanwhile (or skipped because a concurrent update moved them) get another pass.
      // Only the entities that were left are looked at again, as before the count became one named statement.
      const stillLeft = left;
      left = remaining((await this.count(set, subjectId)).filter((c) => stillLeft.has(c.entity)));
    }
    return { expectedTotal, outcomes: [...outcomes.values()] };
  }

  /**
   * Purges retained rows whose retention period is over, of erased tenants only: the distinct tenant
   * ids of the retained tables are read a batch at a time (skip scan) and `erasedAmong` (the tombstone
   * registry) says which were erased; a live tenant's rows are its own business. Chunks as in `erase`;
   * for each tenant, passes repeat until its expired count is zero (verification). `holds` (tenant id →
   * held tables, empty: all) are legal holds: a held tenant's plans that touch a held table are skipped.
   */
  async purgeExpired(
    erasedAmong: (subjects: { kind: 'tenant'; id: string }[]) => Promise<boolean[]>,
    onChunk: (event: ChunkEvent) => Promise<void>,
    signal: AbortSignal,
    batch = 100,
    holds: ReadonlyMap<string, readonly string[]> = new Map(),
  ): Promise<{ tenants: number; outcomes: EntityOutcome[] }> {
    await this.plans('tenant'); // the schema check (fail closed) before anything is removed
    const purges = buildPurgePlans(this.policy);
    const outcomes = new Map<string, EntityOutcome>();
    for (const plan of purges) for (const { entity, action } of plan.entities) outcomes.set(entity, { entity, action, rows: 0, chunks: 0 });
    if (!purges.length) return { tenants: 0, outcomes: [] };
    const idsSql = distinctIdsSql(purges.map((plan) => plan.root));
    let tenants = 0;
    let totalDone = 0;
    for (let cursor = BEFORE_ALL_IDS; ; ) {
      if (signal.aborted) throw new DeletionCancelled();
      const { rows } = await this.pool.query<{ id: string }>(idsSql, [cursor, batch]);
      if (!rows.length) break;
      const ids = rows.map((row) => row.id);
      const erased = await erasedAmong(ids.map((id) => ({ kind: 'tenant' as const, id })));
      for (const [i, tenantId] of ids.entries()) {
        if (!erased[i]) continue;
        let purged = false;
        const held = holds.get(tenantId);
        const keep = held && (held.length === 0 ? undefined : heldClosure(this.policy, held));
        for (const plan of purges) {
          if (held && (!keep || plan.entities.some((e) => keep.has(e.entity)))) continue;
          for (let pass = 0; ; pass++) {
            const left = Number((await this.pool.query<{ n: string }>(plan.expiredCountSql, [tenantId])).rows[0]!.n);
            if (left === 0) break;
            if (pass === MAX_PASSES) throw new DeletionFailed(new Error(`expired rows still present after ${MAX_PASSES} passes in: ${plan.root.table}`));
            purged = true;
            await this.runChunks(plan, { text: plan.sql }, tenantId, signal, async (counts, durationMs) => {
              for (const [j, { entity, action }] of plan.entities.entries()) {
                const n = counts[j]!;
                if (n === 0) continue;
                const outcome = outcomes.get(entity)!;
                outcome.rows += n;
                outcome.chunks += 1;
                totalDone += n;
                await onChunk({ entity, action, chunkRows: n, entityRowsDone: outcome.rows, totalRowsDone: totalDone, expectedTotalRows: 0, chunkDurationMs: durationMs });
              }
            });
          }
        }
        if (purged) tenants += 1;
      }
      cursor = ids.at(-1)!;
    }
    return { tenants, outcomes: [...outcomes.values()] };
  }

  private async runChunks(
    chunk: ChunkPlan,
    query: { name?: string; text: string },
    subjectId: SubjectParam,
    signal: AbortSignal,
    committed: (counts: number[], durationMs: number) => Promise<void>,
  ): Promise<void> {
    // A cascade chunk's size counts batch rows of its first table; each brings its descendants along.
    const fanout = 1 + 2 * (chunk.entities.length - 1);
    let size = Math.max(this.chunks.minRows, Math.round(this.chunks.initialRows / fanout));
    for (;;) {
      if (signal.aborted) throw new DeletionCancelled();
      const started = performance.now();
      let row: Record<string, number>;
      try {
        row = await tracer.startActiveSpan(
          'erasure.chunk',
          {
            attributes: {
              'erasure.service': this.serviceName,
              'erasure.entity': chunk.entities.at(-1)!.entity,
              'erasure.chunk_limit': size,
            },
          },
          async (span: Span) => {
            try {
              const result = await this.pool.query<Record<string, number>>({ ...query, values: [subjectId, size] });
              const first = result.rows[0]!;
              span.setAttribute('erasure.rows_deleted', chunk.entities.reduce((s, _, i) => s + first[`n${i}`]!, 0));
              return first;
            } catch (error) {
              recordError(span, error);
              throw error;
            } finally {
              span.end();
            }
          },
        );
      } catch (error) {
        throw new DeletionFailed(error);
      }
      const durationMs = performance.now() - started;
      const counts = chunk.entities.map((_, i) => row[`n${i}`]!);
      if (counts.some((n) => n > 0)) await committed(counts, durationMs);
      if (row.picked! < size) return; // exhausted; the verification pass catches late writes
      size = nextChunkSize(size, durationMs, this.chunks);
      if (this.chunks.pauseMs) await sleep(this.chunks.pauseMs, signal);
    }
  }
}

/**
 * Steers the chunk size towards the target duration: a fast chunk at most doubles the next one, a slow
 * one cuts it in proportion (down to a tenth), so one overlong transaction is not followed by another.
 */
export function nextChunkSize(size: number, durationMs: number, config: ChunkConfig): number {
  const ratio = config.targetMs / Math.max(durationMs, 1);
  const next = Math.round(size * Math.min(2, Math.max(0.1, ratio)));
  return Math.min(config.maxRows, Math.max(config.minRows, next));
}

function recordError(span: Span, error: unknown): void {
  span.recordException(error as Error);
  span.setStatus({ code: SpanStatusCode.ERROR, message: (error as Error)?.message });
}
