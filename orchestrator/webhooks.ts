/**
 * Notifications by signed webhook (issue 14, item 5). When a job reaches a status that the privacy
 * team must hear of (NOTIFIED_STATUSES), the job store writes one outbox row per configured URL in the
 * transaction that changes the status (orchestrator/store.ts): the notification exists exactly when
 * the status change does, whatever crashes afterwards. A delivery worker on every replica claims due
 * rows (FOR UPDATE SKIP LOCKED, so one replica sends a given row at a time), POSTs them with a
 * timeout, and retries with exponential backoff and jitter until a 2xx answers: delivery is at least
 * once, and the stable event id (header and body) lets the receiver drop a repeat.
 *
 * The body is fixed when the row is written (so every attempt sends the same bytes) and holds no
 * personal data: the job's id, kind, subject kind (tenant, user), status, receipt and due dates, and
 * the certificate's SHA-256 — never a subject id, e-mail or the job's error text (which can name one).
 */
import { createHmac, randomUUID } from 'node:crypto';
import type { Pool, PoolClient } from 'pg';
import type { Logger } from 'pino';
import { canonicalJson } from '../services/kit/canonical-json';
import { ConfigError, envInt } from '../services/kit/config';
import { count, instruments } from '../services/kit/metrics';
import { sleep } from '../services/kit/sleep';
import { certificateSha256 } from './certificates';
import { retryDelay } from './retry';

/**
 * The statuses that send a notification: the job is done (completed, failed, or rejected by the second
 * person) or a legal hold stops it. A status added here is notified wherever the store records it: the
 * store tells the outbox of every status change, the outbox keeps these.
 */
export const NOTIFIED_STATUSES: readonly string[] = ['COMPLETED', 'FAILED', 'REJECTED', 'ON_HOLD'];

/** The header with the event's id: the same on every attempt and every URL (de-duplication key). */
export const EVENT_ID_HEADER = 'x-erasure-event-id';
/** The header with the signature: `t=<unix seconds>,v1=<hex HMAC-SHA256 of "<t>.<body>">`. */
export const SIGNATURE_HEADER = 'x-erasure-signature';

export interface WebhookSettings {
  /** Where every notification goes (`ORCHESTRATOR_WEBHOOK_URLS`, comma-separated http(s) URLs); empty: off. */
  urls: string[];
  /** The HMAC key the receivers share (`ORCHESTRATOR_WEBHOOK_SECRET`, at least 32 characters). */
  secret: string;
  /** How long one POST may take before it counts as failed. */
  timeoutMs: number;
  /** The first retry waits about this long; each next one twice as long (with jitter)… */
  backoffBaseMs: number;
  /** …up to this; retries never stop (the backlog alert shows a receiver that stays away). */
  backoffMaxMs: number;
  /** How often the worker looks for due rows. */
  pollMs: number;
}

const MIN_SECRET_LENGTH = 32;

/** The webhook settings from the environment; ConfigError names the variable that is wrong. */
export function webhookSettings(env: Record<string, string | undefined>): WebhookSettings {
  const urls = (env.ORCHESTRATOR_WEBHOOK_URLS ?? '')
    .split(',')
    .map((url) => url.trim())
    .filter(Boolean);
  urls.forEach((url, i) => {
    let parsed: URL | undefined;
    try {
      parsed = new URL(url);
    } catch {
      parsed = undefined;
    }
    // The URL itself is not repeated: its path or query may carry the receiver's token.
    if (!parsed || (parsed.protocol !== 'http:' && parsed.protocol !== 'https:')) {
      throw new ConfigError(`ORCHESTRATOR_WEBHOOK_URLS: entry ${i + 1} is not an http(s) URL`);
    }
  });
  const secret = env.ORCHESTRATOR_WEBHOOK_SECRET ?? '';
  if (urls.length && secret.length < MIN_SECRET_LENGTH) {
    throw new ConfigError(`ORCHESTRATOR_WEBHOOK_SECRET must be set (at least ${MIN_SECRET_LENGTH} characters) when ORCHESTRATOR_WEBHOOK_URLS is`);
  }
  return {
    urls,
    secret,
    timeoutMs: envInt(env, 'ORCHESTRATOR_WEBHOOK_TIMEOUT_MS', 10_000, 100, 120_000),
    backoffBaseMs: envInt(env, 'ORCHESTRATOR_WEBHOOK_BACKOFF_BASE_MS', 5_000, 10),
    backoffMaxMs: envInt(env, 'ORCHESTRATOR_WEBHOOK_BACKOFF_MAX_MS', 15 * 60_000, 10),
    pollMs: envInt(env, 'ORCHESTRATOR_WEBHOOK_POLL_MS', 1_000, 10, 60_000),
  };
}

/** What a notification says (its JSON body, canonical). */
export interface WebhookPayload {
  type: 'erasure.job.status';
  version: 1;
  event_id: string;
  occurred_at: string;
  job_id: string;
  job_kind: string;
  subject_kind: string;
  status: string;
  received_at: string;
  due_at: string;
  /** A completed erasure's deletion certificate: the SHA-256 of its JWS (GetCertificate returns it). */
  certificate: { sha256: string; kid: string; issued_at: string } | null;
}

