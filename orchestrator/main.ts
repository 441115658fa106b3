import { randomUUID } from 'node:crypto';
import { HealthImplementation } from '../services/kit/health';
import type { Logger } from 'pino';
import { loadProcessKeys, requireSigner, type ProcessKeys } from '../services/kit/keys';
import { envBool, serviceAddress } from '../services/kit/config';
import { openServiceDatabase, resolveServiceDatabaseUrl, type ServiceDatabase } from '../services/kit/database';
import { createLogger } from '../services/kit/logger';
import { instruments, registerJobGauges, registerWebhookGauges, zeroCounters } from '../services/kit/metrics';
import { migrate } from '../services/kit/migrations';
import { mapDatabaseError } from '../services/kit/pg-errors';
import type { RpcDeps } from '../services/kit/rpc';
import { startGrpcServer, type RunningServer } from '../services/kit/server';
import { runProcess } from '../services/kit/run-service';
import { DELETION_ORCHESTRATOR, deletionOrchestrator } from './api';
import { Authorization } from './authorization';
import { ServiceClients } from './clients';
import { ALL_SERVICES, orchestratorConfig, type OrchestratorConfig } from './config';
import { JobEvents } from './events';
import { JobExecutor } from './executor';
import { JobJournal } from './journal';
import { JobLocks } from './job-locks';
import { migrations } from './migrations';
import { ErasureQueue } from './queue';
import { Readiness } from './readiness';
import { Watchdog } from './watchdog';
import { JobStore } from './store';
import { RETENTION_PURGE_QUEUE, RetentionPurgeBusy, RetentionPurges } from './retention-purge';
import { tombstoneRegistry } from './tombstone-registry';
import { Resurrections, Tombstones, tombstoneKeys, type TombstoneKeys } from './tombstones';
import { WatcherSlots } from './watchers';
import { AuditChain } from './audit-chain';
import { AuditHeads } from './audit-heads';
import { Certificates, orchestratorJwks, writeJwksFile } from './certificates';
import { PgArchiveStore } from './export/archive-store';
import { ExportSweep } from './export/sweep';
import { refuseErasedUsers } from '../services/kit/tombstone-client';
import { TOMBSTONE_REGISTRY } from '../mesh/catalog';
import { DELIVERY_OUTCOMES, WebhookOutbox } from './webhooks';
import { LegalHolds } from './holds';

export interface OrchestratorOptions {
  address?: string;
  databaseUrl?: string;
  /** Trust bundle and the orchestrator's own signing key; default from the environment (services/kit/keys.ts). */
  keys?: ProcessKeys;
  config?: OrchestratorConfig;
  /** Keys of the tombstone hashes; default `tombstoneKeys()` (environment, file, or the data folder). */
  tombstoneKeys?: TombstoneKeys;
  log?: Logger;
}

export interface RunningOrchestrator {
  address: string;
  port: number;
  store: JobStore;
  tombstones: Tombstones;
  /** The audit chain (`appendAuditEvent` for events that are not a job's state change). */
  audit: AuditChain;
  heads: AuditHeads;
  watchers: WatcherSlots;
  executor: JobExecutor;
  /** Deletes expired export archives (also run by tests on demand). */
  exportSweep: ExportSweep;
  db: ServiceDatabase;
  server: RunningServer;
  stop(graceMs?: number): Promise<void>;
}

/**
 * Starts the orchestrator: its database (migrated), the queue, the job store, the event bus, the
 * executor, and the gRPC server; then resumes the jobs whose runners are gone.
 */
