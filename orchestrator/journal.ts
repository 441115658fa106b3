import { count, instruments, observeMs } from '../services/kit/metrics';
import type { JobBusEvent, JobEvents } from './events';
import type { HeldPartRecord, JobRow, JobStatusName, JobStep, JobStore, StepChanges } from './store';

/** The most step writes one group commit takes. */
const MAX_BATCH = 200;

/** The final states of a job. */
export type FinalStatus = Extract<JobStatusName, 'COMPLETED' | 'FAILED' | 'CANCELLED'>;

/**
 * The one way a run changes what others see of a job: each change is written to the job store and
 * then announced on the event bus, so a watcher on any replica learns of it. Announcements are not
 * awaited by the run: they go out in order over one connection, and a watcher that misses one still
 * reads the final state from the store.
 */
export class JobJournal {
  /** The last write of each step (`jobId/name`), so the next one waits for it. */
  private readonly writes = new Map<string, Promise<void>>();
  /** Step writes waiting for the next group commit, and whether one is under way. */
  private pending: { jobId: string; name: string; changes: StepChanges; resolve(): void; reject(error: unknown): void }[] = [];
  private committing = false;

  constructor(
    private readonly store: JobStore,
    private readonly events: JobEvents,
  ) {}

  /** Applies `changes` to the step in memory, records them (with the step's row count), and announces the new state. */
  async recordStep(step: JobStep, changes: StepChanges): Promise<void> {
    stepMetrics(step, changes);
    Object.assign(step, changes);
    await this.write(step, { ...changes, rowsDeleted: step.rowsDeleted });
    void this.announce({ kind: 'step', jobId: step.jobId, step: { ...step } });
  }

  /**
   * The steps of a phase start together: one write marks them all RUNNING (their first attempt), and
   * watchers get each step's new state.
   */
  async startSteps(steps: JobStep[]): Promise<void> {
    if (!steps.length) return;
    const at = new Date();
    for (const step of steps) {
      Object.assign(step, { status: 'RUNNING', attempts: step.attempts + 1, startedAt: step.startedAt ?? at, nextAttemptAt: null } satisfies StepChanges);
    }
    await this.store.startSteps(steps[0]!.jobId, steps.map((step) => step.name), at);
    for (const step of steps) void this.announce({ kind: 'step', jobId: step.jobId, step: { ...step } });
  }

  /** Records a step's counts (what it found and what it removed) without announcing them (progress goes out as `progress` events). */
  recordCounts(step: JobStep): Promise<void> {
    return this.write(step, { rowsDeleted: step.rowsDeleted, expectedRows: step.expectedRows ?? undefined, entities: step.entities, policyFingerprint: step.policyFingerprint ?? undefined });
  }

  /**
   * Writes of one step are applied in the order they were made. Progress is recorded without
   * waiting; on separate pool connections a late progress write could otherwise land after the
   * step's final count and overwrite it with a smaller one.
   */
  private write(step: JobStep, changes: StepChanges): Promise<void> {
    const key = `${step.jobId}/${step.name}`;
    const previous = this.writes.get(key) ?? Promise.resolve();
    const next = previous.catch(() => undefined).then(() => this.commit(step.jobId, step.name, changes));
    this.writes.set(key, next);
    next.then(
      () => this.writes.get(key) === next && this.writes.delete(key),
      () => this.writes.get(key) === next && this.writes.delete(key),
    );
    return next;
  }

  /**
   * Group commit: a write joins the batch that is waiting while another batch is being written, and
   * the whole batch is one transaction (store.updateSteps). Steps that end together — the services of
   * a phase, the steps of concurrent jobs — cost one commit and one turn at the audit chain's head
   * instead of one each. A write resolves once its batch has committed.
   */
  private commit(jobId: string, name: string, changes: StepChanges): Promise<void> {
    return new Promise((resolve, reject) => {
      this.pending.push({ jobId, name, changes, resolve, reject });
      this.flush();
    });
  }

  private flush(): void {
    if (this.committing || !this.pending.length) return;
    // Bounded, so one transaction stays short however many jobs run.
    const batch = this.pending.splice(0, MAX_BATCH);
    this.committing = true;
    this.store.updateSteps(batch).then(
      () => batch.forEach((write) => write.resolve()),
      (error) => batch.forEach((write) => write.reject(error)),
    ).finally(() => {
      this.committing = false;
      this.flush();
    });
  }

  /** Announces progress within a step; nothing is recorded. */
  progress(step: JobStep, entity: string, jobRowsDone: number): void {
    void this.announce({
      kind: 'progress',
      jobId: step.jobId,
      service: step.name,
      entity,
      entityRowsDone: step.entities[entity]?.rows ?? 0,
      stepRowsDone: step.rowsDeleted,
      stepExpectedRows: step.expectedRows ?? 0,
      jobRowsDone,
    });
  }

  /** A PENDING job starts RUNNING. */
  async start(job: JobRow): Promise<void> {
    job.started_at ??= new Date();
    job.status = 'RUNNING';
    await this.store.updateJob(job.id, { status: 'RUNNING', started_at: job.started_at, last_progress_at: new Date(), stalled_since: null });
    void this.announce({ kind: 'job', jobId: job.id });
  }

  /** A legal hold stops the job (ON_HOLD, naming the holds and what they keep); watchers get its state. */
  async onHold(job: JobRow, holdIds: string[], held: HeldPartRecord[]): Promise<void> {
    if (!(await this.store.putOnHold(job.id, holdIds, held))) return;
    job.status = 'ON_HOLD';
    await this.announce({ kind: 'job', jobId: job.id });
  }

  /** The job ends; watchers get its final state. */
  async finish(job: JobRow, status: FinalStatus, error: string): Promise<void> {
    job.status = status;
    job.error = error;
    job.finished_at = new Date();
    // A completed erasure leaves its tombstone (and an erased user's records keyed hashes) in the same transaction.
    if (status === 'COMPLETED') await this.store.complete(job, job.finished_at);
    else await this.store.updateJob(job.id, { status, error, finished_at: job.finished_at });
    await this.announce({ kind: 'finished', jobId: job.id });
    count(instruments.jobsFinished, 1, { status });
    observeMs(instruments.jobDuration, job.finished_at.getTime() - job.created_at.getTime(), { status });
  }

  private announce(event: JobBusEvent): Promise<void> {
    return this.events.publish(event);
  }
}

/**
 * A step's retries, and its duration when it ends (first attempt to end; once: verification that
 * marks a succeeded step FAILED again is counted as a verification failure, not as a second end).
 */
function stepMetrics(step: JobStep, changes: StepChanges): void {
  if (changes.status === 'RETRYING') count(instruments.stepRetries, 1, { service: step.name });
  const ends = changes.status === 'SUCCEEDED' || changes.status === 'FAILED' || changes.status === 'CANCELLED';
  if (ends && step.status !== 'SUCCEEDED' && step.startedAt && changes.finishedAt) {
    observeMs(instruments.stepDuration, changes.finishedAt.getTime() - step.startedAt.getTime(), { service: step.name, status: changes.status! });
  }
}
