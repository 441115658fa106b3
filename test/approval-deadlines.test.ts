/**
 * Four-eyes approval and deadlines (README.md "Approvals", "Deadlines"): all fourteen services and the
 * orchestrator as real processes, the four-eyes setting on as shipped. A tenant erased at once waits
 * AWAITING_APPROVAL with nothing hidden or deleted; its requester cannot approve it; a second operator's
 * approval runs it to the end; a rejection ends it with nothing deleted; a wait survives an orchestrator
 * kill -9. Due dates follow the received time, ListJobs filters and sorts by them, an extension is
 * audited and bounded, and the near-due metric counts what the job table says. Every check of rows,
 * jobs and audit entries is direct SQL; a control tenant is proved untouched.
 */
import { randomUUID } from 'node:crypto';
import test, { type ExecutionContext } from 'ava';
import type { Pool } from 'pg';
import { JobOrder, JobStatus, type Job } from '../gen/bakery/erasure/v1/deletion_orchestrator';
import { approvalRequired } from '../orchestrator/approvals';
import { orchestratorConfig } from '../orchestrator/config';
import { AT_ONCE, graceDuration } from '../orchestrator/grace';
import { ConfigError } from '../services/kit/config';
import { seedTenant } from '../services/seed';
import { cli } from './support/cli';
import { testServerUrl } from './support/database';
import { codeOf, outcome } from './support/identity';
import { changedTables, meshPools, meshSnapshot, rowsMentioning, waitForJobStatus } from './support/mesh-checks';
import { orchestratorClient } from './support/orchestrator-client';
import { ProcessMesh } from './support/process-mesh';
import { operatorToken, userToken } from './support/services';

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
const DAY_MS = 24 * 3600_000;

let mesh: ProcessMesh;
let pools: Map<string, Pool>;
let orch: ReturnType<typeof orchestratorClient>;
/** The requester and a second operator. */
let alice: string;
let bob: string;
let control: string;
/** Rows that mention the control tenant, counted once it is seeded: every test ends with the same count. */
let controlRows: number;

test.before(async (t) => {
  t.timeout(300_000);
  mesh = new ProcessMesh(testServerUrl(), `appr_${randomUUID().slice(0, 6)}`, {
    // As shipped (test/support turns it off for the other meshes).
    ORCHESTRATOR_FOUR_EYES: 'on',
    ORCHESTRATOR_LEASE_MS: '3000',
    ORCHESTRATOR_WATCHDOG_INTERVAL_MS: '1000',
    ORCHESTRATOR_GRACE_MAX_SECONDS: '7200',
  });
  await mesh.prepare();
  await mesh.startAll();
  pools = meshPools(mesh.databases);
  orch = orchestratorClient(mesh.addresses.orchestrator!);
  [alice, bob] = [await operatorToken('alice-approvals'), await operatorToken('bob-approvals')];
  control = randomUUID();
  await seed(control, 300);
  controlRows = await rowsOf(control);
});

test.afterEach.always(async (t) => {
  if (pools) t.is(await rowsOf(control), controlRows, 'the control tenant is untouched');
});

test.after.always(async () => {
  orch?.close();
  await mesh?.stopAll();
  for (const pool of pools?.values() ?? []) await pool.end().catch(() => undefined);
  await mesh?.dropDatabases();
});

const seed = (tenantId: string, rows: number) =>
  seedTenant({ tenantId, rows, users: 2, identity: true, migrate: false, databaseUrl: async (name) => mesh.databases[name]! });

const sql = async <T>(database: string, text: string, params: unknown[] = []) => (await pools.get(database)!.query(text, params)).rows as T[];

interface JobRecord {
  status: string;
  error: string;
  approval_required: boolean;
  approved_by: string | null;
  purge_at: Date | null;
  received_at: Date;
  due_at: Date;
  original_due_at: Date | null;
}

