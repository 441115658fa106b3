import type { Pool } from 'pg';

/** Count and checksum of one table's rows (optionally filtered), by direct SQL. */
export interface TableState {
  count: number;
  checksum: string;
}

export async function tableNames(pool: Pool): Promise<string[]> {
  const { rows } = await pool.query<{ name: string }>(
    `SELECT c.relname AS name FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
      WHERE n.nspname = 'public' AND c.relkind = 'r' AND c.relname <> 'SequelizeMeta' ORDER BY 1`,
  );
  return rows.map((row) => row.name);
}

export async function tableColumns(pool: Pool, table: string): Promise<string[]> {
  const { rows } = await pool.query<{ column_name: string }>(
    `SELECT column_name FROM information_schema.columns WHERE table_schema = 'public' AND table_name = $1`,
    [table],
  );
  return rows.map((row) => row.column_name);
}

/**
 * Every table's count and an order-independent checksum of its rows' full text. `where` filters rows
 * (SQL over alias t, $1 = `param`).
 */
export async function snapshot(pool: Pool, where = 'true', param?: unknown): Promise<Map<string, TableState>> {
  const states = new Map<string, TableState>();
  for (const table of await tableNames(pool)) states.set(table, await tableState(pool, table, where, param));
  return states;
}

export async function tableState(pool: Pool, table: string, where = 'true', param?: unknown): Promise<TableState> {
  const { rows } = await pool.query<{ count: string; checksum: string | null }>(
    `SELECT count(*) AS count, md5(string_agg(t::text, '|' ORDER BY t::text)) AS checksum FROM "${table}" t WHERE ${where}`,
    where.includes('$1') ? [param] : [],
  );
  return { count: Number(rows[0]!.count), checksum: rows[0]!.checksum ?? '' };
}

/** Rows per table whose text contains `value` anywhere (e.g. a user id in any column). */
export async function rowsContaining(pool: Pool, value: string): Promise<Map<string, number>> {
  const counts = new Map<string, number>();
  for (const table of await tableNames(pool)) {
    const { rows } = await pool.query<{ n: string }>(`SELECT count(*) AS n FROM "${table}" t WHERE strpos(t::text, $1) > 0`, [value]);
    counts.set(table, Number(rows[0]!.n));
  }
  return counts;
}

/** Ids (the `id` column) of every row, in any table, whose text contains `value`. */
export async function idsOfRowsContaining(pool: Pool, value: string): Promise<string[]> {
  const ids: string[] = [];
  for (const table of await tableNames(pool)) {
    const { rows } = await pool.query<{ id: string }>(`SELECT id::text AS id FROM "${table}" t WHERE strpos(t::text, $1) > 0`, [value]);
    ids.push(...rows.map((row) => row.id));
  }
  return ids;
}
