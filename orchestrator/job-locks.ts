import { Client } from 'pg';
import type { Logger } from 'pino';

/** Arbitrary constant: the advisory-lock namespace of erasure jobs. */
const LOCK_SPACE = 727_002;

/**
 * Who runs a job: a session-level PostgreSQL advisory lock per running job, all held on one dedicated
 * connection of this replica. Unlike a time-based lease it cannot lapse while its holder is alive but
 * slow, and it is released the moment the holder dies (the server sees the connection drop), so a
 * replica killed with `kill -9` is replaced at once and two replicas never run one job together.
 * (Two job ids hashing to the same key would only make one wait for the other.)
 */
export class JobLocks {
  private client?: Client;
  private stopped = false;
  /** Called when the connection, and with it every lock, is lost: local runs must stop. */
  onLost: () => void = () => undefined;

  constructor(
    private readonly url: string,
    private readonly log: Logger,
  ) {}

  async start(): Promise<void> {
    const client = new Client({ connectionString: this.url, application_name: 'erasure-orchestrator-locks' });
    client.on('error', (error) => {
      this.log.error({ err: error }, 'job lock connection lost; stopping local runs');
      this.lost(client);
    });
    client.on('end', () => this.lost(client));
    await client.connect();
    this.client = client;
  }

  private lost(client: Client): void {
    if (this.client !== client) return;
    this.client = undefined;
    this.onLost();
    if (!this.stopped) setTimeout(() => this.start().catch((error) => this.log.error({ err: error }, 'cannot reconnect job locks')), 500);
  }

  async tryLock(jobId: string): Promise<boolean> {
    if (!this.client) return false;
    const { rows } = await this.client.query<{ locked: boolean }>('SELECT pg_try_advisory_lock($1, hashtext($2)) AS locked', [LOCK_SPACE, jobId]);
    return rows[0]!.locked;
  }

  async unlock(jobId: string): Promise<void> {
    await this.client?.query('SELECT pg_advisory_unlock($1, hashtext($2))', [LOCK_SPACE, jobId]).catch(() => undefined);
  }

  async stop(): Promise<void> {
    this.stopped = true;
    const client = this.client;
    this.client = undefined;
    await client?.end().catch(() => undefined);
  }
}
