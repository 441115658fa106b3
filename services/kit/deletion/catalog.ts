import type { Pool } from 'pg';
import type { DeletionPolicy, TablePolicy } from './policy';
import { identifiesCustomer } from '../customers';

/** What the live database says about its tables (public schema). */
export interface Catalog {
  /** table → column → nullable */
  columns: Map<string, Map<string, boolean>>;
  /** table → column → type as format_type() spells it (e.g. `numeric(12,3)`). */
  types: Map<string, Map<string, string>>;
  /** Foreign keys: child table/columns → parent table/columns. */
  foreignKeys: { child: string; columns: string[]; parent: string; parentColumns?: string[] }[];
}

/** Tables the kit itself owns (migration bookkeeping), never subject data. */
const KIT_TABLES = new Set(['SequelizeMeta']);

/** Columns whose presence means a table holds a subject's data. */
const SUBJECT_COLUMNS = ['tenant_id', 'user_id'];

/** Column names that mark a column as pointing at a user: such a column needs a user rule. */
export const pointsAtUser = (column: string): boolean => /(_by|_user_id)$|^(user_id|owner_id)$/.test(column);

/** Every column of the public schema's tables: what the check compares with the models. */
const COLUMNS_SQL = `SELECT c.relname AS table_name, a.attname AS column_name, NOT a.attnotnull AS nullable,
              format_type(a.atttypid, a.atttypmod) AS type
         FROM pg_class c
         JOIN pg_namespace n ON n.oid = c.relnamespace
         JOIN pg_attribute a ON a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped
        WHERE n.nspname = 'public' AND c.relkind IN ('r', 'p')`;

/** Every foreign key of the public schema's tables. */
const FOREIGN_KEYS_SQL = `SELECT ch.relname AS child, pa.relname AS parent,
              ARRAY(SELECT a.attname FROM unnest(con.conkey) WITH ORDINALITY k(n, i)
                      JOIN pg_attribute a ON a.attrelid = con.conrelid AND a.attnum = k.n ORDER BY k.i)::text[] AS columns,
              ARRAY(SELECT a.attname FROM unnest(con.confkey) WITH ORDINALITY k(n, i)
                      JOIN pg_attribute a ON a.attrelid = con.confrelid AND a.attnum = k.n ORDER BY k.i)::text[] AS "parentColumns"
         FROM pg_constraint con
         JOIN pg_class ch ON ch.oid = con.conrelid
         JOIN pg_class pa ON pa.oid = con.confrelid
         JOIN pg_namespace n ON n.oid = ch.relnamespace
        WHERE con.contype = 'f' AND n.nspname = 'public'`;

/**
 * An md5 over exactly the rows readCatalog reads (the same two queries, sorted), computed in the
 * database so only 32 characters travel: the same fingerprint means the same Catalog, so a check of
 * the policy against it would give the same answer. Measured on a service database under load:
 * ~0.6 ms to execute once planned, against 3–8 ms for reading the catalog.
 */
export const CATALOG_FINGERPRINT_SQL = `SELECT md5(
      coalesce((SELECT string_agg(c::text, ',' ORDER BY c::text) FROM (${COLUMNS_SQL}) c), '') || '|' ||
      coalesce((SELECT string_agg(f::text, ',' ORDER BY f::text) FROM (${FOREIGN_KEYS_SQL}) f), '')) AS fingerprint`;

/** Named, so each connection plans it once. */
const FINGERPRINT_QUERY = { name: 'bakery-erasure-catalog-fingerprint', text: CATALOG_FINGERPRINT_SQL };

/** The fingerprint of the catalog as readCatalog would read it now (one short query). */
export async function catalogFingerprint(pool: Pool): Promise<string> {
  return (await pool.query<{ fingerprint: string }>(FINGERPRINT_QUERY)).rows[0]!.fingerprint;
}

export async function readCatalog(pool: Pool): Promise<Catalog> {
  const [cols, fks] = await Promise.all([
    pool.query<{ table_name: string; column_name: string; nullable: boolean; type: string }>(COLUMNS_SQL),
    pool.query<{ child: string; parent: string; columns: string[]; parentColumns: string[] }>(FOREIGN_KEYS_SQL),
  ]);
  const columns = new Map<string, Map<string, boolean>>();
  const types = new Map<string, Map<string, string>>();
  for (const row of cols.rows) {
    if (KIT_TABLES.has(row.table_name)) continue;
    if (!columns.has(row.table_name)) {
      columns.set(row.table_name, new Map());
      types.set(row.table_name, new Map());
    }
    columns.get(row.table_name)!.set(row.column_name, row.nullable);
    types.get(row.table_name)!.set(row.column_name, row.type);
  }
  return { columns, types, foreignKeys: fks.rows };
}