async function jobRow(id: string): Promise<JobRecord> {
  const [row] = await sql<JobRecord>(
    'orchestrator',
    'SELECT status, error, approval_required, approved_by, purge_at, received_at, due_at, original_due_at FROM erasure_jobs WHERE id = $1',
    [id],
  );
  return row!;
}

/** The job's audit entries in chain order (direct SQL on the append-only table). */
const auditOf = (jobId: string) =>
  sql<{ kind: string; details: Record<string, unknown> }>('orchestrator', 'SELECT kind, details FROM erasure_audit_log WHERE job_id = $1 ORDER BY seq', [jobId]);

const queueEntries = async (jobId: string) =>
  (await sql<{ n: number }>('orchestrator', `SELECT count(*)::int AS n FROM pgboss.job WHERE data->>'jobId' = $1`, [jobId]))[0]!.n;

const rowsOf = async (tenantId: string) => Object.values(await rowsMentioning(pools, [tenantId])).reduce((sum, n) => sum + n, 0);

async function tenantStatus(tenantId: string): Promise<string> {
  return (await sql<{ status: string }>('tenant', 'SELECT status FROM tenants WHERE id = $1', [tenantId]))[0]!.status;
}

test('four-eyes: on as shipped, off by ORCHESTRATOR_FOUR_EYES=off, a bad value names the variable; which requests wait', (t) => {
  t.true(orchestratorConfig({}).fourEyesTenantAtOnce);
  t.false(orchestratorConfig({ ORCHESTRATOR_FOUR_EYES: 'off' }).fourEyesTenantAtOnce);
  t.throws(() => orchestratorConfig({ ORCHESTRATOR_FOUR_EYES: 'maybe' }), { instanceOf: ConfigError, message: /ORCHESTRATOR_FOUR_EYES/ });
  const later = new Date(Date.now() + DAY_MS);
  t.true(approvalRequired(false, 'tenant', undefined, true), 'a tenant at once waits');
  t.false(approvalRequired(false, 'tenant', later, true), 'a tenant with a grace does not, unless asked');
  t.false(approvalRequired(false, 'user', undefined, true), 'a user at once does not, unless asked');
  t.false(approvalRequired(false, 'tenant', undefined, false), 'four-eyes off');
  t.true(approvalRequired(true, 'user', later, false), 'require_approval always waits');
});

/** Asks for a tenant's erasure as `token`: the stream answers with the snapshot of the waiting job. */
async function requestErasure(t: ExecutionContext, tenantId: string, token: string, extra: { gracePeriod?: ReturnType<typeof graceDuration>; requireApproval?: boolean } = {}): Promise<Job> {
  const run = await orch.deleteTenant({ tenantId, gracePeriod: AT_ONCE, ...extra }, token);
  t.falsy(run.error, run.error?.details);
  t.is(run.snapshot?.status, JobStatus.JOB_STATUS_AWAITING_APPROVAL);
  t.is(run.events.length, 1, 'a job awaiting approval is answered with its snapshot, not streamed');
  return run.snapshot!;
}

