/**
 * Waits `ms` milliseconds, or less when `signal` aborts first. It never rejects: the caller checks
 * `signal.aborted` afterwards. The abort listener is removed when the timer fires, so a long-lived
 * signal (a job's, a stream's) does not collect one listener per wait.
 */
export function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    if (signal?.aborted) return resolve();
    const done = () => {
      clearTimeout(timer);
      signal?.removeEventListener('abort', done);
      resolve();
    };
    const timer = setTimeout(done, Math.max(0, ms));
    signal?.addEventListener('abort', done, { once: true });
  });
}
