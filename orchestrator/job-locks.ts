import type { Logger } from 'pino';
import { PersistentConnection } from './connection';

/** Arbitrary constant: the advisory-lock namespace of erasure jobs. */
const LOCK_SPACE = 727_002;

/**
 * Who runs a job: a session-level PostgreSQL advisory lock per running job, all held on one dedicated
 * connection of this replica. Unlike a time-based lease it cannot lapse while its holder is alive but
 * slow, and it is released the moment the holder dies (the server sees the connection drop), so a
 * replica killed with `kill -9` is replaced at once and two replicas never run one job together.
 * (Two job ids hashing to the same key would only make one wait for the other.)
 *
 * The connection always comes back (orchestrator/connection.ts); the locks do not: when it drops,
 * `onLost` stops every local run, and the jobs are taken up again — here or on another replica — once
 * a connection can lock them again.
 */
export class JobLocks {
  private readonly connection: PersistentConnection;
  /** Called when the connection, and with it every lock, is lost: local runs must stop. */
  onLost: () => void = () => undefined;
  /** Called when locks can be taken again (first connect and every reconnect). */
  onUp: () => void = () => undefined;

  constructor(url: string, log: Logger, name = 'erasure-orchestrator-locks') {
    this.connection = new PersistentConnection(url, log, {
      name,
      onLost: () => this.onLost(),
      onUp: () => this.onUp(),
    });
  }

  start(): Promise<void> {
    return this.connection.start();
  }

  get connected(): boolean {
    return this.connection.connected;
  }

  /** Why locks cannot be taken now; empty when they can. */
  get downReason(): string {
    return this.connection.connected ? '' : `job lock connection: ${this.connection.lastError}`;
  }

  async tryLock(jobId: string): Promise<boolean> {
    const client = this.connection.client;
    if (!client) return false;
    const { rows } = await client.query<{ locked: boolean }>('SELECT pg_try_advisory_lock($1, hashtext($2)) AS locked', [LOCK_SPACE, jobId]);
    // A lock taken on a connection that has since been replaced is not held.
    return rows[0]!.locked && this.connection.client === client;
  }

  async unlock(jobId: string): Promise<void> {
    await this.connection.client?.query('SELECT pg_advisory_unlock($1, hashtext($2))', [LOCK_SPACE, jobId]).catch(() => undefined);
  }

  stop(): Promise<void> {
    return this.connection.stop();
  }
}
