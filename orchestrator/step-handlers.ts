import { status } from '@grpc/grpc-js';
import type { Logger } from 'pino';
import type { DeleteResult, Subject } from '../gen/bakery/erasure/v1/tenant_data_deletion';
import type { ServiceClients } from './clients';
import type { OrchestratorConfig } from './config';
import type { JobJournal } from './journal';
import { decideOwnedTenant, heirOf, ownedTenants } from './ownership';
import { NonRetryableError, describeError } from './retry';
import type { StepKind } from './steps';
import { exportService, sealArchive, type ExportServices } from './export/steps';
import type { EntityTally, JobRow, JobStep } from './store';

/** What one attempt of a step works on. */
export interface StepContext {
  job: JobRow;
  step: JobStep;
  subject: Subject;
  signal: AbortSignal;
  /** Rows done over the whole job so far (for progress events). */
  jobRowsDone(): number;
  /** Tables of the step's service under a legal hold: kept, with what they reference (orchestrator/holds.ts). */
  heldEntities?: string[];
  /**
   * Told true when a call that may remove rows reached its service and false once the service said
   * what it found: between the two, nobody knows whether rows were removed (saga.ts, `untouched`).
   */
  unheard(yes: boolean): void;
}

/** What step handlers use besides their step. */
export interface StepServices {
  clients: ServiceClients;
  journal: JobJournal;
  config: OrchestratorConfig;
  log: Logger;
  /** The archive store and the manifest signer (orchestrator/export/steps.ts); unset, export steps fail. */
  exports?: ExportServices;
  /** Erases a tenant as a tenant job of its own, child of `parent`, and returns the rows it removed. */
  eraseTenant(parent: JobRow, tenantId: string, signal: AbortSignal): Promise<number>;
}

/**
 * One attempt of a step. It throws to fail the attempt: the saga retries retryable errors
 * (orchestrator/retry.ts); NonRetryableError fails the step at once.
 */
export type StepHandler = (ctx: StepContext, services: StepServices) => Promise<void>;

/** FAILED_PRECONDITION from the tenant service is a refusal no retry changes. */
function refusalsAreFinal(error: unknown): never {
  if ((error as { code?: number }).code === status.FAILED_PRECONDITION) throw new NonRetryableError(describeError(error));
  throw error;
}

/**
 * One attempt of a service's erasure. What the step erases is recorded before any of it is removed,
 * so its count stays exact even when an attempt is cut off before it could report its last chunks
 * (rows removed so far = expected − what a later call finds). A step that has not recorded it yet
 * sends its first Delete with `stop_if_found`: a service with nothing to erase is done in that one
 * call; one with rows reports them and stops, the step records them, and a second call erases them.
 * After a repeated attempt the count is checked against what a Preview finds left at the end.
 */
const eraseService: StepHandler = async (ctx, services) => {
  const { step } = ctx;
  if (step.expectedRows === null) {
    const probe = await deleteCall(ctx, services, true);
    // A step resumed after a legal hold counts anew, on top of what it removed before the hold.
    step.expectedRows = step.rowsDeleted + probe.found;
    if (probe.found === 0) return finishErasure(ctx, services, probe);
    await services.journal.recordCounts(step);
  }
  return finishErasure(ctx, services, await deleteCall(ctx, services, false));
};

interface DeleteCallOutcome {
  /** What the call found to erase when it started. */
  found: number;
  /** Rows the step had removed before this call (expected − found). */
  before: number;
  result: DeleteResult;
  entities: Record<string, EntityTally>;
  base: Record<string, EntityTally>;
}

