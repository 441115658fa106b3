import { HealthImplementation } from 'grpc-health-check';
import type { Logger } from 'pino';
import { loadProcessKeys, type ProcessKeys } from './keys';
import { chunkConfig, envBool, serviceAddress, type ChunkConfig } from './config';
import { openServiceDatabase, resolveServiceDatabaseUrl, type ServiceDatabase } from './database';
import { DeletionEngine } from './deletion/engine';
import { tenantDataDeletion, TENANT_DATA_DELETION } from './erasure-service';
import { createLogger } from './logger';
import { migrate } from './migrations';
import { mapDatabaseError } from './pg-errors';
import type { RpcDeps } from './rpc';
import { startGrpcServer, type HostedService, type RunningServer } from './server';
import type { DomainService } from './service-definition';
import { stopTracing } from './tracing';

/** What a service adds beside TenantDataDeletion (the tenant and auth services' own APIs). */
export interface ServiceExtension {
  services: (context: { db: ServiceDatabase; deps: RpcDeps; engine: DeletionEngine; keys: ProcessKeys }) => HostedService[];
}

export interface StartOptions {
  /** host:port to listen on; default `<NAME>_ADDR` or the catalog's port (mesh/catalog.ts). Tests use 127.0.0.1:0. */
  address?: string;
  /** The service's own database URL; default from the environment (or the embedded PostgreSQL). */
  databaseUrl?: string;
  /** Trust bundle and own signing key; default from the environment (services/kit/keys.ts loadProcessKeys). */
  keys?: ProcessKeys;
  migrate?: boolean;
  chunks?: ChunkConfig;
  log?: Logger;
  extension?: ServiceExtension;
}

export interface RunningService {
  name: string;
  address: string;
  port: number;
  db: ServiceDatabase;
  engine: DeletionEngine;
  server: RunningServer;
  stop(graceMs?: number): Promise<void>;
}

/** Starts one service: database (created if missing), migrations, models, the gRPC server. */
export async function startService(definition: DomainService, options: StartOptions = {}): Promise<RunningService> {
  const log = options.log ?? createLogger(definition.name);
  let stopEmbedded: (() => Promise<void>) | undefined;
  let url = options.databaseUrl;
  if (!url) {
    const resolved = await resolveServiceDatabaseUrl(definition.name);
    url = resolved.url;
    if (resolved.embedded?.startedHere) stopEmbedded = resolved.embedded.stop;
  }
  const db = openServiceDatabase(url);
  try {
    if (options.migrate ?? envBool(process.env, 'MIGRATE', true)) await migrate(url, db.sequelize, definition.migrations, log);
    definition.defineModels(db.sequelize);
    const engine = new DeletionEngine(definition.name, definition.deletionPolicy, db.pool, options.chunks ?? chunkConfig());
    const keys = options.keys ?? (await loadProcessKeys(definition.name));
    const deps: RpcDeps = { trust: keys.trust, log, mapError: mapDatabaseError };
    const extra = options.extension?.services({ db, deps, engine, keys }) ?? [];
    const health = new HealthImplementation({ '': 'NOT_SERVING' });
    const beforeErase = definition.beforeErase && ((subject: { kind: 'tenant' | 'user'; id: string }) => definition.beforeErase!(db.pool, subject));
    const hosted = [tenantDataDeletion(engine, deps, health, beforeErase), ...extra];
    const server = await startGrpcServer(options.address ?? serviceAddress(definition.name), hosted, log, health);
    // The erasure service's health follows the coverage check (fail closed); the rest serve at once.
    const problems = await engine.problems();
    if (problems.length) log.error({ problems }, 'deletion policy does not cover the database');
    server.health.setStatus(TENANT_DATA_DELETION, problems.length ? 'NOT_SERVING' : 'SERVING');
    for (const service of extra) server.health.setStatus(service.name, 'SERVING');
    server.health.setStatus('', 'SERVING');
    return {
      name: definition.name,
      address: server.address,
      port: server.port,
      db,
      engine,
      server,
      async stop(graceMs) {
        await server.shutdown(graceMs);
        await db.close();
        await stopEmbedded?.();
      },
    };
  } catch (error) {
    await db.close();
    await stopEmbedded?.();
    throw error;
  }
}

/**
 * The `main` of a process: starts it and stops it cleanly on SIGTERM or SIGINT (health NOT_SERVING,
 * drain, flush telemetry, close the pool). A start-up failure exits 1 with a one-line reason.
 */
export function runProcess(name: string, log: Logger, start: () => Promise<{ stop(): Promise<void> }>): void {
  start().then(
    (running) => {
      let stopping = false;
      const stop = (signal: string) => {
        if (stopping) return;
        stopping = true;
        log.info({ signal }, 'shutting down');
        running
          .stop()
          .then(stopTracing)
          .then(
            () => process.exit(0),
            (error) => {
              log.error({ err: error }, 'shutdown failed');
              process.exit(1);
            },
          );
      };
      process.on('SIGTERM', () => stop('SIGTERM'));
      process.on('SIGINT', () => stop('SIGINT'));
    },
    (error) => {
      log.fatal({ err: error }, `cannot start ${name}: ${(error as Error).message}`);
      process.exit(1);
    },
  );
}

/** The `main` of a data service process. */
export function runService(definition: DomainService, extension?: ServiceExtension): void {
  const log = createLogger(definition.name);
  runProcess(definition.name, log, () => startService(definition, { log, extension }));
}
