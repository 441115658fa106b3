import type { Pool, PoolClient } from 'pg';

export interface TransactionOptions {
  /**
   * Longest wait for a row or table lock inside the transaction. A longer wait fails with 55P03,
   * which services/kit/pg-errors.ts maps to ABORTED (a lost race the caller may retry). Unset: the
   * server's default.
   */
  lockTimeoutMs?: number;
}

/**
 * Runs `work` in one transaction on one pooled connection: COMMIT when it resolves, ROLLBACK when
 * it throws (the error is rethrown unchanged). A connection that cannot even roll back is discarded
 * rather than returned to the pool.
 */
export async function withTransaction<T>(pool: Pool, work: (client: PoolClient) => Promise<T>, options: TransactionOptions = {}): Promise<T> {
  const client = await pool.connect();
  let broken = false;
  try {
    await client.query('BEGIN');
    if (options.lockTimeoutMs !== undefined) await client.query(`SET LOCAL lock_timeout = ${Math.max(1, Math.round(options.lockTimeoutMs))}`);
    const result = await work(client);
    await client.query('COMMIT');
    return result;
  } catch (error) {
    await client.query('ROLLBACK').catch(() => (broken = true));
    throw error;
  } finally {
    client.release(broken);
  }
}