export async function startOrchestrator(options: OrchestratorOptions = {}): Promise<RunningOrchestrator> {
  const log = options.log ?? createLogger('orchestrator');
  let stopEmbedded: (() => Promise<void>) | undefined;
  let url = options.databaseUrl;
  if (!url) {
    const resolved = await resolveServiceDatabaseUrl('orchestrator');
    url = resolved.url;
    if (resolved.embedded?.startedHere) stopEmbedded = resolved.embedded.stop;
  }
  const db = openServiceDatabase(url, 6);
  if (envBool(process.env, 'MIGRATE', true)) await migrate(url, () => db.sequelize, migrations, log);
  const config = options.config ?? orchestratorConfig();
  const keys = options.keys ?? (await loadProcessKeys('orchestrator'));
  // The orchestrator calls every service as itself: it must hold its own key.
  const signer = requireSigner(keys, 'orchestrator');
  const queue = new ErasureQueue(url, log);
  await queue.start();
  const tombstones = new Tombstones(db.pool, options.tombstoneKeys ?? tombstoneKeys());
  const audit = new AuditChain(db.pool, tombstones.keys);
  const heads = new AuditHeads(db.pool, signer, config.auditHeadsFile, log);
  const certificates = new Certificates(db.pool, signer, audit, heads, config.backupRetentionDays);
  const jwks = orchestratorJwks(signer);
  writeJwksFile(config.jwksFile, jwks);
  const notifications = new WebhookOutbox(db.pool, config.webhooks, log);
  const store = new JobStore(db.pool, queue, tombstones, { audit, heads, certificates, notifications });
  const events = new JobEvents(url, log);
  await events.start();
  const clients = new ServiceClients(config.registry, signer);
  const owner = `${process.pid}-${randomUUID().slice(0, 8)}`;
  const locks = new JobLocks(url, log);
  const journal = new JobJournal(store, events);
  const archives = new PgArchiveStore(db.pool);
  const holds = new LegalHolds(db.pool, tombstones.keys, store, events, clients, log, audit);
  const executor = new JobExecutor(store, locks, events, journal, clients, config, log, owner, { archives, signer }, holds);
  const exportSweep = new ExportSweep(archives, log, undefined, audit);
  const health = new HealthImplementation({ '': 'NOT_SERVING', [DELETION_ORCHESTRATOR]: 'NOT_SERVING', [TOMBSTONE_REGISTRY]: 'NOT_SERVING' });
  // SERVING only while this replica can run jobs: its lock connection, event listener and queue work.
  const readiness = new Readiness(health, ['', DELETION_ORCHESTRATOR, TOMBSTONE_REGISTRY], log);
  const watchdog = new Watchdog(store, executor, config, log, () => readiness.ready);
  locks.onLost = () => {
    executor.locksLost();
    readiness.set('locks', locks.downReason);
  };
  locks.onUp = () => readiness.set('locks', '');
  events.onListenerChange = (reason) => readiness.set('events', reason);
  queue.onHealth = (reason) => readiness.set('queue', reason);
  // Back from an outage: pick up at once what waits (jobs stopped by the outage, queued ones).
  readiness.onReady = () => void watchdog.pass();
  await locks.start();
  queue.work((jobId) => executor.runQueued(jobId), () => executor.freeSlots);

  // The orchestrator holds the tombstones: an erased user's token is refused by asking them directly.
  const state = async (kind: 'tenant' | 'user', id: string) => (await tombstones.check([{ kind, id }]))[0]!;
  const rpc: RpcDeps = { trust: keys.trust, log, mapError: mapDatabaseError, checkPrincipal: refuseErasedUsers({ state }) };
  const authorization = new Authorization(store, clients, config.retry);
  // Erased tenants' retained rows whose period is over: daily (durable schedule) and on demand.
  const retentionPurges = new RetentionPurges(db.pool, clients, Object.keys(config.registry), log, { deadlineMs: config.retry.budgetMs, concurrency: config.concurrency, audit, holds: () => holds.activeTenantHolds() });
  if (config.retentionPurgeCron !== 'off') {
    await queue.schedule(RETENTION_PURGE_QUEUE, config.retentionPurgeCron, async () => {
      await retentionPurges.run('schedule', 'schedule').catch((error) => {
        if (!(error instanceof RetentionPurgeBusy)) throw error;
      });
    });
  }
  const watchers = new WatcherSlots(config.limits);
  const server = await startGrpcServer(
    options.address ?? serviceAddress('orchestrator'),
    [
      deletionOrchestrator({ rpc, store, executor, events, clients, authorization, watchers, openJobsPerCaller: config.limits.openJobsPerCaller, grace: config.grace, retry: config.retry, log, certificates, jwks, retentionPurges, archives, fourEyesTenantAtOnce: config.fourEyesTenantAtOnce, holds }),
      tombstoneRegistry(rpc, tombstones, new Resurrections(db.pool, tombstones), audit),
    ],
    log,
    health,
  );
  readiness.start();
  const stopGauges = registerJobGauges(() => store.jobGauges(), config.legalDueDays * 86_400);
  zeroCounters(instruments.jobsFinished, ['COMPLETED', 'FAILED', 'CANCELLED'].map((status) => ({ status })));
  zeroCounters(instruments.stepRetries, ALL_SERVICES.map((service) => ({ service })));
  zeroCounters(instruments.verificationFailures, ALL_SERVICES.map((service) => ({ service })));
  const stopWebhookGauges = registerWebhookGauges(() => notifications.backlog());
  zeroCounters(instruments.webhookDeliveries, DELIVERY_OUTCOMES.map((outcome) => ({ outcome })));
  log.info({ owner, registry: config.registry, running_jobs_per_replica: config.runningJobs }, 'orchestrator ready');

  // Resume jobs whose runner died (their advisory lock is free), then keep watching.
  void watchdog.pass();
  watchdog.start();
  heads.start(config.auditHeadIntervalMs);
  exportSweep.start();
  notifications.start();
  holds.start(config.watchdogIntervalMs);

  return {
    address: server.address,
    port: server.port,
    store,
    tombstones,
    audit,
    heads,
    watchers,
    executor,
    exportSweep,
    db,
    server,
    async stop(graceMs = 10_000) {
      readiness.stop();
      stopGauges();
      await watchdog.stop();
      await heads.stop();
      await exportSweep.stop();
      stopWebhookGauges();
      await notifications.stop();
      await holds.stop();
      await executor.shutdown();
      await server.shutdown(graceMs);
      await queue.stop();
      await locks.stop();
      await events.stop();
      clients.close();
      await db.close();
      await stopEmbedded?.();
    },
  };
}

/** The orchestrator process: `npm run service -- orchestrator`. */
export function runOrchestrator(): void {
  const log = createLogger('orchestrator');
  runProcess('orchestrator', log, () => startOrchestrator({ log }));
}
