import { EntityAction } from '../../../gen/bakery/erasure/v1/tenant_data_deletion';
import type { DeletionPolicy, Retention } from './policy';
import { normalizedColumnSql, type CustomerIdentifierKind } from '../customers';

export type SubjectKind = 'tenant' | 'user';
/** What plans are built for: a tenant, a user, or a customer found by one kind of identifier. */
export type PlanKind = SubjectKind | `customer:${CustomerIdentifierKind}`;
/** The subject as statements take it as $1: an id, or for a customer {tenant id, normalized value} (services/kit/customers.ts). */
export type SubjectParam = string | string[];

/** The identifier kind of a customer plan kind; undefined for a tenant or a user. */
export function customerIdentifierOf(kind: PlanKind): CustomerIdentifierKind | undefined {
  return kind.startsWith('customer:') ? (kind.slice('customer:'.length) as CustomerIdentifierKind) : undefined;
}

/** How Preview counts one entity. Every statement takes the subject id as $1. */
export interface EntityPlan {
  entity: string;
  action: EntityAction;
  retainReason?: string;
  /** Rows the erasure would remove or anonymize now. */
  countSql: string;
  /** Rows kept for a legal reason (RETAIN only). */
  retainedCountSql?: string;
  /** `earliest` and `latest` expiry of the retained rows (RETAIN with a retention period only). */
  expirySql?: string;
  /** Rows a legal hold keeps (the entity is held; `countSql` then counts nothing). */
  heldCountSql?: string;
}

/**
 * A purge of expired retained rows of one tenant ($1), a batch of at most $2 rows of `entities`' last
 * table whose retention is over, with the retained rows that reference them (deleted first, in the same
 * statement). Returns `picked` and `n0`, `n1`, … like a ChunkPlan.
 */
export interface PurgePlan extends ChunkPlan {
  /** The retained table with the retention period, and its tenant column. */
  root: { table: string; column: string };
  /** Counts the tenant's expired rows of the table (verification: zero after the purge). */
  expiredCountSql: string;
}

/**
 * One kind of chunk: a single statement (so one short transaction) taking the subject id as $1 and a
 * row limit as $2, returning one row with `picked` (rows the chunk selected from its first table) and
 * `n0`, `n1`, … (rows acted on per entity, in the order of `entities`). Rows are addressed by `ctid`
 * (measured: `ctid` chunks cost almost nothing over one DELETE, `id IN (…)` costs 5×).
 *
 * A table with a tenant column and the tables reached through it (`{ delete: { parent } }`) share one
 * chunk: a batch of parent rows, their descendants and the parents themselves go together. The foreign
 * key checks run at the end of the statement, when the children are already gone, and the children are
 * found by their foreign key index next to where they were written; paging children through the parent
 * key instead would rescan the parents of every earlier chunk.
 */
export interface ChunkPlan {
  /** Entities in result order: descendants (deepest first), then the table the batch is taken from. */
  entities: { entity: string; action: EntityAction }[];
  sql: string;
}

export interface Plans {
  entities: EntityPlan[];
  chunks: ChunkPlan[];
  /** countSql(entities): every entity's counts in one statement; undefined when there are no entities. */
  countSql?: string;
}

/**
 * One statement (one round trip, one snapshot) returning, for a subject ($1), the counts of every
 * entity plan i: `rows_i`, and where the plan has them `retained_i`, `held_i`, `earliest_i` and
 * `latest_i`. Each value comes from the entity's own statement, as a scalar subquery (the expiry
 * bounds through a CTE, so its table is read once); a select list, unlike a FROM list of many
 * subqueries, leaves the planner no join order to search. Every statement must give $1 the same
 * type, as they do (a subject column is a uuid; a customer is `$1::text[]`). Undefined for no entities.
 */
