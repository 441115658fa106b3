import { status } from '@grpc/grpc-js';
import { trace } from '@opentelemetry/api';
import type { Logger } from 'pino';
import {
  DeletionOrchestratorService,
  JobOrder,
  type CancelJobRequest,
  type CancelJobResponse,
  type DeleteTenantRequest,
  type DeleteUserRequest,
  type GetJobRequest,
  type GetJobResponse,
  type Job,
  type JobEvent,
  type ListJobsRequest,
  type ListJobsResponse,
  type PreviewTenantDeletionRequest,
  type DeleteCustomerRequest,
  type PreviewCustomerDeletionRequest,
  type PreviewCustomerDeletionResponse,
  type RestoreTenantRequest,
  type RestoreTenantResponse,
  type RestoreUserRequest,
  type RestoreUserResponse,
  type PreviewTenantDeletionResponse,
  type PurgeExpiredRetentionRequest,
  type PurgeExpiredRetentionResponse,
  type RetentionPurge,
  type RetryJobRequest,
  type RetryJobResponse,
  type WatchJobRequest,
  type GetCertificateRequest,
  type GetCertificateResponse,
  type GetPublicKeysRequest,
  type GetPublicKeysResponse,
  type DownloadExportRequest,
  type DownloadExportResponse,
  type ExportFirst,
  type ExportTenantRequest,
  type ExportUserRequest,
  type GetExportRequest,
  type GetExportResponse,
  type ListHoldsRequest,
  type ListHoldsResponse,
  type PlaceHoldRequest,
  type PlaceHoldResponse,
  type ReleaseHoldRequest,
  type ReleaseHoldResponse,
} from '../gen/bakery/erasure/v1/deletion_orchestrator';
import { decide, toHoldMessage, type HoldDecision, type LegalHolds } from './holds';
import type { Subject } from '../gen/bakery/erasure/v1/tenant_data_deletion';
import { limit } from '../services/kit/limits';
import type { ArchiveStore } from './export/archive-store';
import { ARCHIVE_FORMAT, recipientKey, type ArchiveLine } from './export/format';
import { toJobStatus } from './mapper';
import { DELETION_ORCHESTRATOR } from '../mesh/catalog';
import { RpcError, failedPrecondition, invalidArgument, notFound, requireUuid } from '../services/kit/errors';
import type { Certificates, Jwks } from './certificates';
import { parseSubject } from '../services/kit/erasure-service';
import { customerMessage, parseCustomerSubject } from '../services/kit/customers';
import { CustomerSubjects } from './customers';
import { decodePageToken, pageSize } from '../services/kit/pagination';
import { serverStream, unary, type CallContext, type RpcDeps } from '../services/kit/rpc';
import type { HostedService } from '../services/kit/server';
import { sleep } from '../services/kit/sleep';
import { principalName, type Authorization } from './authorization';
import type { ServiceClients } from './clients';
import { ALL_SERVICES, type GraceSettings } from './config';
import { graceSchedule } from './grace';
import { approvalHandlers, approvalRequired } from './approvals';
import type { JobEvents } from './events';
import type { JobExecutor } from './executor';
import { fromJobStatus, toJobMessage } from './mapper';
import { undecidedOwnedTenants } from './ownership';
import { describeError, withRetry, type RetryPolicy } from './retry';
import { exportSteps, stepsFor } from './steps';
import { JobAlreadyOpen, OpenJobLimitReached, RESTORED_ERROR, RequestIdReused, isOpen, type JobRow, type JobStore, type NewJob } from './store';
import { RetentionPurgeBusy, type RetentionPurgeRecord, type RetentionPurges } from './retention-purge';
import type { SubjectKind } from './steps';
import { watchJob } from './watch';
import type { WatcherSlots } from './watchers';
import type { Principal } from '../services/kit/auth';

export { DELETION_ORCHESTRATOR };

