import { resolve } from 'node:path';
import { credentials, loadPackageDefinition } from '@grpc/grpc-js';
import { loadSync } from '@grpc/proto-loader';
import { repoRoot } from './paths';

type HealthClient = { check: Function; close(): void };
let Health: (new (address: string, creds: unknown) => HealthClient) | undefined;

/**
 * grpc.health.v1.Health/Check of one service name ("" = the whole server): `SERVING`, `NOT_SERVING`,
 * `UNKNOWN`, or `UNREACHABLE` when the call itself fails (used by tests, benchmarks and the launcher).
 */
export function healthStatus(address: string, service = '', timeoutMs = 2000): Promise<string> {
  Health ??= (
    loadPackageDefinition(loadSync(resolve(repoRoot, 'third_party/proto/grpc/health/v1/health.proto'), { enums: String })) as any
  ).grpc.health.v1.Health;
  const client = new Health!(address, credentials.createInsecure());
  return new Promise((done) =>
    client.check({ service }, { deadline: Date.now() + timeoutMs }, (error: Error | null, response: { status: string }) => {
      client.close();
      done(error ? 'UNREACHABLE' : response.status);
    }),
  );
}