export function countSql(entities: readonly EntityPlan[]): string | undefined {
  if (!entities.length) return undefined;
  const ctes: string[] = [];
  const columns: string[] = [];
  entities.forEach((plan, i) => {
    columns.push(`(${plan.countSql}) AS rows_${i}`);
    if (plan.retainedCountSql) columns.push(`(${plan.retainedCountSql}) AS retained_${i}`);
    if (plan.heldCountSql) columns.push(`(${plan.heldCountSql}) AS held_${i}`);
    if (plan.expirySql) {
      ctes.push(`expiry_${i} AS (${plan.expirySql})`);
      columns.push(`(SELECT earliest FROM expiry_${i}) AS earliest_${i}`, `(SELECT latest FROM expiry_${i}) AS latest_${i}`);
    }
  });
  return `${ctes.length ? `WITH ${ctes.join(',\n    ')}\n    ` : ''}SELECT ${columns.join(',\n      ')}`;
}

const ident = (name: string): string => `"${name.replace(/"/g, '""')}"`;

/** The predicate selecting a tenant's rows of `table` (aliased `alias`), following parent chains. */
export function tenantScope(policy: DeletionPolicy, table: string, alias: string, depth = 0): string {
  const rule = policy.tables[table]?.tenant;
  if (!rule) throw new Error(`table "${table}" has no tenant rule`);
  if ('retain' in rule) return `${alias}.${ident(rule.retain.column)} = $1`;
  if (!('parent' in rule.delete)) return `${alias}.${ident(rule.delete.column)} = $1`;
  const { parent, column, parentKey = 'id' } = rule.delete;
  const parentAlias = `p${depth}`;
  return `${alias}.${ident(column)} IN (SELECT ${parentAlias}.${ident(parentKey)} FROM ${ident(parent)} ${parentAlias} WHERE ${tenantScope(policy, parent, parentAlias, depth + 1)})`;
}

/**
 * The predicate selecting a customer's rows of `table` (aliased `alias`) by one identifier kind: the
 * tenant column holds the tenant ($1[1]) and the normalized identifying column equals the normalized
 * value ($1[2]); a table that unlinks from a customer table, its rows pointing at the customer's rows
 * there. Undefined when the table cannot hold the customer by this identifier.
 */
export function customerScope(policy: DeletionPolicy, table: string, alias: string, identifier: CustomerIdentifierKind, depth = 0): string | undefined {
  const rule = policy.tables[table]?.customer;
  if (!rule || 'none' in rule) return undefined;
  if ('unlink' in rule) {
    const parentAlias = `c${depth}`;
    const parentScope = customerScope(policy, rule.unlink.parent, parentAlias, identifier, depth + 1);
    if (!parentScope) return undefined;
    return `${alias}.${ident(rule.unlink.column)} = ANY(ARRAY(SELECT ${parentAlias}.${ident(rule.unlink.parentKey)} FROM ${ident(rule.unlink.parent)} ${parentAlias} WHERE ${parentScope}))`;
  }
  const match = 'delete' in rule ? rule.delete : rule.anonymize;
  const column = match.identifiers[identifier];
  if (!column) return undefined;
  return `${alias}.${ident(match.tenant)} = ($1::text[])[1]::uuid AND ${normalizedColumnSql(identifier, `${alias}.${ident(column)}`)} = ($1::text[])[2]`;
}

/** When a retained row's retention ends: the `from` column plus the period. */
export function expiryOf(retention: Retention, alias: string): string {
  const years = Math.trunc(retention.years ?? 0);
  const days = Math.trunc(retention.days ?? 0);
  return `(${alias}.${ident(retention.from)} + interval '${years} years ${days} days')`;
}

/**
 * The purge plans of a policy: one per retained table with a retention period. Retained tables without
 * one whose foreign key references such a table (invoice lines of an invoice) go with their parent.
 */