export interface OrchestratorApiDeps {
  rpc: RpcDeps;
  store: JobStore;
  executor: JobExecutor;
  events: JobEvents;
  clients: ServiceClients;
  authorization: Authorization;
  /** Open job streams per job and per caller (orchestrator/watchers.ts). */
  watchers: WatcherSlots;
  /** The most open jobs one caller may have started (services/kit/limits.ts). */
  openJobsPerCaller: number;
  /** Grace periods (orchestrator/config.ts). */
  grace: GraceSettings;
  /** How calls to the tenant service are retried; its time budget also bounds a user's grace. */
  retry: RetryPolicy;
  /** Where export archives are kept; without it, exports are refused (UNIMPLEMENTED). */
  archives?: ArchiveStore;
  log: Logger;
  certificates: Certificates;
  /** The orchestrator's public keys (current and retired), as GetPublicKeys returns them. */
  jwks: Jwks;
  /** The retention purge (orchestrator/retention-purge.ts); unset, PurgeExpiredRetention is refused. */
  retentionPurges?: RetentionPurges;
  /** A tenant erasure at once waits for a second person's approval (orchestrator/config.ts). */
  fourEyesTenantAtOnce: boolean;
  /** Legal holds (orchestrator/holds.ts); unset, the hold RPCs are refused. */
  holds?: LegalHolds;
}

function requestIdOf(value: string): string | undefined {
  if (value === '') return undefined;
  if (value.length > 128 || !/^[\x21-\x7e]+$/.test(value)) throw invalidArgument('request_id must be 1–128 printable ASCII characters without spaces');
  return value;
}

