import { credentials, loadPackageDefinition, type Client } from '@grpc/grpc-js';
import { loadSync } from '@grpc/proto-loader';
import { resolve } from 'node:path';

const definition = loadPackageDefinition(loadSync(resolve(__dirname, '../../third_party/proto/grpc/health/v1/health.proto'), { enums: String })) as any;

/** grpc.health.v1.Health/Check for one service name ("" = the whole server). */
export function healthStatus(address: string, service: string): Promise<string> {
  const client: Client & { check: Function } = new definition.grpc.health.v1.Health(address, credentials.createInsecure());
  return new Promise((resolvePromise, reject) =>
    client.check({ service }, (error: Error | null, response: { status: string }) => {
      client.close();
      if (error) reject(error);
      else resolvePromise(response.status);
    }),
  );
}
