import type { Pool } from 'pg';
import { trace, SpanStatusCode, type Span } from '@opentelemetry/api';
import { EntityAction } from '../../../gen/bakery/erasure/v1/tenant_data_deletion';
import type { ChunkConfig } from '../config';
import { coverageProblems, deleteOrder, readCatalog } from './catalog';
import { entityPlans, type EntityPlan, type SubjectKind } from './plan';
import type { DeletionPolicy } from './policy';

const tracer = trace.getTracer('bakery-erasure-kit');

export interface EntityCount {
  entity: string;
  action: EntityAction;
  rows: number;
  retainedRows: number;
  retainReason?: string;
}

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

/** Thrown when the policy does not match the live catalog; the message names every problem. */
export class CoverageError extends Error {
  constructor(readonly problems: string[]) {
    super(`deletion policy does not cover the database: ${problems.join('; ')}`);
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

/** How many extra passes to make when rows were still found after the first pass (concurrent writes). */
const MAX_PASSES = 3;

/**
 * The deletion engine of one service: checks the policy against the catalog, previews exactly, and
 * deletes in time-sized ctid chunks, each its own short transaction, without loading rows into Node.
 */
export class DeletionEngine {
  constructor(
    readonly serviceName: string,
    private readonly policy: DeletionPolicy,
    private readonly pool: Pool,
    private readonly chunks: ChunkConfig,
  ) {}

  /** Reads the catalog and returns the entity plans, or throws CoverageError (fail closed). */
  async plans(kind: SubjectKind): Promise<EntityPlan[]> {
    const catalog = await readCatalog(this.pool);
    const problems = coverageProblems(this.policy, catalog);
    if (problems.length) throw new CoverageError(problems);
    return entityPlans(this.policy, deleteOrder(this.policy, catalog), kind);
  }

  /** Coverage problems right now (empty when sound); used for the erasure health status. */
  async problems(): Promise<string[]> {
    return coverageProblems(this.policy, await readCatalog(this.pool));
  }

  async preview(kind: SubjectKind, subjectId: string): Promise<EntityCount[]> {
    return this.count(await this.plans(kind), subjectId);
  }

  private async count(plans: EntityPlan[], subjectId: string): Promise<EntityCount[]> {
    return Promise.all(
      plans.map(async (plan) => {
        const [rows, retained] = await Promise.all([
          this.pool.query<{ n: string }>(plan.countSql, [subjectId]),
          plan.retainedCountSql ? this.pool.query<{ n: string }>(plan.retainedCountSql, [subjectId]) : undefined,
        ]);
        return {
          entity: plan.entity,
          action: plan.action,
          rows: Number(rows.rows[0]!.n),
          retainedRows: retained ? Number(retained.rows[0]!.n) : 0,
          retainReason: plan.retainReason,
        };
      }),
    );
  }

  /**
   * Erases the subject's rows entity by entity in delete order, calling `onChunk` after every committed
   * chunk (and awaiting it, so a slow reader slows the deletion instead of buffering progress). Stops
   * between chunks when `signal` is aborted.
   */
  async erase(
    kind: SubjectKind,
    subjectId: string,
    onChunk: (event: ChunkEvent) => Promise<void>,
    signal: AbortSignal,
  ): Promise<{ expectedTotal: number; outcomes: EntityOutcome[] }> {
    const plans = await this.plans(kind);
    const expected = await this.count(plans, subjectId);
    const expectedTotal = expected.reduce((sum, entity) => sum + entity.rows, 0);
    const outcomes: EntityOutcome[] = plans.map((plan) => ({ entity: plan.entity, action: plan.action, rows: 0, chunks: 0 }));
    let totalDone = 0;

    let pending = plans.filter((plan, i) => plan.chunkSql && expected[i]!.rows > 0);
    for (let pass = 0; pending.length > 0; pass++) {
      if (pass === MAX_PASSES) {
        const left = await this.count(pending, subjectId);
        throw new DeletionFailed(
          new Error(`rows still present after ${MAX_PASSES} passes: ${left.map((e) => `${e.entity}=${e.rows}`).join(', ')}`),
        );
      }
      for (const plan of pending) {
        const outcome = outcomes.find((o) => o.entity === plan.entity)!;
        await tracer.startActiveSpan(
          'erasure.entity',
          { attributes: { 'erasure.service': this.serviceName, 'erasure.entity': plan.entity } },
          async (span) => {
            try {
              await this.eraseEntity(plan, subjectId, outcome, signal, async (chunkRows, durationMs) => {
                totalDone += chunkRows;
                await onChunk({
                  entity: plan.entity,
                  action: plan.action,
                  chunkRows,
                  entityRowsDone: outcome.rows,
                  totalRowsDone: totalDone,
                  expectedTotalRows: expectedTotal,
                  chunkDurationMs: durationMs,
                });
              });
              span.setAttribute('erasure.rows_deleted', outcome.rows);
            } catch (error) {
              recordError(span, error);
              throw error;
            } finally {
              span.end();
            }
          },
        );
      }
      // Verify: a row written meanwhile, or skipped because a concurrent update moved it, gets another pass.
      const left = await this.count(pending, subjectId);
      pending = pending.filter((_, i) => left[i]!.rows > 0);
    }
    return { expectedTotal, outcomes };
  }

  private async eraseEntity(
    plan: EntityPlan,
    subjectId: string,
    outcome: EntityOutcome,
    signal: AbortSignal,
    committed: (chunkRows: number, durationMs: number) => Promise<void>,
  ): Promise<void> {
    let size = this.chunks.initialRows;
    for (;;) {
      if (signal.aborted) throw new DeletionCancelled();
      const started = performance.now();
      let affected: number;
      try {
        affected = await tracer.startActiveSpan(
          'erasure.chunk',
          { attributes: { 'erasure.service': this.serviceName, 'erasure.entity': plan.entity, 'erasure.chunk_limit': size } },
          async (span: Span) => {
            try {
              const result = await this.pool.query(plan.chunkSql!, [subjectId, size]);
              span.setAttribute('erasure.rows_deleted', result.rowCount ?? 0);
              return result.rowCount ?? 0;
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
      if (affected === 0) return;
      outcome.rows += affected;
      outcome.chunks += 1;
      await committed(affected, durationMs);
      if (affected < size) return; // the entity is exhausted; the verification pass catches late writes
      size = nextChunkSize(size, durationMs, this.chunks);
    }
  }
}

/** Steers the chunk size towards the target duration, at most doubling or halving per step. */
export function nextChunkSize(size: number, durationMs: number, config: ChunkConfig): number {
  const ratio = config.targetMs / Math.max(durationMs, 1);
  const next = Math.round(size * Math.min(2, Math.max(0.5, ratio)));
  return Math.min(config.maxRows, Math.max(config.minRows, next));
}

function recordError(span: Span, error: unknown): void {
  span.recordException(error as Error);
  span.setStatus({ code: SpanStatusCode.ERROR, message: (error as Error)?.message });
}
