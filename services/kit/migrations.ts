import { Client } from 'pg';
import type { Sequelize } from 'sequelize';
import { SequelizeStorage, Umzug } from 'umzug';
import type { Logger } from 'pino';
import type { ServiceMigration } from './service-definition';

/** Arbitrary constant: the advisory lock that serialises migrations of one database across processes. */
const MIGRATION_LOCK = 727_001;

/** Runs pending migrations (umzug, recorded in SequelizeMeta) under an advisory lock. */
export async function migrate(url: string, sequelize: Sequelize, migrations: ServiceMigration[], log: Logger): Promise<string[]> {
  const lock = new Client({ connectionString: url });
  await lock.connect();
  try {
    await lock.query('SELECT pg_advisory_lock($1)', [MIGRATION_LOCK]);
    const umzug = new Umzug({
      migrations: migrations.map((m) => ({ name: m.name, up: m.up, down: m.down })),
      context: sequelize,
      storage: new SequelizeStorage({ sequelize }),
      logger: undefined,
    });
    const applied = await umzug.up();
    if (applied.length) log.info({ migrations: applied.map((m) => m.name) }, 'migrations applied');
    return applied.map((m) => m.name);
  } finally {
    await lock.end().catch(() => undefined);
  }
}
