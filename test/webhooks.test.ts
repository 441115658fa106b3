/**
 * Notifications by signed webhook (orchestrator/webhooks.ts): all fourteen services and the
 * orchestrator as real processes, and a real HTTP receiver on 127.0.0.1 that fails the first
 * deliveries (500s, then no answer past the timeout). The receiver must still get exactly the events
 * (a completed and a failed job), each signed — verified here with node:crypto from the documented
 * scheme, not with the code under test — after retries the outbox records (direct SQL), with no
 * personal data in any payload; an orchestrator killed between the status change and the delivery
 * loses nothing.
 */
import { createHash, createHmac, randomUUID, timingSafeEqual } from 'node:crypto';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import test from 'ava';
import type { Pool } from 'pg';
import pino from 'pino';
import { JobStatus } from '../gen/bakery/erasure/v1/deletion_orchestrator';
import { AT_ONCE, graceDuration } from '../orchestrator/grace';
import { migrations } from '../orchestrator/migrations';
import { WebhookOutbox, webhookSettings } from '../orchestrator/webhooks';
import { openServiceDatabase } from '../services/kit/database';
import { migrate } from '../services/kit/migrations';
import { ConfigError } from '../services/kit/config';
import { seedTenant } from '../services/seed';
import { cli } from './support/cli';
import { createTestDatabase, testServerUrl } from './support/database';
import { meshPools, rowsMentioning } from './support/mesh-checks';
import { orchestratorClient } from './support/orchestrator-client';
import { ProcessMesh } from './support/process-mesh';
import { operatorToken } from './support/services';

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
const SECRET = `whsec_${randomUUID()}${randomUUID()}`;
const TIMEOUT_MS = 800;

/** What the receiver does with the next request: answer 500/503, hang past the timeout, or 204. */
type Answer = 500 | 503 | 'hang' | 204;

interface Received {
  headers: IncomingMessage['headers'];
  body: string;
  answer: Answer;
}

/** A webhook receiver on loopback: answers from `script` first, then with `fallback`; records every request. */
class Receiver {
  readonly requests: Received[] = [];
  script: Answer[] = [];
  fallback: Answer = 204;
  private readonly hanging: ServerResponse[] = [];
  private server?: Server;
  url = '';

  async start(): Promise<void> {
    this.server = createServer((request, response) => {
      const chunks: Buffer[] = [];
      request.on('data', (chunk: Buffer) => chunks.push(chunk));
      request.on('end', () => {
        const answer = this.script.shift() ?? this.fallback;
        this.requests.push({ headers: request.headers, body: Buffer.concat(chunks).toString('utf8'), answer });
        if (answer === 'hang') this.hanging.push(response);
        else response.writeHead(answer).end();
      });
    });
    await new Promise<void>((resolve) => this.server!.listen(0, '127.0.0.1', resolve));
    this.url = `http://127.0.0.1:${(this.server!.address() as AddressInfo).port}/hooks/erasure`;
  }

  /** Event ids the receiver acknowledged (2xx), each with how many times. */
  acknowledged(): Map<string, number> {
    const acks = new Map<string, number>();
    for (const request of this.requests.filter((r) => r.answer === 204)) {
      const id = String(request.headers['x-erasure-event-id']);
      acks.set(id, (acks.get(id) ?? 0) + 1);
    }
    return acks;
  }

  async stop(): Promise<void> {
    for (const response of this.hanging) response.destroy();
    this.server?.closeAllConnections();
    await new Promise<void>((resolve) => this.server?.close(() => resolve()) ?? resolve());
  }
}

/** The receiver's check, as the README tells receivers to do it: HMAC-SHA256 over `<t>.<body>`, constant-time compare, fresh timestamp. */
function verifySignature(header: string | undefined, body: string, nowSeconds = Date.now() / 1000): boolean {
  const parts = Object.fromEntries((header ?? '').split(',').map((part) => part.split('=', 2) as [string, string]));
  const t = Number(parts.t);
  if (!Number.isInteger(t) || Math.abs(nowSeconds - t) > 300 || !parts.v1) return false;
  const expected = createHmac('sha256', SECRET).update(`${t}.${body}`).digest();
  const given = Buffer.from(parts.v1, 'hex');
  return given.length === expected.length && timingSafeEqual(given, expected);
}