export function buildPurgePlans(policy: DeletionPolicy): PurgePlan[] {
  const plans: PurgePlan[] = [];
  for (const [table, rules] of Object.entries(policy.tables)) {
    const rule = rules.tenant;
    if (!rule || !('retain' in rule) || !rule.retain.retention) continue;
    const expired = `t.${ident(rule.retain.column)} = $1 AND ${expiryOf(rule.retain.retention, 't')} <= now()`;
    const children = (policy.schema ?? []).flatMap((definition) => {
      const childRule = policy.tables[definition.table]?.tenant;
      if (!childRule || !('retain' in childRule) || childRule.retain.retention) return [];
      return definition.columns.filter((c) => c.references?.table === table).map((c) => ({ table: definition.table, column: c.column, key: c.references!.column }));
    });
    const keys = new Set(children.map((c) => c.key));
    if (keys.size > 1) throw new Error(`retained children of "${table}" reference different keys; not supported`);
    const key = [...keys][0] ?? 'id';
    const ctes = [`batch AS MATERIALIZED (SELECT t.ctid AS row_ctid, t.${ident(key)} AS k FROM ${ident(table)} t WHERE ${expired} LIMIT $2)`];
    children.forEach((child, i) => {
      ctes.push(`gone_${i} AS (DELETE FROM ${ident(child.table)} WHERE ${ident(child.column)} = ANY(ARRAY(SELECT k FROM batch)) RETURNING 1)`);
    });
    ctes.push(`gone_${children.length} AS (DELETE FROM ${ident(table)} WHERE ctid = ANY(ARRAY(SELECT row_ctid FROM batch)) RETURNING 1)`);
    const order = [...children.map((c) => c.table), table];
    plans.push({
      entities: order.map((entity) => ({ entity, action: EntityAction.ENTITY_ACTION_DELETE })),
      sql: `WITH ${ctes.join(',\n    ')}
    SELECT (SELECT count(*) FROM batch)::int AS picked, ${order.map((_, i) => `(SELECT count(*) FROM gone_${i})::int AS n${i}`).join(', ')}`,
      root: { table, column: rule.retain.column },
      expiredCountSql: count(table, expired),
    });
  }
  return plans;
}

/** The legal reason, with the retention period when the model gives one. */
function retainReason({ reason, retention }: { reason: string; retention?: Retention }): string {
  if (!retention) return reason;
  const period = [retention.years && `${retention.years} years`, retention.days && `${retention.days} days`].filter(Boolean).join(' ');
  return `${reason} (retention: ${period} from ${retention.from})`;
}

const count = (table: string, predicate: string): string =>
  `SELECT count(*)::bigint AS n FROM ${ident(table)} t WHERE ${predicate}`;

/** A chunk over one table: select up to $2 rows by `predicate`, then `action` on them by ctid. */
function singleChunk(table: string, predicate: string, actOnBatch: (ctids: string) => string): string {
  return `WITH batch AS MATERIALIZED (SELECT t.ctid AS row_ctid FROM ${ident(table)} t WHERE ${predicate} LIMIT $2),
    acted AS (${actOnBatch('ctid = ANY(ARRAY(SELECT row_ctid FROM batch))')} RETURNING 1)
    SELECT (SELECT count(*) FROM batch)::int AS picked, (SELECT count(*) FROM acted)::int AS n0`;
}

const viaParent = (policy: DeletionPolicy, table: string) => {
  const rule = policy.tables[table]?.tenant;
  return rule && 'delete' in rule && 'parent' in rule.delete ? rule.delete : undefined;
};

