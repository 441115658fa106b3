import { status } from '@grpc/grpc-js';
import { trace } from '@opentelemetry/api';
import type { HealthImplementation } from './health';
import {
  TenantDataDeletionService,
  type DeleteProgress,
  type DeleteRequest,
  type EntityResult,
  type ExportChunk,
  type ExportRequest,
  type PreviewRequest,
  type PurgeExpiredRequest,
  type PreviewResponse,
  type Subject,
} from '../../gen/bakery/erasure/v1/tenant_data_deletion';
import { CoverageError, DeletionCancelled, DeletionFailed, type ChunkEvent, type DeletionEngine, type EntityOutcome } from './deletion/engine';
import { TombstoneRegistryUnavailable, type SubjectRegistry } from './tombstone-client';
import { UnknownEntity, type PlanKind, type SubjectKind, type SubjectParam } from './deletion/plan';
import { customerParam, parseCustomerSubject } from './customers';
import { RpcError, invalidArgument, requireUuid } from './errors';
import { ExportCancelled, RowTooLarge, exportSubject } from './export';
import { mapDatabaseError } from './pg-errors';
import { serverStream, unary, type RpcDeps } from './rpc';
import type { HostedService } from './server';

export const TENANT_DATA_DELETION = 'bakery.erasure.v1.TenantDataDeletion';

/** Validates a Subject: exactly one of tenant_id / user_id, a UUID (a customer is refused: see `parseAnySubject`). */
export function parseSubject(subject: Subject | undefined): { kind: SubjectKind; id: string } {
  if (subject?.customer !== undefined) throw invalidArgument('subject.customer is not accepted here: set subject.tenant_id or subject.user_id');
  if (!subject || (subject.tenantId === undefined && subject.userId === undefined)) {
    throw invalidArgument('subject is required: set subject.tenant_id, subject.user_id or subject.customer');
  }
  if (subject.tenantId !== undefined) return { kind: 'tenant', id: requireUuid(subject.tenantId, 'subject.tenant_id') };
  return { kind: 'user', id: requireUuid(subject.userId, 'subject.user_id') };
}

/** A subject as the engine takes it: what plans to use, the statements' $1, and for logs the kind only. */
export interface EngineSubject {
  kind: SubjectKind | 'customer';
  plan: PlanKind;
  param: SubjectParam;
  /** Tenant and user subjects (for `beforeErase`); undefined for a customer. */
  id?: string;
}

/** Validates any Subject (tenant, user or customer, normalized by services/kit/customers.ts). */
export function parseAnySubject(subject: Subject | undefined): EngineSubject {
  if (subject?.customer !== undefined) {
    const key = parseCustomerSubject(subject.customer, 'subject.customer');
    return { kind: 'customer', plan: `customer:${key.identifier}`, param: customerParam(key) };
  }
  const { kind, id } = parseSubject(subject);
  return { kind, plan: kind, param: id, id };
}

/**
 * The kit's implementation of `TenantDataDeletion` over a service's deletion engine. Only service
 * tokens are accepted. A database that does not match the service's models (drift, an unclassified
 * table or column) fails every call with UNAVAILABLE, retryable: during a rolling deploy the old
 * version sees the new version's migration, and the caller waits for the rollout. The erasure health
 * is NOT_SERVING until it is fixed.
 */
