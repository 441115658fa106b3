/**
 * The deletion policy the engine runs: for every table, how a tenant erasure and a user erasure treat
 * its rows. Services do not write it by hand: it is derived from the erasure annotations on their
 * models (`policyFromModels`, after Meta's DELF), so each table is declared once.
 */
import type { TableDefinition } from '../models';
import type { CustomerIdentifierKind } from '../customers';

/** How long retained rows are kept, counted from a column; then the retention purge removes them. */
export interface Retention {
  years?: number;
  days?: number;
  /** The column the period runs from, e.g. `issued_at`. */
  from: string;
}

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
  | { retain: { reason: string; column: string; anonymize: string[]; retention?: Retention } };

/** How a user erasure treats a table. */
export type UserRule =
  /** Rows owned by the user (`column` holds the user id) are deleted. */
  | { delete: { column: string } }
  /** Columns that reference the user (e.g. `created_by`) are set to NULL where they hold the user id. */
  | { anonymize: string[] }
  /** `column` references the user and is left as it is, for `reason`; nothing to preview or delete. */
  | { keep: { column: string; reason: string } };

/** Which columns find a customer's rows: the tenant column, and the identifying columns by identifier kind. */
export interface CustomerMatchColumns {
  tenant: string;
  identifiers: Partial<Record<CustomerIdentifierKind, string>>;
  /** Columns that describe the customer (a name, an address): exported, and cleared where rows are kept. */
  describe: string[];
}

/** How a customer erasure treats a table (services/kit/models.ts `CustomerAnnotation`). */
export type CustomerRule =
  /** The customer's rows are deleted. */
  | { delete: CustomerMatchColumns }
  /** The customer's rows are kept for `reason`; identifying and describing columns are set to NULL. */
  | { anonymize: CustomerMatchColumns & { reason: string } }
  /** `column` references `parent`.`parentKey`, whose customer rule finds the customer's rows: set to NULL there. */
  | { unlink: { column: string; parent: string; parentKey: string } }
  /** Identifier-like columns hold no customer's data, for `reason`. */
  | { none: string };

/** The policy for one table. A rule that is absent means the table holds no data of that subject kind. */
export interface TablePolicy {
  tenant?: TenantRule;
  user?: UserRule;
  customer?: CustomerRule;
  /** Why the table holds no subject data at all (declared instead of rules). */
  noSubjectData?: string;
}

/** A service's whole policy: every table that holds tenant or user data must appear here. */
export interface DeletionPolicy {
  service: string;
  tables: Record<string, TablePolicy>;
  /**
   * The models the policy was derived from. When present, the live database must match them exactly
   * (tables, columns, types, nullability, foreign keys) and every table in it must be declared.
   */
  schema?: TableDefinition[];
  /**
   * Append-only event tables (an outbox) that an erasure may add to: they survive erasure and are
   * exempt from classification.
   */
  eventTables?: string[];
}

/** definePolicy only gives the object its type; validation against the catalog happens at run time. */
export function definePolicy(policy: DeletionPolicy): DeletionPolicy {
  return policy;
}

/** The policy of a service, derived from the erasure annotations on its models. */
export function policyFromModels(service: string, tables: TableDefinition[], eventTables: string[] = []): DeletionPolicy {
  return {
    service,
    tables: Object.fromEntries(tables.map((table) => [table.table, table.erasure])),
    schema: tables,
    eventTables,
  };
}
