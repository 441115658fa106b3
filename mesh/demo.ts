/**
 * `npm run demo`: one command from a fresh clone. Starts the mesh, seeds a bakery with about 100K rows
 * and a control bakery, previews the erasure, deletes the bakery with live progress, checks with direct
 * SQL that its rows are gone and that the control bakery is exactly as it was, prints the summary,
 * stops everything and exits 0 (1 if any check fails).
 *
 *   npm run demo [-- --rows 100000] [-- --control-rows 20000]
 */
import { randomUUID } from 'node:crypto';
import { Pool } from 'pg';
import { PreviewTenantDeletionResponse, type ApproveJobResponse, type GetCertificateResponse, type GetPublicKeysResponse, type Job, type RestoreTenantResponse } from '../gen/bakery/erasure/v1/deletion_orchestrator';
import { CERTIFICATE_TYPE, verifySigned, type CertificatePayload, type Jwks } from '../orchestrator/certificates';
import { EntityAction } from '../gen/bakery/erasure/v1/tenant_data_deletion';
import { parseArgs, UsageError } from '../cli/args';
import { resolveServiceDatabaseUrl } from '../services/kit/database';
import { seedTenant, type SeedReport } from '../services/seed';
import { MeshClient } from '../cli/client';
import { AT_ONCE, graceDuration } from '../orchestrator/grace';
import { LiveProgress } from '../cli/live';
import { formatCount, formatDuration, jobStatusName, previewTable, scheduledLine, summary, table } from '../cli/render';
import { censusDifferences, censusRows, tenantCensus, type TableCensus } from './census';
import { MeshStartError, startMesh, type Mesh } from './mesh';
import { MESH_SERVICES } from './services';
import { releaseEmbeddedPostgresSignalHooks } from './signals';

const out = (line = '') => process.stdout.write(`${line}\n`);
const DATA_SERVICES = MESH_SERVICES.filter((name) => name !== 'orchestrator');

type Census = Map<string, Map<string, TableCensus>>;

async function censusOf(env: Record<string, string | undefined>, tenant: SeedReport): Promise<Census> {
  const result: Census = new Map();
  await Promise.all(
    DATA_SERVICES.map(async (service) => {
      const pool = new Pool({ connectionString: (await resolveServiceDatabaseUrl(service, env)).url, max: 1 });
      pool.on('error', () => undefined);
      try {
        result.set(service, await tenantCensus(pool, tenant.tenantId, tenant.userIds));
      } finally {
        await pool.end();
      }
    }),
  );
  return result;
}

