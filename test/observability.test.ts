/**
 * Metrics, alerts and the dashboard as code (deploy/): promtool checks and unit-tests the alert rules;
 * then the whole mesh runs as real processes, erases a tenant (a control tenant stays untouched, by
 * direct SQL) and refuses a login, every process's `/metrics` is scraped for subject ids and e-mails,
 * and a real Prometheus on loopback scrapes the mesh and answers every metric and every expression the
 * dashboard and the alert rules use.
 */
import { AT_ONCE } from '../orchestrator/grace';
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { status } from '@grpc/grpc-js';
import test from 'ava';
import type { Pool } from 'pg';
import { JobStatus } from '../gen/bakery/erasure/v1/deletion_orchestrator';
import { PROCESS_NAMES } from '../mesh/catalog';
import { ConfigError } from '../services/kit/config';
import { metricsAddress } from '../services/kit/metrics';
import { repoRoot } from '../services/kit/paths';
import { seedTenant } from '../services/seed';
import { testServerUrl } from './support/database';
import { authCaller, outcome } from './support/identity';
import { changedTables, meshPools, meshSnapshot, rowsMentioning } from './support/mesh-checks';
import { orchestratorClient } from './support/orchestrator-client';
import { ProcessMesh, freePort } from './support/process-mesh';
import { operatorToken } from './support/services';

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
const deploy = (file: string) => join(repoRoot, 'deploy', file);
const UUID = /[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}/i;

function promtool(...args: string[]) {
  const run = spawnSync('promtool', args, { cwd: join(repoRoot, 'deploy'), encoding: 'utf8', timeout: 60_000 });
  if (run.error) throw new Error(`promtool not runnable (${run.error.message}): apt-get install -y prometheus`);
  return run;
}

