import { Server, ServerCredentials, type ServiceDefinition, type UntypedServiceImplementation } from '@grpc/grpc-js';
import { HealthImplementation } from './health';
import type { Logger } from 'pino';
import { callerRule } from '../../mesh/caller-rules';
import { limit } from './limits';
import { addReflection } from './reflection';

export interface HostedService {
  /** Full name, e.g. `bakery.erasure.v1.TenantDataDeletion`; also its health service name. */
  name: string;
  definition: ServiceDefinition;
  implementation: UntypedServiceImplementation;
}

export interface RunningServer {
  server: Server;
  health: HealthImplementation;
  /** The bound address (useful with port 0). */
  address: string;
  port: number;
  /** Health NOT_SERVING, stop accepting, drain in-flight calls up to `graceMs`, then cancel the rest. */
  shutdown(graceMs?: number): Promise<void>;
}

/**
 * Starts a grpc-js server with the given services, standard health (per service name and "") and
 * server reflection (v1 and v1alpha).
 */
export async function startGrpcServer(
  address: string,
  services: HostedService[],
  log: Logger,
  health = new HealthImplementation({ '': 'NOT_SERVING' }),
): Promise<RunningServer> {
  requireCallerRules(services);
  const server = new Server(serverOptions());
  for (const service of services) {
    server.addService(service.definition, service.implementation);
    health.setStatus(service.name, 'NOT_SERVING');
  }
  health.addToServer(server);
  addReflection(server, services.map((service) => service.name));
  const port = await bindWithRetry(server, address, log);
  const host = address.slice(0, address.lastIndexOf(':'));
  const bound = `${host}:${port}`;
  log.info({ address: bound }, 'listening');
  return {
    server,
    health,
    address: bound,
    port,
    async shutdown(graceMs = 10_000) {
      health.setStatus('', 'NOT_SERVING');
      for (const service of services) health.setStatus(service.name, 'NOT_SERVING');
      await new Promise<void>((resolve) => {
        const timer = setTimeout(() => {
          log.warn({ grace_ms: graceMs }, 'in-flight calls did not finish in time; cancelling them');
          server.forceShutdown();
          resolve();
        }, graceMs);
        server.tryShutdown(() => {
          clearTimeout(timer);
          resolve();
        });
      });
    },
  };
}

/**
 * A server serves only methods the caller rules (mesh/caller-rules.ts) name: a method without a rule
 * would be open to nobody or, worse, to anybody, so the process refuses to start instead.
 */
export function requireCallerRules(services: readonly HostedService[]): void {
  const missing = services.flatMap((service) =>
    Object.values(service.definition)
      .map((method) => method.path.replace(/^\//, ''))
      .filter((method) => callerRule(method) === undefined),
  );
  if (missing.length) throw new Error(`refusing to serve methods without a caller rule in mesh/caller-rules.ts: ${missing.join(', ')}`);
}

/**
 * What every server bounds for every connection (services/kit/limits.ts): the size of one message
 * either way, idle connections pinged and closed when they do not answer, clients that ping too often
 * cut off, and a maximum connection age after which a client reconnects (in-flight calls get a grace).
 */
export function serverOptions(env: Record<string, string | undefined> = process.env): Record<string, number> {
  const messageBytes = limit('maxMessageSize', env);
  return {
    'grpc.max_receive_message_length': messageBytes,
    'grpc.max_send_message_length': messageBytes,
    'grpc.keepalive_time_ms': limit('keepaliveTime', env),
    'grpc.keepalive_timeout_ms': limit('keepaliveTimeout', env),
    'grpc.http2.min_ping_interval_without_data_ms': limit('minPingInterval', env),
    'grpc.max_connection_age_ms': limit('connectionMaxAge', env),
    'grpc.max_connection_age_grace_ms': limit('connectionMaxAgeGrace', env),
  };
}

/**
 * Binds, retrying briefly when the port is taken. The default ports lie below the ephemeral range
 * (docs/architecture.md §2), but an address set by `<NAME>_ADDR` may not: there a client that dials a
 * service before it listens can be given that very port as its own source port and connect to itself,
 * holding the port for a moment.
 */
async function bindWithRetry(server: Server, address: string, log: Logger): Promise<number> {
  for (let attempt = 1; ; attempt++) {
    try {
      return await new Promise<number>((resolve, reject) =>
        server.bindAsync(address, ServerCredentials.createInsecure(), (error, boundPort) => (error ? reject(error) : resolve(boundPort))),
      );
    } catch (error) {
      const message = (error as Error).message;
      if (!/EADDRINUSE/.test(message) || attempt >= 10) throw new Error(`cannot listen on ${address}: ${message}`);
      log.warn({ address, attempt }, 'address in use; retrying');
      await new Promise((resolve) => setTimeout(resolve, 300 * attempt));
    }
  }
}
