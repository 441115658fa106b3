/**
 * The hint a process of the mesh sends its launcher over the IPC channel (mesh/processes.ts starts every
 * child with one) once its health says SERVING, so the launcher checks its health at that moment instead
 * of polling every process's health on a short interval. A hint only: the launcher counts a process as
 * up when its health check says so (mesh/mesh.ts), and still checks now and then without one, e.g. for
 * an orchestrator whose readiness turns SERVING later than its start-up (orchestrator/readiness.ts).
 * No imports: the launcher and every child load it.
 */
export const SERVING_MESSAGE = 'bakery.mesh.serving';

/** Tells the launcher, if one started this process, that it now serves. */
export function announceServing(): void {
  if (!process.send || !process.connected) return;
  // A launcher that is going away closes the channel; the send then fails, which must not crash the process.
  process.send(SERVING_MESSAGE, (error: Error | null) => void error);
}

export function isServingMessage(message: unknown): boolean {
  return message === SERVING_MESSAGE;
}