/** One Delete stream of the step's service, its progress applied to the step as it comes. */
async function deleteCall({ job, step, subject, signal, jobRowsDone, heldEntities = [], unheard }: StepContext, { clients, journal, config }: StepServices, stopIfFound: boolean): Promise<DeleteCallOutcome> {
  const service = step.name;
  const base: Record<string, EntityTally> = structuredClone(step.entities);
  const entities: Record<string, EntityTally> = structuredClone(step.entities);
  let result: DeleteResult | undefined;
  let found: number | undefined;
  let before = step.rowsDeleted;
  let lastPersist = Date.now();
  let lastPublish = 0;
  await clients.delete(
    service,
    subject,
    job.id,
    config.attemptDeadlineMs,
    (message) => {
      if (message.started) {
        found = Number(message.started.expectedTotalRows);
        unheard(false);
        if (step.expectedRows !== null) before = step.expectedRows - found;
        step.rowsDeleted = before;
        return;
      }
      if (message.result) result = message.result;
      const chunk = message.chunk;
      if (!chunk) return;
      const previous = base[chunk.entity];
      entities[chunk.entity] = {
        action: chunk.action,
        rows: (previous?.rows ?? 0) + Number(chunk.entityRowsDone),
        chunks: (entities[chunk.entity]?.chunks ?? previous?.chunks ?? 0) + 1,
      };
      step.rowsDeleted = before + Number(chunk.totalRowsDone);
      step.entities = entities;
      const now = Date.now();
      // Watchers get progress at most every 100 ms per step; the database every 500 ms.
      if (now - lastPublish >= 100) {
        lastPublish = now;
        journal.progress(step, chunk.entity, jobRowsDone());
      }
      if (now - lastPersist >= 500) {
        lastPersist = now;
        journal.recordCounts(step).catch(() => undefined);
      }
    },
    signal,
    { heldEntities, stopIfFound, onSent: () => unheard(true) },
  );
  if (found === undefined) throw new Error(`${service} did not open its Delete stream with what it found to erase`);
  if (!result) throw new Error(`${service} ended the Delete stream without a result`);
  return { found, before, result, entities, base };
}

/** A Delete that ran to its end: the step's counts and per-entity tallies from its result. */
async function finishErasure({ step, subject, heldEntities = [] }: StepContext, { clients, config }: StepServices, { before, result, entities, base }: DeleteCallOutcome): Promise<void> {
  for (const entity of result.entities) {
    entities[entity.entity] = {
      action: entity.action,
      rows: (base[entity.entity]?.rows ?? 0) + Number(entity.rows),
      chunks: (base[entity.entity]?.chunks ?? 0) + Number(entity.chunks),
      retainReason: entity.retainReason || undefined,
      retention: entity.retention || undefined,
    };
  }
  step.policyFingerprint = result.policyFingerprint || null;
  step.rowsDeleted = before + Number(result.totalRows);
  if (step.attempts > 1) {
    // An earlier attempt's call may still have been finishing its last chunk when this one counted
    // what was left (a runner that died mid-step): count against what is left now instead.
    const after = Number((await clients.preview(step.name, subject, Math.min(config.attemptDeadlineMs, 15_000), heldEntities)).totalRows);
    step.rowsDeleted = Math.max(step.rowsDeleted, step.expectedRows! - after);
  }
  step.entities = entities;
  // The counts are recorded with the step's end (orchestrator/saga.ts), in the same write.
}

/** Settles every tenant the user owns by the rules of orchestrator/ownership.ts. */
const resolveOwnership: StepHandler = async ({ job, step, signal }, { clients, log, eraseTenant }) => {
  const userId = job.subject_id;
  const { memberships } = await clients.tenantCall('listUserMemberships', { userId });
  let rows = 0;
  for (const membership of ownedTenants(memberships)) {
    const tenantId = membership.tenantId;
    const decision = decideOwnedTenant(membership, job.options);
    if (decision === 'erase') {
      rows += await eraseTenant(job, tenantId, signal);
    } else if (decision === 'transfer') {
      const { admins } = await clients.tenantCall('getTenantAdmins', { tenantId });
      const heir = heirOf(admins, userId);
      if (!heir) throw new Error(`tenant ${tenantId}: the other admin is gone; retrying`);
      await clients.tenantCall('transferOwnership', { tenantId, newOwnerId: heir.userId, currentOwnerId: userId }).catch(refusalsAreFinal);
      log.info({ job_id: job.id, tenant_id: tenantId }, 'ownership transferred to the longest-serving admin');
    } else {
      throw new NonRetryableError(`tenant ${tenantId} has other members but no other admin: transfer its ownership or erase it (erase_owned_tenants) first`);
    }
  }
  step.rowsDeleted = rows;
};

/** Removes the user from every tenant. */
const removeMemberships: StepHandler = async ({ job, step }, { clients }) => {
  const response = await clients.tenantCall('deleteUserMemberships', { userId: job.subject_id, validateOnly: false }).catch(refusalsAreFinal);
  step.rowsDeleted += response.outcomes.length;
};

/** The handler of each step kind. */
export const STEP_HANDLERS: Readonly<Record<StepKind, StepHandler>> = {
  'erase-service': eraseService,
  'resolve-ownership': resolveOwnership,
  'remove-memberships': removeMemberships,
  'export-service': exportService,
  'seal-archive': sealArchive,
};