test.serial('a tenant erased at once waits for a second person: nothing hidden or deleted, self-approval refused, a second approval runs it to COMPLETED, all in the audit chain', async (t) => {
  t.timeout(120_000);
  const tenantId = randomUUID();
  await seed(tenantId, 300);
  const before = await meshSnapshot(pools);
  const rowsBefore = await rowsOf(tenantId);
  t.true(rowsBefore > 0);

  const job = await requestErasure(t, tenantId, alice);
  t.true(job.approvalRequired);
  await sleep(1500); // time enough for a runner that should not run
  const waiting = await jobRow(job.id);
  t.is(waiting.status, 'AWAITING_APPROVAL');
  t.true(waiting.approval_required);
  t.is(await queueEntries(job.id), 0, 'no run is queued before the approval');
  t.deepEqual(changedTables(before, await meshSnapshot(pools)), [], 'nothing changed anywhere while it waits');
  t.is(await tenantStatus(tenantId), 'ACTIVE', 'the tenant is not hidden while it waits');

  // A second request attaches to the waiting job; it does not start another.
  const again = await orch.deleteTenant({ tenantId, gracePeriod: AT_ONCE }, bob);
  t.is(again.snapshot?.id, job.id);

  const self = await outcome(orch.unary.approveJob({ jobId: job.id }, alice));
  t.is(self.code, 7 /* PERMISSION_DENIED */, self.message);
  t.regex(self.message, /requester/);
  t.is(await codeOf(orch.unary.rejectJob({ jobId: job.id, reason: 'mine' }, alice)), 'PERMISSION_DENIED', 'nor may the requester reject it');
  t.is(await codeOf(orch.unary.approveJob({ jobId: job.id }, await userToken(randomUUID()))), 'PERMISSION_DENIED', 'a user who is no admin of the tenant may not approve');
  t.is(await codeOf(orch.unary.approveJob({ jobId: 'not-a-uuid' }, bob)), 'INVALID_ARGUMENT');
  t.is(await codeOf(orch.unary.approveJob({ jobId: randomUUID() }, bob)), 'NOT_FOUND');
  t.is((await jobRow(job.id)).status, 'AWAITING_APPROVAL', 'refused decisions changed nothing');

  const { job: approved } = await orch.unary.approveJob({ jobId: job.id }, bob);
  t.true([JobStatus.JOB_STATUS_PENDING, JobStatus.JOB_STATUS_RUNNING, JobStatus.JOB_STATUS_COMPLETED].includes(approved!.status));
  t.is(await codeOf(orch.unary.approveJob({ jobId: job.id }, bob)), 'FAILED_PRECONDITION', 'a job is approved once');
  t.is(await waitForJobStatus(pools.get('orchestrator')!, job.id, 'COMPLETED', 90_000), 'COMPLETED');
  t.is(await rowsOf(tenantId), 0, 'the tenant is erased');

  const audit = await auditOf(job.id);
  const kinds = audit.map((entry) => entry.kind);
  t.deepEqual(kinds.slice(0, 4), ['job.requested', 'job.awaiting_approval', 'job.approved', 'job.pending']);
  t.true(kinds.includes('job.completed'), kinds.join(', '));
  const requested = audit[0]!.details;
  const decision = audit[2]!.details;
  t.is(decision.requester, requested.requester, 'the requester is named by the same pseudonym');
  t.truthy(decision.approver);
  t.not(decision.approver, decision.requester, 'two different people');
  t.is((await jobRow(job.id)).approved_by, decision.approver as string);
  const text = JSON.stringify(audit);
  t.false(text.includes('alice-approvals') || text.includes('bob-approvals'), 'no operator name in the audit chain, only pseudonyms');
});

test.serial('a rejection ends the job REJECTED with nothing deleted, audited with both people and the reason; it cannot be retried or approved', async (t) => {
  const tenantId = randomUUID();
  await seed(tenantId, 200);
  const before = await meshSnapshot(pools);
  const job = await requestErasure(t, tenantId, alice, { requireApproval: true, gracePeriod: graceDuration(3_600_000) });

  t.is(await codeOf(orch.unary.rejectJob({ jobId: job.id, reason: '  ' }, bob)), 'INVALID_ARGUMENT', 'a rejection needs a reason');
  t.is(await codeOf(orch.unary.rejectJob({ jobId: job.id, reason: 'x'.repeat(501) }, bob)), 'INVALID_ARGUMENT');
  const { job: rejected } = await orch.unary.rejectJob({ jobId: job.id, reason: 'sent to the wrong bakery' }, bob);
  t.is(rejected!.status, JobStatus.JOB_STATUS_REJECTED);
  const row = await jobRow(job.id);
  t.is(row.status, 'REJECTED');
  t.regex(row.error, /sent to the wrong bakery/);
  const steps = await sql<{ status: string }>('orchestrator', 'SELECT DISTINCT status FROM erasure_job_steps WHERE job_id = $1', [job.id]);
  t.deepEqual(steps.map((s) => s.status), ['CANCELLED']);
  t.is(await queueEntries(job.id), 0, 'nothing was ever queued');
  await sleep(1000);
  t.deepEqual(changedTables(before, await meshSnapshot(pools)), [], 'nothing deleted or hidden anywhere');
  t.is(await tenantStatus(tenantId), 'ACTIVE');

  t.is(await codeOf(orch.unary.retryJob({ jobId: job.id }, alice)), 'FAILED_PRECONDITION', 'a rejected job is not retried');
  t.is(await codeOf(orch.unary.approveJob({ jobId: job.id }, bob)), 'FAILED_PRECONDITION', 'nor approved afterwards');
  t.is((await jobRow(job.id)).status, 'REJECTED');

  const audit = await auditOf(job.id);
  t.deepEqual(audit.map((entry) => entry.kind), ['job.requested', 'job.awaiting_approval', 'job.rejected']);
  const decision = audit[2]!.details;
  t.is(decision.reason, 'sent to the wrong bakery');
  t.is(decision.requester, audit[0]!.details.requester);
  t.not(decision.approver, decision.requester);

  // A new request for the same tenant starts over (the rejected job does not hold the subject).
  const next = await requestErasure(t, tenantId, alice, { requireApproval: true, gracePeriod: graceDuration(3_600_000) });
  t.not(next.id, job.id);
  await orch.unary.rejectJob({ jobId: next.id, reason: 'test clean-up' }, bob);
});

