import type { Logger } from 'pino';
import type { Pool } from 'pg';
import { ConfigError } from './config';
import type { DeletionEngine } from './deletion/engine';
import { BEFORE_ALL_IDS, distinctIdsSql, type SubjectKind } from './deletion/plan';
import type { DeletionPolicy } from './deletion/policy';
import { limit } from './limits';
import { sleep } from './sleep';
import { TombstoneRegistryUnavailable, type SubjectRegistry, type SweptSubject } from './tombstone-client';

/**
 * The resurrection sweep (after DELF's dynamic checks): a service looks in its own database for rows
 * of subjects the tombstone registry says were erased — a late writer, a replayed queue, a database
 * restored from a backup taken before the erasure — erases them with its deletion engine (SQL chunks,
 * nothing loaded into Node) and reports each find to the registry, which records it. It runs at
 * start-up before the service reports SERVING, and then periodically (services/kit/run-service.ts).
 *
 * Only distinct subject ids leave the database, a batch at a time, walked with an index skip scan per
 * column (one index probe per distinct id, however many rows each id has).
 */
export interface SweepSettings {
  /** Distinct ids read and asked about at once (the registry takes at most 100). */
  batch: number;
  intervalMs: number;
  retryMs: number;
  startupWaitMs: number;
}

/** The registry's limit per call (orchestrator/tombstone-registry.ts MAX_SUBJECTS_PER_CHECK). */
const REGISTRY_BATCH_LIMIT = 100;

export function sweepSettings(env: Record<string, string | undefined> = process.env): SweepSettings {
  const batch = limit('resurrectionSweepBatch', env);
  if (batch > REGISTRY_BATCH_LIMIT) throw new ConfigError(`RESURRECTION_SWEEP_BATCH must be at most ${REGISTRY_BATCH_LIMIT} subjects, got ${batch}`);
  return {
    batch,
    intervalMs: limit('resurrectionSweepInterval', env),
    retryMs: limit('resurrectionSweepRetry', env),
    startupWaitMs: limit('resurrectionSweepStartupWait', env),
  };
}

/** The columns that hold subject ids of one kind: where a resurrected subject would show. */
export function subjectColumns(policy: DeletionPolicy, kind: SubjectKind): { table: string; column: string }[] {
  const found: { table: string; column: string }[] = [];
  for (const [table, rules] of Object.entries(policy.tables)) {
    if (kind === 'tenant') {
      const rule = rules.tenant;
      // Rows reached through a parent carry no tenant id; they go with their parent's.
      if (rule && 'delete' in rule && !('parent' in rule.delete)) found.push({ table, column: rule.delete.column });
      if (rule && 'retain' in rule) found.push({ table, column: rule.retain.column });
    } else {
      const rule = rules.user;
      if (rule && 'delete' in rule) found.push({ table, column: rule.delete.column });
      if (rule && 'anonymize' in rule) for (const column of rule.anonymize) found.push({ table, column });
    }
  }
  return found;
}

export interface SweepResult {
  /** Distinct subject ids asked about. */
  checked: number;
  /** Erased subjects whose rows were found (and erased again). */
  resurrected: number;
  /** Rows found and erased (or anonymized) again. */
  rows: number;
  /** Subjects that were erased but could not be swept (e.g. a refusal by `beforeErase`); tried again next time. */
  refused: number;
}

/**
 * How soon a start-up sweep is tried again when the registry did not answer or another replica holds
 * the sweep lock (within `startupWaitMs`); after start-up, `retryMs`.
 */
const STARTUP_RETRY_MS = 500;

/** Advisory lock key: one sweep at a time per database (replicas of a service share one). */
const SWEEP_LOCK = "hashtext('bakery.erasure.resurrection-sweep')";

export class ResurrectionSweep {
  /** Finds erased again but not yet reported (the registry was down): sent first next time. */
  private unreported: SweptSubject[] = [];

