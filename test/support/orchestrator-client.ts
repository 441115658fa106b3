import { credentials, type ClientReadableStream, type ServiceError } from '@grpc/grpc-js';
import {
  DeletionOrchestratorClient,
  JobStatus,
  ListJobsRequest,
  type DeleteCustomerRequest,
  type DeleteTenantRequest,
  type DeleteUserRequest,
  type Job,
  type JobEvent,
} from '../../gen/bakery/erasure/v1/deletion_orchestrator';
import type { Duration } from '../../gen/google/protobuf/duration';
import { bearerMetadata, unaryCall, type UnaryMethodName, type UnaryRequest } from '../../services/kit/unary';

export interface JobStream {
  events: JobEvent[];
  error?: ServiceError;
  /** The final job (from the `finished` event), if the stream got that far. */
  finished?: Job;
  snapshot?: Job;
}

type Method = UnaryMethodName<DeletionOrchestratorClient>;

/** The orchestrator's unary RPCs as promises (`token` undefined sends none), and its streams collected to their end. */
export function orchestratorClient(address: string) {
  const client = new DeletionOrchestratorClient(address, credentials.createInsecure());
  const unary =
    <K extends Method>(method: K) =>
    (request: UnaryRequest<DeletionOrchestratorClient, K>, token?: string) =>
      unaryCall(client, method, request, { metadata: bearerMetadata(token) });
  const collect = (start: () => ClientReadableStream<JobEvent>, onEvent?: (event: JobEvent) => void): Promise<JobStream> =>
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
    unary: {
      previewTenantDeletion: unary('previewTenantDeletion'),
      getJob: unary('getJob'),
      // The listing's newer fields (due date filter, order) default as proto3 leaves them unset.
      listJobs: (request: Partial<ListJobsRequest>, token?: string) => unary('listJobs')(ListJobsRequest.fromPartial(request), token),
      approveJob: unary('approveJob'),
      rejectJob: unary('rejectJob'),
      extendDeadline: unary('extendDeadline'),
      cancelJob: unary('cancelJob'),
      retryJob: unary('retryJob'),
      getCertificate: unary('getCertificate'),
      getPublicKeys: unary('getPublicKeys'),
      restoreTenant: unary('restoreTenant'),
      restoreUser: unary('restoreUser'),
      previewCustomerDeletion: unary('previewCustomerDeletion'),
    },
    // Every test names its grace period (AT_ONCE for an erasure at once): nothing changes meaning with the default.
    deleteTenant: (request: Partial<DeleteTenantRequest> & { tenantId: string; gracePeriod: Duration | undefined }, token?: string, onEvent?: (event: JobEvent) => void) =>
      collect(() => client.deleteTenant({ requestId: '', detach: false, requireApproval: false, ...request }, bearerMetadata(token)), onEvent),
    deleteUser: (request: Partial<DeleteUserRequest> & { userId: string; gracePeriod: Duration | undefined }, token?: string, onEvent?: (event: JobEvent) => void) =>
      collect(() => client.deleteUser({ requestId: '', eraseOwnedTenants: false, detach: false, requireApproval: false, ...request }, bearerMetadata(token)), onEvent),
    deleteCustomer: (request: Partial<DeleteCustomerRequest> & Pick<DeleteCustomerRequest, 'customer'>, token?: string, onEvent?: (event: JobEvent) => void) =>
      collect(() => client.deleteCustomer({ requestId: '', detach: false, requireApproval: false, ...request }, bearerMetadata(token)), onEvent),
    watchJob: (jobId: string, token?: string, onEvent?: (event: JobEvent) => void) => collect(() => client.watchJob({ jobId }, bearerMetadata(token)), onEvent),
    close: () => client.close(),
  };
}

export const isFinal = (job: Job | undefined) =>
  !!job && [JobStatus.JOB_STATUS_COMPLETED, JobStatus.JOB_STATUS_FAILED, JobStatus.JOB_STATUS_CANCELLED, JobStatus.JOB_STATUS_REJECTED].includes(job.status);