/** A cascade chunk: a batch of `root` rows of the tenant, every descendant reached through them, and the batch itself. */
function cascadeChunk(policy: DeletionPolicy, root: string, rootColumn: string, descendants: string[]): string {
  // keys_<table>: the batch's rows of that table (ctid and the key its own children reference).
  const keyColumn = (table: string) => {
    const children = descendants.filter((d) => viaParent(policy, d)!.parent === table);
    const keys = new Set(children.map((c) => viaParent(policy, c)!.parentKey ?? 'id'));
    if (keys.size > 1) throw new Error(`children of "${table}" reference different keys; not supported`);
    return [...keys][0] ?? 'id';
  };
  const ctes: string[] = [
    `keys_0 AS MATERIALIZED (SELECT t.ctid AS row_ctid, t.${ident(keyColumn(root))} AS k FROM ${ident(root)} t WHERE t.${ident(rootColumn)} = $1 LIMIT $2)`,
  ];
  // Parents before children, so each child's batch reads its parent's keys.
  const topDown = [...descendants].reverse();
  const alias = new Map<string, string>([[root, 'keys_0']]);
  topDown.forEach((table, i) => {
    const { parent, column } = viaParent(policy, table)!;
    const name = `keys_${i + 1}`;
    alias.set(table, name);
    ctes.push(
      // `= ANY(ARRAY(…))` keeps the lookup on the foreign key's index on every PostgreSQL version; an
      // `IN (SELECT …)` may be planned as a hash join over the whole child table, once per chunk.
      `${name} AS MATERIALIZED (SELECT t.ctid AS row_ctid, t.${ident(keyColumn(table))} AS k FROM ${ident(table)} t WHERE t.${ident(column)} = ANY(ARRAY(SELECT k FROM ${alias.get(parent)})))`,
    );
  });
  const order = [...descendants, root];
  order.forEach((table, i) => {
    ctes.push(`gone_${i} AS (DELETE FROM ${ident(table)} WHERE ctid = ANY(ARRAY(SELECT row_ctid FROM ${alias.get(table)})) RETURNING 1)`);
  });
  return `WITH ${ctes.join(',\n    ')}
    SELECT (SELECT count(*) FROM keys_0)::int AS picked, ${order.map((_, i) => `(SELECT count(*) FROM gone_${i})::int AS n${i}`).join(', ')}`;
}

/** A customer's entity and chunk on one table (delete, anonymize the kept rows, or unlink), or nothing. */
function customerPlan(policy: DeletionPolicy, table: string, identifier: CustomerIdentifierKind): { entity: EntityPlan; chunk: ChunkPlan } | undefined {
  const rule = policy.tables[table]?.customer;
  const scope = customerScope(policy, table, 't', identifier);
  if (!rule || 'none' in rule || !scope) return undefined;
  const one = (action: EntityAction, act: (where: string) => string, retainReason?: string) => ({
    entity: { entity: table, action, countSql: count(table, scope), ...(retainReason && { retainReason, retainedCountSql: count(table, scope) }) },
    chunk: { entities: [{ entity: table, action }], sql: singleChunk(table, scope, act) },
  });
  if ('delete' in rule) return one(EntityAction.ENTITY_ACTION_DELETE, (where) => `DELETE FROM ${ident(table)} WHERE ${where}`);
  if ('unlink' in rule) return one(EntityAction.ENTITY_ACTION_ANONYMIZE, (where) => `UPDATE ${ident(table)} SET ${ident(rule.unlink.column)} = NULL WHERE ${where}`);
  // Every identifying column goes, not only the one matched: the kept row must not name the customer.
  const cleared = [...new Set([...Object.values(rule.anonymize.identifiers), ...rule.anonymize.describe])] as string[];
  return one(
    EntityAction.ENTITY_ACTION_RETAIN,
    (where) => `UPDATE ${ident(table)} SET ${cleared.map((c) => `${ident(c)} = NULL`).join(', ')} WHERE ${where}`,
    rule.anonymize.reason,
  );
}

/**
 * The tables a legal hold on `tables` keeps: those tables and every table their rows reference
 * (foreign keys of the models, and the parent a row is reached through), transitively, so that
 * erasing the rest never breaks a foreign key of a kept row. Throws on a table the policy does not know.
 */
export function heldClosure(policy: DeletionPolicy, tables: readonly string[]): Set<string> {
  const held = new Set<string>();
  const todo = [...tables];
  for (let table = todo.pop(); table !== undefined; table = todo.pop()) {
    if (!policy.tables[table]) throw new UnknownEntity(table);
    if (held.has(table)) continue;
    held.add(table);
    const definition = policy.schema?.find((d) => d.table === table);
    for (const column of definition?.columns ?? []) if (column.references && policy.tables[column.references.table]) todo.push(column.references.table);
    const parent = viaParent(policy, table)?.parent;
    if (parent) todo.push(parent);
  }
  return held;
}