/** The columns a table's policy names, with whether each must be nullable (it is set to NULL). */
function namedColumns(policy: TablePolicy): { column: string; setToNull: boolean }[] {
  const named: { column: string; setToNull: boolean }[] = [];
  const tenant = policy.tenant;
  if (tenant && 'delete' in tenant) named.push({ column: tenant.delete.column, setToNull: false });
  if (tenant && 'retain' in tenant) {
    named.push({ column: tenant.retain.column, setToNull: false });
    for (const column of tenant.retain.anonymize) named.push({ column, setToNull: true });
  }
  const user = policy.user;
  if (user && 'delete' in user) named.push({ column: user.delete.column, setToNull: false });
  if (user && 'anonymize' in user) for (const column of user.anonymize) named.push({ column, setToNull: true });
  if (user && 'keep' in user) named.push({ column: user.keep.column, setToNull: false });
  const customer = policy.customer;
  if (customer && 'unlink' in customer) named.push({ column: customer.unlink.column, setToNull: true });
  const match = customer && ('delete' in customer ? customer.delete : 'anonymize' in customer ? customer.anonymize : undefined);
  if (match) {
    // Kept rows lose their identifying and describing columns: those must be nullable.
    const cleared = customer && 'anonymize' in customer;
    named.push({ column: match.tenant, setToNull: false });
    for (const column of [...Object.values(match.identifiers), ...match.describe] as string[]) named.push({ column, setToNull: Boolean(cleared) });
  }
  return named;
}

/** The columns a table's customer rule names (identifying, describing, unlinked), or none. */
function customerColumns(policy: TablePolicy): Set<string> {
  const rule = policy.customer;
  if (!rule || 'none' in rule) return new Set();
  if ('unlink' in rule) return new Set([rule.unlink.column]);
  const match = 'delete' in rule ? rule.delete : rule.anonymize;
  return new Set([...(Object.values(match.identifiers) as string[]), ...match.describe]);
}

/**
 * Compares the policy with the catalog (fail closed, see docs/architecture.md). Returns one message per
 * problem; an empty list means every table is classified, matches its model, and the rules are sound.
 * A policy derived from models is checked strictly (`schemaProblems`); a hand-written one only for
 * tables that visibly hold subject data.
 */
export function coverageProblems(policy: DeletionPolicy, catalog: Catalog): string[] {
  const problems = policy.schema ? schemaProblems(policy, catalog) : uncoveredTables(policy, catalog);
  return [...problems, ...ruleProblems(policy, catalog)];
}

/** Tables a hand-written policy misses although they hold subject data (a subject column, or a key into a covered table). */
function uncoveredTables(policy: DeletionPolicy, catalog: Catalog): string[] {
  const problems: string[] = [];
  const covered = new Set(Object.keys(policy.tables));
  for (const [table, columns] of catalog.columns) {
    if (covered.has(table)) continue;
    const subjectColumn = SUBJECT_COLUMNS.find((column) => columns.has(column));
    if (subjectColumn) {
      problems.push(`table "${table}" holds subject data (column ${subjectColumn}) but the deletion policy does not cover it`);
      continue;
    }
    const fk = catalog.foreignKeys.find((key) => key.child === table && covered.has(key.parent));
    if (fk) {
      problems.push(
        `table "${table}" references covered table "${fk.parent}" (${fk.columns.join(', ')}) but the deletion policy does not cover it`,
      );
    }
  }
  return problems;
}

const nullability = (nullable: boolean) => (nullable ? 'NULL' : 'NOT NULL');

/**
 * Drift and classification: every table in the database is declared by a model (or is the kit's own
 * or a declared event table), and every model matches its table exactly: columns, types, nullability,
 * foreign keys. A column whose name marks it as pointing at a user needs a user rule. Each message
 * names the table (and column), with what the model expects and what the database has.
 */
