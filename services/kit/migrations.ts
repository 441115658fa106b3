import { Client } from 'pg';
import type { ModelAttributeColumnOptions, QueryInterface, Sequelize, Transaction } from 'sequelize';
import type { Logger } from 'pino';
import { sequelizeColumn, type TableDefinition } from './models';
import type { ServiceMigration } from './service-definition';

/** Arbitrary constant: the advisory lock that serialises migrations of one database across processes. */
const MIGRATION_LOCK = 727_001;

/**
 * Runs pending migrations (umzug, recorded in SequelizeMeta) under an advisory lock. `sequelize` may be
 * a function that makes it: it is then called only when a migration is pending. `onLocked` is called
 * once the lock is held: another process's migrate() on the same database waits for this one from then on.
 */
export async function migrate(
  url: string,
  sequelize: Sequelize | (() => Sequelize),
  migrations: ServiceMigration[],
  log: Logger,
  onLocked?: () => void,
): Promise<string[]> {
  const lock = new Client({ connectionString: url });
  await lock.connect();
  try {
    await lock.query('SELECT pg_advisory_lock($1)', [MIGRATION_LOCK]);
    onLocked?.();
    // Nothing pending (every start but the first): umzug is not loaded at all. It brings ~300 modules
    // (a command-line framework among them) that would stay in the process's memory for its lifetime.
    if (await allApplied(lock, migrations)) return [];
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    const { SequelizeStorage, Umzug } = require('umzug') as typeof import('umzug');
    const context = typeof sequelize === 'function' ? sequelize() : sequelize;
    const umzug = new Umzug({
      migrations: migrations.map((m) => ({ name: m.name, up: m.up, down: m.down })),
      context,
      storage: new SequelizeStorage({ sequelize: context }),
      logger: undefined,
    });
    const applied = await umzug.up();
    if (applied.length) log.info({ migrations: applied.map((m) => m.name) }, 'migrations applied');
    return applied.map((m) => m.name);
  } finally {
    await lock.end().catch(() => undefined);
  }
}

/** Whether SequelizeMeta (umzug's SequelizeStorage table) names every migration already. */
async function allApplied(client: Client, migrations: ServiceMigration[]): Promise<boolean> {
  const { rows } = await client.query<{ exists: boolean }>(`SELECT to_regclass('"SequelizeMeta"') IS NOT NULL AS exists`);
  if (!rows[0]?.exists) return false;
  const applied = new Set((await client.query<{ name: string }>('SELECT name FROM "SequelizeMeta"')).rows.map((row) => row.name));
  return migrations.every((migration) => applied.has(migration.name));
}

const ident = (name: string): string => `"${name.replace(/"/g, '""')}"`;

/**
 * Creates the tables from their model declarations (parents first, as listed): columns, foreign keys,
 * the CHECKs of their validations, and their indexes. The DDL is not written a second time.
 */
export async function createTables(queryInterface: QueryInterface, tables: TableDefinition[]): Promise<void> {
  // One transaction: one commit instead of one per statement, and no half-created schema on failure.
  await queryInterface.sequelize.transaction(async (transaction) => {
    for (const definition of tables) {
      const columns: Record<string, ModelAttributeColumnOptions> = {};
      for (const c of definition.columns) {
        const { type, primaryKey, autoIncrement, defaultValue, unique } = sequelizeColumn(c.options);
        columns[c.column] = {
          type,
          allowNull: c.nullable,
          ...(primaryKey && { primaryKey }),
          ...(autoIncrement && { autoIncrement }),
          ...(defaultValue !== undefined && { defaultValue }),
          ...(unique && { unique }),
          ...(c.references && { references: { model: c.references.table, key: c.references.column } }),
        };
      }
      await queryInterface.createTable(definition.table, columns, { transaction });
      for (const c of definition.columns.filter((column) => column.checks.length)) {
        await queryInterface.sequelize.query(
          `ALTER TABLE ${ident(definition.table)} ADD CONSTRAINT ${ident(`${definition.table}_${c.column}_check`)} CHECK (${c.checks.join(' AND ')})`,
          { transaction },
        );
      }
      for (const index of definition.indexes) {
        await queryInterface.addIndex(definition.table, index.columns, {
          unique: index.unique,
          name: `${definition.table}_${index.columns.join('_')}_${index.unique ? 'key' : 'idx'}`,
          transaction,
        });
      }
      await createExpressionIndexes(queryInterface, [definition], transaction);
    }
  });
}

/**
 * Creates the tables' expression indexes (the normalized customer identifiers) that do not exist yet:
 * for a migration that adds customer rules to tables an earlier migration created. On a fresh database
 * that earlier migration (derived from the current models) already made them, and this does nothing.
 */
export async function createExpressionIndexes(queryInterface: QueryInterface, tables: TableDefinition[], transaction?: Transaction): Promise<void> {
  for (const definition of tables) {
    for (const index of definition.expressionIndexes) {
      await queryInterface.sequelize.query(`CREATE INDEX IF NOT EXISTS ${ident(index.name)} ON ${ident(definition.table)} (${index.sql})`, { transaction });
    }
  }
}

/** Drops the tables' expression indexes, for the `down` of a migration that created them. */
export async function dropExpressionIndexes(queryInterface: QueryInterface, tables: TableDefinition[]): Promise<void> {
  for (const definition of tables) {
    for (const index of definition.expressionIndexes) await queryInterface.sequelize.query(`DROP INDEX IF EXISTS ${ident(index.name)}`);
  }
}

/** Drops the tables (children first), for a migration's `down`. */
export async function dropTables(queryInterface: QueryInterface, tables: TableDefinition[]): Promise<void> {
  for (const definition of [...tables].reverse()) await queryInterface.dropTable(definition.table);
}
