import { EntityAction } from '../../../gen/bakery/erasure/v1/tenant_data_deletion';
import type { DeletionPolicy } from './policy';

export type SubjectKind = 'tenant' | 'user';

/**
 * The SQL for one entity and one subject kind. Every statement takes the subject id as $1; chunk
 * statements take the chunk size as $2 and act on at most that many rows, by `ctid` (DESIGN §4: chunking
 * by ctid costs almost nothing over a single DELETE, `id IN (…)` costs 5×).
 */
export interface EntityPlan {
  entity: string;
  action: EntityAction;
  retainReason?: string;
  /** Rows the erasure would remove or anonymize now. */
  countSql: string;
  /** Rows kept for a legal reason (RETAIN only). */
  retainedCountSql?: string;
  /** Acts on one chunk; its row count is the rows removed or anonymized. Absent when there is nothing to do. */
  chunkSql?: string;
}

const ident = (name: string): string => `"${name.replace(/"/g, '""')}"`;

/** The predicate selecting a tenant's rows of `table` (aliased `alias`), following parent chains. */
function tenantScope(policy: DeletionPolicy, table: string, alias: string, depth = 0): string {
  const rule = policy.tables[table]?.tenant;
  if (!rule) throw new Error(`table "${table}" has no tenant rule`);
  if ('retain' in rule) return `${alias}.${ident(rule.retain.column)} = $1`;
  if (!('parent' in rule.delete)) return `${alias}.${ident(rule.delete.column)} = $1`;
  const { parent, column, parentKey = 'id' } = rule.delete;
  const parentAlias = `p${depth}`;
  return `${alias}.${ident(column)} IN (SELECT ${parentAlias}.${ident(parentKey)} FROM ${ident(parent)} ${parentAlias} WHERE ${tenantScope(policy, parent, parentAlias, depth + 1)})`;
}

const deleteChunk = (table: string, predicate: string): string =>
  `DELETE FROM ${ident(table)} WHERE ctid = ANY(ARRAY(SELECT t.ctid FROM ${ident(table)} t WHERE ${predicate} LIMIT $2))`;

const count = (table: string, predicate: string): string =>
  `SELECT count(*)::bigint AS n FROM ${ident(table)} t WHERE ${predicate}`;

/** The entity plans for a subject kind, in the given delete order; tables without a rule for it are left out. */
export function entityPlans(policy: DeletionPolicy, order: string[], kind: SubjectKind): EntityPlan[] {
  const plans: EntityPlan[] = [];
  for (const table of order) {
    const tablePolicy = policy.tables[table]!;
    if (kind === 'tenant' && tablePolicy.tenant) {
      const rule = tablePolicy.tenant;
      const scope = tenantScope(policy, table, 't');
      if ('retain' in rule) {
        const personal = rule.retain.anonymize;
        const holdsPersonal = personal.length
          ? `(${personal.map((c) => `t.${ident(c)} IS NOT NULL`).join(' OR ')})`
          : 'false';
        plans.push({
          entity: table,
          action: EntityAction.ENTITY_ACTION_RETAIN,
          retainReason: rule.retain.reason,
          countSql: count(table, `${scope} AND ${holdsPersonal}`),
          retainedCountSql: count(table, scope),
          chunkSql: personal.length
            ? `UPDATE ${ident(table)} SET ${personal.map((c) => `${ident(c)} = NULL`).join(', ')}
                WHERE ctid = ANY(ARRAY(SELECT t.ctid FROM ${ident(table)} t WHERE ${scope} AND ${holdsPersonal} LIMIT $2))`
            : undefined,
        });
      } else {
        plans.push({
          entity: table,
          action: EntityAction.ENTITY_ACTION_DELETE,
          countSql: count(table, scope),
          chunkSql: deleteChunk(table, scope),
        });
      }
    }
    if (kind === 'user' && tablePolicy.user) {
      const rule = tablePolicy.user;
      if ('delete' in rule) {
        const scope = `t.${ident(rule.delete.column)} = $1`;
        plans.push({
          entity: table,
          action: EntityAction.ENTITY_ACTION_DELETE,
          countSql: count(table, scope),
          chunkSql: deleteChunk(table, scope),
        });
      } else {
        const scope = `(${rule.anonymize.map((c) => `t.${ident(c)} = $1`).join(' OR ')})`;
        plans.push({
          entity: table,
          action: EntityAction.ENTITY_ACTION_ANONYMIZE,
          countSql: count(table, scope),
          // Only the columns that hold this user are cleared; other users' references stay.
          chunkSql: `UPDATE ${ident(table)} SET ${rule.anonymize
            .map((c) => `${ident(c)} = CASE WHEN ${ident(c)} = $1 THEN NULL ELSE ${ident(c)} END`)
            .join(', ')}
            WHERE ctid = ANY(ARRAY(SELECT t.ctid FROM ${ident(table)} t WHERE ${scope} LIMIT $2))`,
        });
      }
    }
  }
  return plans;
}
