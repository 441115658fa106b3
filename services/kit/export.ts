/**
 * Export: a copy of one subject's rows, read page by page in SQL and rendered to JSON by PostgreSQL,
 * never a whole table (or a whole subject) in Node memory. The rows are the ones an erasure acts on,
 * chosen by the same rules (services/kit/deletion/plan.ts `tenantScope`, the models' user rules); the
 * columns are the models' declaration minus the ones marked `secret` (services/kit/models.ts).
 *
 * Pages are keyset pages over the table's primary key, each one statement: no transaction stays open
 * while a slow reader holds the stream (the caller's back-pressure pauses between pages).
 */
import type { DeletionEngine } from './deletion/engine';
import { customerIdentifierOf, customerScope, tenantScope, type PlanKind, type SubjectParam } from './deletion/plan';
import type { DeletionPolicy } from './deletion/policy';
import { limit } from './limits';
import type { TableDefinition } from './models';

const ident = (name: string): string => `"${name.replace(/"/g, '""')}"`;
const literal = (value: string): string => `'${value.replace(/'/g, "''")}'`;

/** How one entity's rows of a subject are read. Statements take the subject id as $1 and a page size as $2. */
export interface ExportEntityPlan {
  entity: string;
  /** Exported columns, in the order each row object lists them. */
  columns: string[];
  /** The primary key columns the pages are keyed by, and their types. */
  keys: { column: string; sqlType: string }[];
  /** The first page; returns `row` (JSON text) and `k0`, `k1`, … (the key, as text). */
  firstPageSql: string;
  /** A following page: the key of the last row sent as $3, $4, …. */
  nextPageSql: string;
}

/** The subject's predicate on a table (alias `t`), or undefined when the table holds none of its rows. */
function subjectScope(policy: DeletionPolicy, table: string, kind: PlanKind): string | undefined {
  const rule = policy.tables[table];
  // A customer's rows: the ones an erasure deletes or anonymizes, and the rows that point at them.
  const identifier = customerIdentifierOf(kind);
  if (identifier) return customerScope(policy, table, 't', identifier);
  if (kind === 'tenant') return rule?.tenant ? tenantScope(policy, table, 't') : undefined;
  const user = rule?.user;
  if (!user) return undefined;
  // The rows that reference the user are the user's data too, also where an erasure keeps them.
  if ('delete' in user) return `t.${ident(user.delete.column)} = $1`;
  if ('keep' in user) return `t.${ident(user.keep.column)} = $1`;
  return `(${user.anonymize.map((c) => `t.${ident(c)} = $1`).join(' OR ')})`;
}

/** The export plans of a subject kind, in the given table order (the delete order of the catalog check). */
export function exportPlans(policy: DeletionPolicy, order: string[], kind: PlanKind): ExportEntityPlan[] {
  const schema = new Map<string, TableDefinition>((policy.schema ?? []).map((table) => [table.table, table]));
  const plans: ExportEntityPlan[] = [];
  for (const table of order) {
    const scope = subjectScope(policy, table, kind);
    if (!scope) continue;
    const definition = schema.get(table);
    if (!definition) throw new Error(`table "${table}" has no model declaration; only declared tables are exported`);
    const columns = definition.columns.filter((c) => !c.secret);
    const keys = definition.columns.filter((c) => c.options.primaryKey).map((c) => ({ column: c.column, sqlType: c.sqlType }));
    if (!keys.length) throw new Error(`table "${table}" has no primary key to page an export by`);
    // json_build_object takes at most 100 arguments (a name and a value per column).
    if (columns.length > 50) throw new Error(`table "${table}" has more than 50 columns; json_build_object cannot render it`);
    const select = `SELECT json_build_object(${columns.map((c) => `${literal(c.column)}, t.${ident(c.column)}`).join(', ')})::text AS row, ${keys
      .map((k, i) => `t.${ident(k.column)}::text AS k${i}`)
      .join(', ')} FROM ${ident(table)} t`;
    const orderBy = `ORDER BY ${keys.map((k) => `t.${ident(k.column)}`).join(', ')} LIMIT $2`;
    const after = `(${keys.map((k) => `t.${ident(k.column)}`).join(', ')}) > (${keys.map((k, i) => `$${i + 3}::${k.sqlType}`).join(', ')})`;
    plans.push({
      entity: table,
      columns: columns.map((c) => c.column),
      keys,
      firstPageSql: `${select} WHERE ${scope} ${orderBy}`,
      nextPageSql: `${select} WHERE ${scope} AND ${after} ${orderBy}`,
    });
  }
  return plans;
}

/** Rows of one entity, as they are sent: JSON object texts, at most about `maxBatchBytes` together. */
export interface ExportBatch {
  entity: string;
  rows: string[];
  entityRowsDone: number;
}

/** Thrown when one row alone is larger than a message may be. */
export class RowTooLarge extends Error {
  constructor(readonly entity: string, readonly bytes: number) {
    super(`a row of ${entity} is ${bytes} bytes as JSON, more than one export message may carry`);
    this.name = 'RowTooLarge';
  }
}

export interface ExportedEntityCount {
  entity: string;
  columns: string[];
  rows: number;
}

/**
 * Reads the subject's rows entity by entity and hands them to `send` in batches, awaiting it (a slow
 * reader slows the reading; at most one page is held). Fails closed like an erasure: a database that
 * does not match the models throws the engine's CoverageError before any row is read.
 */
export async function exportSubject(
  engine: DeletionEngine,
  kind: PlanKind,
  subjectId: SubjectParam,
  send: (batch: ExportBatch) => Promise<void>,
  signal: AbortSignal,
): Promise<ExportedEntityCount[]> {
  const order = await engine.deleteOrder();
  const pageRows = limit('exportPageRows');
  // Half the message limit leaves room for the framing and the JSON strings' protobuf overhead.
  const maxBatchBytes = Math.floor(limit('maxMessageSize') / 2);
  const counts: ExportedEntityCount[] = [];
  for (const plan of exportPlans(engine.policy, order, kind)) {
    const count: ExportedEntityCount = { entity: plan.entity, columns: plan.columns, rows: 0 };
    counts.push(count);
    let last: string[] | undefined;
    for (;;) {
      if (signal.aborted) throw new ExportCancelled();
      const { rows } = await engine.pool.query<Record<string, string>>(last ? plan.nextPageSql : plan.firstPageSql, [subjectId, pageRows, ...(last ?? [])]);
      let batch: string[] = [];
      let bytes = 0;
      for (const row of rows) {
        const size = Buffer.byteLength(row.row!);
        if (size > maxBatchBytes) throw new RowTooLarge(plan.entity, size);
        if (bytes + size > maxBatchBytes) {
          await send({ entity: plan.entity, rows: batch, entityRowsDone: count.rows });
          batch = [];
          bytes = 0;
        }
        batch.push(row.row!);
        bytes += size;
        count.rows += 1;
      }
      if (batch.length) await send({ entity: plan.entity, rows: batch, entityRowsDone: count.rows });
      if (rows.length < pageRows) break;
      const lastRow = rows.at(-1)!;
      last = plan.keys.map((_, i) => lastRow[`k${i}`]!);
    }
  }
  return counts;
}

/** Thrown between pages when the caller went away. */
export class ExportCancelled extends Error {
  constructor() {
    super('export cancelled by the caller');
    this.name = 'ExportCancelled';
  }
}