test.serial('a wait for approval survives an orchestrator kill -9; approved with grace left, the job is SCHEDULED and the tenant hidden', async (t) => {
  t.timeout(120_000);
  const tenantId = randomUUID();
  await seed(tenantId, 200);
  const job = await requestErasure(t, tenantId, alice, { requireApproval: true, gracePeriod: graceDuration(3_600_000) });
  const purgeAt = (await jobRow(job.id)).purge_at;
  t.truthy(purgeAt, 'the grace counts from the request');
  t.is(await tenantStatus(tenantId), 'ACTIVE');

  await mesh.stop('orchestrator', 'SIGKILL');
  await mesh.start('orchestrator');
  orch.close();
  orch = orchestratorClient(mesh.addresses.orchestrator!);
  t.is((await jobRow(job.id)).status, 'AWAITING_APPROVAL', 'the wait is in PostgreSQL');

  const { job: approved } = await orch.unary.approveJob({ jobId: job.id }, bob);
  t.is(approved!.status, JobStatus.JOB_STATUS_SCHEDULED);
  const row = await jobRow(job.id);
  t.is(row.status, 'SCHEDULED');
  t.is(row.purge_at?.getTime(), purgeAt!.getTime(), 'the purge time stays where the request put it');
  t.is(await queueEntries(job.id), 1, 'the approval queued the grace timer');
  t.is(await tenantStatus(tenantId), 'DELETING', 'hidden for its grace period');
  t.deepEqual(
    (await auditOf(job.id)).map((entry) => entry.kind),
    ['job.requested', 'job.awaiting_approval', 'job.approved', 'job.scheduled'],
  );
  // Clean up: a restore ends it with nothing deleted.
  await orch.unary.restoreTenant({ tenantId }, alice);
  t.is(await tenantStatus(tenantId), 'ACTIVE');
});

/**
 * User erasures awaiting approval (no work runs), received this many days ago. Whatever today's date, a
 * month is 28 to 31 days: received 25-27 days ago is due within 1-6 days, 20 days ago in 8 or more.
 */
const RECEIVED_DAYS_AGO = [1, 10, 20, 25, 26, 27];
const received = new Map<string, number>();

