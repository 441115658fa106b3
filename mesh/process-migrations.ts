/**
 * The migrations of one process of the catalog, run on its database from outside the process: by
 * `erasure db provision` (mesh/provision.ts, as the administrator) and by the launcher for a database
 * it has just created (mesh/mesh.ts).
 */
import type { Logger } from 'pino';
import { openServiceDatabase } from '../services/kit/database';
import { migrate } from '../services/kit/migrations';
import type { ServiceMigration } from '../services/kit/service-definition';
import { loadServiceDefinition } from '../services/definitions';
import { migrations as orchestratorMigrations } from '../orchestrator/migrations';

/** What `migrate` runs for the process `name` (the orchestrator's, or a data service's definition). */
export function processMigrations(name: string): ServiceMigration[] {
  return name === 'orchestrator' ? orchestratorMigrations : loadServiceDefinition(name).definition.migrations;
}

/**
 * Runs the pending migrations of process `name` on the database at `url`; returns the names applied.
 * `onLocked`: see migrate (services/kit/migrations.ts).
 */
export async function migrateProcessDatabase(name: string, url: string, log: Logger, onLocked?: () => void): Promise<string[]> {
  const db = openServiceDatabase(url, 1);
  try {
    return await migrate(url, () => db.sequelize, processMigrations(name), log, onLocked);
  } finally {
    await db.close();
  }
}

/**
 * Loads what migrating the databases of `names` takes (their definitions, umzug, Sequelize) ahead of
 * time, e.g. while the database server initialises. Loading only: nothing is run.
 */
export function loadMigrationModules(names: readonly string[]): void {
  for (const name of names) processMigrations(name);
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  require('umzug');
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  require('sequelize');
}