export function schemaProblems(policy: DeletionPolicy, catalog: Catalog): string[] {
  const problems: string[] = [];
  const declared = new Map((policy.schema ?? []).map((table) => [table.table, table]));
  const events = new Set(policy.eventTables ?? []);
  for (const table of [...catalog.columns.keys()].sort()) {
    if (!declared.has(table) && !events.has(table)) {
      problems.push(`table "${table}" is not declared by any model (unclassified): declare it with its erasure annotation`);
    }
  }
  for (const model of policy.schema ?? []) {
    const table = model.table;
    const live = catalog.columns.get(table);
    const types = catalog.types.get(table);
    if (!live || !types) {
      problems.push(`table "${table}" is declared by a model but does not exist in the database`);
      continue;
    }
    for (const column of model.columns) {
      const name = `${table}.${column.column}`;
      if (!live.has(column.column)) {
        problems.push(`column "${name}": the model expects ${column.sqlType} ${nullability(column.nullable)}, the database has no such column`);
        continue;
      }
      if (types.get(column.column) !== column.sqlType) {
        problems.push(`column "${name}": the model expects type ${column.sqlType}, the database has ${types.get(column.column)}`);
      }
      if (live.get(column.column) !== column.nullable) {
        problems.push(
          `column "${name}": the model expects ${nullability(column.nullable)}, the database has ${nullability(live.get(column.column)!)}`,
        );
      }
    }
    const userRule = model.erasure.user;
    const userColumns = new Set(
      !userRule ? [] : 'delete' in userRule ? [userRule.delete.column] : 'keep' in userRule ? [userRule.keep.column] : userRule.anonymize,
    );
    for (const [column, nullable] of live) {
      if (model.columns.some((c) => c.column === column)) continue;
      const user = pointsAtUser(column) ? '; its name marks it as pointing at a user and no erasure rule covers it' : '';
      problems.push(
        `column "${table}.${column}": the database has ${types.get(column)} ${nullability(nullable)}, the model does not declare it${user}`,
      );
    }
    for (const column of model.columns) {
      if (pointsAtUser(column.column) && !userColumns.has(column.column)) {
        problems.push(`column "${table}.${column.column}": its name marks it as pointing at a user, but the model has no user rule for it`);
      }
    }
    // Fail closed for customers too: an e-mail or phone column is a customer's unless the model says whose it is.
    const customer = model.erasure.customer;
    const covered = customerColumns(model.erasure);
    for (const column of model.columns) {
      if (identifiesCustomer(column.column) && !covered.has(column.column) && !(customer && 'none' in customer)) {
        problems.push(
          `column "${table}.${column.column}": its name marks it as identifying a customer, but the model has no customer rule for it (name it in a customer rule, or declare notCustomerData)`,
        );
      }
    }
    const liveKeys = catalog.foreignKeys.filter((key) => key.child === table);
    const same = (key: Catalog['foreignKeys'][number], column: string, parent: string, parentColumn: string) =>
      key.parent === parent && key.columns.length === 1 && key.columns[0] === column && (key.parentColumns?.[0] ?? 'id') === parentColumn;
    for (const column of model.columns) {
      const target = column.references;
      if (target && !liveKeys.some((key) => same(key, column.column, target.table, target.column))) {
        problems.push(
          `column "${table}.${column.column}": the model expects a foreign key to ${target.table}.${target.column}, the database has none`,
        );
      }
    }
    for (const key of liveKeys) {
      const expected = model.columns.some(
        (c) => c.references && same(key, c.column, c.references.table, c.references.column),
      );
      if (!expected) {
        problems.push(
          `table "${table}": the database has a foreign key (${key.columns.join(', ')}) to ${key.parent}, the model does not declare it`,
        );
      }
    }
  }
  return problems;
}

