import type { Logger } from 'pino';
import type {
  ApproveJobRequest,
  ApproveJobResponse,
  ExtendDeadlineRequest,
  ExtendDeadlineResponse,
  Job,
  RejectJobRequest,
  RejectJobResponse,
} from '../gen/bakery/erasure/v1/deletion_orchestrator';
import type { Principal } from '../services/kit/auth';
import { failedPrecondition, invalidArgument, permissionDenied } from '../services/kit/errors';
import { unary, type RpcDeps } from '../services/kit/rpc';
import { principalName, type Authorization } from './authorization';
import { durationMs } from './grace';
import type { SubjectKind } from './steps';
import { monthsAfter, type JobRow, type JobStore } from './store';

/**
 * Four-eyes approval and deadline extensions (README.md "Approvals", "Deadlines").
 *
 * A job that needs approval is recorded AWAITING_APPROVAL with no queue entry and nothing hidden: the
 * subject stays in full use until a second person decides, so a request nobody approves changes
 * nothing. The grace period, if any, counts from the request (purge_at is kept while the job waits);
 * approved after its end, the job runs at once.
 */

/**
 * Whether an erasure waits for a second person: when the caller asks (`require_approval`), and for a
 * tenant erased at once (no grace) while the operator's four-eyes setting is on: destroying a whole
 * bakery with no grace to notice a mistake deserves a second pair of eyes.
 */
export function approvalRequired(requested: boolean, kind: SubjectKind, purgeAt: Date | undefined, fourEyesTenantAtOnce: boolean): boolean {
  return requested || (kind === 'tenant' && purgeAt === undefined && fourEyesTenantAtOnce);
}

/** The most a deadline may be extended (GDPR Art. 12(3): "by two further months"), from the first due date. */
export const MAX_EXTENSION_MONTHS = 2;
const MAX_REASON = 500;

function reasonOf(value: string, field: string): string {
  const reason = value.trim();
  if (!reason) throw invalidArgument(`${field} is required`);
  if (reason.length > MAX_REASON) throw invalidArgument(`${field} must be at most ${MAX_REASON} characters`);
  return reason;
}

export interface ApprovalDeps {
  rpc: RpcDeps;
  store: JobStore;
  authorization: Authorization;
  log: Logger;
  /** The job as the contract's message. */
  jobMessage(jobId: string): Promise<Job>;
  /** Starts an approved job's run on this replica (the queue covers the rest). */
  kick(jobId: string): void;
  /** Hides a tenant whose approved job is SCHEDULED (its grace period), as DeleteTenant does. */
  hideScheduledTenant(job: JobRow): Promise<void>;
  /** How a caller is named in log lines (never a user's raw id). */
  callerRef(principal: Principal): string;
}

/** ApproveJob, RejectJob and ExtendDeadline. */
export function approvalHandlers(deps: ApprovalDeps) {
  const { store, authorization: authorize, log } = deps;

  /**
   * The AWAITING_APPROVAL job a principal may decide on: one it may see, whose erasure it could have
   * requested itself (a tenant's owners and admins, also for one of its customers; the user themself;
   * operators), and that it did not request (four eyes: PERMISSION_DENIED for the requester).
   */
  async function decidable(principal: Principal, jobId: string): Promise<JobRow> {
    const job = await authorize.visibleJob(principal, jobId);
    if (job.subject_kind === 'tenant') await authorize.tenant(principal, job.subject_id);
    else if (job.subject_kind === 'customer') await authorize.tenant(principal, job.options.customer!.tenantId);
    else authorize.user(principal, job.subject_id);
    if (job.requested_by === principalName(principal)) {
      throw permissionDenied('the requester of an erasure cannot approve or reject it: a second authorized person must');
    }
    if (job.status !== 'AWAITING_APPROVAL') throw failedPrecondition(`job ${job.id} is ${job.status}; only a job AWAITING_APPROVAL can be approved or rejected`, 'JOB_NOT_AWAITING_APPROVAL');
    return job;
  }

  /** The decision, or FAILED_PRECONDITION when another decision came first. */
  async function decide(job: JobRow, principal: Principal, decision: Parameters<JobStore['decideApproval']>[2]): Promise<JobRow> {
    const decided = await store.decideApproval(job.id, principalName(principal), decision);
    if (!decided) throw failedPrecondition(`job ${job.id} was decided by someone else meanwhile; read it again`, 'JOB_NOT_AWAITING_APPROVAL');
    log.info({ job_id: job.id, status: decided.status, by: deps.callerRef(principal) }, decision.approve ? 'job approved' : 'job rejected');
    return decided;
  }

  const approveJob = unary<ApproveJobRequest, ApproveJobResponse>(deps.rpc, 'ApproveJob', async (request, ctx) => {
    const job = await decide(await decidable(ctx.principal, request.jobId), ctx.principal, { approve: true });
    if (job.status === 'SCHEDULED' && job.subject_kind === 'tenant') await deps.hideScheduledTenant(job);
    if (job.status === 'PENDING') deps.kick(job.id);
    return { job: await deps.jobMessage(job.id) };
  });

  const rejectJob = unary<RejectJobRequest, RejectJobResponse>(deps.rpc, 'RejectJob', async (request, ctx) => {
    const reason = reasonOf(request.reason, 'reason');
    const job = await decide(await decidable(ctx.principal, request.jobId), ctx.principal, { approve: false, reason });
    return { job: await deps.jobMessage(job.id) };
  });

  const extendDeadline = unary<ExtendDeadlineRequest, ExtendDeadlineResponse>(deps.rpc, 'ExtendDeadline', async (request, ctx) => {
    // Operators only (mesh/caller-rules.ts); checked here too, as the extension is a legal decision.
    if (ctx.principal.kind !== 'operator') throw permissionDenied('only an operator may extend a deadline');
    const job = await authorize.visibleJob(ctx.principal, request.jobId);
    if ((request.extension === undefined) === (request.newDueTime === undefined)) throw invalidArgument('give exactly one of extension and new_due_time');
    const reason = reasonOf(request.reason, 'reason');
    let dueAt: Date;
    if (request.extension) {
      const ms = durationMs(request.extension, 'extension');
      if (ms === 0) throw invalidArgument('extension must be positive');
      dueAt = new Date(job.due_at.getTime() + ms);
    } else {
      dueAt = request.newDueTime!;
      if (Number.isNaN(dueAt.getTime())) throw invalidArgument('new_due_time is not a valid time');
      if (dueAt.getTime() <= job.due_at.getTime()) throw invalidArgument(`new_due_time must be later than the current due date ${job.due_at.toISOString()}`);
    }
    const limit = monthsAfter(job.original_due_at ?? job.due_at, MAX_EXTENSION_MONTHS);
    if (dueAt.getTime() > limit.getTime()) {
      throw invalidArgument(`a deadline may be extended by at most ${MAX_EXTENSION_MONTHS} months in all, to ${limit.toISOString()} (GDPR Art. 12(3))`, 'EXTENSION_TOO_LONG');
    }
    const extended = await store.extendDeadline(job.id, dueAt, reason, principalName(ctx.principal));
    if (!extended) {
      const current = (await store.get(job.id))!;
      throw failedPrecondition(`job ${job.id} is ${current.status}; only an unfinished job's deadline can be extended`, 'JOB_ENDED');
    }
    log.info({ job_id: job.id, due_at: extended.due_at.toISOString(), by: deps.callerRef(ctx.principal) }, 'deadline extended');
    return { job: await deps.jobMessage(job.id) };
  });

  return { approveJob, rejectJob, extendDeadline };
}
