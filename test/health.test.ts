/**
 * The kit's hand-encoded grpc.health.v1.Health (services/kit/health.ts), served on loopback and called
 * by a client built from third_party/proto/grpc/health/v1/health.proto with proto-loader: an independent
 * encoder and decoder of the same messages, so the hand-written codec is checked against the standard
 * one, not against itself. Check, Watch and List as the .proto's comments describe them.
 */
import { join } from 'node:path';
import test from 'ava';
import { Server, ServerCredentials, credentials, loadPackageDefinition, status, type Client, type ClientReadableStream, type ServiceError } from '@grpc/grpc-js';
import { loadSync } from '@grpc/proto-loader';
import { HealthImplementation } from '../services/kit/health';
import { healthStatus } from '../services/kit/health-client';
import { repoRoot } from '../services/kit/paths';

interface StandardHealthClient extends Client {
  check(request: { service: string }, callback: (error: ServiceError | null, response?: { status: string }) => void): void;
  watch(request: { service: string }): ClientReadableStream<{ status: string }>;
  list(request: object, callback: (error: ServiceError | null, response?: { statuses: Record<string, { status: string }> }) => void): void;
}

const definition = loadSync(join(repoRoot, 'third_party/proto/grpc/health/v1/health.proto'), { enums: String, defaults: true });
const HealthClient = (loadPackageDefinition(definition) as any).grpc.health.v1.Health as new (address: string, creds: ReturnType<typeof credentials.createInsecure>) => StandardHealthClient;

async function serve(health: HealthImplementation): Promise<{ address: string; server: Server }> {
  const server = new Server();
  health.addToServer(server);
  const port = await new Promise<number>((resolve, reject) => server.bindAsync('127.0.0.1:0', ServerCredentials.createInsecure(), (error, bound) => (error ? reject(error) : resolve(bound))));
  return { address: `127.0.0.1:${port}`, server };
}

const check = (client: StandardHealthClient, service: string) =>
  new Promise<{ status?: string; code?: number }>((resolve) => client.check({ service }, (error, response) => resolve(error ? { code: error.code } : { status: response!.status })));

/** The next `n` messages of a Watch stream (the stream stays open). */
function nextMessages(call: ClientReadableStream<{ status: string }>, n: number): Promise<string[]> {
  return new Promise((resolve, reject) => {
    const seen: string[] = [];
    const onData = (message: { status: string }) => {
      seen.push(message.status);
      if (seen.length === n) {
        call.off('data', onData);
        resolve(seen);
      }
    };
    call.on('data', onData);
    call.once('error', reject);
    setTimeout(() => reject(new Error(`only ${seen.length} of ${n} messages: ${seen.join(', ')}`)), 5_000).unref();
  });
}

test('Check answers each name with its status, NOT_FOUND for a name it does not know; the kit client reads the same', async (t) => {
  const health = new HealthImplementation({ '': 'SERVING', 'bakery.erasure.v1.TenantDataDeletion': 'NOT_SERVING' });
  const { address, server } = await serve(health);
  const client = new HealthClient(address, credentials.createInsecure());
  try {
    t.deepEqual(await check(client, ''), { status: 'SERVING' });
    t.deepEqual(await check(client, 'bakery.erasure.v1.TenantDataDeletion'), { status: 'NOT_SERVING' });
    t.deepEqual(await check(client, 'no.such.Service'), { code: status.NOT_FOUND });
    health.setStatus('bakery.erasure.v1.TenantDataDeletion', 'SERVING');
    t.deepEqual(await check(client, 'bakery.erasure.v1.TenantDataDeletion'), { status: 'SERVING' });
    // The kit's own client (launcher, tests) decodes what the server encodes.
    t.is(await healthStatus(address, 'bakery.erasure.v1.TenantDataDeletion'), 'SERVING');
    t.is(await healthStatus(address, 'no.such.Service'), 'UNREACHABLE');
  } finally {
    client.close();
    server.forceShutdown();
  }
});

test('Watch sends the status at once and every change after; an unknown name is SERVICE_UNKNOWN and the call stays open until it is known', async (t) => {
  const health = new HealthImplementation({ '': 'SERVING' });
  const { address, server } = await serve(health);
  const client = new HealthClient(address, credentials.createInsecure());
  const whole = client.watch({ service: '' });
  const later = client.watch({ service: 'later.Service' });
  try {
    t.deepEqual(await nextMessages(whole, 1), ['SERVING']);
    t.deepEqual(await nextMessages(later, 1), ['SERVICE_UNKNOWN']);
    const changes = nextMessages(whole, 2);
    health.setStatus('', 'NOT_SERVING');
    health.setStatus('', 'SERVING');
    t.deepEqual(await changes, ['NOT_SERVING', 'SERVING']);
    const known = nextMessages(later, 1);
    health.setStatus('later.Service', 'SERVING');
    t.deepEqual(await known, ['SERVING']);
    // A cancelled watch is forgotten: later changes go to the watchers still open, without error.
    const ended = new Promise<number>((resolve) => later.once('error', (error: ServiceError) => resolve(error.code)));
    later.cancel();
    t.is(await ended, status.CANCELLED);
    const afterCancel = nextMessages(whole, 1);
    health.setStatus('later.Service', 'NOT_SERVING');
    health.setStatus('', 'NOT_SERVING');
    t.deepEqual(await afterCancel, ['NOT_SERVING']);
    t.deepEqual(await check(client, 'later.Service'), { status: 'NOT_SERVING' });
  } finally {
    whole.cancel();
    client.close();
    server.forceShutdown();
  }
});

test('List answers every name with its status, and RESOURCE_EXHAUSTED past 100 names', async (t) => {
  const health = new HealthImplementation({ '': 'SERVING', 'bakery.erasure.v1.TenantDataDeletion': 'NOT_SERVING' });
  const { address, server } = await serve(health);
  const client = new HealthClient(address, credentials.createInsecure());
  const list = () => new Promise<{ statuses?: Record<string, string>; code?: number }>((resolve) =>
    client.list({}, (error, response) => resolve(error ? { code: error.code } : { statuses: Object.fromEntries(Object.entries(response!.statuses).map(([name, value]) => [name, value.status])) })),
  );
  try {
    t.deepEqual(await list(), { statuses: { '': 'SERVING', 'bakery.erasure.v1.TenantDataDeletion': 'NOT_SERVING' } });
    for (let i = 0; i < 99; i++) health.setStatus(`service.${i}`, 'SERVING');
    t.deepEqual(await list(), { code: status.RESOURCE_EXHAUSTED });
  } finally {
    client.close();
    server.forceShutdown();
  }
});
