import { RetryLaterError } from './throttle';

/**
 * At most `concurrency` password hashes at once in this process (each holds 16 MiB and most of a core
 * for about 0.2 s), at most `queue` more waiting; beyond that the caller is told to come back
 * (RESOURCE_EXHAUSTED) instead of the process running out of memory or time.
 */
export class HashingGate {
  private running = 0;
  private readonly waiting: Array<() => void> = [];

  constructor(
    readonly concurrency: number,
    readonly queue: number,
  ) {}

  async run<T>(work: () => Promise<T>): Promise<T> {
    if (this.running >= this.concurrency) {
      if (this.waiting.length >= this.queue) throw new RetryLaterError('the auth service is busy hashing passwords; retry in 1 s', 1, 'HASHING_BUSY');
      await new Promise<void>((resolve) => this.waiting.push(resolve));
    } else {
      this.running++;
    }
    try {
      return await work();
    } finally {
      const next = this.waiting.shift();
      // The slot passes straight to the next waiter, so `running` stays counted.
      if (next) next();
      else this.running--;
    }
  }
}
