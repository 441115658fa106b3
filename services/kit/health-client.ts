import { Client, credentials } from '@grpc/grpc-js';
import { HEALTH_SERVICE, type HealthCheckResponse } from './health';

/**
 * grpc.health.v1.Health/Check of one service name ("" = the whole server): `SERVING`, `NOT_SERVING`,
 * `UNKNOWN`, or `UNREACHABLE` when the call itself fails (used by tests, benchmarks and the launcher).
 * A plain grpc-js client with the health codec (services/kit/health.ts): no .proto is parsed.
 */
export function healthStatus(address: string, service = '', timeoutMs = 2000): Promise<string> {
  const client = new Client(address, credentials.createInsecure());
  const check = HEALTH_SERVICE.Check;
  return new Promise((done) =>
    client.makeUnaryRequest(check.path, check.requestSerialize, check.responseDeserialize, { service }, { deadline: Date.now() + timeoutMs }, (error, response?: HealthCheckResponse) => {
      client.close();
      done(error || !response ? 'UNREACHABLE' : response.status);
    }),
  );
}