let mesh: ProcessMesh;
let pools: Map<string, Pool>;
let orch: ReturnType<typeof orchestratorClient>;
let token: string;
const receiver = new Receiver();

test.before(async (t) => {
  t.timeout(300_000);
  await receiver.start();
  mesh = new ProcessMesh(testServerUrl(), `hooks_${randomUUID().slice(0, 6)}`, {
    ORCHESTRATOR_WEBHOOK_URLS: receiver.url,
    ORCHESTRATOR_WEBHOOK_SECRET: SECRET,
    ORCHESTRATOR_WEBHOOK_TIMEOUT_MS: String(TIMEOUT_MS),
    ORCHESTRATOR_WEBHOOK_BACKOFF_BASE_MS: '200',
    ORCHESTRATOR_WEBHOOK_BACKOFF_MAX_MS: '1000',
    ORCHESTRATOR_WEBHOOK_POLL_MS: '200',
    // A stopped service fails its step (and the job) within seconds.
    ORCHESTRATOR_STEP_RETRY_BUDGET_MS: '3000',
    ORCHESTRATOR_BACKOFF_BASE_MS: '200',
    ORCHESTRATOR_BACKOFF_MAX_MS: '1000',
    ORCHESTRATOR_LEASE_MS: '3000',
    ORCHESTRATOR_WATCHDOG_INTERVAL_MS: '1000',
  });
  await mesh.prepare();
  await mesh.startAll();
  pools = meshPools(mesh.databases);
  orch = orchestratorClient(mesh.addresses.orchestrator!);
  token = await operatorToken();
});

test.after.always(async () => {
  orch?.close();
  await mesh?.stopAll();
  for (const pool of pools?.values() ?? []) await pool.end().catch(() => undefined);
  await mesh?.dropDatabases();
  await receiver.stop();
});

const sql = async <T>(database: string, text: string, params: unknown[] = []) => (await pools.get(database)!.query(text, params)).rows as T[];

/** Seeds a tenant with its users; returns every personal value a payload must not hold (ids, e-mails). */
async function seed(tenantId: string): Promise<string[]> {
  const seeded = await seedTenant({ tenantId, rows: 200, users: 2, identity: true, migrate: false, databaseUrl: async (name) => mesh.databases[name]! });
  const emails = await sql<{ email: string }>('auth', 'SELECT email FROM users WHERE id = ANY($1::uuid[])', [seeded.userIds]);
  return [tenantId, ...seeded.userIds, ...emails.map((row) => row.email)];
}

interface OutboxRow {
  event_id: string;
  job_id: string;
  status: string;
  body: string;
  attempts: number;
  last_status: number | null;
  last_error: string;
  delivered_at: Date | null;
}
const outbox = (jobIds: string[]) =>
  sql<OutboxRow>('orchestrator', 'SELECT event_id, job_id, status, body, attempts, last_status, last_error, delivered_at FROM webhook_outbox WHERE job_id = ANY($1::uuid[]) ORDER BY id', [jobIds]);

async function until(what: string, check: () => boolean | Promise<boolean>, timeoutMs = 30_000): Promise<void> {
  const end = Date.now() + timeoutMs;
  while (Date.now() < end) {
    if (await check()) return;
    await sleep(100);
  }
  throw new Error(`timed out waiting for ${what}`);
}

/** Every request and outbox body is searched for the personal values: none may appear. */
function assertNoPersonalData(t: import('ava').ExecutionContext, texts: string[], personal: string[]): void {
  for (const text of texts) for (const value of personal) t.false(text.toLowerCase().includes(value.toLowerCase()), 'a payload holds a subject id or e-mail');
}