test.serial('due dates follow the received time (never in the future); ListJobs filters and sorts by due date with correct pages', async (t) => {
  const now = Date.now();
  const jobsBefore = (await sql<{ n: number }>('orchestrator', 'SELECT count(*)::int AS n FROM erasure_jobs'))[0]!.n;
  const future = await orch.deleteUser({ userId: randomUUID(), gracePeriod: AT_ONCE, requireApproval: true, receivedTime: new Date(now + 60_000) }, alice);
  t.is(future.error?.code, 3 /* INVALID_ARGUMENT */, future.error?.details);
  t.regex(future.error?.details ?? '', /received_time/);
  const late = await orch.deleteUser({ userId: randomUUID(), gracePeriod: AT_ONCE, requireApproval: true, receivedTime: new Date(now - 40 * DAY_MS) }, alice);
  t.is(late.error?.code, 3, 'received more than a month ago: already past its due date');
  t.is((await sql<{ n: number }>('orchestrator', 'SELECT count(*)::int AS n FROM erasure_jobs'))[0]!.n, jobsBefore, 'no job recorded');

  for (const days of RECEIVED_DAYS_AGO) {
    const run = await orch.deleteUser({ userId: randomUUID(), gracePeriod: AT_ONCE, requireApproval: true, receivedTime: new Date(now - days * DAY_MS) }, alice);
    t.falsy(run.error, run.error?.details);
    t.is(run.snapshot?.status, JobStatus.JOB_STATUS_AWAITING_APPROVAL);
    received.set(run.snapshot!.id, days);
  }
  // PostgreSQL's own calendar month (31 Oct + 1 month = 30 Nov), independent of the orchestrator's.
  const dueCheck = await sql<{ ok: boolean }>(
    'orchestrator',
    `SELECT received_at + interval '1 month' = due_at AND original_due_at IS NULL AS ok FROM erasure_jobs WHERE id = ANY($1::uuid[])`,
    [[...received.keys()]],
  );
  t.is(dueCheck.length, RECEIVED_DAYS_AGO.length);
  t.true(dueCheck.every((row) => row.ok), 'every due date is one calendar month after its received time');

  const dueBefore = new Date(now + 7 * DAY_MS);
  const expected = (
    await sql<{ id: string }>(
      'orchestrator',
      `SELECT id FROM erasure_jobs WHERE due_at < $1 AND status IN ('AWAITING_APPROVAL', 'SCHEDULED', 'PENDING', 'RUNNING') ORDER BY due_at, id`,
      [dueBefore],
    )
  ).map((row) => row.id);
  const ours = expected.filter((id) => received.has(id)).map((id) => received.get(id)!);
  t.deepEqual([...ours].sort(), [25, 26, 27], 'ours due within 7 days (received 20 days ago or later: not yet)');
  t.true(ours.every((days, i) => i === 0 || days <= ours[i - 1]!), 'soonest due first (a month-end clamp may tie two)');

  const listed: string[] = [];
  let pageToken = '';
  for (let page = 0; page < 50; page++) {
    const response = await orch.unary.listJobs({ dueBefore, unfinished: true, orderBy: JobOrder.JOB_ORDER_DUE_TIME, pageSize: 2, pageToken }, alice);
    t.true(response.jobs.length <= 2);
    listed.push(...response.jobs.map((job) => job.id));
    for (const job of response.jobs) t.true(job.dueTime!.getTime() < dueBefore.getTime());
    pageToken = response.nextPageToken;
    if (!pageToken) break;
  }
  t.deepEqual(listed, expected, 'pages of two give exactly the direct SQL answer, in due order');
  const oneCall = await orch.unary.listJobs({ dueBefore, unfinished: true, orderBy: JobOrder.JOB_ORDER_DUE_TIME, pageSize: 500 }, alice);
  t.deepEqual(oneCall.jobs.map((job) => job.id), expected);

  const byStatus = await orch.unary.listJobs({ status: JobStatus.JOB_STATUS_AWAITING_APPROVAL, pageSize: 500 }, alice);
  for (const id of received.keys()) t.true(byStatus.jobs.some((job) => job.id === id), 'AWAITING_APPROVAL is a status filter');
  t.is(await codeOf(orch.unary.listJobs({ orderBy: 7 as JobOrder }, alice)), 'INVALID_ARGUMENT');
});

