import { HealthImplementation } from './health';
import type { Logger } from 'pino';
import { mintServiceToken } from './auth';
import { loadProcessKeys, requireSigner, type ProcessKeys } from './keys';
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
import { ResurrectionSweep, SweepSchedule, sweepSettings, type SweepSettings } from './resurrection-sweep';
import { TombstoneClient, refuseErasedUsers, type SubjectRegistry, type TombstoneLookup } from './tombstone-client';
import { announceServing } from '../../mesh/serving-signal';

/** What a service adds beside TenantDataDeletion (the tenant and auth services' own APIs). */
export interface ServiceExtension {
  services: (context: { db: ServiceDatabase; deps: RpcDeps; engine: DeletionEngine; keys: ProcessKeys; tombstones?: TombstoneLookup }) => HostedService[];
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
  /**
   * Whether subjects were erased (the orchestrator's TombstoneRegistry): an erased user's token is
   * refused on every RPC, and the extension may guard its writes with it. A process started by
   * `runService` always has one; unset (in-process tests without an orchestrator), nothing is refused.
   */
  tombstones?: TombstoneLookup;
  /**
   * Where the resurrection sweep asks which subjects were erased and reports what it found (the
   * orchestrator's TombstoneRegistry; `runService` passes its tombstone client). Unset: no sweep.
   */
  registry?: SubjectRegistry;
  /** Sweep timing; default from the limits table (services/kit/limits.ts). */
  sweep?: SweepSettings;
}

export interface RunningService {
  name: string;
  address: string;
  port: number;
  db: ServiceDatabase;
  engine: DeletionEngine;
  server: RunningServer;
  /** The resurrection sweep's schedule, when the service has a registry. */
  sweep?: SweepSchedule;
  stop(graceMs?: number): Promise<void>;
}

/**
 * Starts one service: database (created if missing), migrations, the gRPC server. No Sequelize models
 * are defined here: the erasure, export and sweep handlers use the pool, and the services whose own
 * handlers use models (tenant, auth) define them on first use, so the other processes never load Sequelize.
 */
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
    if (options.migrate ?? envBool(process.env, 'MIGRATE', true)) await migrate(url, () => db.sequelize, definition.migrations, log);
    const engine = new DeletionEngine(definition.name, definition.deletionPolicy, db.pool, options.chunks ?? chunkConfig());
    const keys = options.keys ?? (await loadProcessKeys(definition.name));
    const { tombstones } = options;
    const deps: RpcDeps = { trust: keys.trust, log, mapError: mapDatabaseError, checkPrincipal: tombstones && refuseErasedUsers(tombstones) };
    const extra = options.extension?.services({ db, deps, engine, keys, tombstones }) ?? [];
    const health = new HealthImplementation({ '': 'NOT_SERVING' });
    const beforeErase = definition.beforeErase && ((subject: { kind: 'tenant' | 'user'; id: string }) => definition.beforeErase!(db.pool, subject));
    // A call that succeeds turns the erasure health SERVING (erasure-service.ts); not before the start-up sweep has run.
    let starting = true;
    const erasureHealth: Pick<HealthImplementation, 'setStatus'> = {
      setStatus: (name, status) => {
        if (!starting || status !== 'SERVING') health.setStatus(name, status);
      },
    };
    const hosted = [tenantDataDeletion(engine, deps, erasureHealth, beforeErase, options.registry), ...extra];
    const server = await startGrpcServer(options.address ?? serviceAddress(definition.name), hosted, log, health);
    const problems = await engine.problems();
    if (problems.length) log.error({ problems }, 'deletion policy does not cover the database');
    // Rows of erased subjects (a database restored from a backup, a late writer) are erased before the
    // service reports SERVING (services/kit/resurrection-sweep.ts; bounded wait, then it serves and retries).
    let sweep: SweepSchedule | undefined;
    if (options.registry) {
      const sweeper = new ResurrectionSweep(engine, definition.deletionPolicy, db.pool, options.registry, log, options.sweep ?? sweepSettings(), beforeErase);
      sweep = new SweepSchedule(sweeper, options.sweep ?? sweepSettings(), log);
      // A database that does not match the models cannot be swept; the schedule retries after it is fixed.
      if (problems.length) sweep.startLater();
      else await sweep.start();
    }
    // The erasure service's health follows the coverage check (fail closed); the rest serve at once.
    starting = false;
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
      sweep,
      async stop(graceMs) {
        await sweep?.stop();
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
      // Started: a data service serves now, the orchestrator as soon as its readiness allows.
      announceServing();
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
  runProcess(definition.name, log, async () => {
    const keys = await loadProcessKeys(definition.name);
    const signer = requireSigner(keys, definition.name);
    // Every service process asks the orchestrator whether a user was erased (docs/architecture.md, "Erased subjects").
    const tombstones = new TombstoneClient(serviceAddress('orchestrator'), () => mintServiceToken(signer));
    return startService(definition, { log, extension, keys, tombstones, registry: tombstones });
  });
}