/** Every expression of the alert rules and of the dashboard's panels. */
function deployExpressions(): { source: string; expr: string }[] {
  const rules = readFileSync(deploy('alerts.yml'), 'utf8');
  const fromRules = [...rules.matchAll(/^\s+- alert: (\S+)\n(?:\s+#.*\n)*\s+expr: (.+)$/gm)].map((m) => ({ source: `alert ${m[1]}`, expr: m[2]!.trim() }));
  const dashboard = JSON.parse(readFileSync(deploy('grafana/erasure-mesh.json'), 'utf8')) as { panels: { title: string; targets: { expr: string }[] }[] };
  const fromDashboard = dashboard.panels.flatMap((panel) => panel.targets.map((target) => ({ source: `panel "${panel.title}"`, expr: target.expr })));
  return [...fromRules, ...fromDashboard];
}

/** The metric names an expression reads (erasure_* and up). */
const metricNames = (expr: string) => [...expr.matchAll(/\b(erasure_[a-z_]+|up)\b/g)].map((m) => m[1]!);

test('the alert rules pass promtool check and their unit tests; the scrape config is valid', (t) => {
  const check = promtool('check', 'rules', 'alerts.yml');
  t.is(check.status, 0, check.stdout + check.stderr);
  t.regex(check.stdout, /SUCCESS: 7 rules found/);
  const unit = promtool('test', 'rules', 'alerts.test.yml');
  t.is(unit.status, 0, unit.stdout + unit.stderr);
  const config = promtool('check', 'config', 'prometheus.yml');
  t.is(config.status, 0, config.stdout + config.stderr);
  // The scrape config covers every process of the catalog, each at its gRPC port + 100.
  const scrape = readFileSync(deploy('prometheus.yml'), 'utf8');
  for (const [index, name] of PROCESS_NAMES.entries()) t.true(scrape.includes(`targets: ['127.0.0.1:${7200 + index}']\n        labels: { process: ${name} }`), name);
  // Every alert has its runbook entry.
  const runbook = readFileSync(join(repoRoot, 'docs/runbook.md'), 'utf8');
  const alerts = [...readFileSync(deploy('alerts.yml'), 'utf8').matchAll(/- alert: (\S+)/g)].map((m) => m[1]!);
  t.is(alerts.length, 7);
  for (const alert of alerts) t.true(runbook.includes(`## ${alert}`), `runbook entry for ${alert}`);
});

test('metricsAddress: gRPC port + 100 on 127.0.0.1 by default, <NAME>_METRICS_ADDR moves or turns it off, a bad value names the variable', (t) => {
  t.deepEqual(metricsAddress('orchestrator', {}), { host: '127.0.0.1', port: 7200 });
  t.deepEqual(metricsAddress('alert-processor', {}), { host: '127.0.0.1', port: 7214 });
  t.deepEqual(metricsAddress('orders', { ORDERS_ADDR: '127.0.0.1:17103' }), { host: '127.0.0.1', port: 17203 });
  t.deepEqual(metricsAddress('orders', { ORDERS_METRICS_ADDR: '0.0.0.0:9464' }), { host: '0.0.0.0', port: 9464 });
  t.is(metricsAddress('orders', { ORDERS_METRICS_ADDR: 'off' }), undefined);
  t.is(metricsAddress('bakery-erasure', {}), undefined, 'not a process of the catalog: no endpoint');
  for (const bad of ['9464', 'localhost:99999', 'a b:1']) {
    const error = t.throws(() => metricsAddress('alert-processor', { ALERT_PROCESSOR_METRICS_ADDR: bad }), { instanceOf: ConfigError });
    t.regex(error!.message, /^ALERT_PROCESSOR_METRICS_ADDR must be host:port or off/);
  }
});

let mesh: ProcessMesh;
let pools: Map<string, Pool>;
let prometheus: ChildProcess | undefined;
let otlp: Awaited<ReturnType<typeof otlpMetricsReceiver>>;

/** An OTLP/HTTP metrics receiver on loopback: keeps every request body, as text. */
async function otlpMetricsReceiver() {
  const bodies: string[] = [];
  const server = createServer((request, response) => {
    const chunks: Buffer[] = [];
    request.on('data', (chunk: Buffer) => chunks.push(chunk));
    request.on('end', () => {
      if (request.method === 'POST' && request.url === '/v1/metrics') bodies.push(Buffer.concat(chunks).toString('utf8'));
      response.writeHead(200, { 'content-type': 'application/json' }).end('{}');
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as { port: number };
  return { bodies, endpoint: `http://127.0.0.1:${port}`, close: () => new Promise<void>((resolve) => server.close(() => resolve())) };
}
let promDir: string | undefined;

test.before(async (t) => {
  t.timeout(300_000);
  otlp = await otlpMetricsReceiver();
  mesh = new ProcessMesh(testServerUrl(), `obs_${randomUUID().slice(0, 6)}`, {
    ERASURE_CHUNK_INITIAL_ROWS: '100',
    ERASURE_CHUNK_MAX_ROWS: '200',
    // Pushed by OTLP as well, every second, to this file's receiver.
    OTEL_METRICS_EXPORTER: 'otlp',
    OTEL_EXPORTER_OTLP_METRICS_ENDPOINT: `${otlp.endpoint}/v1/metrics`,
    OTEL_METRIC_EXPORT_INTERVAL: '1000',
  });
  await mesh.prepare();
  await mesh.startAll();
  pools = meshPools(mesh.databases);
});

test.after.always(async () => {
  if (prometheus?.pid && prometheus.exitCode === null) {
    const exited = new Promise((resolve) => prometheus!.once('exit', resolve));
    prometheus.kill('SIGTERM');
    await exited;
  }
  if (promDir) rmSync(promDir, { recursive: true, force: true });
  await mesh?.stopAll();
  await otlp?.close();
  for (const pool of pools?.values() ?? []) await pool.end().catch(() => undefined);
  await mesh?.dropDatabases();
});

async function scrape(address: string): Promise<string> {
  const response = await fetch(`http://${address}/metrics`);
  if (!response.ok) throw new Error(`GET http://${address}/metrics: ${response.status}`);
  return response.text();
}

async function promQuery(port: number, expr: string): Promise<{ status: string; data?: { result: { metric: Record<string, string>; value: [number, string] }[] }; error?: string }> {
  const response = await fetch(`http://127.0.0.1:${port}/api/v1/query?query=${encodeURIComponent(expr)}`);
  return (await response.json()) as never;
}

test.serial('after an erasure every process serves metrics without a subject id or e-mail, and a real Prometheus answers every metric of the dashboard and rules', async (t) => {
  t.timeout(300_000);
  const orch = orchestratorClient(mesh.addresses.orchestrator!);
  t.teardown(() => orch.close());
  const token = await operatorToken();
  const seed = (tenantId: string, userIds: string[]) =>
    seedTenant({ tenantId, userIds, rows: 600, identity: true, migrate: false, databaseUrl: async (name) => mesh.databases[name]! });
  const control = randomUUID();
  await seed(control, [randomUUID()]);
  const before = await meshSnapshot(pools);
  const tenantId = randomUUID();
  const userIds = [randomUUID(), randomUUID()];
  await seed(tenantId, userIds);
  const emails = (await pools.get('auth')!.query<{ email: string }>('SELECT email FROM users WHERE id = ANY($1::uuid[])', [userIds])).rows.map((r) => r.email);
  t.is(emails.length, 2, 'the subjects\' e-mails (direct SQL)');

  // A refused login, with a real user's e-mail: counted by reason, the address nowhere in the metrics.
  const auth = authCaller(mesh.addresses.auth!);
  t.teardown(() => auth.close());
  t.is((await outcome(auth.login({ email: emails[0]!, password: 'not-the-password' }))).code, status.UNAUTHENTICATED);

  const run = await orch.deleteTenant({ gracePeriod: AT_ONCE, tenantId }, token);
  t.is(run.finished?.status, JobStatus.JOB_STATUS_COMPLETED, run.error?.message ?? run.finished?.error);
  const jobId = run.finished!.id;
  const steps = run.finished!.steps.map((s) => `${s.service}:${s.expectedRows}/${s.rowsDeleted}`).join(' ');
  t.deepEqual(await rowsMentioning(pools, [tenantId]), {}, `nothing of the tenant left (direct SQL); steps expected/deleted: ${steps}`);
  t.deepEqual(changedTables(before, await meshSnapshot(pools)), [], 'the control tenant is untouched (direct SQL)');
  const { rows } = await pools.get('orchestrator')!.query<{ total: number }>('SELECT sum(rows_deleted)::int AS total FROM erasure_job_steps WHERE job_id = $1', [jobId]);
  t.true(rows[0]!.total > 0);

  // Every process, scraped directly.
  const scraped = new Map<string, string>();
  for (const name of PROCESS_NAMES) scraped.set(name, await scrape(mesh.metricsAddresses[name]!));
  const forbidden = [tenantId, control, jobId, ...userIds, ...emails];
  for (const [name, text] of scraped) {
    for (const value of forbidden) t.false(text.toLowerCase().includes(value.toLowerCase()), `${name}'s metrics do not carry ${value === jobId ? 'the job id' : 'a subject id or e-mail'}`);
    const ours = text.split('\n').filter((line) => line.startsWith('erasure_'));
    t.deepEqual(ours.filter((line) => UUID.test(line) || line.includes('@')), [], `${name}: no id-like or e-mail-like label value`);
  }
  // The rows the data services counted are the rows the job recorded (direct SQL above).
  let erased = 0;
  for (const text of scraped.values()) {
    for (const m of text.matchAll(/^erasure_rows_erased_total\{[^}]*\} (\d+)/gm)) erased += Number(m[1]);
  }
  t.is(erased, rows[0]!.total, 'erasure_rows_erased_total over all services = the job\'s rows');
  t.regex(scraped.get('orchestrator')!, /^erasure_jobs_finished_total\{status="COMPLETED"\} 1$/m);
  t.regex(scraped.get('auth')!, /^erasure_login_refusals_total\{reason="invalid_credentials"\} 1$/m);
  t.regex(scraped.get('orders')!, /^erasure_chunk_duration_seconds_count\{service="orders",entity="[a-z_]+"\} [1-9]/m);

  // A real Prometheus on loopback scrapes the mesh, with the repository's alert rules loaded.
  promDir = mkdtempSync(join(tmpdir(), 'erasure-prometheus-'));
  const promPort = await freePort();
  const targets = PROCESS_NAMES.map((name) => `      - targets: ['${mesh.metricsAddresses[name]}']\n        labels: { process: ${name} }`).join('\n');
  writeFileSync(
    join(promDir, 'prometheus.yml'),
    `global:\n  scrape_interval: 1s\n  evaluation_interval: 1s\nrule_files:\n  - ${deploy('alerts.yml')}\nscrape_configs:\n  - job_name: erasure-mesh\n    static_configs:\n${targets}\n`,
  );
  const lines: string[] = [];
  prometheus = spawn(
    'prometheus',
    [`--config.file=${join(promDir, 'prometheus.yml')}`, `--storage.tsdb.path=${join(promDir, 'data')}`, `--web.listen-address=127.0.0.1:${promPort}`],
    { stdio: ['ignore', 'pipe', 'pipe'] },
  );
  prometheus.stderr!.on('data', (chunk: Buffer) => lines.push(...chunk.toString().split('\n')));
  const deadline = Date.now() + 60_000;
  let up: { metric: Record<string, string>; value: [number, string] }[] = [];
  for (;;) {
    const answer = await promQuery(promPort, 'up{job="erasure-mesh"} == 1').catch(() => undefined);
    up = answer?.data?.result ?? [];
    if (up.length === PROCESS_NAMES.length) break;
    if (Date.now() > deadline) t.fail(`Prometheus saw ${up.length} of ${PROCESS_NAMES.length} processes up: ${lines.slice(-20).join('\n')}`);
    if (Date.now() > deadline) return;
    await sleep(500);
  }
  t.deepEqual(up.map((r) => r.metric.process).sort(), [...PROCESS_NAMES].sort(), 'every process is scraped and up');
  await sleep(3000); // a few scrapes, so rate() has two samples

  const expressions = deployExpressions();
  t.true(expressions.length >= 19, `${expressions.length} expressions`);
  const names = new Set(expressions.flatMap((e) => metricNames(e.expr)));
  for (const name of ['erasure_jobs', 'erasure_jobs_finished_total', 'erasure_jobs_stalled', 'erasure_verification_failures_total', 'erasure_step_retries_total', 'erasure_open_job_oldest_age_seconds', 'erasure_legal_due_seconds', 'erasure_open_requests', 'erasure_rows_erased_total', 'erasure_chunk_duration_seconds_bucket', 'erasure_login_refusals_total', 'erasure_queue_depth', 'erasure_jobs_running', 'erasure_job_duration_seconds_bucket', 'erasure_step_duration_seconds_bucket', 'up']) {
    t.true(names.has(name), `deploy/ uses ${name}`);
  }
  for (const name of names) {
    const answer = await promQuery(promPort, `count(${name})`);
    t.is(answer.status, 'success', `${name}: ${answer.error}`);
    t.true((answer.data?.result.length ?? 0) > 0, `Prometheus has series of ${name}`);
  }
  for (const { source, expr } of expressions) {
    const answer = await promQuery(promPort, expr);
    t.is(answer.status, 'success', `${source}: ${expr}: ${answer.error}`);
  }
  // What the dashboard shows matches the run: one completed job, the legal limit of 30 days, nothing stalled.
  const value = async (expr: string) => Number((await promQuery(promPort, expr)).data?.result[0]?.value[1]);
  t.is(await value('max(erasure_jobs{status="COMPLETED"})'), 1);
  t.is(await value('max(erasure_legal_due_seconds)'), 30 * 86_400);
  t.is(await value('max(erasure_jobs_stalled)'), 0);
  t.is(await value('sum(max by (due_within) (erasure_open_requests))'), 0, 'no request left unfinished');
  t.is(await value('sum(erasure_rows_erased_total)'), rows[0]!.total);

  // The OTLP push reached the receiver from every process, with the same metrics and no id or e-mail.
  await sleep(1500);
  const pushed = otlp.bodies.join('\n');
  for (const name of PROCESS_NAMES) t.true(pushed.includes(`"stringValue":"${name}"`), `${name} pushed metrics by OTLP`);
  t.true(pushed.includes('"name":"erasure_rows_erased"'), 'the rows counter was pushed');
  for (const value of forbidden) t.false(pushed.toLowerCase().includes(value.toLowerCase()), 'no subject id, job id or e-mail in the OTLP push');

  // No label value Prometheus stored carries an id or an e-mail.
  const series = await fetch(`http://127.0.0.1:${promPort}/api/v1/series?match[]=${encodeURIComponent('{__name__=~"erasure_.+"}')}`).then((r) => r.text());
  t.false(UUID.test(series), 'no id-like label value in Prometheus');
  t.false(series.includes('@'), 'no e-mail-like label value in Prometheus');
});