test('the settings refuse a URL that is not http(s) and URLs without a secret, naming the variable but not the URL', (t) => {
  const bad = t.throws(() => webhookSettings({ ORCHESTRATOR_WEBHOOK_URLS: 'ftp://127.0.0.1/secret-token', ORCHESTRATOR_WEBHOOK_SECRET: SECRET }), { instanceOf: ConfigError });
  t.regex(bad!.message, /ORCHESTRATOR_WEBHOOK_URLS: entry 1/);
  t.false(bad!.message.includes('secret-token'));
  t.throws(() => webhookSettings({ ORCHESTRATOR_WEBHOOK_URLS: 'https://hooks.example/x' }), { instanceOf: ConfigError, message: /ORCHESTRATOR_WEBHOOK_SECRET/ });
  t.deepEqual(webhookSettings({}).urls, [], 'no URL: notifications off');
});

test.serial('a receiver that fails the first deliveries gets exactly the completed and failed events, signed, after recorded retries', async (t) => {
  const completedTenant = randomUUID();
  const failedTenant = randomUUID();
  const control = randomUUID();
  const personal = [...(await seed(completedTenant)), ...(await seed(failedTenant)), ...(await seed(control))];
  const controlRows = await rowsMentioning(pools, [control]);
  t.true(Object.keys(controlRows).length > 0);
  // Two 500s, then no answer past the orchestrator's timeout; 204 after that.
  receiver.script = [500, 500, 'hang'];
  const before = receiver.requests.length;

  await mesh.stop('recipes');
  const failedRun = await orch.deleteTenant({ tenantId: failedTenant, gracePeriod: AT_ONCE }, token);
  await mesh.start('recipes');
  const failed = failedRun.finished!;
  t.is(failed.status, JobStatus.JOB_STATUS_FAILED, failed.error);
  const completedRun = await orch.deleteTenant({ tenantId: completedTenant, gracePeriod: AT_ONCE }, token);
  const completed = completedRun.finished!;
  t.is(completed.status, JobStatus.JOB_STATUS_COMPLETED, completed.error);

  const jobs = [failed.id, completed.id];
  await until('both events acknowledged', async () => (await outbox(jobs)).every((row) => row.delivered_at) && receiver.acknowledged().size >= 2);
  const requests = receiver.requests.slice(before);
  const rows = await outbox(jobs);

  // Exactly the two events: one row each (no row for PENDING/RUNNING), each acknowledged once.
  t.deepEqual(rows.map((row) => [row.job_id, row.status]).sort(), [[completed.id, 'COMPLETED'], [failed.id, 'FAILED']].sort());
  t.deepEqual([...receiver.acknowledged().entries()].filter(([id]) => rows.some((row) => row.event_id === id)).map(([, n]) => n), [1, 1]);
  t.deepEqual(new Set(requests.map((r) => r.headers['x-erasure-event-id'])), new Set(rows.map((row) => row.event_id)), 'nothing else was sent');
  t.deepEqual(requests.slice(0, 3).map((r) => r.answer), [500, 500, 'hang'], 'the first deliveries failed');

  // Each attempt is a request the receiver saw; attempts, status and delivery time recorded.
  t.is(rows.reduce((sum, row) => sum + row.attempts, 0), requests.length, 'every attempt recorded');
  t.true(requests.length >= 5);
  t.true(rows.some((row) => row.attempts >= 2), 'retried');
  for (const row of rows) {
    t.is(row.last_status, 204);
    t.is(row.last_error, '');
  }

  // Signed (checked as a receiver would), the same bytes on every attempt, the event id in header and body.
  for (const request of requests) {
    t.true(verifySignature(request.headers['x-erasure-signature'] as string, request.body), 'signature verifies');
    t.false(verifySignature(request.headers['x-erasure-signature'] as string, request.body.replace('"status":"', '"status":"X')), 'a changed body does not');
    const row = rows.find((r) => r.event_id === request.headers['x-erasure-event-id'])!;
    t.is(request.body, row.body, 'the body recorded in the outbox, byte for byte');
    t.is(JSON.parse(request.body).event_id, row.event_id);
  }

  // The payload: job, status, due date, and for the completed erasure its certificate's hash.
  const [jobRow] = await sql<{ due_at: Date }>('orchestrator', 'SELECT due_at FROM erasure_jobs WHERE id = $1', [completed.id]);
  const [certificate] = await sql<{ jws: string }>('orchestrator', 'SELECT jws FROM erasure_certificates WHERE job_id = $1', [completed.id]);
  const done = JSON.parse(rows.find((row) => row.status === 'COMPLETED')!.body);
  t.like(done, { type: 'erasure.job.status', job_id: completed.id, job_kind: 'erasure', subject_kind: 'tenant', status: 'COMPLETED', due_at: jobRow!.due_at.toISOString() });
  t.is(done.certificate.sha256, createHash('sha256').update(certificate!.jws).digest('hex'));
  t.is(JSON.parse(rows.find((row) => row.status === 'FAILED')!.body).certificate, null);
  t.deepEqual(Object.keys(done).sort(), ['certificate', 'due_at', 'event_id', 'job_id', 'job_kind', 'occurred_at', 'received_at', 'status', 'subject_kind', 'type', 'version']);

  // No personal data anywhere a receiver (or the outbox) sees it; the control tenant untouched.
  assertNoPersonalData(t, [...requests.map((r) => `${JSON.stringify(r.headers)}${r.body}`), ...rows.map((row) => row.body)], personal);
  t.deepEqual(await rowsMentioning(pools, [control]), controlRows, 'control tenant untouched');

  // A status that is not notified (a restore ends the job CANCELLED) writes no row.
  const restoredTenant = randomUUID();
  await seed(restoredTenant);
  const scheduled = (await orch.deleteTenant({ tenantId: restoredTenant, gracePeriod: graceDuration(600_000) }, token)).snapshot!;
  t.is((await orch.unary.restoreTenant({ tenantId: restoredTenant }, token)).job!.status, JobStatus.JOB_STATUS_CANCELLED);
  t.deepEqual(await outbox([scheduled.id]), [], 'no notification for a restored (CANCELLED) job');

  // The delivery counter by outcome (no URL, job or subject in its labels).
  const metrics = await (await fetch(`http://${mesh.metricsAddresses.orchestrator}/metrics`)).text();
  const outcome = (name: string) => Number(new RegExp(`erasure_webhook_deliveries_total\\{outcome="${name}"[^}]*\\} (\\d+)`).exec(metrics)?.[1] ?? -1);
  t.true(outcome('http_error') >= 2 && outcome('timeout') >= 1 && outcome('delivered') >= 2, metrics.split('\n').filter((l) => l.includes('webhook')).join('\n'));
  t.false(/erasure_webhook[^\n]*(job|url|tenant|127\.0\.0\.1)/.test(metrics));
});