  constructor(
    private readonly engine: DeletionEngine,
    private readonly policy: DeletionPolicy,
    private readonly pool: Pool,
    private readonly registry: SubjectRegistry,
    private readonly log: Logger,
    private readonly settings: Pick<SweepSettings, 'batch'>,
    /** The service's own guard before an erasure (DomainService.beforeErase), run for each subject too. */
    private readonly beforeErase?: (subject: { kind: SubjectKind; id: string }) => Promise<void>,
  ) {}

  /**
   * One sweep over the whole database. Returns undefined when another replica holds the sweep lock
   * (its sweep covers the same database). Throws TombstoneRegistryUnavailable when the registry cannot
   * answer; whatever was erased before stays erased and is reported on the next run.
   */
  async sweep(signal: AbortSignal = new AbortController().signal): Promise<SweepResult | undefined> {
    const lock = await this.pool.connect();
    try {
      const { rows } = await lock.query<{ locked: boolean }>(`SELECT pg_try_advisory_lock(${SWEEP_LOCK}) AS locked`);
      if (!rows[0]!.locked) return undefined;
      try {
        await this.flushReports();
        const result: SweepResult = { checked: 0, resurrected: 0, rows: 0, refused: 0 };
        for (const kind of ['tenant', 'user'] as const) await this.sweepKind(kind, result, signal);
        return result;
      } finally {
        await lock.query(`SELECT pg_advisory_unlock(${SWEEP_LOCK})`);
      }
    } finally {
      lock.release();
    }
  }

  private async sweepKind(kind: SubjectKind, result: SweepResult, signal: AbortSignal): Promise<void> {
    const columns = subjectColumns(this.policy, kind);
    if (!columns.length) return;
    const sql = distinctIdsSql(columns);
    for (let cursor = BEFORE_ALL_IDS; ; ) {
      if (signal.aborted) return;
      const { rows } = await this.pool.query<{ id: string }>(sql, [cursor, this.settings.batch]);
      if (!rows.length) return;
      const ids = rows.map((row) => row.id);
      const erased = await this.registry.erasedAmong(ids.map((id) => ({ kind, id })));
      result.checked += ids.length;
      for (const [i, id] of ids.entries()) {
        if (!erased[i]) continue;
        const found = await this.eraseAgain(kind, id, signal);
        if (found === 'refused') result.refused += 1;
        else if (found) {
          result.resurrected += 1;
          result.rows += found.rows;
          this.unreported.push(found);
        }
      }
      await this.flushReports();
      cursor = ids.at(-1)!;
    }
  }

  /** Erases an erased subject's rows again; what was found, undefined when nothing was, or 'refused'. */
  private async eraseAgain(kind: SubjectKind, id: string, signal: AbortSignal): Promise<SweptSubject | undefined | 'refused'> {
    try {
      await this.beforeErase?.({ kind, id });
    } catch (error) {
      // No id in the log line: the subject is erased. The next sweep tries again.
      this.log.error({ subject_kind: kind, error: (error as Error).message }, 'resurrection sweep: the service refused to erase an erased subject');
      return 'refused';
    }
    const { outcomes } = await this.engine.erase(kind, id, async () => undefined, signal);
    const entities = outcomes.filter((o) => o.rows > 0).map((o) => ({ entity: o.entity, action: o.action, rows: o.rows }));
    const rows = entities.reduce((sum, e) => sum + e.rows, 0);
    return rows ? { kind, id, rows, entities } : undefined;
  }

  private async flushReports(): Promise<void> {
    while (this.unreported.length) {
      const batch = this.unreported.slice(0, REGISTRY_BATCH_LIMIT);
      await this.registry.reportResurrections(batch);
      this.unreported.splice(0, batch.length);
    }
  }
}

/**
 * Runs the sweep at start-up and then every `intervalMs`. `start` resolves when the first sweep has
 * finished — or, when it cannot (the registry is unreachable), after `startupWaitMs`; the service then
 * reports SERVING with a warning and the sweep retries every `retryMs`. Not hanging forever is the
 * choice: a service that cannot reach the registry refuses users' calls anyway (fail closed, see
 * tombstone-client.ts), so the window in which restored rows are visible is bounded by the registry's
 * outage; a service that never served would instead stop the whole mesh on one orchestrator outage.
 */