/** `t=<unix seconds>,v1=<hex HMAC-SHA256(secret, "<t>.<body>")>`, as Stripe signs its webhooks. */
export function webhookSignature(secret: string, unixSeconds: number, body: string): string {
  return `t=${unixSeconds},v1=${createHmac('sha256', secret).update(`${unixSeconds}.${body}`).digest('hex')}`;
}

/** The outbox: rows written with a status change, claimed and sent by the delivery worker. */
export class WebhookOutbox {
  private stopped = true;
  private loop?: Promise<void>;
  private readonly wake = { resolve: undefined as (() => void) | undefined };
  /** Aborts the POSTs in flight when the orchestrator stops (their rows are tried again after the timeout). */
  private readonly stopping = new AbortController();

  constructor(
    private readonly pool: Pool,
    private readonly settings: WebhookSettings,
    private readonly log: Logger,
  ) {}

  /**
   * Called by the job store with every status change, inside its transaction: writes one row per URL
   * for a notified status (one event id for all of them), nothing otherwise or when no URL is set.
   */
  async statusChanged(client: PoolClient, jobId: string, status: string): Promise<void> {
    if (!this.settings.urls.length || !NOTIFIED_STATUSES.includes(status)) return;
    const { rows } = await client.query<{ job_kind: string; subject_kind: string; received_at: Date; due_at: Date; jws: string | null; kid: string | null; issued_at: Date | null }>(
      `SELECT j.job_kind, j.subject_kind, j.received_at, j.due_at, c.jws, c.kid, c.issued_at
         FROM erasure_jobs j LEFT JOIN erasure_certificates c ON c.job_id = j.id WHERE j.id = $1`,
      [jobId],
    );
    const job = rows[0];
    if (!job) return;
    const eventId = randomUUID();
    const payload: WebhookPayload = {
      type: 'erasure.job.status',
      version: 1,
      event_id: eventId,
      occurred_at: new Date().toISOString(),
      job_id: jobId,
      job_kind: job.job_kind,
      subject_kind: job.subject_kind,
      status,
      received_at: job.received_at.toISOString(),
      due_at: job.due_at.toISOString(),
      certificate: job.jws ? { sha256: certificateSha256(job.jws), kid: job.kid!, issued_at: job.issued_at!.toISOString() } : null,
    };
    await client.query(
      `INSERT INTO webhook_outbox (event_id, url, job_id, status, body) SELECT $1, u, $2, $3, $4 FROM unnest($5::text[]) AS u`,
      [eventId, jobId, status, canonicalJson(payload), this.settings.urls],
    );
    this.poke();
  }

  /** Starts the delivery worker (no-op without URLs: rows written before a URL was removed wait for it to return). */
  start(): void {
    if (!this.settings.urls.length || !this.stopped) return;
    this.stopped = false;
    this.loop = (async () => {
      while (!this.stopped) {
        let sent = 0;
        try {
          sent = await this.pass();
        } catch (error) {
          this.log.warn({ err: error }, 'webhook delivery pass failed; trying again');
        }
        if (!sent && !this.stopped) await new Promise<void>((resolve) => {
          this.wake.resolve = resolve;
          void sleep(this.settings.pollMs).then(resolve);
        });
      }
    })();
  }

  /** A row was written: look at once rather than at the next poll (rows of other replicas wait for it). */
  private poke(): void {
    setTimeout(() => this.wake.resolve?.(), 50).unref();
  }

  /**
   * One round: claims up to `batch` due rows and sends them at once. The claim moves the row's next
   * attempt past the timeout and counts the attempt, so a replica that dies mid-POST leaves the row to
   * be retried by any replica once that time passed; the outcome is recorded after the POST. Returns
   * how many rows were sent.
   */
  async pass(batch = 16): Promise<number> {
    const leaseMs = this.settings.timeoutMs + 5_000;
    const { rows } = await this.pool.query<{ id: string; event_id: string; url: string; body: string; attempts: number }>(
      `UPDATE webhook_outbox o SET attempts = o.attempts + 1, last_attempt_at = now(), next_attempt_at = now() + $2 * interval '1 millisecond'
        WHERE o.id IN (SELECT id FROM webhook_outbox WHERE delivered_at IS NULL AND next_attempt_at <= now()
                        ORDER BY next_attempt_at, id LIMIT $1 FOR UPDATE SKIP LOCKED)
        RETURNING o.id, o.event_id, o.url, o.body, o.attempts`,
      [batch, leaseMs],
    );
    await Promise.all(rows.map((row) => this.send(row)));
    return rows.length;
  }