/** A held entity the service's policy does not name. */
export class UnknownEntity extends Error {
  constructor(readonly entity: string) {
    super(`unknown entity "${entity}"`);
    this.name = 'UnknownEntity';
  }
}

/**
 * Plans with held tables kept: a held entity counts its rows as held and acts on none; chunks over
 * held tables are dropped, except that the rows reached through a held table that are not held
 * themselves are deleted by chunks of their own (found through the parent chain), children first.
 */
function withHeld(policy: DeletionPolicy, plans: Omit<Plans, 'countSql'>, held: Set<string>): Omit<Plans, 'countSql'> {
  if (!held.size) return plans;
  const zero = `SELECT 0::bigint AS n`;
  const entities = plans.entities.map((plan) =>
    held.has(plan.entity) ? { ...plan, countSql: zero, heldCountSql: plan.retainedCountSql ?? plan.countSql } : plan,
  );
  const chunks = plans.chunks.flatMap((chunk): ChunkPlan[] => {
    if (!chunk.entities.some((e) => held.has(e.entity))) return [chunk];
    return chunk.entities
      .filter((e) => !held.has(e.entity) && e.action === EntityAction.ENTITY_ACTION_DELETE)
      .map(({ entity, action }) => ({
        entities: [{ entity, action }],
        sql: singleChunk(entity, tenantScope(policy, entity, 't'), (where) => `DELETE FROM ${ident(entity)} WHERE ${where}`),
      }));
  });
  return { entities, chunks };
}

/**
 * The plans for a subject kind, following the given delete order; tables without a rule for it are
 * left out. `held` (a legal hold, closed by heldClosure) names tables whose rows are kept.
 */
export function buildPlans(policy: DeletionPolicy, order: string[], kind: PlanKind, held: Set<string> = new Set()): Plans {
  const { entities, chunks } = withHeld(policy, buildAllPlans(policy, order, kind), held);
  return { entities, chunks, countSql: countSql(entities) };
}

