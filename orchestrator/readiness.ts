import type { HealthImplementation } from '../services/kit/health';
import type { Logger } from 'pino';

/**
 * Whether this replica can run jobs, from the conditions that must all hold (its lock connection, its
 * event listener, its queue): gRPC health is SERVING only while every one does, and NOT_SERVING says
 * why in the log (and in `reasons`). A replica that is not ready keeps answering reads it can; a load
 * balancer or operator sees it cannot take work.
 */
export class Readiness {
  private readonly down = new Map<string, string>();
  private started = false;
  /** Called when the replica becomes ready again (waiting jobs are picked up then). */
  onReady: () => void = () => undefined;

  constructor(
    private readonly health: Pick<HealthImplementation, 'setStatus'>,
    private readonly serviceNames: readonly string[],
    private readonly log: Logger,
  ) {
    this.publish();
  }

  /** Marks one condition up (`reason` empty) or down (with why). */
  set(condition: string, reason: string): void {
    const was = this.ready;
    const before = this.down.get(condition);
    if (reason) this.down.set(condition, reason);
    else this.down.delete(condition);
    if (reason && before === undefined) this.log.warn({ condition, reason }, 'replica cannot run jobs: NOT_SERVING');
    this.publish();
    if (!was && this.ready && this.started) {
      this.log.info('replica ready again: SERVING');
      this.onReady();
    }
  }

  get ready(): boolean {
    return this.started && this.down.size === 0;
  }

  /** What keeps the replica from serving, by condition. */
  get reasons(): Record<string, string> {
    return Object.fromEntries(this.down);
  }

  /** Start-up is over: health follows the conditions from now on. */
  start(): void {
    this.started = true;
    this.publish();
  }

  /** Shutting down: NOT_SERVING for good. */
  stop(): void {
    this.started = false;
    this.publish();
  }

  private publish(): void {
    const status = this.ready ? 'SERVING' : 'NOT_SERVING';
    for (const name of this.serviceNames) this.health.setStatus(name, status);
  }
}