  private async send(row: { id: string; event_id: string; url: string; body: string; attempts: number }): Promise<void> {
    const outcome = await this.post(row);
    count(instruments.webhookDeliveries, 1, { outcome: outcome.kind });
    if (outcome.kind === 'delivered') {
      await this.pool.query(`UPDATE webhook_outbox SET delivered_at = now(), last_status = $2, last_error = '' WHERE id = $1`, [row.id, outcome.status]);
      return;
    }
    const delayMs = retryDelay({ initialIntervalMs: this.settings.backoffBaseMs, backoffCoefficient: 2, maximumIntervalMs: this.settings.backoffMaxMs }, row.attempts);
    await this.pool.query(
      `UPDATE webhook_outbox SET next_attempt_at = now() + $2 * interval '1 millisecond', last_status = $3, last_error = $4 WHERE id = $1 AND delivered_at IS NULL`,
      [row.id, delayMs, outcome.status ?? null, outcome.error],
    );
    // The receiver's host only: a URL's path or query may hold its token.
    this.log.warn({ event_id: row.event_id, host: new URL(row.url).host, attempt: row.attempts, outcome: outcome.kind, retry_in_ms: delayMs }, 'webhook not delivered; retrying');
  }

  private async post(row: { event_id: string; url: string; body: string; attempts: number }): Promise<DeliveryOutcome> {
    const signature = webhookSignature(this.settings.secret, Math.floor(Date.now() / 1000), row.body);
    // The timeout is a controller of our own, held by its timer until cleared, not AbortSignal.timeout():
    // inside AbortSignal.any() Node 20 holds a timeout signal only weakly, and after a garbage collection
    // it never fires — a receiver that does not answer then held the delivery worker for good (test/webhooks.test.ts).
    const timeout = new AbortController();
    const timer = setTimeout(() => timeout.abort(new DOMException(`no answer within ${this.settings.timeoutMs} ms`, 'TimeoutError')), this.settings.timeoutMs);
    try {
      const response = await fetch(row.url, {
        method: 'POST',
        headers: {
          'content-type': 'application/json',
          'user-agent': 'bakery-erasure-orchestrator',
          [EVENT_ID_HEADER]: row.event_id,
          [SIGNATURE_HEADER]: signature,
          'x-erasure-delivery-attempt': String(row.attempts),
        },
        body: row.body,
        // A redirect is not an acknowledgement (and following one would send the body elsewhere).
        redirect: 'manual',
        signal: AbortSignal.any([timeout.signal, this.stopping.signal]),
      });
      await response.body?.cancel().catch(() => undefined);
      if (response.status >= 200 && response.status < 300) return { kind: 'delivered', status: response.status };
      return { kind: 'http_error', status: response.status, error: `HTTP ${response.status}` };
    } catch (error) {
      const name = (error as Error).name;
      if (name === 'TimeoutError' || name === 'AbortError') return { kind: 'timeout', error: `no answer within ${this.settings.timeoutMs} ms` };
      const cause = (error as { cause?: { code?: string } }).cause?.code;
      return { kind: 'network_error', error: `request failed${cause ? ` (${cause})` : ''}` };
    } finally {
      clearTimeout(timer);
    }
  }

  /** Undelivered rows and the oldest one's age (the backlog gauges, services/kit/metrics.ts). */
  async backlog(): Promise<{ undelivered: number; oldestAgeSeconds: number }> {
    const { rows } = await this.pool.query<{ n: number; oldest: number | null }>(
      `SELECT count(*)::int AS n, EXTRACT(EPOCH FROM now() - min(created_at))::float8 AS oldest FROM webhook_outbox WHERE delivered_at IS NULL`,
    );
    return { undelivered: rows[0]!.n, oldestAgeSeconds: rows[0]!.oldest ?? 0 };
  }

  async stop(): Promise<void> {
    this.stopped = true;
    this.stopping.abort();
    this.wake.resolve?.();
    await this.loop;
  }
}

/** One outbox row as an operator sees it (`erasure notifications`): the receiver by host only (its path may hold a token). */
export interface DeliveryRecord {
  event_id: string;
  job_id: string;
  status: string;
  host: string;
  attempts: number;
  last_status: number | null;
  last_error: string;
  created_at: Date;
  next_attempt_at: Date | null;
  delivered_at: Date | null;
}

/** The newest deliveries (of one job, when given), newest first. */
export async function listDeliveries(pool: Pool, filter: { jobId?: string; limit: number }): Promise<DeliveryRecord[]> {
  const { rows } = await pool.query<DeliveryRecord & { url: string }>(
    `SELECT event_id, job_id, status, url, attempts, last_status, last_error, created_at,
            CASE WHEN delivered_at IS NULL THEN next_attempt_at END AS next_attempt_at, delivered_at
       FROM webhook_outbox WHERE $1::uuid IS NULL OR job_id = $1 ORDER BY id DESC LIMIT $2`,
    [filter.jobId ?? null, filter.limit],
  );
  return rows.map(({ url, ...row }) => ({ ...row, host: new URL(url).host }));
}

type DeliveryOutcome =
  | { kind: 'delivered'; status: number }
  | { kind: 'http_error'; status: number; error: string }
  | { kind: 'timeout' | 'network_error'; status?: undefined; error: string };

/** Every outcome a delivery can have (the counter's `outcome` label). */
export const DELIVERY_OUTCOMES: readonly DeliveryOutcome['kind'][] = ['delivered', 'http_error', 'timeout', 'network_error'];