async function demo(mesh: Mesh, rows: number, controlRows: number, failures: string[]): Promise<Job> {
  const env = { ...process.env, ...mesh.env };
  const databaseUrl = async (name: string) => (await resolveServiceDatabaseUrl(name, env)).url;

  out(`2/8 seeding bakery A (to be erased) with ${formatCount(rows)} rows and bakery B (control) with ${formatCount(controlRows)} rows ...`);
  const started = Date.now();
  const target = await seedTenant({ tenantId: randomUUID(), rows, users: 5, identity: true, databaseUrl });
  const control = await seedTenant({ tenantId: randomUUID(), rows: controlRows, users: 4, identity: true, databaseUrl });
  out(`    bakery A ${target.tenantId}: ${formatCount(target.rows)} rows`);
  out(`    bakery B ${control.tenantId}: ${formatCount(control.rows)} rows (${formatDuration(Date.now() - started)})`);
  out();

  out('3/8 counting both bakeries\' rows in every service database (direct SQL, with a checksum per table) ...');
  const [targetBefore, controlBefore] = await Promise.all([censusOf(env, target), censusOf(env, control)]);
  out();

  const client = new MeshClient(env);
  try {
    out(`4/8 previewing the erasure of bakery A (DeletionOrchestrator.PreviewTenantDeletion) ...`);
    const preview = await client.call<PreviewTenantDeletionResponse>('orchestrator', 'previewTenantDeletion', { tenantId: target.tenantId });
    out(indent(previewTable(preview)));
    out();

    out('5/8 deleting bakery A at once (DeletionOrchestrator.DeleteTenant): four-eyes approval, then live:');
    const requested = await client.firstSnapshot((metadata) =>
      client.orchestrator.deleteTenant({ tenantId: target.tenantId, requestId: `demo-${target.tenantId}`, detach: true, gracePeriod: AT_ONCE, requireApproval: false }, metadata),
    );
    out(indent(`requested by ${requested.requestedBy}: job ${requested.id} ${jobStatusName(requested.status)}; nothing hidden or deleted yet`));
    if (jobStatusName(requested.status) === 'AWAITING_APPROVAL') await approveAsSecondPerson(client, env, requested.id, failures);
    const live = new LiveProgress(process.stdout);
    const job = await client.follow((metadata) => client.orchestrator.watchJob({ jobId: requested.id }, metadata), live.onEvent);
    live.finish(job);
    out(indent(summary(job, process.env)));
    out();
    if (jobStatusName(job.status) !== 'COMPLETED') failures.push(`the job ended ${jobStatusName(job.status)}: ${job.error}`);

    out('6/8 checking with direct SQL ...');
    const [targetAfter, controlAfter] = await Promise.all([censusOf(env, target), censusOf(env, control)]);
    // Kept on purpose: rows a RETAIN policy keeps (anonymized, e.g. invoices for tax law), and the users
    // themselves (auth), which a user erasure removes, not a tenant erasure.
    const retained = new Set(
      preview.services.flatMap((service) =>
        service.entities.filter((entity) => entity.action === EntityAction.ENTITY_ACTION_RETAIN).map((entity) => `${service.service}.${entity.entity}`),
      ),
    );
    const rowsTable: string[][] = [];
    for (const service of DATA_SERVICES) {
      const kept: string[] = [];
      let targetLeft = 0;
      for (const [tableName, census] of targetAfter.get(service)!) {
        if (census.rows === 0) continue;
        if (retained.has(`${service}.${tableName}`) || service === 'auth') kept.push(`${tableName} ${formatCount(census.rows)}`);
        else {
          targetLeft += census.rows;
          failures.push(`${service}.${tableName}: ${census.rows} rows of bakery A are left`);
        }
      }
      const changed = censusDifferences(controlBefore.get(service)!, controlAfter.get(service)!);
      for (const tableName of changed) failures.push(`${service}.${tableName}: bakery B's rows changed`);
      rowsTable.push([
        service,
        formatCount(censusRows(targetBefore.get(service)!)),
        formatCount(targetLeft),
        formatCount(censusRows(controlBefore.get(service)!)),
        formatCount(censusRows(controlAfter.get(service)!)),
        changed.length ? `CHANGED: ${changed.join(', ')}` : 'unchanged',
        kept.length ? `kept: ${kept.join(', ')}` : '',
      ]);
    }
    out(indent(table(['service', 'A before', 'A left', 'B before', 'B after', 'B checksum', 'notes'], rowsTable, [1, 2, 3, 4])));
    out();
    out('    kept on purpose: rows a RETAIN rule keeps for a legal reason (anonymized), and bakery A\'s users in');
    out('    auth (a user erasure removes users; `npx erasure delete-user <id>`).');
    out();
    if (jobStatusName(job.status) === 'COMPLETED') await showCertificate(client, job.id, failures);
    await graceDemo(client, env, databaseUrl, failures);
    out();
    await customerDemo(client, env, databaseUrl, failures);
    return job;
  } finally {
    client.close();
  }
}

/** The job's deletion certificate, verified against the orchestrator's published keys (as `erasure verify-certificate` does offline). */
async function showCertificate(client: MeshClient, jobId: string, failures: string[]): Promise<void> {
  const { jws } = await client.call<GetCertificateResponse>('orchestrator', 'getCertificate', { jobId });
  const { jwksJson } = await client.call<GetPublicKeysResponse>('orchestrator', 'getPublicKeys', {});
  try {
    const { payload, kid } = await verifySigned<CertificatePayload>(jws, JSON.parse(jwksJson) as Jwks, CERTIFICATE_TYPE);
    out(`    deletion certificate verified (key ${kid}): subject ${payload.subject.ref.slice(0, 24)}…, audit head ${payload.audit_head.seq}`);
    out(`    (npx erasure certificate ${jobId} -o cert.jws && npx erasure verify-certificate cert.jws)`);
  } catch (error) {
    failures.push(`the deletion certificate does not verify: ${(error as Error).message}`);
  }
}

/** Step 7: a scheduled erasure restored with nothing lost, and another that purges by itself at its time. */
/**
 * The four-eyes rule shown: the requester's own approval is refused (PERMISSION_DENIED), a second
 * operator's is accepted (README.md "Approvals").
 */
async function approveAsSecondPerson(client: MeshClient, env: Record<string, string | undefined>, jobId: string, failures: string[]): Promise<void> {
  try {
    await client.call<ApproveJobResponse>('orchestrator', 'approveJob', { jobId });
    failures.push('the requester could approve their own erasure');
  } catch (error) {
    out(indent(`the requester approving it: refused (${(error as Error).message})`));
  }
  const second = new MeshClient({ ...env, ERASURE_TOKEN: '', ERASURE_OPERATOR: 'demo-second-operator' });
  try {
    const { job } = await second.call<ApproveJobResponse>('orchestrator', 'approveJob', { jobId });
    out(indent(`approved by a second operator (audit: ${job!.approvedBy}): job ${jobStatusName(job!.status)}`));
  } finally {
    second.close();
  }
}

