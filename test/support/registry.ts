import { randomBytes, randomUUID } from 'node:crypto';
import { migrations } from '../../orchestrator/migrations';
import { AuditChain } from '../../orchestrator/audit-chain';
import { tombstoneRegistry } from '../../orchestrator/tombstone-registry';
import { Resurrections, Tombstones, parseTombstoneKeys } from '../../orchestrator/tombstones';
import { openServiceDatabase } from '../../services/kit/database';
import { migrate } from '../../services/kit/migrations';
import { startGrpcServer, type RunningServer } from '../../services/kit/server';
import { TombstoneClient } from '../../services/kit/tombstone-client';
import { createTestDatabase, type TestDatabase } from './database';
import { serviceToken, silentLog, testKeys } from './services';

/**
 * The orchestrator's tombstone registry on its own: a migrated orchestrator database and
 * TombstoneRegistry served over real gRPC on loopback, for tests of the services that ask it.
 */
export interface TestRegistry {
  orch: TestDatabase;
  tombstones: Tombstones;
  server: RunningServer;
  /** Serves the same registry on another address (e.g. one that comes up late). */
  serve(address: string): Promise<RunningServer>;
  /** What a completed erasure leaves in the orchestrator: a job and the subject's tombstone. */
  recordErased(kind: 'tenant' | 'user', id: string): Promise<void>;
  /** A client as the given service, without caches (every question reaches the registry). */
  client(service: string, address?: string): TombstoneClient;
  close(): Promise<void>;
}

export async function startTestRegistry(label: string): Promise<TestRegistry> {
  const orch = await createTestDatabase(label);
  const database = openServiceDatabase(orch.url, 2);
  await migrate(orch.url, database.sequelize, migrations, silentLog);
  await database.close();
  const tombstones = new Tombstones(orch.pool, parseTombstoneKeys(`1:${randomBytes(36).toString('base64url')}`, 'test'));
  const trust = (await testKeys()).trust;
  const serve = (address: string) => startGrpcServer(address, [tombstoneRegistry({ trust, log: silentLog }, tombstones, new Resurrections(orch.pool, tombstones), new AuditChain(orch.pool, tombstones.keys))], silentLog);
  const server = await serve('127.0.0.1:0');
  const clients: TombstoneClient[] = [];
  return {
    orch,
    tombstones,
    server,
    serve,
    async recordErased(kind, id) {
      const jobId = randomUUID();
      const client = await orch.pool.connect();
      try {
        await client.query(
          `INSERT INTO erasure_jobs (id, subject_kind, subject_id, status, requested_by, trace_id) VALUES ($1, $2, $3, 'COMPLETED', 'service:test', 'x')`,
          [jobId, kind, id],
        );
        await tombstones.record(client, kind, id, jobId);
      } finally {
        client.release();
      }
    },
    client(service, address = server.address) {
      const client = new TombstoneClient(address, () => serviceToken(service), { erasedTtlMs: 0, clearTtlMs: 0, maxEntries: 10, deadlineMs: 1000 });
      clients.push(client);
      return client;
    },
    async close() {
      for (const client of clients) client.close();
      await server.shutdown(1000);
      await orch.drop();
    },
  };
}
