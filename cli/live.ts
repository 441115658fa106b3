/**
 * Live progress of a job on the terminal: the bars of cli/render.ts redrawn in place (at most ten times
 * a second). When the output is not a terminal, one line per step change instead, so logs stay readable.
 */
import type { Job, JobEvent } from '../gen/bakery/erasure/v1/deletion_orchestrator';
import { applyJobEvent, progressHeader, progressLines, stepChangeLine, stepStatusName, subjectLabel } from './render';

export class LiveProgress {
  private job: Job | undefined;
  private drawnLines = 0;
  private timer: NodeJS.Timeout | undefined;
  private lastDraw = 0;
  private readonly seen = new Map<string, string>();

  constructor(
    private readonly out: NodeJS.WritableStream & { isTTY?: boolean; columns?: number },
    private readonly interactive = Boolean(out.isTTY),
  ) {}

  get current(): Job | undefined {
    return this.job;
  }

  onEvent = (event: JobEvent): void => {
    const first = !this.job;
    this.job = applyJobEvent(this.job, event);
    if (!this.job) return;
    if (first) this.out.write(`job ${this.job.id} for ${subjectLabel(this.job)} (${this.job.steps.length} steps)\n`);
    if (this.interactive) this.schedule();
    else this.printChanges();
  };

  private printChanges(): void {
    for (const step of this.job!.steps) {
      const status = stepStatusName(step.status);
      if (this.seen.get(step.service) === status) continue;
      const before = this.seen.get(step.service);
      this.seen.set(step.service, status);
      // Every step starts PENDING; printing that for each one is noise.
      if (before === undefined && status === 'PENDING') continue;
      this.out.write(`  ${stepChangeLine(step)}\n`);
    }
  }

  private schedule(): void {
    const wait = 100 - (Date.now() - this.lastDraw);
    if (wait <= 0) {
      this.draw();
      return;
    }
    this.timer ??= setTimeout(() => {
      this.timer = undefined;
      this.draw();
    }, wait);
  }

  private draw(): void {
    if (!this.job) return;
    this.lastDraw = Date.now();
    const columns = this.out.columns ?? 120;
    const barWidth = Math.max(10, Math.min(30, columns - 80));
    const lines = [progressHeader(this.job), ...progressLines(this.job, { barWidth }).map((line) => `  ${line}`)].map((line) =>
      line.length > columns - 1 ? `${line.slice(0, columns - 2)}…` : line,
    );
    // Up to the first line drawn last time, then each line cleared and rewritten.
    let text = this.drawnLines > 0 ? `\x1b[${this.drawnLines}A` : '';
    for (const line of lines) text += `\x1b[2K${line}\n`;
    this.out.write(text);
    this.drawnLines = lines.length;
  }

  /** Draws the final state (bars at their end) and stops redrawing. */
  finish(job?: Job): void {
    if (job) this.job = job;
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
    if (!this.job) return;
    if (this.interactive) this.draw();
    else this.printChanges();
    this.out.write('\n');
  }
}