async function graceDemo(client: MeshClient, env: Record<string, string | undefined>, databaseUrl: (name: string) => Promise<string>, failures: string[]): Promise<void> {
  out('7/8 grace period: bakery C scheduled with a 1 h grace and restored; bakery D scheduled with 5 s and purged by itself ...');
  const [c, d] = [await seedTenant({ tenantId: randomUUID(), rows: 300, users: 2, identity: true, databaseUrl }), await seedTenant({ tenantId: randomUUID(), rows: 300, users: 2, identity: true, databaseUrl })];
  const before = await censusOf(env, c);
  const scheduled = await client.firstSnapshot((metadata) => client.orchestrator.deleteTenant({ tenantId: c.tenantId, requestId: '', detach: true, gracePeriod: graceDuration(3_600_000), requireApproval: false }, metadata));
  out(indent(scheduledLine(scheduled)));
  const { job: restored } = await client.call<RestoreTenantResponse>('orchestrator', 'restoreTenant', { tenantId: c.tenantId });
  out(indent(`restored: job ${restored!.id} ${jobStatusName(restored!.status)} (${restored!.error})`));
  const after = await censusOf(env, c);
  const changed = DATA_SERVICES.flatMap((service) => censusDifferences(before.get(service)!, after.get(service)!).map((tableName) => `${service}.${tableName}`));
  for (const name of changed) failures.push(`${name}: bakery C changed by a restored erasure`);
  out(indent(`bakery C after the restore: ${changed.length ? `CHANGED: ${changed.join(', ')}` : 'every table unchanged (count and checksum)'}`));
  const purge = await client.firstSnapshot((metadata) => client.orchestrator.deleteTenant({ tenantId: d.tenantId, requestId: '', detach: true, gracePeriod: graceDuration(5_000), requireApproval: false }, metadata));
  out(indent(scheduledLine(purge)));
  const purged = await client.follow((metadata) => client.orchestrator.watchJob({ jobId: purge.id }, metadata), () => undefined);
  out(indent(`job ${purged.id} ${jobStatusName(purged.status)}: started ${purged.startTime?.toISOString()} (purge time ${purged.purgeTime?.toISOString()}), ${formatCount(purged.totalRowsDeleted)} rows`));
  if (jobStatusName(purged.status) !== 'COMPLETED') failures.push(`the scheduled job for bakery D ended ${jobStatusName(purged.status)}: ${purged.error}`);
}

/** Direct SQL: where a bakery holds the customer's e-mail (orders, notification), and its invoices to them (sales). */
async function customerRows(env: Record<string, string | undefined>, tenantId: string, email: string): Promise<{ customers: number; messages: number; invoicesNaming: number; invoices: number }> {
  const count = async (service: string, sql: string, params: unknown[]) => {
    const pool = new Pool({ connectionString: (await resolveServiceDatabaseUrl(service, env)).url, max: 1 });
    pool.on('error', () => undefined);
    try {
      return (await pool.query<{ n: number }>(sql, params)).rows[0]!.n;
    } finally {
      await pool.end();
    }
  };
  return {
    customers: await count('orders', 'SELECT count(*)::int AS n FROM customers WHERE tenant_id = $1 AND lower(email) = $2', [tenantId, email]),
    messages: await count('notification', 'SELECT count(*)::int AS n FROM customer_messages WHERE tenant_id = $1 AND lower(recipient_email) = $2', [tenantId, email]),
    invoicesNaming: await count('sales', 'SELECT count(*)::int AS n FROM invoices WHERE tenant_id = $1 AND lower(customer_email) = $2', [tenantId, email]),
    invoices: await count('sales', 'SELECT count(*)::int AS n FROM invoices WHERE tenant_id = $1', [tenantId]),
  };
}

