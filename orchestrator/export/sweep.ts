/**
 * The expiry sweep of export archives: every replica looks now and then for archives past their
 * expiry (EXPORT_RETENTION_SECONDS after sealing) and deletes their content; the archive row stays,
 * with `deleted_at`, as the record that the copy is gone. Replicas racing for one archive delete it
 * once (the store's conditional update).
 */
import type { Logger } from 'pino';
import { limit } from '../../services/kit/limits';
import type { ArchiveStore } from './archive-store';

/** Archives deleted per pass at most (each in its own transaction). */
const SWEEP_BATCH = 100;

/**
 * An event of the erasure audit trail. Today it is a structured log line; the audit chain
 * (hash-chained, signed) records it once it exists — this is the one call site to hook it into.
 */
export async function recordAuditEvent(type: 'export.deleted', details: Record<string, unknown>, log: Logger): Promise<void> {
  log.info({ audit_event: type, ...details }, 'audit event');
}

export class ExportSweep {
  private timer?: NodeJS.Timeout;
  private running?: Promise<number>;

  constructor(
    private readonly archives: ArchiveStore,
    private readonly log: Logger,
    private readonly intervalMs = limit('exportSweepInterval'),
  ) {}

  start(): void {
    this.timer = setInterval(() => void this.pass(), this.intervalMs);
    this.timer.unref();
  }

  /** One pass; returns how many archives this pass deleted. */
  pass(): Promise<number> {
    this.running ??= (async () => {
      let deleted = 0;
      try {
        for (const jobId of await this.archives.expired(SWEEP_BATCH)) {
          const archive = await this.archives.get(jobId);
          if (!(await this.archives.delete(jobId))) continue;
          deleted += 1;
          await recordAuditEvent('export.deleted', { job_id: jobId, manifest_sha256: archive?.manifestSha256, expired_at: archive?.expiresAt }, this.log);
        }
      } catch (error) {
        this.log.warn({ err: error }, 'export sweep failed; the next pass tries again');
      }
      return deleted;
    })().finally(() => (this.running = undefined));
    return this.running;
  }

  async stop(): Promise<void> {
    clearInterval(this.timer);
    await this.running;
  }
}
