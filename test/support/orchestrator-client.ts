import { credentials, type ServiceError } from '@grpc/grpc-js';
import {
  DeletionOrchestratorClient,
  JobStatus,
  type DeletionOrchestratorServer,
  type DeleteTenantRequest,
  type DeleteUserRequest,
  type Job,
  type JobEvent,
} from '../../gen/bakery/erasure/v1/deletion_orchestrator';
import { caller } from './identity';
import { bearer } from './services';

export interface JobStream {
  events: JobEvent[];
  error?: ServiceError;
  /** The final job (from the `finished` event), if the stream got that far. */
  finished?: Job;
  snapshot?: Job;
}

/** The orchestrator's unary RPCs as promises, and its streams collected to their end. */
export function orchestratorClient(address: string) {
  const client = new DeletionOrchestratorClient(address, credentials.createInsecure());
  const collect = (start: () => import('@grpc/grpc-js').ClientReadableStream<JobEvent>, onEvent?: (event: JobEvent) => void): Promise<JobStream> =>
    new Promise((resolve) => {
      const result: JobStream = { events: [] };
      const call = start();
      call.on('data', (event: JobEvent) => {
        result.events.push(event);
        if (event.snapshot && !result.snapshot) result.snapshot = event.snapshot;
        if (event.finished) result.finished = event.finished;
        onEvent?.(event);
      });
      call.on('error', (error: ServiceError) => resolve({ ...result, error }));
      call.on('end', () => resolve(result));
    });
  return {
    unary: caller<DeletionOrchestratorServer>(client),
    deleteTenant: (request: Partial<DeleteTenantRequest> & { tenantId: string }, token?: string, onEvent?: (event: JobEvent) => void) =>
      collect(() => client.deleteTenant({ requestId: '', detach: false, ...request }, bearer(token)), onEvent),
    deleteUser: (request: Partial<DeleteUserRequest> & { userId: string }, token?: string, onEvent?: (event: JobEvent) => void) =>
      collect(() => client.deleteUser({ requestId: '', eraseOwnedTenants: false, detach: false, ...request }, bearer(token)), onEvent),
    watchJob: (jobId: string, token?: string, onEvent?: (event: JobEvent) => void) => collect(() => client.watchJob({ jobId }, bearer(token)), onEvent),
    close: () => client.close(),
  };
}

export const isFinal = (job: Job | undefined) =>
  !!job && [JobStatus.JOB_STATUS_COMPLETED, JobStatus.JOB_STATUS_FAILED, JobStatus.JOB_STATUS_CANCELLED].includes(job.status);