test.serial('an orchestrator killed between the status change and the delivery loses no notification', async (t) => {
  const tenantId = randomUUID();
  const personal = await seed(tenantId);
  receiver.script = [];
  receiver.fallback = 503; // the receiver is away: nothing is acknowledged
  const before = receiver.requests.length;
  const run = await orch.deleteTenant({ tenantId, gracePeriod: AT_ONCE }, token);
  const job = run.finished!;
  t.is(job.status, JobStatus.JOB_STATUS_COMPLETED, job.error);
  // Written with the status change, before any delivery: the row is there and undelivered.
  await until('a failed attempt', async () => ((await outbox([job.id]))[0]?.attempts ?? 0) >= 1);
  const [pending] = await outbox([job.id]);
  t.is(pending!.delivered_at, null);

  await mesh.stop('orchestrator', 'SIGKILL');
  receiver.fallback = 204;
  await mesh.start('orchestrator');
  await until('the event acknowledged after the restart', async () => Boolean((await outbox([job.id]))[0]?.delivered_at));

  const rows = await outbox([job.id]);
  const requests = receiver.requests.slice(before);
  t.is(rows.length, 1, 'one event');
  t.is(receiver.acknowledged().get(rows[0]!.event_id), 1, 'acknowledged once');
  t.true(requests.every((r) => r.headers['x-erasure-event-id'] === rows[0]!.event_id), 'the same event id on every attempt, before and after the restart');
  t.true(requests.every((r) => verifySignature(r.headers['x-erasure-signature'] as string, r.body)));
  // A claim counts its attempt before the POST: the kill may fall between the two (an attempt the
  // receiver never saw), never the other way round.
  t.true(rows[0]!.attempts >= requests.length, `${rows[0]!.attempts} attempts recorded, ${requests.length} received`);
  assertNoPersonalData(t, requests.map((r) => r.body), personal);

  // The operator's view: `erasure notifications --job` lists the delivery from the outbox.
  const env = { ORCHESTRATOR_DATABASE_URL: mesh.databases.orchestrator! };
  const listed = await cli(['notifications', '--job', job.id, '--json'], env);
  t.is(listed.code, 0, listed.stderr);
  const [delivery] = JSON.parse(listed.stdout);
  t.like(delivery, { event_id: rows[0]!.event_id, job_id: job.id, status: 'COMPLETED', host: new URL(receiver.url).host, attempts: requests.length, last_status: 204, next_attempt_at: null });
  t.truthy(delivery.delivered_at);
  const text = await cli(['notifications', '--job', job.id], env);
  t.regex(text.stdout, new RegExp(`${rows[0]!.event_id}.*COMPLETED`));
  t.false(text.stdout.includes('/hooks/erasure'), 'the receiver by host only');
  const bad = await cli(['notifications', '--job', 'not-a-uuid'], env);
  t.is(bad.code, 2);
  t.regex(bad.stderr, /--job must be a UUID/);
});

