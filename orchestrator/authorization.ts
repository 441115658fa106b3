import { status } from '@grpc/grpc-js';
import { Role } from '../gen/bakery/tenant/v1/tenant_service';
import type { Principal } from '../services/kit/auth';
import { RpcError, notFound, permissionDenied, requireUuid } from '../services/kit/errors';
import type { ServiceClients } from './clients';
import { describeError, isRetryable, type RetryPolicy } from './retry';
import type { JobRow, JobStore } from './store';

/** How a principal is recorded as a job's initiator (`requested_by`). */
export function principalName(principal: Principal): string {
  if (principal.kind === 'service') return `service:${principal.service}`;
  if (principal.kind === 'operator') return `operator:${principal.operator}`;
  return `user:${principal.userId}`;
}

/**
 * Who may do what (after the caller rules of mesh/caller-rules.ts admitted the caller): operators and
 * services may do anything; a tenant's owners and admins may preview and erase
 * it; a user may erase themself; a job is visible to services, its initiator, its viewers (the
 * tenant's admins at the time), and the user it erases.
 */
export class Authorization {
  constructor(
    private readonly store: JobStore,
    private readonly clients: ServiceClients,
    private readonly retry: Pick<RetryPolicy, 'retryableCodes'>,
  ) {}

  /** Owners and admins of a tenant, asked of the tenant service. NOT_FOUND when the tenant does not exist. */
  private async tenantAdmins(tenantId: string): Promise<string[]> {
    try {
      const { admins } = await this.clients.tenantCall('getTenantAdmins', { tenantId });
      return admins.filter((a) => a.role === Role.ROLE_OWNER || a.role === Role.ROLE_ADMIN).map((a) => a.userId);
    } catch (error) {
      const code = (error as { code?: number }).code;
      if (code === status.NOT_FOUND) throw notFound(`tenant ${tenantId} not found`);
      if (isRetryable(this.retry, error)) throw new RpcError(status.UNAVAILABLE, `tenant service unavailable: ${describeError(error)}`, 'TENANT_SERVICE_UNAVAILABLE');
      throw error;
    }
  }

  /**
   * A tenant's owner or admin, or a service, may erase or preview it; returns the tenant's admins
   * (the job's viewers). Permission comes before existence: a user asking about a tenant that does
   * not exist is refused like any non-admin.
   */
  async tenant(principal: Principal, tenantId: string): Promise<string[]> {
    const refused = () => permissionDenied('only an owner or admin of the tenant, or a service, may do this');
    let admins: string[];
    try {
      admins = await this.tenantAdmins(tenantId);
    } catch (error) {
      if (principal.kind === 'user' && error instanceof RpcError && error.code === status.NOT_FOUND) throw refused();
      throw error;
    }
    if (principal.kind === 'user' && !admins.includes(principal.userId)) throw refused();
    return admins;
  }

  /** A user may erase only themself; services may erase anyone. */
  user(principal: Principal, userId: string): void {
    if (principal.kind === 'user' && principal.userId !== userId) throw permissionDenied('a user may only erase themself; services may erase anyone');
  }

  /** The job, if this principal may see it (and steer it: cancel, retry). */
  async visibleJob(principal: Principal, jobId: string): Promise<JobRow> {
    const id = requireUuid(jobId, 'job_id');
    const job = await this.store.get(id);
    if (principal.kind !== 'user') {
      if (!job) throw notFound(`job ${id} not found`);
      return job;
    }
    const allowed =
      job &&
      (job.requested_by === principalName(principal) || job.viewers.includes(principal.userId) || (job.subject_kind === 'user' && job.subject_id === principal.userId));
    if (!allowed) throw permissionDenied("only the job's initiator, the tenant's admins, or a service may see this job");
    return job;
  }

  /** Users see only the jobs they may see in a listing; services see all. */
  listingScope(principal: Principal): string | undefined {
    return principal.kind === 'user' ? principal.userId : undefined;
  }
}
