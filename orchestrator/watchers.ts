import { status } from '@grpc/grpc-js';
import { RpcError } from '../services/kit/errors';
import type { CallerLimits } from './config';

/**
 * Open job streams (WatchJob, DeleteTenant, DeleteUser) counted per job and per caller on this
 * replica, so one caller cannot hold an unbounded number of streams (each costs a LISTEN
 * subscription, a timer and memory). Over a limit the new stream is refused RESOURCE_EXHAUSTED,
 * naming the limit and its value; streams already open are not affected.
 */
export class WatcherSlots {
  private readonly byJob = new Map<string, number>();
  private readonly byCaller = new Map<string, number>();

  constructor(private readonly limits: Pick<CallerLimits, 'watchersPerJob' | 'watchersPerCaller'>) {}

  /** Takes one of the caller's slots; the returned function gives it back (once). */
  caller(caller: string): () => void {
    return this.take(this.byCaller, caller, this.limits.watchersPerCaller, 'watchers per caller', 'ORCHESTRATOR_WATCHERS_PER_CALLER');
  }

  /** Takes one of the job's slots; the returned function gives it back (once). */
  job(jobId: string): () => void {
    return this.take(this.byJob, jobId, this.limits.watchersPerJob, 'watchers per job', 'ORCHESTRATOR_WATCHERS_PER_JOB');
  }

  private take(counts: Map<string, number>, key: string, max: number, what: string, env: string): () => void {
    const held = counts.get(key) ?? 0;
    if (held >= max) {
      throw new RpcError(status.RESOURCE_EXHAUSTED, `${what} limit reached (${max}, ${env}); close a stream first`, 'WATCHER_LIMIT');
    }
    counts.set(key, held + 1);
    let released = false;
    return () => {
      if (released) return;
      released = true;
      const left = (counts.get(key) ?? 1) - 1;
      if (left > 0) counts.set(key, left);
      else counts.delete(key);
    };
  }
}