/** The DeletionOrchestrator API: job creation or attachment, job streams, and steering. */
export function deletionOrchestrator(deps: OrchestratorApiDeps): HostedService {
  const { store, executor, events, clients, authorization: authorize, watchers, log } = deps;
  // Customer subjects are hashed and sealed with the tombstone keys; without them (some tests) they are refused.
  const customerSubjects = store.tombstones && new CustomerSubjects(store.tombstones.keys);
  const customersOrRefuse = (): CustomerSubjects => {
    if (!customerSubjects) throw new RpcError(status.UNIMPLEMENTED, 'this orchestrator has no tombstone keys to hash customer subjects with', 'CUSTOMERS_DISABLED');
    return customerSubjects;
  };

  /**
   * The caller as log lines name them: a service by name, a user by a short keyed hash (never the
   * raw id: it must not outlive the user's erasure in the logs).
   */
  const callerRef = (principal: Principal): string =>
    principal.kind !== 'user' ? principalName(principal) : `user:${store.tombstones?.keys.logRef('user', principal.userId) ?? 'unknown'}`;

  async function jobMessage(jobId: string): Promise<Job> {
    const [job, steps] = await Promise.all([store.get(jobId), store.steps(jobId)]);
    return toJobMessage(job!, steps);
  }

  /** Streams a job to the caller while holding one of the job's watcher slots. */
  async function stream(jobId: string, ctx: CallContext, send: (event: JobEvent) => Promise<void>, detach = false): Promise<void> {
    const release = watchers.job(jobId);
    try {
      for await (const event of watchJob(events, jobId, ctx.signal, { load: jobMessage, detach })) await send(event);
    } finally {
      release();
    }
  }

  /** Runs a streaming handler while it holds one of its caller's watcher slots (taken before anything is done). */
  async function asWatcher(ctx: CallContext, work: () => Promise<void>): Promise<void> {
    const release = watchers.caller(principalName(ctx.principal));
    try {
      await work();
    } finally {
      release();
    }
  }

  /** Starts the job's run on this replica without waiting; the queue covers the case where this replica dies. */
  function kick(jobId: string): void {
    executor.runIfFree(jobId).catch((error) => log.error({ err: error, job_id: jobId }, 'could not start job run'));
  }

  async function createOrAttach(input: NewJob): Promise<JobRow> {
    try {
      const { job, created } = await store.createOrAttach({
        ...input,
        openJobLimit: deps.openJobsPerCaller,
        ...(input.jobKind === 'export' && { openExportLimit: limit('openExportsPerCaller') }),
      });
      // Asked to export first, an erasure must not quietly attach to an open one that erases without an archive.
      if (!created && input.archive && job.job_kind === 'erasure' && !(await deps.archives?.get(job.id))) {
        throw failedPrecondition(`the subject already has erasure job ${job.id}, which does not export first; watch it, or cancel it and ask again`, 'OPEN_JOB_WITHOUT_EXPORT');
      }
      trace.getActiveSpan()?.setAttributes({ 'erasure.job.id': job.id, 'erasure.job.created': created });
      log.info(
        { job_id: job.id, job_trace_id: job.trace_id, created, subject_kind: job.subject_kind, status: job.status, purge_at: job.purge_at ?? undefined },
        created ? 'job recorded' : 'attached to existing job',
      );
      if (isOpen(job.status)) kick(job.id);
      return job;
    } catch (error) {
      if (error instanceof RequestIdReused) throw new RpcError(status.ALREADY_EXISTS, error.message, 'REQUEST_ID_REUSED');
      if (error instanceof OpenJobLimitReached) {
        const variable = error.exports ? 'ORCHESTRATOR_OPEN_EXPORTS_PER_CALLER' : 'ORCHESTRATOR_OPEN_JOBS_PER_CALLER';
        throw new RpcError(status.RESOURCE_EXHAUSTED, `${error.message} (${variable})`, 'OPEN_JOB_LIMIT');
      }
      throw error;
    }
  }

  /**
   * Every service's Preview of a subject; an unreachable service is named, its counts unknown. What
   * legal holds keep is shown as held, not as rows an erasure would remove.
   */
  async function previewEverywhere(subject: Subject, holds?: HoldDecision) {
    const services = await Promise.all(
      ALL_SERVICES.map(async (service) => {
        try {
          const held = holds?.held(service);
          const response = await clients.preview(service, subject, 15_000, held && held.scope !== 'all' ? held.scope : []);
          if (held?.scope === 'all') {
            const entities = response.entities.map((e) => ({ ...e, heldRowCount: String(Number(e.rowCount) || Number(e.retainedRowCount)), rowCount: '0' }));
            return { service, reachable: true, error: '', entities, totalRows: '0' };
          }
          return { service, reachable: true, error: '', entities: response.entities, totalRows: response.totalRows };
        } catch (error) {
          return { service, reachable: false, error: describeError(error), entities: [], totalRows: '0' };
        }
      }),
    );
    return {
      services,
      totalRows: String(services.reduce((sum, s) => sum + Number(s.totalRows), 0)),
      unreachableServices: services.filter((s) => !s.reachable).map((s) => s.service),
    };
  }

  const previewTenantDeletion = unary<PreviewTenantDeletionRequest, PreviewTenantDeletionResponse>(deps.rpc, 'PreviewTenantDeletion', async (request, ctx) => {
    const tenantId = requireUuid(request.tenantId, 'tenant_id');
    await authorize.tenant(ctx.principal, tenantId);
    const holds = deps.holds && decide(await deps.holds.activeFor({ kind: 'tenant', id: tenantId }));
    return { tenantId, ...(await previewEverywhere({ tenantId }, holds)) };
  });

  /** Calls the tenant service with the usual retries, bounded in time (a restore or a hide must answer). */
  const tenantServiceCall = (method: 'beginTenantDeletion' | 'cancelTenantDeletion', tenantId: string) =>
    withRetry(deps.retry, AbortSignal.timeout(30_000), () => clients.tenantCall(method, { tenantId }));

  /**
   * A tenant's grace period starts hidden: DELETING (refused by every service that checks tenant
   * state), subscription suspended. If the tenant service cannot be told, the job is restored at once
   * and the caller told to retry: a scheduled job never leaves a tenant in use.
   */
  async function hideScheduledTenant(job: JobRow): Promise<void> {
    try {
      await tenantServiceCall('beginTenantDeletion', job.subject_id);
    } catch (error) {
      if (await store.restore(job.id)) await events.publish({ kind: 'finished', jobId: job.id });
      throw new RpcError(status.UNAVAILABLE, `could not hide the tenant for its grace period (${describeError(error)}); nothing was scheduled, retry`, 'TENANT_SERVICE_UNAVAILABLE');
    }
  }

  /**
   * Ends a SCHEDULED job as restored (RestoreTenant, RestoreUser, CancelJob): the job ends CANCELLED
   * with nothing deleted and, for a tenant, the tenant is ACTIVE again with its subscription. A user
   * needs nothing more: the tombstone registry stops reporting them suspended once no job is SCHEDULED.
   */
  async function restoreJob(job: JobRow, ctx: CallContext): Promise<Job> {
    const restored = await store.restore(job.id);
    if (!restored) {
      const current = (await store.get(job.id))!;
      throw failedPrecondition(`job ${job.id} is ${current.status}; only a SCHEDULED job (grace period) can be restored`, 'JOB_NOT_SCHEDULED');
    }
    await events.publish({ kind: 'finished', jobId: job.id });
    log.info({ job_id: job.id, subject_kind: job.subject_kind, by: callerRef(ctx.principal) }, 'restored during the grace period');
    if (job.subject_kind === 'tenant') await reactivateTenant(job);
    return jobMessage(job.id);
  }

  async function reactivateTenant(job: JobRow): Promise<void> {
    try {
      await tenantServiceCall('cancelTenantDeletion', job.subject_id);
    } catch (error) {
      throw new RpcError(status.UNAVAILABLE, `job ${job.id} is restored but the tenant service could not be told (${describeError(error)}); call RestoreTenant again`, 'TENANT_SERVICE_UNAVAILABLE');
    }
  }

  /**
   * The subject's scheduled job for a restore, after the caller's permission for that job. A subject
   * whose last job was already restored is answered with that job (for a tenant, the tenant service is
   * told again: a restore whose tenant call failed is finished by repeating it).
   */
  async function restoreSubject(kind: SubjectKind, subjectId: string, ctx: CallContext): Promise<Job> {
    const job = (await store.unfinishedFor(kind, subjectId)) ?? (await store.latestFor(kind, subjectId));
    // Permission before existence: a user learns of no job unless they may see it (a tenant's admins).
    if (ctx.principal.kind === 'user') {
      if (job) await authorize.visibleJob(ctx.principal, job.id);
      else if (kind === 'tenant') await authorize.tenant(ctx.principal, subjectId);
    }
    if (!job) throw notFound(`${kind} ${subjectId} has no scheduled erasure`);
    if (job.status === 'CANCELLED' && job.error === RESTORED_ERROR) {
      if (kind === 'tenant') await reactivateTenant(job);
      return jobMessage(job.id);
    }
    if (job.status !== 'SCHEDULED') {
      throw failedPrecondition(`${kind} ${subjectId} has no scheduled erasure (its job ${job.id} is ${job.status})`, 'JOB_NOT_SCHEDULED');
    }
    return restoreJob(job, ctx);
  }

  const restoreTenant = unary<RestoreTenantRequest, RestoreTenantResponse>(deps.rpc, 'RestoreTenant', async (request, ctx) => {
    const tenantId = requireUuid(request.tenantId, 'tenant_id');
    return { job: await restoreSubject('tenant', tenantId, ctx) };
  });

  const restoreUser = unary<RestoreUserRequest, RestoreUserResponse>(deps.rpc, 'RestoreUser', async (request, ctx) => {
    const userId = requireUuid(request.userId, 'user_id');
    return { job: await restoreSubject('user', userId, ctx) };
  });

  /** A recipient JWK (JSON text) checked: a public ECDH key; INVALID_ARGUMENT naming the field otherwise. */
  async function recipientOf(text: string, field: string): Promise<object> {
    if (!deps.archives) throw new RpcError(status.UNIMPLEMENTED, 'this orchestrator keeps no export archives', 'EXPORTS_DISABLED');
    let jwk: unknown;
    try {
      jwk = JSON.parse(text);
    } catch {
      throw invalidArgument(`${field} must be a JWK as JSON text`);
    }
    try {
      await recipientKey(jwk as object);
    } catch (error) {
      throw invalidArgument(`${field}: ${(error as Error).message}`);
    }
    return jwk as object;
  }

  /** The steps (and archive) of an erasure, with its subject's export first when asked. */
  async function exportFirst(option: ExportFirst | undefined, steps: NewJob['steps']): Promise<Pick<NewJob, 'steps' | 'archive'>> {
    if (!option) return { steps };
    const recipient = await recipientOf(option.recipientJwk, 'export_first.recipient_jwk');
    return { steps: [...exportSteps(), ...steps], archive: { recipient } };
  }

  const exportTenant = serverStream<ExportTenantRequest, JobEvent>(deps.rpc, 'ExportTenant', async (request, ctx, send) => {
    const tenantId = requireUuid(request.tenantId, 'tenant_id');
    const requestId = requestIdOf(request.requestId);
    const admins = await authorize.tenant(ctx.principal, tenantId);
    const recipient = await recipientOf(request.recipientJwk, 'recipient_jwk');
    await asWatcher(ctx, async () => {
      const job = await createOrAttach({
        jobKind: 'export',
        subjectKind: 'tenant',
        subjectId: tenantId,
        requestedBy: principalName(ctx.principal),
        requestId,
        viewers: admins,
        options: {},
        steps: exportSteps(),
        archive: { recipient },
      });
      await stream(job.id, ctx, send, request.detach);
    });
  });

  const exportUser = serverStream<ExportUserRequest, JobEvent>(deps.rpc, 'ExportUser', async (request, ctx, send) => {
    const userId = requireUuid(request.userId, 'user_id');
    const requestId = requestIdOf(request.requestId);
    authorize.user(ctx.principal, userId);
    const recipient = await recipientOf(request.recipientJwk, 'recipient_jwk');
    await asWatcher(ctx, async () => {
      const job = await createOrAttach({
        jobKind: 'export',
        subjectKind: 'user',
        subjectId: userId,
        requestedBy: principalName(ctx.principal),
        requestId,
        viewers: [userId],
        options: {},
        steps: exportSteps(),
        archive: { recipient },
      });
      await stream(job.id, ctx, send, request.detach);
    });
  });

  /** The archive of a job the caller may see; NOT_FOUND when the job has none. */
  async function visibleArchive(principal: Principal, jobId: string) {
    const job = await authorize.visibleJob(principal, jobId);
    const archive = await deps.archives?.get(job.id);
    if (!archive) throw new RpcError(status.NOT_FOUND, `job ${job.id} has no export archive`, 'NO_ARCHIVE');
    return { job, archive };
  }

  const getExport = unary<GetExportRequest, GetExportResponse>(deps.rpc, 'GetExport', async (request, ctx) => {
    const { job, archive } = await visibleArchive(ctx.principal, request.jobId);
    return {
      jobId: job.id,
      status: toJobStatus(job.status),
      manifestJws: archive.deletedAt ? '' : (archive.manifestJws ?? ''),
      manifestSha256: archive.manifestSha256 ?? '',
      sizeBytes: String(archive.sizeBytes),
      sealTime: archive.sealedAt ?? undefined,
      expireTime: archive.expiresAt ?? undefined,
      deleted: archive.deletedAt !== null,
    };
  });

  const downloadExport = serverStream<DownloadExportRequest, DownloadExportResponse>(deps.rpc, 'DownloadExport', async (request, ctx, send) => {
    const { job, archive } = await visibleArchive(ctx.principal, request.jobId);
    if (archive.deletedAt) throw new RpcError(status.NOT_FOUND, `the archive of job ${job.id} expired and was deleted`, 'ARCHIVE_DELETED');
    if (!archive.manifestJws) throw failedPrecondition(`the archive of job ${job.id} is not sealed yet (job ${job.status})`, 'ARCHIVE_NOT_SEALED');
    const line = (value: ArchiveLine) => send({ data: Buffer.from(`${JSON.stringify(value)}\n`) });
    await line({ format: ARCHIVE_FORMAT, job_id: job.id, manifest: archive.manifestJws });
    // One stored chunk at a time: `send` waits while the client is not reading.
    for (const file of await deps.archives!.files(job.id)) {
      await line({ file: file.name, key: file.wrappedKey, chunks: file.chunks });
      let seq = 0;
      for await (const chunk of deps.archives!.chunks(job.id, file.name)) await line({ file: file.name, seq: seq++, data: chunk.toString('base64') });
    }
  });

  /** A job that waits for its grace period or its approval: answered with its snapshot, not streamed. */
  const waits = (job: JobRow) => job.status === 'SCHEDULED' || job.status === 'AWAITING_APPROVAL';

  const deleteTenant = serverStream<DeleteTenantRequest, JobEvent>(deps.rpc, 'DeleteTenant', async (request, ctx, send) => {
    const tenantId = requireUuid(request.tenantId, 'tenant_id');
    const requestId = requestIdOf(request.requestId);
    const admins = await authorize.tenant(ctx.principal, tenantId);
    const schedule = graceSchedule(request, 'tenant', ctx.principal, deps.grace, deps.retry.budgetMs);
    await asWatcher(ctx, async () => {
      const job = await createOrAttach({
        subjectKind: 'tenant',
        subjectId: tenantId,
        requestedBy: principalName(ctx.principal),
        requestId,
        viewers: admins,
        options: {},
        ...(await exportFirst(request.exportFirst, stepsFor('tenant'))),
        ...schedule,
        requireApproval: approvalRequired(request.requireApproval, 'tenant', schedule.purgeAt, deps.fourEyesTenantAtOnce),
      });
      if (job.status === 'SCHEDULED') await hideScheduledTenant(job);
      // A grace period or a wait for approval is not streamed: the caller gets the job as it is.
      await stream(job.id, ctx, send, request.detach || waits(job));
    });
  });

  const deleteUser = serverStream<DeleteUserRequest, JobEvent>(deps.rpc, 'DeleteUser', async (request, ctx, send) => {
    const userId = requireUuid(request.userId, 'user_id');
    const requestId = requestIdOf(request.requestId);
    authorize.user(ctx.principal, userId);
    const schedule = graceSchedule(request, 'user', ctx.principal, deps.grace, deps.retry.budgetMs);
    const options = { eraseOwnedTenants: request.eraseOwnedTenants };
    // Refuse up front, changing nothing, when an owned tenant needs a decision.
    const { memberships } = await clients.tenantCall('listUserMemberships', { userId });
    const undecided = undecidedOwnedTenants(memberships, options);
    if (undecided.length) {
      throw failedPrecondition(
        `the user owns tenants with other members but no other admin; transfer their ownership or set erase_owned_tenants: ${undecided.map((m) => m.tenantId).join(', ')}`,
        'OWNED_TENANTS_NEED_A_DECISION',
      );
    }
    await asWatcher(ctx, async () => {
      const job = await createOrAttach({
        subjectKind: 'user',
        subjectId: userId,
        requestedBy: principalName(ctx.principal),
        requestId,
        viewers: [userId],
        options,
        ...(await exportFirst(request.exportFirst, stepsFor('user'))),
        ...schedule,
        requireApproval: approvalRequired(request.requireApproval, 'user', schedule.purgeAt, deps.fourEyesTenantAtOnce),
      });
      await stream(job.id, ctx, send, request.detach || waits(job));
    });
  });

  // Customer subjects (orchestrator/customers.ts): the tenant's owners and admins, and operators.
  const deleteCustomer = serverStream<DeleteCustomerRequest, JobEvent>(deps.rpc, 'DeleteCustomer', async (request, ctx, send) => {
    const key = parseCustomerSubject(request.customer);
    const requestId = requestIdOf(request.requestId);
    const admins = await authorize.tenant(ctx.principal, key.tenantId);
    const customers = customersOrRefuse();
    await asWatcher(ctx, async () => {
      const job = await createOrAttach({
        subjectKind: 'customer',
        subjectId: customers.ref(key),
        sealedSubject: customers.seal(key),
        requestedBy: principalName(ctx.principal),
        requestId,
        viewers: admins,
        options: { customer: { tenantId: key.tenantId, identifier: key.identifier } },
        steps: stepsFor('customer'),
        requireApproval: approvalRequired(request.requireApproval, 'customer', undefined, deps.fourEyesTenantAtOnce),
      });
      await stream(job.id, ctx, send, request.detach || waits(job));
    });
  });

  const previewCustomerDeletion = unary<PreviewCustomerDeletionRequest, PreviewCustomerDeletionResponse>(deps.rpc, 'PreviewCustomerDeletion', async (request, ctx) => {
    const key = parseCustomerSubject(request.customer);
    await authorize.tenant(ctx.principal, key.tenantId);
    return previewEverywhere({ customer: customerMessage(key) });
  });

  const watch = serverStream<WatchJobRequest, JobEvent>(deps.rpc, 'WatchJob', async (request, ctx, send) => {
    const job = await authorize.visibleJob(ctx.principal, request.jobId);
    await asWatcher(ctx, () => stream(job.id, ctx, send));
  });

  const getJob = unary<GetJobRequest, GetJobResponse>(deps.rpc, 'GetJob', async (request, ctx) => {
    const job = await authorize.visibleJob(ctx.principal, request.jobId);
    return { job: toJobMessage(job, await store.steps(job.id)) };
  });

  const listJobs = unary<ListJobsRequest, ListJobsResponse>(deps.rpc, 'ListJobs', async (request, ctx) => {
    const size = pageSize(request.pageSize, { defaultSize: 50, maxSize: 500 });
    const customer = request.subject?.customer && parseCustomerSubject(request.subject.customer, 'subject.customer');
    const subject = request.subject && (request.subject.tenantId !== undefined || request.subject.userId !== undefined) ? parseSubject(request.subject) : undefined;
    const statusName = fromJobStatus(request.status);
    if (statusName === null) throw invalidArgument(`unknown status ${request.status}`);
    const { jobs, nextPageToken } = await store.list({
      status: statusName,
      subjectKind: customer ? 'customer' : subject?.kind,
      subjectId: subject?.id,
      subjectRefs: customer ? customersOrRefuse().refs(customer) : subject && store.tombstones ? store.tombstones.keys.refs(subject.kind, subject.id) : undefined,
      visibleTo: authorize.listingScope(ctx.principal),
      pageSize: size,
      after: decodePageToken(request.pageToken),
      dueBefore: request.dueBefore,
      unfinished: request.unfinished,
      order: orderOf(request.orderBy),
    });
    const steps = await store.stepsOf(jobs.map((job) => job.id));
    return { jobs: jobs.map((job) => toJobMessage(job, steps.get(job.id) ?? [])), nextPageToken };
  });

  const cancelJob = unary<CancelJobRequest, CancelJobResponse>(deps.rpc, 'CancelJob', async (request, ctx) => {
    const job = await authorize.visibleJob(ctx.principal, request.jobId);
    // Cancelling a job in its grace period is a restore: the subject returns to full use.
    if (job.status === 'SCHEDULED') return { job: await restoreJob(job, ctx) };
    if (!(await store.requestCancel(job.id))) {
      const current = (await store.get(job.id))!.status;
      // A wait for approval ends by a second person's decision (RejectJob), not by its requester alone.
      const hint = current === 'AWAITING_APPROVAL' ? ' (a job AWAITING_APPROVAL ends by RejectJob)' : '';
      throw failedPrecondition(`job ${job.id} is ${current}; only SCHEDULED, PENDING or RUNNING jobs can be cancelled${hint}`, 'JOB_NOT_OPEN');
    }
    executor.cancelLocal(job.id);
    await events.publish({ kind: 'cancel', jobId: job.id });
    log.info({ job_id: job.id, by: callerRef(ctx.principal) }, 'cancellation requested');
    // Wait briefly for the runner to stop between chunks, so the answer usually shows CANCELLED.
    for (let i = 0; i < 50 && !ctx.signal.aborted; i++) {
      const current = await store.get(job.id);
      if (current && !isOpen(current.status)) break;
      if (current?.status === 'PENDING' && (await executor.runIfFree(job.id)) !== 'held') continue;
      await sleep(100, ctx.signal);
    }
    return { job: await jobMessage(job.id) };
  });

  const retryJob = unary<RetryJobRequest, RetryJobResponse>(deps.rpc, 'RetryJob', async (request, ctx) => {
    const job = await authorize.visibleJob(ctx.principal, request.jobId);
    if (job.subject_kind === 'customer' && !isOpen(job.status)) {
      throw failedPrecondition(`job ${job.id} is a customer erasure, whose identifier is not kept once it ends; send DeleteCustomer again`, 'JOB_NOT_RETRYABLE');
    }
    let reopened: boolean;
    try {
      reopened = await store.reopen(job.id);
    } catch (error) {
      if (error instanceof JobAlreadyOpen) {
        throw failedPrecondition(`the subject of job ${job.id} already has another open job; watch that one instead`, 'SUBJECT_HAS_OPEN_JOB');
      }
      throw error;
    }
    if (!reopened) {
      const current = (await store.get(job.id))!;
      throw failedPrecondition(
        current.error === RESTORED_ERROR
          ? `job ${job.id} was restored during its grace period; request a new erasure instead`
          : `job ${job.id} is ${current.status}; only FAILED or CANCELLED jobs can be retried`,
        'JOB_NOT_RETRYABLE',
      );
    }
    log.info({ job_id: job.id, by: callerRef(ctx.principal) }, 'job re-opened for retry');
    kick(job.id);
    return { job: await jobMessage(job.id) };
  });

  const getCertificate = unary<GetCertificateRequest, GetCertificateResponse>(deps.rpc, 'GetCertificate', async (request, ctx) => {
    // Who may read a certificate: whoever may read the job (authorization.ts).
    const job = await authorize.visibleJob(ctx.principal, request.jobId);
    const certificate = await deps.certificates.get(job.id);
    if (!certificate) {
      if (job.status !== 'COMPLETED') throw failedPrecondition(`job ${job.id} is ${job.status}; a certificate is issued when a job completes`, 'JOB_NOT_COMPLETED');
      throw notFound(`job ${job.id} has no certificate (it completed before certificates were issued)`);
    }
    const payload = Buffer.from(certificate.jws.split('.')[1]!, 'base64url').toString('utf8');
    return { jws: certificate.jws, payloadJson: payload, issuedAt: certificate.issuedAt };
  });

  const getPublicKeys = unary<GetPublicKeysRequest, GetPublicKeysResponse>(deps.rpc, 'GetPublicKeys', async () => ({ jwksJson: JSON.stringify(deps.jwks) }));

  // Operators only (mesh/caller-rules.ts); the run is recorded and audited like the daily one.
  const purgeExpiredRetention = unary<PurgeExpiredRetentionRequest, PurgeExpiredRetentionResponse>(deps.rpc, 'PurgeExpiredRetention', async (_request, ctx) => {
    if (!deps.retentionPurges) throw failedPrecondition('this orchestrator runs no retention purge');
    try {
      return { purge: toRetentionPurgeMessage(await deps.retentionPurges.run('operator', principalName(ctx.principal), ctx.signal)) };
    } catch (error) {
      if (error instanceof RetentionPurgeBusy) throw new RpcError(status.ABORTED, error.message, 'RETENTION_PURGE_RUNNING');
      throw error;
    }
  });

  // Legal holds: operators only (mesh/caller-rules.ts); the rules are orchestrator/holds.ts's.
  const holdsOrRefuse = (): LegalHolds => {
    if (!deps.holds) throw failedPrecondition('this orchestrator keeps no legal holds');
    return deps.holds;
  };
  const placeHold = unary<PlaceHoldRequest, PlaceHoldResponse>(deps.rpc, 'PlaceHold', async (request, ctx) => {
    const hold = await holdsOrRefuse().place(ctx.principal, request);
    return { hold: toHoldMessage(hold) };
  });
  const releaseHold = unary<ReleaseHoldRequest, ReleaseHoldResponse>(deps.rpc, 'ReleaseHold', async (request, ctx) => {
    const { hold, resumed } = await holdsOrRefuse().release(ctx.principal, request.holdId);
    // The job is queued again (in the release's transaction); starting it here only saves a poll.
    if (resumed) kick(resumed);
    return { hold: toHoldMessage(hold) };
  });
  const listHolds = unary<ListHoldsRequest, ListHoldsResponse>(deps.rpc, 'ListHolds', async (request) => ({
    holds: (await holdsOrRefuse().list(request.subject, request.includeEnded)).map(toHoldMessage),
  }));

  return {
    name: DELETION_ORCHESTRATOR,
    definition: DeletionOrchestratorService,
    implementation: {
      previewTenantDeletion, deleteTenant, deleteUser, deleteCustomer, previewCustomerDeletion, watchJob: watch, getJob, listJobs, cancelJob, retryJob, getCertificate, getPublicKeys, purgeExpiredRetention, restoreTenant, restoreUser, exportTenant, exportUser, getExport, downloadExport,
      ...approvalHandlers({ rpc: deps.rpc, store, authorization: authorize, log, jobMessage, kick, hideScheduledTenant, callerRef }),
      placeHold, releaseHold, listHolds,
    },
  };
}

/** A listing's order; INVALID_ARGUMENT for a value the contract does not define. */
function orderOf(order: JobOrder): 'created' | 'due' {
  if (order === JobOrder.JOB_ORDER_UNSPECIFIED) return 'created';
  if (order === JobOrder.JOB_ORDER_DUE_TIME) return 'due';
  throw invalidArgument(`unknown order_by ${order}`);
}

/** A recorded retention purge as the contract's message. */
export function toRetentionPurgeMessage(record: RetentionPurgeRecord): RetentionPurge {
  return {
    id: record.id,
    status: record.status,
    trigger: record.trigger,
    startedAt: record.startedAt,
    finishedAt: record.finishedAt,
    verifiedAt: record.verifiedAt,
    services: record.services.map((s) => ({
      service: s.service,
      entities: s.entities.map((e) => ({ entity: e.entity, action: e.action, rows: String(e.rows), chunks: '0', retainReason: '', retention: '' })),
      totalRows: String(s.rows),
      error: s.error,
    })),
    totalRows: String(record.totalRows),
    error: record.error,
  };
}
