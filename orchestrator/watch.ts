import { EventEmitter, on } from 'node:events';
import { JobStatus, type Job, type JobEvent } from '../gen/bakery/erasure/v1/deletion_orchestrator';
import type { JobBusEvent, JobEvents } from './events';
import { toProgressMessage, toStepMessage } from './mapper';

const FINAL = new Set([JobStatus.JOB_STATUS_COMPLETED, JobStatus.JOB_STATUS_FAILED, JobStatus.JOB_STATUS_CANCELLED, JobStatus.JOB_STATUS_REJECTED]);
/** A job a legal hold stops may wait for months: its stream ends with the snapshot that shows it ON_HOLD (orchestrator/holds.ts). */
const PAUSED = new Set([JobStatus.JOB_STATUS_ON_HOLD]);

export interface WatchOptions {
  /** Reads the job's current state (a snapshot). */
  load(jobId: string): Promise<Job>;
  /** Stop after the first snapshot. */
  detach?: boolean;
  /**
   * How often the job is re-read even without events, so a watcher still sees the end of a job whose
   * events it missed (e.g. while the event connection was being re-established).
   */
  recheckMs?: number;
}

/**
 * A job's stream as an async iterable: the snapshot first, then step changes and progress, and last
 * the final state. It subscribes before it reads the snapshot, so no change falls between them;
 * events arriving while the consumer is busy wait in order. Ends when the job ends or `signal` aborts.
 */
export async function* watchJob(events: JobEvents, jobId: string, signal: AbortSignal, options: WatchOptions): AsyncGenerator<JobEvent> {
  const inbox = new EventEmitter();
  const stop = new AbortController();
  const onAbort = () => stop.abort();
  signal.addEventListener('abort', onAbort, { once: true });
  const incoming = on(inbox, 'event', { signal: stop.signal });
  const unsubscribe = events.subscribe(jobId, (event) => inbox.emit('event', event));
  const recheck = setInterval(() => inbox.emit('event', { kind: 'job', jobId } satisfies JobBusEvent), options.recheckMs ?? 5000);
  try {
    const snapshot = await options.load(jobId);
    yield { snapshot };
    if (options.detach || PAUSED.has(snapshot.status)) return;
    if (FINAL.has(snapshot.status)) {
      yield { finished: snapshot };
      return;
    }
    for await (const [event] of incoming as AsyncIterable<[JobBusEvent]>) {
      switch (event.kind) {
        case 'progress':
          yield { progress: toProgressMessage(event) };
          break;
        case 'step':
          // Built from the event itself: a busy job does not cost its watchers a query per change.
          yield { stepUpdate: { jobId, step: toStepMessage(event.step), jobStatus: JobStatus.JOB_STATUS_RUNNING } };
          break;
        case 'job': {
          const job = await options.load(jobId);
          if (FINAL.has(job.status)) {
            yield { finished: job };
            return;
          }
          yield { snapshot: job };
          if (PAUSED.has(job.status)) return;
          break;
        }
        case 'finished':
          yield { finished: await options.load(jobId) };
          return;
      }
    }
  } catch (error) {
    if (!stop.signal.aborted) throw error;
  } finally {
    clearInterval(recheck);
    unsubscribe();
    stop.abort();
    signal.removeEventListener('abort', onAbort);
  }
}