export function tenantDataDeletion(
  engine: DeletionEngine,
  deps: RpcDeps,
  health?: Pick<HealthImplementation, 'setStatus'>,
  beforeErase?: (subject: { kind: SubjectKind; id: string }) => Promise<void>,
  /** Which tenants were erased, for PurgeExpired (the tombstone registry); unset, PurgeExpired is refused. */
  registry?: Pick<SubjectRegistry, 'erasedAmong'>,
): HostedService {
  // The engine derives its policy's fingerprint (canonical JSON, hashed) each time it is read; the
  // policy is fixed for the process's life, and reading it per Delete result was ~3% of a domain
  // service's CPU in a profile of 40 concurrent small-tenant jobs.
  let policyFingerprint: string | undefined;
  const guard = async <T>(work: () => Promise<T>): Promise<T> => {
    try {
      const result = await work();
      health?.setStatus(TENANT_DATA_DELETION, 'SERVING');
      return result;
    } catch (error) {
      // A legal hold naming a table this service does not have: the caller's mistake, nothing done.
      if (error instanceof UnknownEntity) throw invalidArgument(`held_entities: ${error.message} in ${engine.serviceName}`);
      if (error instanceof CoverageError) {
        health?.setStatus(TENANT_DATA_DELETION, 'NOT_SERVING');
        deps.log.error({ problems: error.problems }, "the database does not match the service's models");
        throw new RpcError(status.UNAVAILABLE, error.message, 'DATABASE_DOES_NOT_MATCH_MODELS');
      }
      throw error;
    }
  };

  // Who may preview (orchestrator, operators) and delete (orchestrator only) is mesh/caller-rules.ts's.
  const preview = unary<PreviewRequest, PreviewResponse>(deps, 'Preview', async (request) => {
    const subject = parseAnySubject(request.subject);
    const entities = await guard(() => engine.preview(subject.plan, subject.param, request.heldEntities));
    return {
      service: engine.serviceName,
      entities: entities.map((e) => ({
        entity: e.entity,
        action: e.action,
        rowCount: String(e.rows),
        retainedRowCount: String(e.retainedRows),
        retainReason: e.retainReason ?? '',
        earliestExpiry: e.earliestExpiry,
        latestExpiry: e.latestExpiry,
        heldRowCount: String(e.heldRows),
      })),
      totalRows: String(entities.reduce((sum, e) => sum + e.rows, 0)),
      heldRows: String(entities.reduce((sum, e) => sum + e.heldRows, 0)),
    };
  });

  /**
   * Runs one chunked engine operation (Delete, PurgeExpired) as a stream: a start message when the
   * operation reports one (Delete), a message per committed chunk, then the result. A failed or
   * cancelled call still reports what it did.
   */
  const streamed = async (
    ctx: { signal: AbortSignal; log: RpcDeps['log'] },
    log: RpcDeps['log'],
    send: (message: DeleteProgress) => Promise<void>,
    what: string,
    work: (onChunk: (chunk: ChunkEvent) => Promise<void>, signal: AbortSignal, onStart: (expectedTotal: number) => Promise<'go' | 'stop'>) => Promise<{ outcomes: EntityOutcome[] }>,
    stopIfFound = false,
  ): Promise<void> => {
    const startedAt = new Date();
    // Counts as chunks commit, so a failed or cancelled call still reports what it did.
    const done = new Map<string, EntityResult>();
    const result = (errors: string[]): DeleteProgress => {
      const entities = [...done.values()];
      return {
        result: {
          service: engine.serviceName,
          entities,
          totalRows: String(entities.reduce((sum, e) => sum + Number(e.rows), 0)),
          errors,
          startedAt,
          finishedAt: new Date(),
          policyFingerprint: (policyFingerprint ??= engine.policyFingerprint),
        },
      };
    };
    try {
      const { outcomes } = await guard(() =>
        work(async (chunk) => {
          const entity = done.get(chunk.entity) ?? { entity: chunk.entity, action: chunk.action, rows: '0', chunks: '0', retainReason: '', retention: '' };
          entity.rows = String(Number(entity.rows) + chunk.chunkRows);
          entity.chunks = String(Number(entity.chunks) + 1);
          done.set(chunk.entity, entity);
          await send({
            chunk: {
              entity: chunk.entity,
              action: chunk.action,
              chunkRows: String(chunk.chunkRows),
              entityRowsDone: String(chunk.entityRowsDone),
              totalRowsDone: String(chunk.totalRowsDone),
              expectedTotalRows: String(chunk.expectedTotalRows),
              chunkDurationMs: chunk.chunkDurationMs,
            },
          });
        }, ctx.signal, async (expectedTotal) => {
          await send({ started: { expectedTotalRows: String(expectedTotal) } });
          return stopIfFound && expectedTotal > 0 ? 'stop' : 'go';
        }),
      );
      done.clear();
      for (const o of outcomes) {
        const retained = engine.retention(o.entity);
        done.set(o.entity, {
          entity: o.entity,
          action: o.action,
          rows: String(o.rows),
          chunks: String(o.chunks),
          retainReason: retained?.reason ?? '',
          retention: retained?.period ?? '',
        });
      }
      const final = result([]);
      log.info({ rows: Number(final.result!.totalRows) }, `${what} finished`);
      await send(final);
    } catch (error) {
      if (error instanceof DeletionCancelled || (error instanceof RpcError && error.code === status.CANCELLED)) {
        log.info({ rows: [...done.values()].reduce((s, e) => s + Number(e.rows), 0) }, `${what} cancelled by the caller`);
        throw new RpcError(status.CANCELLED, 'cancelled by the client');
      }
      if (error instanceof DeletionFailed) {
        const mapped =
          mapDatabaseError(error.cause) ?? new RpcError(status.INTERNAL, `${what} failed: ${error.message}`, 'ERASURE_FAILED');
        log.error({ error: mapped.message }, `${what} failed`);
        await send(result([mapped.message])).catch(() => undefined);
        throw mapped;
      }
      throw error;
    }
  };

  const erase = serverStream<DeleteRequest, DeleteProgress>(deps, 'Delete', async (request, ctx, send) => {
    const subject = parseAnySubject(request.subject);
    if (subject.id !== undefined && subject.kind !== 'customer') await beforeErase?.({ kind: subject.kind, id: subject.id });
    const span = trace.getActiveSpan();
    span?.setAttributes({ 'erasure.service': engine.serviceName, 'erasure.subject_kind': subject.kind });
    if (request.jobId) span?.setAttribute('erasure.job.id', request.jobId);
    const log = ctx.log.child({ job_id: request.jobId || undefined, subject_kind: subject.kind });
    await streamed(ctx, log, send, 'erasure', (onChunk, signal, onStart) => engine.erase(subject.plan, subject.param, onChunk, signal, request.heldEntities, onStart), request.stopIfFound);
  });

  // Expired retained rows of erased tenants (which tenants were erased, the tombstone registry says).
  const purgeExpired = serverStream<PurgeExpiredRequest, DeleteProgress>(deps, 'PurgeExpired', async (request, ctx, send) => {
    if (!registry) throw new RpcError(status.FAILED_PRECONDITION, 'this service has no tombstone registry to tell which tenants were erased', 'NO_TOMBSTONE_REGISTRY');
    const span = trace.getActiveSpan();
    span?.setAttributes({ 'erasure.service': engine.serviceName });
    if (request.jobId) span?.setAttribute('erasure.job.id', request.jobId);
    const log = ctx.log.child({ job_id: request.jobId || undefined });
    // Legal holds: the held tenants' rows stay, expired or not.
    const holds = new Map(request.holds.map((hold) => [requireUuid(hold.tenantId, 'holds.tenant_id'), hold.entities]));
    await streamed(ctx, log, send, 'retention purge', async (onChunk, signal) => {
      try {
        return await engine.purgeExpired((subjects) => registry.erasedAmong(subjects), onChunk, signal, undefined, holds);
      } catch (error) {
        if (error instanceof TombstoneRegistryUnavailable) throw new RpcError(status.UNAVAILABLE, error.message, 'TOMBSTONE_REGISTRY_UNAVAILABLE');
        throw error;
      }
    });
  });

  // Who may export (the orchestrator only: every export is a job with an archive) is mesh/caller-rules.ts's.
  const exportRows = serverStream<ExportRequest, ExportChunk>(deps, 'Export', async (request, ctx, send) => {
    const subject = parseAnySubject(request.subject);
    const startedAt = new Date();
    const span = trace.getActiveSpan();
    span?.setAttributes({ 'erasure.service': engine.serviceName, 'erasure.subject_kind': subject.kind });
    if (request.jobId) span?.setAttribute('erasure.job.id', request.jobId);
    const log = ctx.log.child({ job_id: request.jobId || undefined, subject_kind: subject.kind });
    try {
      const entities = await guard(() =>
        exportSubject(
          engine,
          subject.plan,
          subject.param,
          (batch) => send({ rows: { entity: batch.entity, rows: batch.rows, entityRowsDone: String(batch.entityRowsDone) } }),
          ctx.signal,
        ),
      );
      const totalRows = entities.reduce((sum, e) => sum + e.rows, 0);
      log.info({ rows: totalRows }, 'export finished');
      await send({
        result: {
          service: engine.serviceName,
          entities: entities.map((e) => ({ entity: e.entity, columns: e.columns, rows: String(e.rows) })),
          totalRows: String(totalRows),
          startedAt,
          finishedAt: new Date(),
        },
      });
    } catch (error) {
      if (error instanceof ExportCancelled) throw new RpcError(status.CANCELLED, 'cancelled by the client');
      if (error instanceof RowTooLarge) throw new RpcError(status.RESOURCE_EXHAUSTED, error.message, 'EXPORT_ROW_TOO_LARGE');
      throw error;
    }
  });

  return {
    name: TENANT_DATA_DELETION,
    definition: TenantDataDeletionService,
    implementation: { preview, delete: erase, purgeExpired, export: exportRows },
  };
}