/** The orchestrator's `erasure_open_requests` gauge, scraped from its /metrics endpoint. */
async function openRequests(): Promise<Record<string, number>> {
  const text = await (await fetch(`http://${mesh.metricsAddresses.orchestrator}/metrics`)).text();
  const result: Record<string, number> = {};
  for (const match of text.matchAll(/^erasure_open_requests\{[^}]*due_within="([^"]+)"[^}]*\} ([0-9.e+]+)/gm)) result[match[1]!] = Number(match[2]);
  return result;
}

/** The same buckets counted by direct SQL over the unfinished jobs. */
async function openRequestsBySql(): Promise<Record<string, number>> {
  const [row] = await sql<Record<string, number>>(
    'orchestrator',
    `SELECT count(*) FILTER (WHERE due_at <= now())::int AS overdue,
            count(*) FILTER (WHERE due_at > now() AND due_at <= now() + interval '1 day')::int AS "1d",
            count(*) FILTER (WHERE due_at > now() + interval '1 day' AND due_at <= now() + interval '7 days')::int AS "7d",
            count(*) FILTER (WHERE due_at > now() + interval '7 days')::int AS later
       FROM erasure_jobs WHERE status IN ('AWAITING_APPROVAL', 'SCHEDULED', 'PENDING', 'RUNNING')`,
  );
  return row!;
}

test.serial('requests near their due date show in the metric (awaiting approval included); an extension moves them, is audited and limited to two months', async (t) => {
  const near = [...received].find(([, days]) => days === 26)![0];
  const metric = await openRequests();
  t.deepEqual(metric, await openRequestsBySql(), 'the gauge is what the job table says');
  t.true(metric['7d']! + metric['1d']! >= 3, 'our three near-due jobs awaiting approval count');

  const first = await jobRow(near);
  // Refusals change nothing.
  t.is(await codeOf(orch.unary.extendDeadline({ jobId: near, extension: graceDuration(30 * DAY_MS), reason: '' }, bob)), 'INVALID_ARGUMENT', 'a reason is required');
  t.is(await codeOf(orch.unary.extendDeadline({ jobId: near, reason: 'complex request' }, bob)), 'INVALID_ARGUMENT', 'an extension or a new due time');
  t.is(await codeOf(orch.unary.extendDeadline({ jobId: near, newDueTime: new Date(first.due_at.getTime() - DAY_MS), reason: 'earlier' }, bob)), 'INVALID_ARGUMENT', 'never earlier');
  t.is(await codeOf(orch.unary.extendDeadline({ jobId: near, extension: graceDuration(63 * DAY_MS), reason: 'complex request' }, bob)), 'INVALID_ARGUMENT', 'not past two months');
  t.is(await codeOf(orch.unary.extendDeadline({ jobId: near, extension: graceDuration(DAY_MS), reason: 'complex request' }, await userToken(randomUUID()))), 'PERMISSION_DENIED', 'operators only');
  const unchanged = await jobRow(near);
  t.is(unchanged.due_at.getTime(), first.due_at.getTime());
  t.is(unchanged.original_due_at, null);

  const { job: extended } = await orch.unary.extendDeadline({ jobId: near, extension: graceDuration(30 * DAY_MS), reason: 'complex request across many bakeries' }, bob);
  const row = await jobRow(near);
  t.is(row.due_at.getTime(), first.due_at.getTime() + 30 * DAY_MS);
  t.is(row.original_due_at?.getTime(), first.due_at.getTime());
  t.is(extended!.dueTime?.getTime(), row.due_at.getTime());
  t.is(extended!.originalDueTime?.getTime(), first.due_at.getTime());
  const after = await openRequests();
  t.deepEqual(after, await openRequestsBySql());
  t.is(after['7d']! + after['1d']!, metric['7d']! + metric['1d']! - 1, 'the extended request is no longer near its due date');
  t.is(after.later, metric.later! + 1);

  // Up to exactly two months past the first due date (PostgreSQL's calendar), and not one second more.
  const [{ limit }] = (await sql<{ limit: Date }>('orchestrator', `SELECT original_due_at + interval '2 months' AS limit FROM erasure_jobs WHERE id = $1`, [near])) as [{ limit: Date }];
  t.is(await codeOf(orch.unary.extendDeadline({ jobId: near, newDueTime: new Date(limit.getTime() + 1000), reason: 'more' }, bob)), 'INVALID_ARGUMENT');
  await orch.unary.extendDeadline({ jobId: near, newDueTime: limit, reason: 'still more' }, bob);
  t.is((await jobRow(near)).due_at.getTime(), limit.getTime());
  t.is((await jobRow(near)).original_due_at?.getTime(), first.due_at.getTime(), 'the first due date is kept');

  const audit = (await auditOf(near)).filter((entry) => entry.kind === 'job.deadline_extended');
  t.is(audit.length, 2);
  t.is(audit[0]!.details.reason, 'complex request across many bakeries');
  t.is(audit[0]!.details.from, first.due_at.toISOString());
  t.is(audit[1]!.details.to, limit.toISOString());
  t.truthy(audit[0]!.details.by);
  t.false(JSON.stringify(audit).includes('bob-approvals'), 'the operator is a pseudonym');

  // An ended job keeps its deadline.
  const rejected = [...received].find(([, days]) => days === 1)![0];
  await orch.unary.rejectJob({ jobId: rejected, reason: 'test clean-up' }, bob);
  t.is(await codeOf(orch.unary.extendDeadline({ jobId: rejected, extension: graceDuration(DAY_MS), reason: 'late' }, bob)), 'FAILED_PRECONDITION');
});