export class SweepSchedule {
  private timer?: NodeJS.Timeout;
  private readonly stopped = new AbortController();
  private running?: Promise<void>;
  /** The registry was unreachable at the last try: said once, not at every retry. */
  private registryDown = false;
  /** The last result (tests and logs). */
  last?: SweepResult;

  constructor(
    private readonly sweep: ResurrectionSweep,
    private readonly settings: SweepSettings,
    private readonly log: Logger,
  ) {}

  /** Resolves with whether the first sweep finished within the start-up wait. */
  async start(): Promise<boolean> {
    const deadline = Date.now() + this.settings.startupWaitMs;
    for (;;) {
      const outcome = await this.runOnce();
      if (outcome === 'done') {
        this.schedule(this.settings.intervalMs);
        return true;
      }
      // The registry not up yet is the usual case on a mesh start (the orchestrator starts beside the
      // services): asked again soon, not after `retryMs`, else a service with data would report
      // SERVING seconds after the orchestrator could answer.
      const wait = Math.min(outcome === 'failed' ? this.settings.retryMs : STARTUP_RETRY_MS, deadline - Date.now());
      if (wait <= 0 || this.stopped.signal.aborted) break;
      await sleep(wait, this.stopped.signal).catch(() => undefined);
    }
    if (this.stopped.signal.aborted) return false;
    this.log.warn(
      { startup_wait_ms: this.settings.startupWaitMs },
      'resurrection sweep could not finish at start-up; serving anyway and retrying (rows of erased subjects may be visible until it does)',
    );
    this.schedule(this.settings.retryMs);
    return false;
  }

  /**
   * One sweep now, outside the schedule (tests, an operator's on-demand run). Undefined when another
   * replica is sweeping; a registry outage throws.
   */
  async runNow(): Promise<SweepResult | undefined> {
    const result = await this.sweep.sweep(this.stopped.signal);
    if (result) this.last = result;
    return result;
  }

  /** Starts the periodic sweeps without a start-up sweep; the first one runs after `retryMs`. */
  startLater(): void {
    this.schedule(this.settings.retryMs);
  }

  async stop(): Promise<void> {
    this.stopped.abort();
    if (this.timer) clearTimeout(this.timer);
    await this.running;
  }

  private schedule(ms: number): void {
    if (this.stopped.signal.aborted) return;
    this.timer = setTimeout(() => {
      void this.runOnce().then((outcome) => this.schedule(outcome === 'failed' || outcome === 'unreachable' ? this.settings.retryMs : this.settings.intervalMs));
    }, ms);
    this.timer.unref();
  }

  /** 'done', 'busy' (another replica sweeps now), 'unreachable' (the registry; logged once in a row) or 'failed' (logged). */
  private async runOnce(): Promise<'done' | 'busy' | 'unreachable' | 'failed'> {
    let outcome: 'done' | 'busy' | 'unreachable' | 'failed' = 'failed';
    this.running = (async () => {
      const started = performance.now();
      try {
        const result = await this.sweep.sweep(this.stopped.signal);
        if (!result) {
          outcome = 'busy';
          return;
        }
        this.last = result;
        outcome = 'done';
        this.registryDown = false;
        const fields = { ...result, ms: Math.round(performance.now() - started) };
        if (result.resurrected) this.log.warn(fields, 'resurrection sweep found rows of erased subjects and erased them again');
        else this.log.info(fields, 'resurrection sweep found nothing');
      } catch (error) {
        if (error instanceof TombstoneRegistryUnavailable) {
          if (!this.registryDown) this.log.warn({ error: error.message }, 'resurrection sweep waits for the tombstone registry');
          this.registryDown = true;
          outcome = 'unreachable';
        } else this.log.error({ err: error }, 'resurrection sweep failed');
      }
    })();
    await this.running;
    return outcome;
  }
}
