import { randomBytes } from 'node:crypto';
import { Pool } from 'pg';
import { dropDatabase, ensureDatabase, withDatabase } from '../../services/kit/database';

/** The PostgreSQL server the tests use (set by test/run-tests.ts, or by the caller). */
export function testServerUrl(): string {
  const url = process.env.TEST_DATABASE_URL;
  if (!url) throw new Error('TEST_DATABASE_URL is not set: run the tests with `npm test`');
  return url;
}

/** A database with a unique name for one test; `drop` removes it. */
export interface TestDatabase {
  name: string;
  url: string;
  /** A pool for direct SQL checks that do not go through the code under test. */
  pool: Pool;
  drop(): Promise<void>;
}

export async function createTestDatabase(label: string): Promise<TestDatabase> {
  const server = testServerUrl();
  const name = `test_${label.replace(/[^a-z0-9]/gi, '_').toLowerCase()}_${randomBytes(4).toString('hex')}`;
  await ensureDatabase(server, name);
  const url = withDatabase(server, name);
  const pool = new Pool({ connectionString: url, max: 3 });
  pool.on('error', () => undefined);
  return {
    name,
    url,
    pool,
    async drop() {
      await pool.end().catch(() => undefined);
      await dropDatabase(server, name);
    },
  };
}