function buildAllPlans(policy: DeletionPolicy, order: string[], kind: PlanKind): Omit<Plans, 'countSql'> {
  const entities: EntityPlan[] = [];
  const chunks: ChunkPlan[] = [];
  const position = new Map(order.map((table, i) => [table, i]));
  const identifier = customerIdentifierOf(kind);
  for (const table of order) {
    const tablePolicy = policy.tables[table]!;
    if (identifier) {
      const plan = customerPlan(policy, table, identifier);
      if (plan) {
        entities.push(plan.entity);
        chunks.push(plan.chunk);
      }
      continue;
    }
    if (kind === 'tenant' && tablePolicy.tenant) {
      const rule = tablePolicy.tenant;
      const scope = tenantScope(policy, table, 't');
      if ('retain' in rule) {
        const personal = rule.retain.anonymize;
        const holdsPersonal = personal.length ? `(${personal.map((c) => `t.${ident(c)} IS NOT NULL`).join(' OR ')})` : 'false';
        entities.push({
          entity: table,
          action: EntityAction.ENTITY_ACTION_RETAIN,
          retainReason: retainReason(rule.retain),
          countSql: count(table, `${scope} AND ${holdsPersonal}`),
          retainedCountSql: count(table, scope),
          expirySql: rule.retain.retention
            ? `SELECT min(${expiryOf(rule.retain.retention, 't')}) AS earliest, max(${expiryOf(rule.retain.retention, 't')}) AS latest FROM ${ident(table)} t WHERE ${scope}`
            : undefined,
        });
        if (personal.length) {
          chunks.push({
            entities: [{ entity: table, action: EntityAction.ENTITY_ACTION_RETAIN }],
            sql: singleChunk(table, `${scope} AND ${holdsPersonal}`, (where) =>
              `UPDATE ${ident(table)} SET ${personal.map((c) => `${ident(c)} = NULL`).join(', ')} WHERE ${where}`,
            ),
          });
        }
        continue;
      }
      entities.push({ entity: table, action: EntityAction.ENTITY_ACTION_DELETE, countSql: count(table, scope) });
      if ('parent' in rule.delete) continue; // deleted in its root's cascade chunk
      // Descendants reached through this table, deepest first (the delete order already is).
      const descendants = order.filter((candidate) => {
        for (let link = viaParent(policy, candidate); link; link = viaParent(policy, link.parent)) {
          if (link.parent === table) return true;
        }
        return false;
      });
      descendants.sort((a, b) => position.get(a)! - position.get(b)!);
      chunks.push({
        entities: [...descendants, table].map((entity) => ({ entity, action: EntityAction.ENTITY_ACTION_DELETE })),
        sql: descendants.length
          ? cascadeChunk(policy, table, rule.delete.column, descendants)
          : singleChunk(table, scope, (where) => `DELETE FROM ${ident(table)} WHERE ${where}`),
      });
    }
    if (kind === 'user' && tablePolicy.user && !('keep' in tablePolicy.user)) {
      const rule = tablePolicy.user;
      if ('delete' in rule) {
        const scope = `t.${ident(rule.delete.column)} = $1`;
        entities.push({ entity: table, action: EntityAction.ENTITY_ACTION_DELETE, countSql: count(table, scope) });
        chunks.push({
          entities: [{ entity: table, action: EntityAction.ENTITY_ACTION_DELETE }],
          sql: singleChunk(table, scope, (where) => `DELETE FROM ${ident(table)} WHERE ${where}`),
        });
      } else {
        const scope = `(${rule.anonymize.map((c) => `t.${ident(c)} = $1`).join(' OR ')})`;
        entities.push({ entity: table, action: EntityAction.ENTITY_ACTION_ANONYMIZE, countSql: count(table, scope) });
        chunks.push({
          entities: [{ entity: table, action: EntityAction.ENTITY_ACTION_ANONYMIZE }],
          // Only the columns that hold this user are cleared; other users' references stay.
          sql: singleChunk(table, scope, (where) =>
            `UPDATE ${ident(table)} SET ${rule.anonymize
              .map((c) => `${ident(c)} = CASE WHEN ${ident(c)} = $1 THEN NULL ELSE ${ident(c)} END`)
              .join(', ')} WHERE ${where}`,
          ),
        });
      }
    }
  }
  return { entities, chunks };
}

/**
 * One statement that returns the next `$2` distinct ids after `$1` over all the given columns, in
 * order. Each column is walked by a recursive skip scan (the next id is one probe of the column's
 * index, which defineTable creates for every erasure column), so a tenant with a million rows costs
 * one probe, not a million index entries. Used to find the subjects a database holds (the
 * resurrection sweep, the retention purge) without reading their rows.
 */
export function distinctIdsSql(columns: { table: string; column: string }[]): string {
  const walks = columns.map(({ table, column }, i) => {
    const c = ident(column);
    const t = ident(table);
    return `walk_${i}(id) AS (
      (SELECT ${c} FROM ${t} WHERE ${c} > $1::uuid ORDER BY ${c} LIMIT 1)
      UNION ALL
      SELECT (SELECT ${c} FROM ${t} WHERE ${c} > w.id ORDER BY ${c} LIMIT 1) FROM walk_${i} w WHERE w.id IS NOT NULL)`;
  });
  const picks = columns.map((_, i) => `(SELECT id FROM walk_${i} WHERE id IS NOT NULL LIMIT $2)`);
  return `WITH RECURSIVE ${walks.join(',\n    ')}
    SELECT id::text AS id FROM (${picks.join(' UNION ')}) ids ORDER BY id LIMIT $2`;
}

/** Below every UUID: the cursor of a walk's first batch (the nil UUID names no subject). */
export const BEFORE_ALL_IDS = '00000000-0000-0000-0000-000000000000';
