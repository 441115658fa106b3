/**
 * Provisioning a deployment's databases (issue 9, "Deployment"): run once by an administrator, before
 * the mesh starts. For every process of the catalog it creates the database, runs the migrations as
 * the administrator (the role that owns the schema), and gives the process a runtime role limited to
 * its own database: rows only, no DDL, the append-only tables insert-and-read only. The processes then
 * run with `MIGRATE=false` and connect as their runtime role (`<NAME>_DATABASE_URL` plus
 * `ERASURE_DATABASE_PASSWORD_FILE`), so a process that is taken over cannot alter its schema, rewrite
 * its tombstones or reach another service's database.
 */
import { randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Client } from 'pg';
import type { Logger } from 'pino';
import { ensureDatabase, runtimeRoleStatements, withDatabase } from '../services/kit/database';
import { APPEND_ONLY_TABLES } from '../orchestrator/migrations';
import { ErasureQueue } from '../orchestrator/queue';
import { RETENTION_PURGE_QUEUE } from '../orchestrator/retention-purge';
import { catalogEntry, PROCESS_NAMES } from './catalog';
import { migrateProcessDatabase } from './process-migrations';

/** `alert-processor` → `bakery_alert_processor_runtime`: the process's runtime role. */
export const runtimeRoleName = (database: string): string => `${database}_runtime`;

/**
 * The file that holds a process's runtime database password: `<keys dir>/db/<name>.password`, written
 * by `erasure keys init`. A folder of their own, so provisioning mounts the passwords and no private key.
 */
export const databasePasswordFile = (dir: string, name: string): string => join(dir, 'db', `${name}.password`);

/** Writes a random password file (0600) for each process that has none; returns the names it wrote. */
export function writeDatabasePasswords(dir: string, names: readonly string[] = PROCESS_NAMES): string[] {
  mkdirSync(join(dir, 'db'), { recursive: true, mode: 0o700 });
  const written: string[] = [];
  for (const name of names) {
    const file = databasePasswordFile(dir, name);
    if (existsSync(file)) continue;
    writeFileSync(file, `${randomBytes(24).toString('base64url')}\n`, { flag: 'wx', mode: 0o600 });
    written.push(name);
  }
  return written;
}

export const readDatabasePassword = (file: string): string => {
  const password = readFileSync(file, 'utf8').trim();
  if (!password) throw new Error(`the database password file ${file} is empty`);
  return password;
};

export interface ProvisionTarget {
  /** Catalog name. */
  name: string;
  /** The process's database, as the administrator reaches it. */
  adminUrl: string;
  role: string;
  password: string;
}

/** The schemas a runtime role works in: the process's own tables, and the orchestrator's queue. */
const schemasOf = (name: string): string[] => (name === 'orchestrator' ? ['public', 'pgboss'] : ['public']);

/** Creates, migrates and grants one process's database; safe to run again (the role's password is reset). */
export async function provisionProcessDatabase(target: ProvisionTarget, log: Logger): Promise<void> {
  const url = new URL(target.adminUrl);
  const database = url.pathname.slice(1);
  const administrator = decodeURIComponent(url.username) || 'postgres';
  await ensureDatabase(withDatabase(target.adminUrl, 'postgres'), database);
  await migrateProcessDatabase(target.name, target.adminUrl, log);
  if (target.name === 'orchestrator') {
    // The queue's schema and its queue (a table partition) are DDL too: created here, not at run time.
    const queue = new ErasureQueue(target.adminUrl, log);
    await queue.start();
    await queue.ensureScheduleQueue(RETENTION_PURGE_QUEUE);
    await queue.stop();
  }
  const appendOnly = target.name === 'orchestrator' ? APPEND_ONLY_TABLES : [];
  const statements = runtimeRoleStatements({ database, role: target.role, password: target.password, migrationRole: administrator, appendOnly, schemas: schemasOf(target.name) });
  const server = new Client({ connectionString: withDatabase(target.adminUrl, 'postgres') });
  await server.connect();
  try {
    const exists = (await server.query('SELECT 1 FROM pg_roles WHERE rolname = $1', [target.role])).rowCount === 1;
    for (const sql of exists ? statements.server.slice(1) : statements.server) await server.query(sql);
    if (exists) await server.query(statements.setPassword);
  } finally {
    await server.end();
  }
  const own = new Client({ connectionString: target.adminUrl });
  await own.connect();
  try {
    for (const sql of statements.database) await own.query(sql);
  } finally {
    await own.end();
  }
  log.info({ process: target.name, database, role: target.role }, 'database provisioned');
}

/** The URL a process connects with: its runtime role on its own database (the password comes from its file). */
export function runtimeUrl(adminUrl: string, role: string): string {
  const url = new URL(adminUrl);
  url.username = role;
  url.password = '';
  return url.toString();
}

/**
 * `erasure db provision`: every process of the catalog on the server `adminServerUrl` (an administrator),
 * each with the password in `<passwordDir>/db/<name>.password`. Returns the runtime URL of each process.
 */
export async function provisionMesh(adminServerUrl: string, passwordDir: string, log: Logger, names: readonly string[] = PROCESS_NAMES): Promise<Record<string, string>> {
  const targets = names.map((name) => {
    const file = databasePasswordFile(passwordDir, name);
    if (!existsSync(file)) throw new Error(`no database password for ${name} at ${file}: run \`erasure keys init <dir>\` first`);
    const database = catalogEntry(name)!.database;
    return { name, adminUrl: withDatabase(adminServerUrl, database), role: runtimeRoleName(database), password: readDatabasePassword(file) };
  });
  const urls: Record<string, string> = {};
  for (const target of targets) {
    await provisionProcessDatabase(target, log);
    urls[target.name] = runtimeUrl(target.adminUrl, target.role);
  }
  return urls;
}
