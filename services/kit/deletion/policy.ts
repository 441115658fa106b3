/**
 * The declarative deletion policy a service writes for the tables it owns (after Meta's DELF).
 * The kit turns it into chunked SQL, derives the delete order from the live foreign keys, and checks
 * it against the database catalog before every Preview and Delete (fail closed).
 */

/** How a tenant erasure treats a table. */
export type TenantRule =
  /** Rows whose `column` holds the tenant id are deleted. */
  | { delete: { column: string } }
  /**
   * Rows reached through a parent: `column` references `parent`.`parentKey` (default `id`), and the
   * parent table's own tenant rule says which parent rows belong to the tenant. Chains are allowed.
   */
  | { delete: { parent: string; column: string; parentKey?: string } }
  /**
   * Rows are kept for a legal reason (reported by Preview); the listed personal columns are set to
   * NULL on the tenant's rows, found through `column`.
   */
  | { retain: { reason: string; column: string; anonymize: string[] } };

/** How a user erasure treats a table. */
export type UserRule =
  /** Rows owned by the user (`column` holds the user id) are deleted. */
  | { delete: { column: string } }
  /** Columns that reference the user (e.g. `created_by`) are set to NULL where they hold the user id. */
  | { anonymize: string[] };

/** The policy for one table. A rule that is absent means the table holds no data of that subject kind. */
export interface TablePolicy {
  tenant?: TenantRule;
  user?: UserRule;
}

/** A service's whole policy: every table that holds tenant or user data must appear here. */
export interface DeletionPolicy {
  service: string;
  tables: Record<string, TablePolicy>;
}

/** definePolicy only gives the object its type; validation against the catalog happens at run time. */
export function definePolicy(policy: DeletionPolicy): DeletionPolicy {
  return policy;
}
