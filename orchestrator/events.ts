import { Client } from 'pg';
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
  | { kind: 'cancel'; jobId: string };

/** An event as it arrives: JSON carries a step's times as strings. */
function decode(payload: string): JobBusEvent | undefined {
  try {
    const event = JSON.parse(payload) as JobBusEvent;
    if (event.kind === 'step') {
      const { startedAt, finishedAt } = event.step as unknown as { startedAt: string | null; finishedAt: string | null };
      event.step.startedAt = startedAt === null ? null : new Date(startedAt);
      event.step.finishedAt = finishedAt === null ? null : new Date(finishedAt);
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
  private listener?: Client;
  private publisher?: Client;
  private publishing: Promise<unknown> = Promise.resolve();
  private readonly subscribers = new Map<string, Set<(event: JobBusEvent) => void>>();
  private stopped = false;

  constructor(
    private readonly url: string,
    private readonly log: Logger,
  ) {}

  async start(): Promise<void> {
    await this.connectListener();
    this.publisher = new Client({ connectionString: this.url });
    this.publisher.on('error', (error) => this.log.warn({ err: error }, 'event publisher connection lost'));
    await this.publisher.connect();
  }

  private async connectListener(): Promise<void> {
    const listener = new Client({ connectionString: this.url });
    listener.on('notification', (message) => {
      const event = message.payload ? decode(message.payload) : undefined;
      if (!event) return;
      for (const subscriber of this.subscribers.get(event.jobId) ?? []) subscriber(event);
      for (const subscriber of this.subscribers.get('*') ?? []) subscriber(event);
    });
    listener.on('error', (error) => {
      this.log.warn({ err: error }, 'event listener connection lost; reconnecting');
      if (!this.stopped) setTimeout(() => this.connectListener().catch(() => undefined), 500);
    });
    await listener.connect();
    await listener.query(`LISTEN ${CHANNEL}`);
    this.listener = listener;
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

  publish(event: JobBusEvent): Promise<void> {
    const payload = JSON.stringify(event);
    const next = this.publishing.then(() => this.publisher?.query('SELECT pg_notify($1, $2)', [CHANNEL, payload]));
    this.publishing = next.catch((error) => this.log.warn({ err: error, kind: event.kind }, 'could not publish job event'));
    return this.publishing.then(() => undefined);
  }

  async stop(): Promise<void> {
    this.stopped = true;
    await this.publishing;
    await Promise.allSettled([this.listener?.end(), this.publisher?.end()]);
  }
}
