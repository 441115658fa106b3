/**
 * The erasure CLI: rendering (pure functions), argument handling and exit codes, tokens, the tenant
 * list against a real tenant service (TenantService.ListTenants), and live progress without a terminal.
 * The orchestrator-backed commands run end to end in test/mesh.test.ts.
 */
import { spawnSync } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { mkdtempSync, readFileSync, renameSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import test from 'ava';
import { intFlag, parseArgs, UsageError } from '../cli/args';
import { LiveProgress } from '../cli/live';
import {
  applyJobEvent,
  bar,
  formatCount,
  formatDuration,
  jaegerUrl,
  jobsTable,
  scheduledLine,
  previewTable,
  progressHeader,
  progressLines,
  stepChangeLine,
  summary,
  tenantsTable,
} from '../cli/render';
import { JobStatus, StepStatus, type Job, type Step } from '../gen/bakery/erasure/v1/deletion_orchestrator';
import { EntityAction } from '../gen/bakery/erasure/v1/tenant_data_deletion';
import { TenantStatus } from '../gen/bakery/tenant/v1/tenant_service';
import { mintServiceToken, verifyToken } from '../services/kit/auth';
import { TrustBundle, loadSigningKey } from '../services/kit/keys';
import { PROCESS_NAMES } from '../mesh/catalog';
import { extension as tenantExtension, service as tenantService } from '../services/tenant';
import { repoRoot } from '../services/kit/paths';
import { cli, sink } from './support/cli';
import { createTestDatabase, testServerUrl } from './support/database';
import { TEST_DATA_DIR, operatorToken, startTestService, testKeys, userToken } from './support/services';

const t0 = new Date('2026-01-01T10:00:00Z');
const at = (ms: number) => new Date(t0.getTime() + ms);

function step(service: string, status: StepStatus, rows: number, expected: number, extra: Partial<Step> = {}): Step {
  return {
    service,
    phase: 'domain',
    status,
    attempts: status === StepStatus.STEP_STATUS_PENDING ? 0 : 1,
    rowsDeleted: String(rows),
    expectedRows: String(expected),
    lastError: '',
    startTime: status === StepStatus.STEP_STATUS_PENDING ? undefined : t0,
    endTime: status === StepStatus.STEP_STATUS_SUCCEEDED ? at(1500) : undefined,
    entities: [],
    ...extra,
  };
}

function job(steps: Step[], extra: Partial<Job> = {}): Job {
  return {
    id: '11111111-1111-4111-8111-111111111111',
    subject: { tenantId: '22222222-2222-4222-8222-222222222222' },
    status: JobStatus.JOB_STATUS_RUNNING,
    requestedBy: 'operator:alice',
    requestId: '',
    approvalRequired: false,
    approvedBy: '',
    steps,
    totalRowsDeleted: String(steps.reduce((s, x) => s + Number(x.rowsDeleted), 0)),
    expectedRows: String(steps.reduce((s, x) => s + Number(x.expectedRows), 0)),
    createTime: t0,
    startTime: t0,
    endTime: undefined,
    durationMs: '0',
    traceId: '0af7651916cd43dd8448eb211c80319c',
    error: '',
    stalled: false,
    queueAgeMs: '0',
    parentJobId: '',
    verifiedTime: undefined,
    holdIds: [],
    held: [],
    ...extra,
  };
}

/** A stream that keeps what is written. */
test('numbers, durations and bars', (t) => {
  t.is(formatCount(1234567), '1,234,567');
  t.is(formatCount('98032'), '98,032');
  t.is(formatDuration(850), '850 ms');
  t.is(formatDuration(1234), '1.2 s');
  t.is(formatDuration(125_000), '2 min 5 s');
  t.is(bar(0, 100, 10), '░░░░░░░░░░');
  t.is(bar(50, 100, 10), '█████░░░░░');
  t.is(bar(150, 100, 10), '██████████', 'never more than full');
  t.is(bar(0, 0, 4, true), '████', 'a finished step with nothing to do is full');
  t.is(jaegerUrl('abc'), 'http://localhost:16686/trace/abc');
  t.is(jaegerUrl('abc', { JAEGER_UI_URL: 'https://jaeger.example/' }), 'https://jaeger.example/trace/abc');
});

test('progress: one bar per service with rows against expected, status, attempts', (t) => {
  const running = job([
    step('orders', StepStatus.STEP_STATUS_SUCCEEDED, 8325, 8325),
    step('forecasting', StepStatus.STEP_STATUS_RETRYING, 4000, 8000, { attempts: 2, lastError: 'UNAVAILABLE: connection refused' }),
    step('tenant', StepStatus.STEP_STATUS_PENDING, 0, 0),
  ]);
  const lines = progressLines(running, { barWidth: 10, now: at(3000).getTime() });
  t.deepEqual(lines, [
    'orders       ██████████ 100%  8,325 / 8,325  SUCCEEDED  1.5 s',
    'forecasting  █████░░░░░  50%  4,000 / 8,000  RETRYING   attempt 2, 3.0 s, UNAVAILABLE: connection refused',
    'tenant       ░░░░░░░░░░   0%          0 / ?  PENDING',
  ]);
  t.is(stepChangeLine(running.steps[0]!, at(3000).getTime()), 'orders: SUCCEEDED (8,325 rows, 1.5 s)');
  t.is(stepChangeLine(running.steps[1]!), 'forecasting: RETRYING (8,000 rows expected, attempt 2, UNAVAILABLE: connection refused)');
});

test('progress of a step waiting between attempts says when it tries again; a stalled job says so in its headline', (t) => {
  const waiting = job([step('orders', StepStatus.STEP_STATUS_RETRYING, 10, 20, { attempts: 3, lastError: 'UNAVAILABLE: connection refused', nextAttemptTime: at(15_000) })], { stalled: true });
  const [line] = progressLines(waiting, { barWidth: 4, now: at(3000).getTime() });
  t.true(line!.endsWith('attempt 3, 3.0 s, UNAVAILABLE: connection refused, next attempt in 12.0 s'), line);
  t.is(stepChangeLine(waiting.steps[0]!, at(3000).getTime()), 'orders: RETRYING (20 rows expected, attempt 3, UNAVAILABLE: connection refused, next attempt in 12.0 s)');
  t.regex(progressHeader(waiting), /^job \S+ RUNNING, STALLED — 10 \/ 20 rows$/);
  t.regex(progressHeader({ ...waiting, stalled: false }), /^job \S+ RUNNING — /);
});

test('applyJobEvent: snapshot, progress, step update, finished', (t) => {
  const snapshot = job([step('orders', StepStatus.STEP_STATUS_RUNNING, 0, 1000), step('sales', StepStatus.STEP_STATUS_PENDING, 0, 0)]);
  let state = applyJobEvent(undefined, { snapshot });
  t.is(state, snapshot);
  state = applyJobEvent(state, {
    progress: { jobId: snapshot.id, service: 'orders', entity: 'order_items', entityRowsDone: '400', stepRowsDone: '400', stepExpectedRows: '1000', jobRowsDone: '400' },
  });
  t.is(state!.steps[0]!.rowsDeleted, '400');
  t.is(state!.totalRowsDeleted, '400');
  state = applyJobEvent(state, { stepUpdate: { jobId: snapshot.id, step: step('sales', StepStatus.STEP_STATUS_RUNNING, 0, 600), jobStatus: JobStatus.JOB_STATUS_RUNNING } });
  t.is(state!.steps[1]!.status, StepStatus.STEP_STATUS_RUNNING);
  t.is(state!.expectedRows, '1600');
  const finished = job([step('orders', StepStatus.STEP_STATUS_SUCCEEDED, 1000, 1000)], { status: JobStatus.JOB_STATUS_COMPLETED });
  t.is(applyJobEvent(state, { finished }), finished);
  t.is(applyJobEvent(undefined, { progress: { jobId: 'x', service: 'orders', entity: 'e', entityRowsDone: '1', stepRowsDone: '1', stepExpectedRows: '1', jobRowsDone: '1' } }), undefined);
});

test('summary: per service rows, attempts and duration, a total, the trace id and the Jaeger link', (t) => {
  const done = job(
    [
      step('orders', StepStatus.STEP_STATUS_SUCCEEDED, 8325, 8325),
      step('forecasting', StepStatus.STEP_STATUS_SUCCEEDED, 8306, 8306, { attempts: 3, endTime: at(30_900) }),
    ],
    { status: JobStatus.JOB_STATUS_COMPLETED, endTime: at(32_300), durationMs: '32300', verifiedTime: at(32_000) },
  );
  const text = summary(done, { JAEGER_UI_URL: 'http://jaeger:16686' });
  t.is(
    text.split('\n').slice(0, 4).join('\n'),
    [
      'service      status       rows  attempts  duration',
      'orders       SUCCEEDED   8,325         1     1.5 s',
      'forecasting  SUCCEEDED   8,306         3    30.9 s',
      'total        COMPLETED  16,631         4    32.3 s',
    ].join('\n'),
  );
  t.regex(text, /job {6}11111111-1111-4111-8111-111111111111 COMPLETED \(tenant 22222222-2222-4222-8222-222222222222\)/);
  t.regex(text, /trace {4}0af7651916cd43dd8448eb211c80319c/);
  t.regex(text, /jaeger {3}http:\/\/jaeger:16686\/trace\/0af7651916cd43dd8448eb211c80319c/);
  const failed = summary(job([], { status: JobStatus.JOB_STATUS_FAILED, error: 'sales: DEADLINE_EXCEEDED' }));
  t.regex(failed, /error {4}sales: DEADLINE_EXCEEDED/);
});

test('preview and job tables', (t) => {
  const text = previewTable({
    tenantId: 't1',
    totalRows: '710',
    unreachableServices: ['pos'],
    services: [
      {
        service: 'sales',
        reachable: true,
        error: '',
        totalRows: '710',
        entities: [
          { entity: 'sales_transactions', action: EntityAction.ENTITY_ACTION_DELETE, rowCount: '700', retainedRowCount: '0', retainReason: '', heldRowCount: '0' },
          { entity: 'invoices', action: EntityAction.ENTITY_ACTION_RETAIN, rowCount: '10', retainedRowCount: '10', retainReason: 'Tax law: kept 10 years', heldRowCount: '0' },
          { entity: 'empty', action: EntityAction.ENTITY_ACTION_DELETE, rowCount: '0', retainedRowCount: '0', retainReason: '', heldRowCount: '0' },
        ],
      },
      { service: 'pos', reachable: false, error: 'UNAVAILABLE: connection refused', totalRows: '0', entities: [] },
    ],
  });
  t.regex(text, /^tenant t1: 710 rows would be removed or anonymized/);
  t.regex(text, /sales\s+710\s+sales_transactions 700, invoices 10 \(retain, 10 retained\)\n/);
  t.regex(text, /pos\s+unreachable\s+UNAVAILABLE: connection refused/);
  t.regex(text, /unreachable \(counts unknown, not zero\): pos/);
  t.regex(text, /sales\.invoices: Tax law: kept 10 years/);
  const list = jobsTable({ jobs: [job([], { status: JobStatus.JOB_STATUS_COMPLETED, totalRowsDeleted: '98032', durationMs: '1100' })], nextPageToken: 'abc' });
  t.regex(list, /11111111-1111-4111-8111-111111111111 {2}tenant {2}22222222-2222-4222-8222-222222222222 {2}COMPLETED {2}98,032 {2}2026-01-01 10:00:00 {2}- +- +1\.1 s/);
  const scheduled = jobsTable({
    jobs: [job([], { status: JobStatus.JOB_STATUS_SCHEDULED, purgeTime: new Date('2026-01-31T10:00:00Z'), dueTime: new Date('2026-02-01T10:00:00Z') })],
    nextPageToken: '',
  });
  t.regex(scheduled, /SCHEDULED +0 {2}2026-01-01 10:00:00 {2}2026-01-31 10:00:00 {2}2026-02-01 10:00:00/, 'a scheduled job shows its purge and due times');
  t.regex(scheduledLine(job([], { status: JobStatus.JOB_STATUS_SCHEDULED, purgeTime: new Date('2026-01-31T10:00:00Z') })), /SCHEDULED: purge at 2026-01-31T10:00:00\.000Z .*undo: npx erasure restore 22222222-2222-4222-8222-222222222222/);
  t.regex(list, /more: --page-token abc/);
  t.is(jobsTable({ jobs: [], nextPageToken: '' }), 'no jobs');
  t.regex(tenantsTable([]), /no tenants/);
});

test('live progress without a terminal: one line per step change', (t) => {
  const out = sink();
  const live = new LiveProgress(out, false);
  const snapshot = job([step('orders', StepStatus.STEP_STATUS_PENDING, 0, 0), step('sales', StepStatus.STEP_STATUS_PENDING, 0, 0)]);
  live.onEvent({ snapshot });
  live.onEvent({ stepUpdate: { jobId: snapshot.id, step: step('orders', StepStatus.STEP_STATUS_RUNNING, 0, 100), jobStatus: JobStatus.JOB_STATUS_RUNNING } });
  live.onEvent({ progress: { jobId: snapshot.id, service: 'orders', entity: 'x', entityRowsDone: '50', stepRowsDone: '50', stepExpectedRows: '100', jobRowsDone: '50' } });
  live.finish(job([step('orders', StepStatus.STEP_STATUS_SUCCEEDED, 100, 100), step('sales', StepStatus.STEP_STATUS_SUCCEEDED, 0, 0)], { status: JobStatus.JOB_STATUS_COMPLETED }));
  const lines = out.text().trimEnd().split('\n');
  t.is(lines[0], 'job 11111111-1111-4111-8111-111111111111 for tenant 22222222-2222-4222-8222-222222222222 (2 steps)');
  t.is(lines[1], '  orders: RUNNING (100 rows expected)');
  t.regex(lines[2]!, /^ {2}orders: SUCCEEDED \(100 rows, 1\.5 s\)$/);
  t.regex(lines[3]!, /^ {2}sales: SUCCEEDED \(0 rows, 1\.5 s\)$/);
  t.is(lines.length, 4, 'progress messages alone print nothing');
});

test('arguments: positionals, --flag value, --flag=value, switches; unknown flags are errors', (t) => {
  t.deepEqual(parseArgs(['abc', '--rows', '10', '--json', '--tenant=x'], { rows: 'string', json: 'boolean', tenant: 'string' }), {
    positionals: ['abc'],
    flags: { rows: '10', json: true, tenant: 'x' },
  });
  t.throws(() => parseArgs(['--nope'], {}), { instanceOf: UsageError, message: 'unknown option --nope' });
  t.throws(() => parseArgs(['--rows'], { rows: 'string' }), { message: '--rows needs a value' });
  t.throws(() => parseArgs(['--json=1'], { json: 'boolean' }), { message: '--json takes no value' });
  t.is(intFlag(undefined, 'rows', 7, 1, 10), 7);
  t.is(intFlag('9', 'rows', 7, 1, 10), 9);
  t.throws(() => intFlag('11', 'rows', 7, 1, 10), { message: '--rows must be an integer from 1 to 10, got "11"' });
  t.throws(() => intFlag('1.5', 'rows', 7, 1, 10));
});

test('exit codes and one-line errors; --help on every command', async (t) => {
  const help = await cli(['--help']);
  t.is(help.code, 0);
  for (const command of ['seed', 'tombstone', 'purge-expired', 'tenants', 'preview', 'delete', 'delete-user', 'jobs', 'job', 'watch', 'cancel', 'restore', 'retry', 'token', 'keys', 'notifications']) {
    t.regex(help.stdout, new RegExp(`\\n  ${command} `), `${command} is listed`);
    const own = await cli([command, '--help']);
    t.is(own.code, 0, `${command} --help`);
    t.regex(own.stdout, new RegExp(`^usage: erasure ${command}`));
    t.regex(own.stdout, /--json/);
  }
  t.is((await cli([])).code, 2);
  const unknown = await cli(['frobnicate']);
  t.is(unknown.code, 2);
  t.is(unknown.stderr, 'erasure: unknown command "frobnicate" (see erasure --help)\n');
  const bad = await cli(['preview', 'not-a-uuid']);
  t.is(bad.code, 2);
  t.regex(bad.stderr, /^erasure preview: <tenant> must be a UUID, got "not-a-uuid"\n/);
  t.is(bad.stdout, '');
  t.is((await cli(['jobs', '--status', 'sleeping'])).code, 2);
  const badGrace = await cli(['delete', randomUUID(), '--grace', '-3d'], { ORCHESTRATOR_ADDR: '127.0.0.1:9' });
  t.is(badGrace.code, 2, 'a bad --grace is a usage error, before any call');
  t.regex(badGrace.stderr, /--grace must be a duration such as 30d/);
  t.is((await cli(['jobs', '--tenant', randomUUID(), '--user', randomUUID()])).code, 2);
  const down = await cli(['jobs', '--json'], { ORCHESTRATOR_ADDR: '127.0.0.1:9' });
  t.is(down.code, 1);
  t.is(down.stdout, '', 'no output on stdout when failing');
  t.is(down.stderr.split('\n').length, 2, 'one line');
  t.regex(down.stderr, /^erasure jobs: cannot reach the orchestrator at 127\.0\.0\.1:9: is the mesh running \(npm start\)\?/);
});

test('token: operator, service and user tokens, each signed with its own identity key', async (t) => {
  const { trust } = await testKeys();
  const operator = await cli(['token', '--operator', 'alice', '--ttl', '8h']);
  t.is(operator.code, 0, operator.stderr);
  t.deepEqual(await verifyToken(operator.stdout.trim(), trust), { kind: 'operator', operator: 'alice' });
  const service = await cli(['token', '--service', 'orchestrator']);
  t.is(service.code, 0, service.stderr);
  t.deepEqual(await verifyToken(service.stdout.trim(), trust), { kind: 'service', service: 'orchestrator' });
  const userId = randomUUID();
  const user = await cli(['token', '--user', userId, '--ttl', '5m', '--json']);
  t.is(user.code, 0);
  const parsed = JSON.parse(user.stdout) as { token: string; kind: string; subject: string; ttl: string };
  t.deepEqual({ kind: parsed.kind, subject: parsed.subject, ttl: parsed.ttl }, { kind: 'user', subject: userId, ttl: '5m' });
  t.deepEqual(await verifyToken(parsed.token, trust), { kind: 'user', userId });
  t.is((await cli(['token'])).code, 2);
  t.is((await cli(['token', '--service', 'orders', '--user', userId])).code, 2);
  t.is((await cli(['token', '--user', 'bob'])).code, 2);
  t.is((await cli(['token', '--operator', 'alice', '--ttl', 'forever'])).code, 2);
  t.is((await cli(['token', '--operator', 'alice', '--ttl', '9h'])).code, 2, 'longer than an operator token may live');
  t.is((await cli(['token', '--service', 'operator'])).code, 2, 'the operator key signs no service token');
  // A key the CLI does not hold cannot be used: a service without a key file here.
  const missing = await cli(['token', '--service', 'billing']);
  t.is(missing.code, 1);
  t.regex(missing.stderr, /no private key for billing/);
  // --key-file signs with that file, whose kid says whose key it is.
  const withFile = await cli(['token', '--service', 'orders', '--key-file', `${TEST_DATA_DIR}/keys/orders.private.jwk`]);
  t.deepEqual(await verifyToken(withFile.stdout.trim(), trust), { kind: 'service', service: 'orders' });
  const wrongFile = await cli(['token', '--service', 'sales', '--key-file', `${TEST_DATA_DIR}/keys/orders.private.jwk`]);
  t.is(wrongFile.code, 1);
  t.regex(wrongFile.stderr, /belongs to orders, not sales/);
});

test('keys init: a key per identity (0600), a bundle of public keys; a re-run keeps the keys and adds what is missing', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'erasure-keys-init-'));
  try {
    const first = await cli(['keys', 'init', dir, '--json']);
    t.is(first.code, 0, first.stderr);
    const { generated } = JSON.parse(first.stdout) as { generated: string[] };
    t.deepEqual(generated, [...PROCESS_NAMES, 'operator']);
    for (const identity of generated) t.is(statSync(join(dir, `${identity}.private.jwk`)).mode & 0o777, 0o600, identity);
    const bundle = JSON.parse(readFileSync(join(dir, 'trust-bundle.json'), 'utf8')) as { keys: { kid: string; iss: string; d?: string }[] };
    t.deepEqual(bundle.keys.map((key) => key.iss), generated);
    t.true(bundle.keys.every((key) => key.d === undefined && key.kid.startsWith(`${key.iss}.`)), 'public keys only, kid = <issuer>.<version>');
    // Rotation: the orders key is moved away; a re-run adds a new kid beside the old public key.
    renameSync(join(dir, 'orders.private.jwk'), join(dir, 'orders.retired.jwk'));
    const second = await cli(['keys', 'init', dir, '--json']);
    t.deepEqual((JSON.parse(second.stdout) as { generated: string[] }).generated, ['orders']);
    const rotated = JSON.parse(readFileSync(join(dir, 'trust-bundle.json'), 'utf8')) as typeof bundle;
    t.is(rotated.keys.filter((key) => key.iss === 'orders').length, 2, 'old and new orders keys both verify');
    const trust = await TrustBundle.load(join(dir, 'trust-bundle.json'));
    for (const file of ['orders.retired.jwk', 'orders.private.jwk']) {
      const token = await mintServiceToken(await loadSigningKey(join(dir, file)));
      t.deepEqual(await verifyToken(token, trust), { kind: 'service', service: 'orders' }, file);
    }
    t.is((await cli(['keys', 'init'])).code, 2);
    t.is((await cli(['keys', 'rotate', dir])).code, 2);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('list flags: comma-separated and repeatable', (t) => {
  t.deepEqual(parseArgs(['--services', 'orders,sales', '--services=pos', '--json'], { services: 'list', json: 'boolean' }).flags, { services: ['orders', 'sales', 'pos'], json: true });
  t.throws(() => parseArgs(['--services'], { services: 'list' }), { message: '--services needs a value' });
});

test('npm run token and npm run seed are aliases of erasure token and erasure seed', async (t) => {
  await testKeys();
  const run = (args: string[]) =>
    spawnSync('npm', ['run', '-s', ...args], { cwd: repoRoot, env: { ...process.env, ERASURE_DATA_DIR: TEST_DATA_DIR }, encoding: 'utf8', timeout: 60_000 });
  const token = run(['token', '--', '--operator', 'alice', '--json']);
  t.is(token.status, 0, token.stderr);
  const parsed = JSON.parse(token.stdout) as { token: string; kind: string; subject: string };
  t.deepEqual({ kind: parsed.kind, subject: parsed.subject }, { kind: 'operator', subject: 'operator:alice' });
  const help = run(['seed', '--', '--help']);
  t.is(help.status, 0, help.stderr);
  t.regex(help.stdout, /^usage: erasure seed/);
});

test('seed: chosen services and users, no identity records, proto3-style JSON (camelCase)', async (t) => {
  const orders = await createTestDatabase('cli_seed_orders');
  const sales = await createTestDatabase('cli_seed_sales');
  try {
    const tenantId = randomUUID();
    const users = [randomUUID(), randomUUID()];
    const env = { DATABASE_URL: testServerUrl(), ORDERS_DATABASE_URL: orders.url, SALES_DATABASE_URL: sales.url };
    const seeded = await cli(['seed', '--tenant', tenantId, '--user', users.join(','), '--services', 'orders', '--services', 'sales', '--no-identity', '--offline', '--rows', '400', '--json'], env);
    t.is(seeded.code, 0, seeded.stderr);
    const report = JSON.parse(seeded.stdout) as Record<string, unknown> & { perService: { service: string; rows: number }[] };
    t.deepEqual(Object.keys(report).sort(), ['adminId', 'ms', 'ownerId', 'perService', 'rows', 'tenantId', 'userIds']);
    t.is(report.tenantId, tenantId);
    t.deepEqual(report.userIds, users);
    t.deepEqual(report.perService.map((s) => s.service).sort(), ['orders', 'sales']);
    for (const db of [orders, sales]) {
      const { rows } = await db.pool.query<{ n: number }>(
        `SELECT count(*)::int AS n FROM information_schema.columns c WHERE c.table_schema = 'public' AND c.column_name = 'tenant_id'`,
      );
      t.true(rows[0]!.n > 0, 'the service has tenant tables');
    }
    const { rows: seededOrders } = await orders.pool.query<{ n: number }>(
      `SELECT sum((xpath('/row/n/text()', query_to_xml(format('SELECT count(*) AS n FROM %I WHERE tenant_id = %L', c.table_name, $1::text), false, true, '')))[1]::text::int)::int AS n
         FROM information_schema.columns c WHERE c.table_schema = 'public' AND c.column_name = 'tenant_id'`,
      [tenantId],
    );
    t.true(seededOrders[0]!.n > 0, 'rows of the tenant in orders (direct SQL)');
    const bad = await cli(['seed', '--services', 'bakery', '--no-identity'], env);
    t.is(bad.code, 2);
    t.regex(bad.stderr, /unknown service "bakery" for --services/);
    t.is((await cli(['seed', '--user', 'bob'], env)).code, 2);
    t.is((await cli(['seed', '--users', '2', '--user', users[0]!], env)).code, 2);
  } finally {
    await orders.drop();
    await sales.drop();
  }
});

test('tenants: TenantService.ListTenants, newest first, paged, filtered by status, services only', async (t) => {
  const db = await createTestDatabase('cli_tenants');
  const service = await startTestService(tenantService, db.url, tenantExtension);
  try {
    const ids: string[] = [];
    for (let i = 0; i < 3; i++) {
      const tenantId = randomUUID();
      ids.push(tenantId);
      await tenantService.seed(db.pool, { tenantId, userIds: [randomUUID(), randomUUID()], rows: 4 + i });
      // Distinct creation times, so "newest first" has one right answer.
      await db.pool.query(`UPDATE tenants SET created_at = now() - $2 * interval '1 day' WHERE id = $1`, [tenantId, 10 - i]);
    }
    await db.pool.query(`UPDATE tenants SET status = 'DELETING', deleting_since = now() WHERE id = $1`, [ids[0]]);
    const env = { TENANT_ADDR: service.address, ERASURE_TOKEN: await operatorToken('alice') };

    const all = await cli(['tenants', '--json'], env);
    t.is(all.code, 0, all.stderr);
    const listed = JSON.parse(all.stdout) as { tenants: { tenant: { id: string; status: string; ownerId: string }; memberCount: number }[]; nextPageToken?: string };
    t.deepEqual(listed.tenants.map((s) => s.tenant.id), [...ids].reverse(), 'newest first');
    const counts = await db.pool.query<{ tenant_id: string; n: number }>('SELECT tenant_id, count(*)::int AS n FROM tenant_members GROUP BY tenant_id');
    for (const summary of listed.tenants) {
      t.is(summary.memberCount, counts.rows.find((r) => r.tenant_id === summary.tenant.id)!.n, 'member count (direct SQL)');
    }
    t.is(listed.nextPageToken ?? '', '');

    const first = JSON.parse((await cli(['tenants', '--json', '--limit', '2'], env)).stdout) as typeof listed;
    t.is(first.tenants.length, 2);
    t.truthy(first.nextPageToken);
    const rest = JSON.parse((await cli(['tenants', '--json', '--limit', '2', '--page-token', first.nextPageToken!], env)).stdout) as typeof listed;
    t.deepEqual([...first.tenants, ...rest.tenants].map((s) => s.tenant.id), [...ids].reverse(), 'pages cover the list once');

    const deleting = JSON.parse((await cli(['tenants', '--json', '--status', 'deleting'], env)).stdout) as typeof listed;
    t.deepEqual(deleting.tenants.map((s) => s.tenant.id), [ids[0]]);
    t.is(deleting.tenants[0]!.tenant.status, TenantStatus[TenantStatus.TENANT_STATUS_DELETING]);

    const human = await cli(['tenants'], env);
    t.regex(human.stdout, new RegExp(`${ids[2]}\\s+Bakery ${ids[2]!.slice(0, 8)}\\s+ACTIVE\\s+\\d+`));

    const asUser = await cli(['tenants'], { ...env, ERASURE_TOKEN: await userToken(randomUUID()) });
    t.is(asUser.code, 1);
    t.regex(asUser.stderr, /^erasure tenants: PERMISSION_DENIED: /);
    const badToken = await cli(['tenants', '--page-token', 'garbage'], env);
    t.is(badToken.code, 1);
    t.regex(badToken.stderr, /INVALID_ARGUMENT: page_token/);
  } finally {
    await service.stop(1000);
    await db.drop();
  }
});
