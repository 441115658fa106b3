/**
 * The expiry sweep of export archives: every replica looks now and then for archives past their
 * expiry (EXPORT_RETENTION_SECONDS after sealing) and deletes their content; the archive row stays,
 * with `deleted_at`, as the record that the copy is gone. Replicas racing for one archive delete it
 * once (the store's conditional update).
 */
import type { Logger } from 'pino';
import { limit } from '../../services/kit/limits';
import type { AuditSink } from '../tombstone-registry';
import type { ArchiveStore } from './archive-store';

/** Archives deleted per pass at most (each in its own transaction). */
const SWEEP_BATCH = 100;

/** An archive's deletion as an entry of the audit chain (orchestrator/audit-chain.ts), and a log line. */
async function recordAuditEvent(type: 'export.deleted', jobId: string, details: Record<string, unknown>, log: Logger, audit?: AuditSink): Promise<void> {
  await audit?.appendAuditEvent(type, details, { jobId });
  log.info({ audit_event: type, job_id: jobId, ...details }, 'audit event');
}

export class ExportSweep {
  private timer?: NodeJS.Timeout;
  private running?: Promise<number>;

  constructor(
    private readonly archives: ArchiveStore,
    private readonly log: Logger,
    private readonly intervalMs = limit('exportSweepInterval'),
    private readonly audit?: AuditSink,
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
          await recordAuditEvent('export.deleted', jobId, { manifest_sha256: archive?.manifestSha256 ?? null, expired_at: archive?.expiresAt?.toISOString() ?? null }, this.log, this.audit);
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
