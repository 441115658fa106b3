import type { Sequelize } from 'sequelize';
import type { Pool } from 'pg';
import { policyFromModels, type DeletionPolicy } from './deletion/policy';
import type { TableDefinition } from './models';

/** A migration run by umzug on start; `up` receives the service's Sequelize instance. */
export interface ServiceMigration {
  name: string;
  up: (params: { context: Sequelize }) => Promise<unknown>;
  down?: (params: { context: Sequelize }) => Promise<unknown>;
}

/** What a seeder is asked to write for one tenant. */
export interface SeedPlan {
  tenantId: string;
  /** Users of the tenant: referenced by `created_by`-style columns and owning user rows. */
  userIds: string[];
  /** Approximate number of rows to write into this service's database for the tenant. */
  rows: number;
}

/** A seeder writes realistic rows with set-based SQL (INSERT … SELECT generate_series), never row by row. */
export type Seeder = (pool: Pool, plan: SeedPlan) => Promise<void>;

/** Everything the kit needs to run one domain service. */
export interface DomainService {
  /** Service name, e.g. `orders`, `alert-processor`. Its database is `bakery_<name>`. */
  name: string;
  migrations: ServiceMigration[];
  /** Every table of the service's database: its model with its erasure annotation (`defineTable`). */
  tables?: TableDefinition[];
  /** How an erasure treats each table (derived from `tables` by `defineService`). */
  deletionPolicy: DeletionPolicy;
  seed: Seeder;
  /**
   * Runs before a Delete touches anything; throws (e.g. FAILED_PRECONDITION) to refuse it. The tenant
   * service uses it to refuse erasing a user who still owns an active tenant.
   */
  beforeErase?: (pool: Pool, subject: { kind: 'tenant' | 'user'; id: string }) => Promise<void>;
  /**
   * Append-only event tables (an outbox) that an erasure may add a row to, e.g. `tenant.deleted`. They
   * hold no subject column, so they are outside the deletion policy, and their events survive erasure.
   */
  eventTables?: string[];
}

/** What a service declares; the kit derives its deletion policy (and the tenant and auth services their models) from `tables`. */
export type ServiceDeclaration = Omit<DomainService, 'tables' | 'deletionPolicy'> & { tables: TableDefinition[] };

/** A domain service whose deletion policy comes from its table declarations. */
export function defineService(declaration: ServiceDeclaration): DomainService {
  const { name, tables, eventTables } = declaration;
  return {
    ...declaration,
    deletionPolicy: policyFromModels(name, tables, eventTables),
  };
}