/** Step 8: one customer erased from bakery E; the same e-mail at bakery F untouched (README.md, "Customer erasure"). */
async function customerDemo(client: MeshClient, env: Record<string, string | undefined>, databaseUrl: (name: string) => Promise<string>, failures: string[]): Promise<void> {
  const email = 'customer1@example.test';
  out(`8/8 customer erasure: ${email} is a customer of bakeries E and F; erasing it from E only ...`);
  const [e, f] = [await seedTenant({ tenantId: randomUUID(), rows: 600, users: 2, identity: true, databaseUrl }), await seedTenant({ tenantId: randomUUID(), rows: 600, users: 2, identity: true, databaseUrl })];
  const line = (name: string, rows: Awaited<ReturnType<typeof customerRows>>) =>
    `bakery ${name}: customer records ${rows.customers}, messages ${rows.messages}, invoices naming them ${rows.invoicesNaming} (of ${rows.invoices} invoices)`;
  const [eBefore, fBefore] = [await customerRows(env, e.tenantId, email), await customerRows(env, f.tenantId, email)];
  out(indent(`before  ${line('E', eBefore)}\n        ${line('F', fBefore)}`));
  const job = await client.follow((metadata) => client.orchestrator.deleteCustomer({ customer: { tenantId: e.tenantId, email: 'Customer1@Example.test' }, requestId: '', detach: false, requireApproval: false }, metadata), () => undefined);
  out(indent(`job ${job.id} ${jobStatusName(job.status)}: ${formatCount(job.totalRowsDeleted)} rows deleted or anonymized; the job names the customer as ${job.customer?.subjectRef.slice(0, 24)}…`));
  const [eAfter, fAfter] = [await customerRows(env, e.tenantId, email), await customerRows(env, f.tenantId, email)];
  out(indent(`after   ${line('E', eAfter)}\n        ${line('F', fAfter)}`));
  if (jobStatusName(job.status) !== 'COMPLETED') failures.push(`the customer job ended ${jobStatusName(job.status)}: ${job.error}`);
  if (eAfter.customers || eAfter.messages || eAfter.invoicesNaming) failures.push('bakery E still holds the erased customer');
  if (eAfter.invoices !== eBefore.invoices) failures.push("bakery E's invoices were not all kept");
  if (JSON.stringify(fAfter) !== JSON.stringify(fBefore) || !fBefore.customers) failures.push('bakery F\'s customer changed (or was never there)');
}

const indent = (text: string) =>
  text
    .split('\n')
    .map((line) => (line ? `    ${line}` : line))
    .join('\n');

async function main(): Promise<number> {
  const { positionals, flags } = parseArgs(process.argv.slice(2), { rows: 'string', 'control-rows': 'string', verbose: 'boolean', help: 'boolean' });
  if (positionals.length) throw new UsageError(`unexpected argument ${JSON.stringify(positionals[0])} (see npm run demo -- --help)`);
  if (flags.help) {
    out('usage: npm run demo [-- --rows 100000] [-- --control-rows 20000] [-- --verbose]');
    return 0;
  }
  const rows = Number(flags.rows ?? 100_000);
  const controlRows = Number(flags['control-rows'] ?? 20_000);
  for (const [name, value] of [['rows', rows], ['control-rows', controlRows]] as const) {
    if (!Number.isInteger(value) || value < 100 || value > 10_000_000) throw new Error(`--${name} must be an integer from 100 to 10000000`);
  }
  releaseEmbeddedPostgresSignalHooks();
  const began = Date.now();
  const abort = new AbortController();
  let mesh: Mesh | undefined;
  let interrupted = false;
  const onSignal = () => {
    if (interrupted) return;
    interrupted = true;
    out('\ninterrupted: stopping the mesh ...');
    abort.abort();
    void (mesh?.stop() ?? Promise.resolve()).then(() => process.exit(130));
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);

  out('bakery erasure mesh — demo');
  out();
  out('1/8 starting the mesh: PostgreSQL, 14 services and the orchestrator, each its own process ...');
  mesh = await startMesh({ verbose: Boolean(flags.verbose), signal: abort.signal, out: (line) => out(`    ${line}`) });
  out(`    ready in ${formatDuration(mesh.readyMs)}; database ${mesh.databaseServer}`);
  out();
  const failures: string[] = [];
  try {
    await demo(mesh, rows, controlRows, failures);
  } finally {
    out();
    out('stopping the mesh ...');
    await mesh.stop();
  }
  out();
  if (failures.length) {
    out(`FAILED (${formatDuration(Date.now() - began)}):`);
    for (const failure of failures) out(`  ${failure}`);
    return 1;
  }
  out(`done in ${formatDuration(Date.now() - began)}: bakery A is erased everywhere, bakery B is untouched; the customer is gone from bakery E, kept at F.`);
  return 0;
}

main().then(
  (code) => process.exit(code),
  (error: Error) => {
    process.stderr.write(`demo: ${error.message}\n`);
    if (error instanceof MeshStartError && error.logTail.length) {
      process.stderr.write(`last lines of ${error.service}'s log:\n${error.logTail.map((line) => `  ${line}`).join('\n')}\n`);
    }
    process.exit(1);
  },
);