test.serial('the CLI: delete says the job awaits approval; the requester cannot approve it, a second operator can; jobs --due-within lists due requests soonest first; reject and extend need a reason', async (t) => {
  t.timeout(120_000);
  const tenantId = randomUUID();
  await seed(tenantId, 100);
  const as = (token: string) => ({ ORCHESTRATOR_ADDR: mesh.addresses.orchestrator!, TENANT_ADDR: mesh.addresses.tenant!, ERASURE_TOKEN: token });

  const requested = await cli(['delete', tenantId], as(alice));
  t.is(requested.code, 0, requested.stderr);
  t.regex(requested.stdout, /AWAITING_APPROVAL.*nothing is hidden or deleted/s);
  const jobId = /job ([0-9a-f-]{36}) AWAITING_APPROVAL/.exec(requested.stdout)![1]!;
  t.is((await jobRow(jobId)).status, 'AWAITING_APPROVAL');

  const self = await cli(['approve', jobId], as(alice));
  t.not(self.code, 0);
  t.regex(self.stderr, /PERMISSION_DENIED/);
  const noReason = await cli(['reject', jobId], as(bob));
  t.not(noReason.code, 0);
  t.regex(noReason.stderr, /--reason/);
  t.is((await jobRow(jobId)).status, 'AWAITING_APPROVAL');

  const due = await cli(['jobs', '--due-within', '7d', '--json'], as(bob));
  t.is(due.code, 0, due.stderr);
  const listed = (JSON.parse(due.stdout) as { jobs: { id: string; dueTime: string }[] }).jobs;
  t.true(listed.length >= 2, 'the near-due requests of the earlier tests');
  t.true(listed.every((job, i) => i === 0 || job.dueTime >= listed[i - 1]!.dueTime), 'soonest due first');
  t.false(listed.some((job) => job.id === jobId), 'a request due in a month is not due within 7 days');
  const extendNoReason = await cli(['extend', listed[0]!.id, '--by', '1d'], as(bob));
  t.not(extendNoReason.code, 0);
  t.regex(extendNoReason.stderr, /--reason/);

  const approved = await cli(['approve', jobId], as(bob));
  t.is(approved.code, 0, approved.stderr);
  t.regex(approved.stdout, /approved/);
  t.is(await waitForJobStatus(pools.get('orchestrator')!, jobId, 'COMPLETED', 90_000), 'COMPLETED');
  t.is(await rowsOf(tenantId), 0);
});
