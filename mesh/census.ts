/**
 * Direct SQL counts of a tenant's rows in one service database, independent of the services' deletion
 * policies: used by the demo (and the end-to-end test) to show that an erasure removed the target's
 * rows and left another tenant's rows exactly as they were (count and checksum per table).
 *
 * Which rows belong to the tenant is read from the catalog: a `tenant_id` column; else being the table
 * that `tenant_id` columns reference (the tenants themselves); else a `user_id` column naming one of the
 * tenant's users; else being the table that `user_id` columns reference (the users themselves); else a
 * foreign key to a parent table whose rows belong to the tenant (recursively).
 */
import type { Pool } from 'pg';

export interface TableCensus {
  rows: number;
  /** md5 of the rows' text forms in a fixed order: any change to any column changes it. */
  checksum: string;
}

interface ForeignKey {
  table: string;
  column: string;
  parent: string;
  parentColumn: string;
}

const quote = (name: string) => `"${name.replace(/"/g, '""')}"`;

/** The SQL condition on alias `alias` of `table` that selects the subject's rows, or undefined. */
function ownership(table: string, alias: string, columns: Map<string, Set<string>>, keys: ForeignKey[], depth = 0): string | undefined {
  const own = columns.get(table) ?? new Set();
  if (own.has('tenant_id')) return `${alias}.tenant_id = subject.tenant_id`;
  const referencedByTenantId = keys.find((key) => key.parent === table && key.column === 'tenant_id');
  if (referencedByTenantId) return `${alias}.${quote(referencedByTenantId.parentColumn)} = subject.tenant_id`;
  if (own.has('user_id')) return `${alias}.user_id = ANY(subject.user_ids)`;
  const referencedByUserId = keys.find((key) => key.parent === table && key.column === 'user_id');
  if (referencedByUserId) return `${alias}.${quote(referencedByUserId.parentColumn)} = ANY(subject.user_ids)`;
  if (depth > 4) return undefined;
  for (const key of keys.filter((k) => k.table === table && k.parent !== table)) {
    const parentAlias = `p${depth}`;
    const condition = ownership(key.parent, parentAlias, columns, keys, depth + 1);
    if (condition) {
      return `EXISTS (SELECT 1 FROM ${quote(key.parent)} ${parentAlias} WHERE ${parentAlias}.${quote(key.parentColumn)} = ${alias}.${quote(key.column)} AND ${condition})`;
    }
  }
  return undefined;
}

/** Per table: the tenant's rows (and their users' rows) and a checksum of them. Tables without a path to the tenant are left out. */
export async function tenantCensus(pool: Pool, tenantId: string, userIds: string[]): Promise<Map<string, TableCensus>> {
  const { rows: columnRows } = await pool.query<{ table_name: string; column_name: string }>(
    `SELECT c.table_name, c.column_name FROM information_schema.columns c
       JOIN information_schema.tables t ON t.table_schema = c.table_schema AND t.table_name = c.table_name
      WHERE c.table_schema = 'public' AND t.table_type = 'BASE TABLE' AND c.table_name <> 'SequelizeMeta'`,
  );
  const columns = new Map<string, Set<string>>();
  for (const row of columnRows) {
    if (!columns.has(row.table_name)) columns.set(row.table_name, new Set());
    columns.get(row.table_name)!.add(row.column_name);
  }
  const { rows: keys } = await pool.query<ForeignKey>(
    `SELECT cl.relname AS table, a.attname AS column, pc.relname AS parent, pa.attname AS "parentColumn"
       FROM pg_constraint k
       JOIN pg_class cl ON cl.oid = k.conrelid
       JOIN pg_namespace n ON n.oid = cl.relnamespace
       JOIN pg_class pc ON pc.oid = k.confrelid
       JOIN pg_attribute a ON a.attrelid = k.conrelid AND a.attnum = k.conkey[1]
       JOIN pg_attribute pa ON pa.attrelid = k.confrelid AND pa.attnum = k.confkey[1]
      WHERE k.contype = 'f' AND n.nspname = 'public' AND array_length(k.conkey, 1) = 1`,
  );
  const census = new Map<string, TableCensus>();
  for (const table of [...columns.keys()].sort()) {
    const condition = ownership(table, 't', columns, keys);
    if (!condition) continue;
    const { rows } = await pool.query<{ n: string; checksum: string }>(
      `WITH subject AS (SELECT $1::uuid AS tenant_id, $2::uuid[] AS user_ids)
       SELECT count(*) AS n, coalesce(md5(string_agg(t::text, '|' ORDER BY t::text)), '') AS checksum
         FROM ${quote(table)} t, subject WHERE ${condition}`,
      [tenantId, userIds],
    );
    census.set(table, { rows: Number(rows[0]!.n), checksum: rows[0]!.checksum });
  }
  return census;
}

export const censusRows = (census: Map<string, TableCensus>): number => [...census.values()].reduce((sum, table) => sum + table.rows, 0);

/** The tables whose rows or checksum differ between two censuses of the same tenant. */
export function censusDifferences(before: Map<string, TableCensus>, after: Map<string, TableCensus>): string[] {
  const tables = new Set([...before.keys(), ...after.keys()]);
  return [...tables].filter((table) => {
    const a = before.get(table);
    const b = after.get(table);
    return a?.rows !== b?.rows || a?.checksum !== b?.checksum;
  });
}
