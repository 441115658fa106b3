import { credentials, type ServiceError } from '@grpc/grpc-js';
import pino from 'pino';
import {
  TenantDataDeletionClient,
  type DeleteProgress,
  type ExportChunk,
  type PreviewResponse,
  type Subject,
} from '../../gen/bakery/erasure/v1/tenant_data_deletion';
import type { ChunkConfig } from '../../services/kit/config';
import { startService, type RunningService, type ServiceExtension } from '../../services/kit/run-service';
import type { DomainService } from '../../services/kit/service-definition';
import { bearerMetadata, unaryCall } from '../../services/kit/unary';

export { TEST_DATA_DIR, TEST_KEYS_DIR, operatorToken, serviceToken, testKeys, userToken } from './keys';
import { testKeys } from './keys';
export const silentLog = pino({ level: 'silent' });

/** Small, paced chunks: a few hundred rows take several chunks, and a client cancel lands between them. */
export const smallChunks: ChunkConfig = { initialRows: 40, minRows: 10, maxRows: 80, targetMs: 50, pauseMs: 20 };

export async function startTestService(
  definition: DomainService,
  databaseUrl: string,
  extension?: ServiceExtension,
): Promise<RunningService> {
  return startService(definition, {
    address: '127.0.0.1:0',
    databaseUrl,
    keys: (await testKeys()).processKeys(definition.name),
    migrate: true,
    chunks: smallChunks,
    log: silentLog,
    extension,
  });
}


/** `authorization: Bearer <token>` metadata (none without a token). */
export const bearer = bearerMetadata;

export function erasureClient(address: string): TenantDataDeletionClient {
  return new TenantDataDeletionClient(address, credentials.createInsecure());
}

export function preview(client: TenantDataDeletionClient, subject: Subject | undefined, token: string | undefined): Promise<PreviewResponse> {
  return unaryCall(client, 'preview', { subject, heldEntities: [] }, { metadata: bearerMetadata(token) });
}

export interface DeleteOutcome {
  messages: DeleteProgress[];
  error?: ServiceError;
}

/** Runs Delete to its end (or cancels it after `cancelAfter` chunk messages) and collects the stream. */
export function runDelete(
  client: TenantDataDeletionClient,
  subject: Subject | undefined,
  token: string | undefined,
  options: { cancelAfter?: number; stopIfFound?: boolean } = {},
): Promise<DeleteOutcome> {
  return new Promise((resolve) => {
    const messages: DeleteProgress[] = [];
    const call = client.delete({ subject, jobId: '', heldEntities: [], stopIfFound: options.stopIfFound ?? false }, bearer(token));
    call.on('data', (message: DeleteProgress) => {
      messages.push(message);
      if (options.cancelAfter !== undefined && messages.filter((m) => m.chunk).length >= options.cancelAfter) call.cancel();
    });
    call.on('error', (error: ServiceError) => resolve({ messages, error }));
    call.on('end', () => resolve({ messages }));
  });
}

export interface ExportOutcome {
  messages: ExportChunk[];
  error?: ServiceError;
}

/** Runs Export to its end and collects the stream. */
export function runExport(client: TenantDataDeletionClient, subject: Subject | undefined, token: string | undefined): Promise<ExportOutcome> {
  return new Promise((resolve) => {
    const messages: ExportChunk[] = [];
    const call = client.export({ subject, jobId: '' }, bearer(token));
    call.on('data', (message: ExportChunk) => messages.push(message));
    call.on('error', (error: ServiceError) => resolve({ messages, error }));
    call.on('end', () => resolve({ messages }));
  });
}

export const tenantSubject = (tenantId: string): Subject => ({ tenantId });
export const userSubject = (userId: string): Subject => ({ userId });
