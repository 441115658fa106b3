import { PersistentConnection } from './connection';
import type { Logger } from 'pino';
import type { JobStep } from './store';

const CHANNEL = 'erasure_job_events';

/** What runners announce about a job. Every orchestrator replica hears it (PostgreSQL LISTEN/NOTIFY). */
export type JobBusEvent =
  /** A step changed; `step` is its new state. */
  | { kind: 'step'; jobId: string; step: JobStep }
  /** The job itself changed (e.g. it started); watchers re-read it. */
  | { kind: 'job'; jobId: string }
  | {
      kind: 'progress';
      jobId: string;
      service: string;
      entity: string;
      entityRowsDone: number;
      stepRowsDone: number;
      stepExpectedRows: number;
      jobRowsDone: number;
    }
  | { kind: 'finished'; jobId: string }
  | { kind: 'cancel'; jobId: string }
  /** A legal hold was placed on the job's subject: its runner stops between chunks and decides again (orchestrator/holds.ts). */
  | { kind: 'hold'; jobId: string };

/** An event as it arrives: JSON carries a step's times as strings. */
function decode(payload: string): JobBusEvent | undefined {
  try {
    const event = JSON.parse(payload) as JobBusEvent;
    if (event.kind === 'step') {
      const { startedAt, finishedAt, nextAttemptAt } = event.step as unknown as { startedAt: string | null; finishedAt: string | null; nextAttemptAt?: string | null };
      event.step.startedAt = startedAt === null ? null : new Date(startedAt);
      event.step.finishedAt = finishedAt === null ? null : new Date(finishedAt);
      event.step.nextAttemptAt = nextAttemptAt ? new Date(nextAttemptAt) : null;
    }
    return event;
  } catch {
    return undefined;
  }
}

/**
 * Job events over LISTEN/NOTIFY, so a watcher connected to any replica sees a job run by another.
 * Events are published in order over one connection; a watcher that reconnects gets a fresh snapshot
 * from the database, so nothing depends on an event not being missed.
 */
export class JobEvents {
  private readonly listener: PersistentConnection;
  private readonly publisher: PersistentConnection;
  private publishing: Promise<unknown> = Promise.resolve();
  private readonly subscribers = new Map<string, Set<(event: JobBusEvent) => void>>();
  /** Called when the listener is lost or back: readiness follows it. */
  onListenerChange: (downReason: string) => void = () => undefined;

  constructor(
    url: string,
    private readonly log: Logger,
  ) {
    // Both connections come back after any outage (orchestrator/connection.ts); LISTEN is repeated on
    // each new listener session. Events sent while it was down are missed: watchers re-read the job
    // from the store (orchestrator/watch.ts), so nothing depends on them.
    this.listener = new PersistentConnection(url, log, {
      name: 'erasure-orchestrator-events',
      onConnect: async (client) => {
        client.on('notification', (message) => this.deliver(message.payload));
        await client.query(`LISTEN ${CHANNEL}`);
      },
      onLost: () => this.onListenerChange(`event listener: ${this.listener.lastError}`),
      onUp: () => this.onListenerChange(''),
    });
    this.publisher = new PersistentConnection(url, log, { name: 'erasure-orchestrator-publisher' });
  }

  async start(): Promise<void> {
    await Promise.all([this.listener.start(), this.publisher.start()]);
  }

  private deliver(payload: string | undefined): void {
    const event = payload ? decode(payload) : undefined;
    if (!event) return;
    for (const subscriber of this.subscribers.get(event.jobId) ?? []) subscriber(event);
    for (const subscriber of this.subscribers.get('*') ?? []) subscriber(event);
  }

  /** Subscribes to one job's events ('*' for all); returns the unsubscribe function. */
  subscribe(jobId: string, subscriber: (event: JobBusEvent) => void): () => void {
    let set = this.subscribers.get(jobId);
    if (!set) this.subscribers.set(jobId, (set = new Set()));
    set.add(subscriber);
    return () => {
      set!.delete(subscriber);
      if (set!.size === 0) this.subscribers.delete(jobId);
    };
  }

  /**
   * Events wait here while a send is under way and then go out together, in order, in one statement:
   * the steps of a phase (of every job running) changing at once cost one round trip, not one each.
   */
  private queued: string[] = [];

  publish(event: JobBusEvent): Promise<void> {
    this.queued.push(JSON.stringify(event));
    if (this.queued.length === 1) {
      this.publishing = this.publishing.then(() => {
        const payloads = this.queued;
        this.queued = [];
        const client = this.publisher.client;
        if (!client) throw new Error('event publisher is reconnecting');
        // unnest yields the payloads in order, and pg_notify queues them in the order it is called.
        return client.query('SELECT pg_notify($1, payload) FROM unnest($2::text[]) AS payload', [CHANNEL, payloads]);
      }).catch((error) => this.log.warn({ err: error }, 'could not publish job events'));
    }
    return this.publishing.then(() => undefined);
  }

  async stop(): Promise<void> {
    await this.publishing;
    await Promise.allSettled([this.listener.stop(), this.publisher.stop()]);
  }
}