test('a receiver that never answers costs one timeout, also after garbage collections: the delivery worker goes on', async (t) => {
  // Node 20 lost the timeout of AbortSignal.any([AbortSignal.timeout(…), …]) after a garbage collection,
  // and a POST to a receiver that never answered then held the delivery worker for good. Collections
  // run every 20 ms while the worker sends to such a receiver.
  setFlagsFromString('--expose-gc');
  const gc = runInNewContext('gc') as () => void;
  const hanging: ServerResponse[] = [];
  const silent = createServer((_request, response) => hanging.push(response));
  await new Promise<void>((resolve) => silent.listen(0, '127.0.0.1', resolve));
  const url = `http://127.0.0.1:${(silent.address() as AddressInfo).port}/hook`;
  const db = await createTestDatabase('webhook_gc');
  const service = openServiceDatabase(db.url, 3);
  const collecting = setInterval(gc, 20);
  try {
    await migrate(db.url, service.sequelize, migrations, pino({ level: 'silent' }));
    const { rows } = await db.pool.query<{ id: string }>(
      `INSERT INTO erasure_jobs (id, subject_kind, subject_id, status, requested_by, trace_id) VALUES (gen_random_uuid(), 'tenant', gen_random_uuid(), 'COMPLETED', 'service:test', $1) RETURNING id`,
      ['0'.repeat(32)],
    );
    await db.pool.query(
      `INSERT INTO webhook_outbox (event_id, url, job_id, status, body) SELECT gen_random_uuid(), $1, $2, 'COMPLETED', '{}' FROM generate_series(1, 8)`,
      [url, rows[0]!.id],
    );
    const settings = webhookSettings({ ORCHESTRATOR_WEBHOOK_URLS: url, ORCHESTRATOR_WEBHOOK_SECRET: SECRET, ORCHESTRATOR_WEBHOOK_TIMEOUT_MS: '300' });
    const outboxUnderTest = new WebhookOutbox(service.pool, settings, pino({ level: 'silent' }));
    const started = Date.now();
    const sent = await Promise.race([outboxUnderTest.pass(), sleep(5_000).then(() => 'still waiting after 5 s')]);
    t.is(sent, 8, 'the pass ended with its eight rows sent');
    t.true(Date.now() - started < 5_000);
    const { rows: after } = await db.pool.query<{ attempts: number; delivered_at: Date | null; last_error: string }>('SELECT attempts, delivered_at, last_error FROM webhook_outbox');
    t.is(after.length, 8);
    for (const row of after) t.like(row, { attempts: 1, delivered_at: null, last_error: 'no answer within 300 ms' });
  } finally {
    clearInterval(collecting);
    for (const response of hanging) response.destroy();
    silent.close();
    await service.close();
    await db.drop();
  }
});