/** The rules themselves: named tables and columns exist, anonymized columns are nullable, parent chains are sound. */
function ruleProblems(policy: DeletionPolicy, catalog: Catalog): string[] {
  const problems: string[] = [];
  for (const [table, tablePolicy] of Object.entries(policy.tables)) {
    const columns = catalog.columns.get(table);
    if (!columns) {
      problems.push(`the deletion policy names table "${table}", which does not exist`);
      continue;
    }
    for (const { column, setToNull } of namedColumns(tablePolicy)) {
      if (!columns.has(column)) problems.push(`the deletion policy names column "${table}.${column}", which does not exist`);
      else if (setToNull && !columns.get(column)) {
        problems.push(`column "${table}.${column}" is anonymized (set to NULL) but is NOT NULL`);
      }
    }
    if (columns.has('tenant_id') && !tablePolicy.tenant) {
      problems.push(`table "${table}" has a tenant_id column but no tenant rule in the deletion policy`);
    }
    if (columns.has('user_id') && !tablePolicy.user) {
      problems.push(`table "${table}" has a user_id column but no user rule in the deletion policy`);
    }
    const customer = tablePolicy.customer;
    if (customer && 'unlink' in customer) {
      const parentRule = policy.tables[customer.unlink.parent]?.customer;
      if (!parentRule || 'none' in parentRule || 'unlink' in parentRule) {
        problems.push(`table "${table}" unlinks customers through "${customer.unlink.parent}", which has no customer rule that finds them`);
      } else if (!catalog.foreignKeys.some((key) => key.child === table && key.parent === customer.unlink.parent && key.columns.includes(customer.unlink.column))) {
        problems.push(`table "${table}" unlinks customers by column ${customer.unlink.column}, but no foreign key to "${customer.unlink.parent}" exists`);
      }
    }
    // A customer's rows can only be deleted when every row that references them is unlinked first.
    if (customer && 'delete' in customer) {
      for (const key of catalog.foreignKeys.filter((k) => k.parent === table && k.child !== table)) {
        const childRule = policy.tables[key.child]?.customer;
        if (!childRule || !('unlink' in childRule) || childRule.unlink.parent !== table) {
          problems.push(`table "${key.child}" references "${table}", whose customer rows are deleted, but has no customer unlink rule for it`);
        }
      }
    }
    const tenant = tablePolicy.tenant;
    if (tenant && 'delete' in tenant && 'parent' in tenant.delete) {
      const { parent, column } = tenant.delete;
      if (!policy.tables[parent]?.tenant) {
        problems.push(`table "${table}" is reached through "${parent}", which has no tenant rule in the deletion policy`);
      } else if (!catalog.foreignKeys.some((key) => key.child === table && key.parent === parent && key.columns.includes(column))) {
        problems.push(`table "${table}" is reached through "${parent}" by column ${column}, but no such foreign key exists`);
      }
    }
  }

  // A parent chain must end at a table scoped by its own column.
  for (const table of Object.keys(policy.tables)) {
    const seen = new Set<string>();
    let current: string | undefined = table;
    while (current) {
      if (seen.has(current)) {
        problems.push(`the tenant rules of "${table}" form a cycle through "${current}"`);
        break;
      }
      seen.add(current);
      const rule: TablePolicy['tenant'] = policy.tables[current]?.tenant;
      if (rule && 'retain' in rule && current !== table) {
        problems.push(`table "${table}" is deleted through retained table "${current}"; give it its own rule`);
      }
      current = rule && 'delete' in rule && 'parent' in rule.delete ? rule.delete.parent : undefined;
    }
  }
  return problems;
}

/**
 * Orders the policy's tables so that every table comes before the tables it references (children
 * before parents), from the live foreign keys: nobody hand-writes a delete order.
 */
export function deleteOrder(policy: DeletionPolicy, catalog: Catalog): string[] {
  const tables = Object.keys(policy.tables).sort();
  const inPolicy = new Set(tables);
  // referencedBy[parent] = children that must go first
  const children = new Map<string, Set<string>>(tables.map((t) => [t, new Set<string>()]));
  for (const key of catalog.foreignKeys) {
    if (key.child !== key.parent && inPolicy.has(key.child) && inPolicy.has(key.parent)) {
      children.get(key.parent)!.add(key.child);
    }
  }
  const order: string[] = [];
  const state = new Map<string, 'visiting' | 'done'>();
  const visit = (table: string, path: string[]): void => {
    if (state.get(table) === 'done') return;
    if (state.get(table) === 'visiting') {
      throw new Error(`foreign keys form a cycle: ${[...path, table].join(' → ')}`);
    }
    state.set(table, 'visiting');
    for (const child of [...children.get(table)!].sort()) visit(child, [...path, table]);
    state.set(table, 'done');
    order.push(table);
  };
  // Post-order over "children" puts children first.
  for (const table of tables) visit(table, []);
  return order;
}
