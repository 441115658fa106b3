import { Client } from 'pg';
import type { Logger } from 'pino';
import { sleep } from '../services/kit/sleep';

export interface PersistentConnectionOptions {
  /** Shown in pg_stat_activity and in the logs. */
  name: string;
  /** Run on every new connection before it counts as up (e.g. LISTEN); a failure drops it and retries. */
  onConnect?(client: Client): Promise<void>;
  /** The connection (and whatever was bound to its session: advisory locks, LISTEN) is gone. */
  onLost?(error: unknown): void;
  /** The connection is up again (also after the first connect). */
  onUp?(): void;
  /** First and longest wait between tries (default 250 ms and 5 s). */
  minDelayMs?: number;
  maxDelayMs?: number;
}

/**
 * One PostgreSQL session that always comes back: when it is lost (server restart, failover, network),
 * it is re-established with capped exponential backoff for as long as the process lives, not once.
 * What lived on the old session is gone with it — session advisory locks, LISTEN — so `onLost` tells
 * the owner, and `onConnect` rebuilds what a new session needs before the connection counts as up.
 */
export class PersistentConnection {
  private current?: Client;
  private stopped = false;
  private connecting?: Promise<void>;
  /** Why the connection is down, for readiness; empty while it is up. */
  lastError = 'not connected yet';

  constructor(
    private readonly url: string,
    private readonly log: Logger,
    private readonly options: PersistentConnectionOptions,
  ) {}

  /** The live client, or undefined while reconnecting. */
  get client(): Client | undefined {
    return this.current;
  }

  get connected(): boolean {
    return !!this.current;
  }

  /** Connects, trying until it succeeds (or `stop`). */
  start(): Promise<void> {
    this.connecting ??= this.connectLoop().finally(() => (this.connecting = undefined));
    return this.connecting;
  }

  private async connectLoop(): Promise<void> {
    let delay = this.options.minDelayMs ?? 250;
    for (let attempt = 1; !this.stopped; attempt++) {
      const client = new Client({ connectionString: this.url, application_name: this.options.name, connectionTimeoutMillis: 10_000 });
      // Registered before connect: an error on an idle session must never become an uncaught exception.
      client.on('error', (error) => this.lost(client, error));
      client.on('end', () => this.lost(client, new Error('connection ended')));
      try {
        await client.connect();
        await this.options.onConnect?.(client);
        if (this.stopped) {
          await client.end().catch(() => undefined);
          return;
        }
        this.current = client;
        this.lastError = '';
        if (attempt > 1) this.log.info({ connection: this.options.name, attempts: attempt }, 'database connection re-established');
        this.options.onUp?.();
        return;
      } catch (error) {
        this.lastError = (error as Error).message ?? String(error);
        client.removeAllListeners('end');
        client.on('error', () => undefined);
        await client.end().catch(() => undefined);
        if (attempt === 1 || attempt % 10 === 0) this.log.warn({ connection: this.options.name, attempt, err: error }, 'cannot connect to the database; retrying');
        await sleep(delay);
        delay = Math.min(this.options.maxDelayMs ?? 5_000, delay * 2);
      }
    }
  }

  private lost(client: Client, error: unknown): void {
    if (this.current !== client) return;
    this.current = undefined;
    this.lastError = `connection lost: ${(error as Error)?.message ?? String(error)}`;
    this.log.error({ connection: this.options.name, err: error }, 'database connection lost; reconnecting');
    // The session is gone either way; make sure the socket is too.
    client.end().catch(() => undefined);
    this.options.onLost?.(error);
    if (!this.stopped) this.start().catch((e) => this.log.error({ err: e }, 'reconnect loop failed'));
  }

  /** Ends the connection; no reconnect follows. */
  async stop(): Promise<void> {
    this.stopped = true;
    const client = this.current;
    this.current = undefined;
    await client?.end().catch(() => undefined);
  }
}
