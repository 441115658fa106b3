/**
 * Direct-SQL checks over a whole process mesh's databases, for tests that erase tenants while faults
 * happen: snapshots (count and checksum of every table) and rows that still mention a subject. They
 * read the services' databases themselves, never through the code under test.
 */
import { Pool } from 'pg';
import { domainServiceDefinitions, identityServiceDefinitions } from '../../services/definitions';
import type { DomainService } from '../../services/kit/service-definition';
import { MESH_SERVICES } from './process-mesh';
import { snapshot, tableNames, type TableState } from './snapshot';

const definitions: DomainService[] = [...domainServiceDefinitions(), ...identityServiceDefinitions().map((s) => s.definition)];
const definition = (name: string) => definitions.find((d) => d.name === name)!;

export type MeshSnapshot = Map<string, Map<string, TableState>>;

/** One small pool per database of the mesh (`databases`: name → URL). */
export function meshPools(databases: Record<string, string>): Map<string, Pool> {
  const pools = new Map<string, Pool>();
  for (const [name, url] of Object.entries(databases)) {
    const pool = new Pool({ connectionString: url, max: 1 });
    // The tests restart PostgreSQL under these pools on purpose.
    pool.on('error', () => undefined);
    pool.on('connect', (client) => client.on('error', () => undefined));
    pools.set(name, pool);
  }
  return pools;
}

export async function meshSnapshot(pools: Map<string, Pool>): Promise<MeshSnapshot> {
  const result: MeshSnapshot = new Map();
  for (const name of MESH_SERVICES) result.set(name, await snapshot(pools.get(name)!));
  return result;
}

/**
 * Tables that legitimately change during a tenant erasure: retained (anonymized) rows, outbox events
 * (they record the erasure by id), and the auth service (users outlive their tenants).
 */
export function changesWithErasure(service: string, table: string): boolean {
  if (service === 'auth') return true;
  const d = definition(service);
  const rule = d.deletionPolicy.tables[table]?.tenant;
  return (d.eventTables ?? []).includes(table) || !!(rule && 'retain' in rule);
}

/** Tables whose count or checksum differ between two snapshots, apart from those an erasure changes. */
export function changedTables(before: MeshSnapshot, after: MeshSnapshot): string[] {
  const changed: string[] = [];
  for (const [service, tables] of after) {
    for (const [table, state] of tables) {
      if (changesWithErasure(service, table)) continue;
      const was = before.get(service)?.get(table);
      if (!was || was.count !== state.count || was.checksum !== state.checksum) changed.push(`${service}.${table}`);
    }
  }
  return changed;
}

/** Rows anywhere in the mesh (outside retained rows and the outbox) whose text contains one of `values`. */
export async function rowsMentioning(pools: Map<string, Pool>, values: string[]): Promise<Record<string, number>> {
  const found: Record<string, number> = {};
  for (const name of MESH_SERVICES) {
    const pool = pools.get(name)!;
    for (const table of await tableNames(pool)) {
      if (changesWithErasure(name, table)) continue;
      const { rows } = await pool.query<{ n: number }>(
        `SELECT count(*)::int AS n FROM "${table}" t WHERE EXISTS (SELECT 1 FROM unnest($1::text[]) v WHERE strpos(t::text, v) > 0)`,
        [values],
      );
      if (rows[0]!.n > 0) found[`${name}.${table}`] = rows[0]!.n;
    }
  }
  return found;
}

/** Polls the orchestrator's job row (direct SQL) until it has status `wanted` or `timeoutMs` passed; returns the last status seen. */
export async function waitForJobStatus(orchestrator: Pool, id: string, wanted: string, timeoutMs: number): Promise<string> {
  const until = Date.now() + timeoutMs;
  let current = '';
  while (Date.now() < until) {
    current = (await orchestrator.query<{ status: string }>('SELECT status FROM erasure_jobs WHERE id = $1', [id]).catch(() => ({ rows: [] }))).rows[0]?.status ?? '';
    if (current === wanted) return current;
    await new Promise((resolve) => setTimeout(resolve, 250));
  }
  return current;
}
