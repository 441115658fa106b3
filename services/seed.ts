import { randomUUID } from 'node:crypto';
import type { Logger } from 'pino';
import { openServiceDatabase, resolveServiceDatabaseUrl } from './kit/database';
import { failedPrecondition } from './kit/errors';
import { migrate } from './kit/migrations';
import type { DomainService } from './kit/service-definition';
import { domainServiceDefinitions, identityServiceDefinitions } from './definitions';

export interface SeedRequest {
  tenantId: string;
  /** Rows across all services, split evenly. */
  rows: number;
  /** The tenant's users; default: `users` fresh ids. */
  userIds?: string[];
  users?: number;
  /** Default: the twelve domain services. */
  services?: DomainService[];
  /** Also create the tenant (owner = first user, admin = second, members) and the users' auth records. */
  identity?: boolean;
  /** The database URL of a service; default: from the environment (or the embedded PostgreSQL). */
  databaseUrl?: (service: string) => Promise<string>;
  /** Migrate each database first (default); off when the services are known to be running. */
  migrate?: boolean;
  /** Services seeded at once (each is one set-based statement or a few). */
  concurrency?: number;
  log?: Logger;
  /**
   * Which of the given subjects were erased (the tombstone registry; the CLI's `erasure seed` asks the
   * orchestrator). Asked before anything is written: an erased tenant or user id is refused.
   */
  erasedAmong?: (subjects: { kind: 'tenant' | 'user'; id: string }[]) => Promise<boolean[]>;
}

export interface SeedReport {
  tenantId: string;
  userIds: string[];
  perService: { service: string; rows: number; ms: number }[];
  rows: number;
  ms: number;
}

/**
 * Seeds a tenant with realistic rows in every service's database, migrating each database first.
 * Rows are written by set-based SQL inside PostgreSQL, never one by one from Node.
 */
export async function seedTenant(request: SeedRequest): Promise<SeedReport> {
  const started = performance.now();
  const services = request.services ?? domainServiceDefinitions();
  const userIds = request.userIds ?? Array.from({ length: request.users ?? 5 }, () => randomUUID());
  if (request.erasedAmong) await refuseErasedIds(request.erasedAmong, request.tenantId, userIds);
  const perServiceRows = Math.max(1, Math.round(request.rows / services.length));
  // The identity services get the tenant row, its memberships and the users, not a share of the rows.
  const identity = request.identity ? identityServiceDefinitions().map((service) => service.definition) : [];
  const rowsFor = (service: DomainService) => (identity.includes(service) ? userIds.length : perServiceRows);
  const databaseUrl = request.databaseUrl ?? (async (name: string) => (await resolveServiceDatabaseUrl(name)).url);
  const queue = [...identity, ...services];
  const perService: SeedReport['perService'] = [];
  const worker = async () => {
    for (let service = queue.shift(); service; service = queue.shift()) {
      const t0 = performance.now();
      const url = await databaseUrl(service.name);
      const db = openServiceDatabase(url, 1);
      try {
        if (request.migrate ?? true) await migrate(url, db.sequelize, service.migrations, request.log ?? silent);
        const before = await totalRows(db.pool);
        await service.seed(db.pool, { tenantId: request.tenantId, userIds, rows: rowsFor(service) });
        // Fresh statistics: a preview or delete planned before autovacuum has looked at the bulk insert
        // can pick nested loops over sequential scans and take minutes instead of milliseconds.
        await db.pool.query('ANALYZE');
        const rows = (await totalRows(db.pool)) - before;
        perService.push({ service: service.name, rows, ms: Math.round(performance.now() - t0) });
        request.log?.info({ seeded_service: service.name, rows }, 'seeded');
      } finally {
        await db.close();
      }
    }
  };
  await Promise.all(Array.from({ length: request.concurrency ?? 3 }, worker));
  return {
    tenantId: request.tenantId,
    userIds,
    perService,
    rows: perService.reduce((sum, s) => sum + s.rows, 0),
    ms: Math.round(performance.now() - started),
  };
}

/**
 * FAILED_PRECONDITION when the tenant id or one of the user ids was erased: seeding would write an
 * erased subject back. The message names which argument, never the id. The registry takes 100
 * subjects per call.
 */
async function refuseErasedIds(erasedAmong: NonNullable<SeedRequest['erasedAmong']>, tenantId: string, userIds: string[]): Promise<void> {
  const subjects = [{ kind: 'tenant' as const, id: tenantId }, ...userIds.map((id) => ({ kind: 'user' as const, id }))];
  for (let i = 0; i < subjects.length; i += 100) {
    const batch = subjects.slice(i, i + 100);
    const erased = await erasedAmong(batch);
    const hit = batch.findIndex((_, j) => erased[j]);
    if (hit >= 0) {
      const what = i + hit === 0 ? 'the tenant id' : `user id number ${i + hit} of ${userIds.length}`;
      throw failedPrecondition(`${what} names an erased ${batch[hit]!.kind}; an erased id cannot be seeded again`, 'SUBJECT_ERASED');
    }
  }
}

/** Exact total of rows over the service's tables (the seeded tables are small enough to count). */
async function totalRows(pool: import('pg').Pool): Promise<number> {
  const { rows } = await pool.query<{ n: string }>(
    `SELECT coalesce(sum((xpath('/row/n/text()', query_to_xml(format('SELECT count(*) AS n FROM %I', c.relname), false, true, '')))[1]::text::bigint), 0) AS n
       FROM pg_class c JOIN pg_namespace ns ON ns.oid = c.relnamespace
      WHERE ns.nspname = 'public' AND c.relkind = 'r' AND c.relname <> 'SequelizeMeta'`,
  );
  return Number(rows[0]!.n);
}

const silent = { info: () => undefined } as unknown as Logger;
