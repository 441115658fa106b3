/**
 * Customer subjects (README.md, "Customer erasure"): all fourteen services and the orchestrator as
 * real processes, one mesh. The same e-mail is a customer of tenants A and B (the seed makes
 * customerN@example.test in every tenant); erasing the customer in A leaves none of A's rows holding
 * the e-mail or phone, keeps A's invoices anonymized, and leaves B byte-identical. A legal hold can name
 * a customer (whole: nothing changes until its release; one entity: exactly those rows stay), and a
 * customer erasure can wait for a second person's approval. Every check of rows is direct SQL over the
 * databases, never through the code under test.
 */
import { randomUUID } from 'node:crypto';
import { status } from '@grpc/grpc-js';
import test from 'ava';
import type { Pool } from 'pg';
import { JobStatus } from '../gen/bakery/erasure/v1/deletion_orchestrator';
import type { CustomerSubject } from '../gen/bakery/erasure/v1/tenant_data_deletion';
import { seedTenant } from '../services/seed';
import { testServerUrl } from './support/database';
import { outcome } from './support/identity';
import { meshPools, waitForJobStatus } from './support/mesh-checks';
import { orchestratorClient } from './support/orchestrator-client';
import { ProcessMesh } from './support/process-mesh';
import { erasureClient, operatorToken, runExport, serviceToken, userToken } from './support/services';
import { credentials } from '@grpc/grpc-js';
import { DeletionOrchestratorClient } from '../gen/bakery/erasure/v1/deletion_orchestrator';
import { bearerMetadata, unaryCall } from '../services/kit/unary';
import { tableColumns, tableNames } from './support/snapshot';

let mesh: ProcessMesh;
let pools: Map<string, Pool>;
let orch: ReturnType<typeof orchestratorClient>;
let operator: string;
const tenantA = randomUUID();
const tenantB = randomUUID();
let ownerA: string;
let ownerB: string;

/** What the seed gives customer N (orders' customers, sales' invoices, notification's messages). */
const emailOf = (n: number) => `customer${n}@example.test`;
const phoneOf = (n: number) => `+49 30 ${1000000 + n}`;

test.before(async (t) => {
  t.timeout(300_000);
  mesh = new ProcessMesh(testServerUrl(), `customers_${randomUUID().slice(0, 6)}`, {
    ORCHESTRATOR_BACKOFF_BASE_MS: '200',
    ORCHESTRATOR_BACKOFF_MAX_MS: '1500',
  });
  await mesh.prepare();
  await mesh.startAll();
  pools = meshPools(mesh.databases);
  orch = orchestratorClient(mesh.addresses.orchestrator!);
  operator = await operatorToken();
  const seed = (tenantId: string) =>
    seedTenant({ tenantId, rows: 600, users: 2, identity: true, migrate: false, databaseUrl: async (name) => mesh.databases[name]! });
  [ownerA, ownerB] = (await Promise.all([seed(tenantA), seed(tenantB)])).map((report) => report.userIds[0]!) as [string, string];
});

test.after.always(async () => {
  orch?.close();
  await mesh?.stopAll();
  for (const pool of pools?.values() ?? []) await pool.end().catch(() => undefined);
  await mesh?.dropDatabases();
});

const sql = async <T>(database: string, text: string, params: unknown[] = []) => (await pools.get(database)!.query(text, params)).rows as T[];

/** The predicate "the row's text holds the e-mail or the phone (as stored or in E.164)" over alias t; $1 e-mail, $2 phone regex. */
const HOLDS = `(t::text ILIKE '%' || $1 || '%' OR t::text ~ $2)`;
const phonePattern = (phone: string) => {
  const e164 = phone.replace(/[\s().-]/g, '');
  const esc = (s: string) => s.replace(/[+().]/g, '\\$&');
  return `(${esc(phone)}|${esc(e164)})([^0-9]|$)`;
};

/** Runs `work` for every table of every service database: the databases at once, each one's tables in turn. */
async function eachServiceTable(work: (database: string, pool: Pool, table: string) => Promise<void>): Promise<void> {
  await Promise.all(
    [...pools].filter(([database]) => database !== 'orchestrator').map(async ([database, pool]) => {
      for (const table of await tableNames(pool)) await work(database, pool, table);
    }),
  );
}

/**
 * Rows of every table of every service database that hold the e-mail or phone: tables with a
 * tenant_id only for `tenantId`, the others whole.
 */
async function sweep(tenantId: string, email: string, phone: string): Promise<Record<string, number>> {
  const found: Record<string, number> = {};
  await eachServiceTable(async (database, pool, table) => {
    const scoped = (await tableColumns(pool, table)).includes('tenant_id');
    const { rows } = await pool.query<{ n: number }>(
      `SELECT count(*)::int AS n FROM "${table}" t WHERE ${HOLDS}${scoped ? ' AND t.tenant_id = $3' : ''}`,
      scoped ? [email, phonePattern(phone), tenantId] : [email, phonePattern(phone)],
    );
    if (rows[0]!.n > 0) found[`${database}.${table}`] = rows[0]!.n;
  });
  return Object.fromEntries(Object.entries(found).sort());
}

/** A checksum of every row of the tenant in every service database (tables without tenant_id: every row). */
async function tenantHash(tenantId: string): Promise<Record<string, string>> {
  const hashes: Record<string, string> = {};
  await eachServiceTable(async (database, pool, table) => {
    const scoped = (await tableColumns(pool, table)).includes('tenant_id');
    const { rows } = await pool.query<{ n: number; h: string | null }>(
      `SELECT count(*)::int AS n, md5(string_agg(t::text, '|' ORDER BY t::text)) AS h FROM "${table}" t${scoped ? ' WHERE t.tenant_id = $1' : ''}`,
      scoped ? [tenantId] : [],
    );
    hashes[`${database}.${table}`] = `${rows[0]!.n}:${rows[0]!.h ?? ''}`;
  });
  return Object.fromEntries(Object.entries(hashes).sort());
}

/** Rows of any table, in any schema (the queue's too), of the orchestrator's database whose text holds one of `values` (case-insensitive). */
async function orchestratorRowsHolding(values: string[]): Promise<Record<string, number>> {
  const pool = pools.get('orchestrator')!;
  const found: Record<string, number> = {};
  const { rows: tables } = await pool.query<{ name: string }>(
    `SELECT format('%I.%I', n.nspname, c.relname) AS name FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
      WHERE c.relkind IN ('r', 'p') AND n.nspname NOT IN ('pg_catalog', 'information_schema') AND n.nspname NOT LIKE 'pg_toast%'`,
  );
  for (const { name: table } of tables) {
    const { rows } = await pool.query<{ n: number }>(
      `SELECT count(*)::int AS n FROM ${table} t WHERE EXISTS (SELECT 1 FROM unnest($1::text[]) v WHERE t::text ILIKE '%' || v || '%')`,
      [values],
    );
    if (rows[0]!.n > 0) found[table] = rows[0]!.n;
  }
  return found;
}

const jobCount = async () => (await sql<{ n: number }>('orchestrator', 'SELECT count(*)::int AS n FROM erasure_jobs'))[0]!.n;

test.serial('a customer erased in tenant A: none of A\'s rows hold the e-mail or phone, A\'s invoices are kept anonymized, B is byte-identical', async (t) => {
  const email = emailOf(1);
  const phone = phoneOf(1);
  // The seed gave both tenants the customer: orders, invoices (written as "Customer1@Example.TEST") and messages.
  const inA = await sweep(tenantA, email, phone);
  const inB = await sweep(tenantB, email, phone);
  for (const table of ['orders.customers', 'sales.invoices', 'notification.customer_messages']) {
    t.true((inA[table] ?? 0) > 0, `A holds the customer in ${table}`);
    t.true((inB[table] ?? 0) > 0, `B holds the customer in ${table}`);
  }
  const invoices = await sql<{ id: string }>('sales', 'SELECT id FROM invoices WHERE tenant_id = $1 AND lower(customer_email) = $2', [tenantA, email]);
  const orders = await sql<{ id: string }>(
    'orders',
    'SELECT o.id FROM customer_orders o JOIN customers c ON c.id = o.customer_id WHERE c.tenant_id = $1 AND c.email = $2',
    [tenantA, email],
  );
  t.true(invoices.length > 0 && orders.length > 0);
  const bBefore = await tenantHash(tenantB);

  // The controller (A's owner) asks, with the e-mail as a person types it.
  const customer: CustomerSubject = { tenantId: tenantA, email: '  Customer1@EXAMPLE.test ' };
  const owner = await userToken(ownerA);
  const preview = await orch.unary.previewCustomerDeletion({ customer }, owner);
  t.deepEqual(preview.unreachableServices, []);
  const expected = Number(preview.totalRows);
  t.true(expected >= inA['orders.customers']! + invoices.length + orders.length);

  const run = await orch.deleteCustomer({ customer }, owner);
  t.falsy(run.error, run.error?.details);
  const job = run.finished!;
  t.is(job.status, JobStatus.JOB_STATUS_COMPLETED, job.error);
  t.is(Number(job.totalRowsDeleted), expected);
  t.truthy(job.verifiedTime);

  t.deepEqual(await sweep(tenantA, email, phone), {}, "no row of A's holds the e-mail or phone");
  const kept = await sql<{ customer_email: string | null; customer_name: string | null; billing_address: string | null }>(
    'sales',
    'SELECT customer_email, customer_name, billing_address FROM invoices WHERE id = ANY($1::uuid[])',
    [invoices.map((i) => i.id)],
  );
  t.is(kept.length, invoices.length, "A's invoices are kept (tax law)");
  t.true(kept.every((row) => row.customer_email === null && row.customer_name === null && row.billing_address === null), 'and anonymized');
  const unlinked = await sql<{ customer_id: string | null }>('orders', 'SELECT customer_id FROM customer_orders WHERE id = ANY($1::uuid[])', [orders.map((o) => o.id)]);
  t.is(unlinked.length, orders.length, "the customer's orders stay as the bakery's sales");
  t.true(unlinked.every((row) => row.customer_id === null), 'unlinked from the customer');
  t.deepEqual(await tenantHash(tenantB), bBefore, 'tenant B is byte-identical');
  t.true((await sweep(tenantA, emailOf(2), phoneOf(2)))['orders.customers']! > 0, "A's other customers stay");

  // The job names the customer only by tenant, kind of identifier and keyed hash; listing finds it by the identifier.
  const { job: read } = await orch.unary.getJob({ jobId: job.id }, operator);
  t.falsy(read!.subject);
  t.is(read!.customer!.tenantId, tenantA);
  t.is(read!.customer!.identifierKind, 'email');
  t.regex(read!.customer!.subjectRef, /^erased:k\d+:/);
  const listed = await orch.unary.listJobs({ subject: { customer: { tenantId: tenantA, email } }, status: 0, pageSize: 10, pageToken: '' }, operator);
  t.deepEqual(listed.jobs.map((j) => j.id), [job.id]);
  const certificate = await orch.unary.getCertificate({ jobId: job.id }, operator);
  t.false(certificate.payloadJson.toLowerCase().includes(email));

  // Nothing in the orchestrator's database holds the raw identifier (the sealed copy was wiped at the end).
  t.deepEqual(await orchestratorRowsHolding([email, phone, phone.replace(/\s/g, '')]), {});
  const [row] = await sql<{ subject_sealed: string | null; subject_id: string | null }>('orchestrator', 'SELECT subject_sealed, subject_id FROM erasure_jobs WHERE id = $1', [job.id]);
  t.deepEqual(row, { subject_sealed: null, subject_id: null });
  const audited = await sql<{ n: number }>('orchestrator', 'SELECT count(*)::int AS n FROM erasure_audit_log WHERE job_id = $1 AND subject_ref = $2', [job.id, read!.customer!.subjectRef]);
  t.true(audited[0]!.n >= 3, 'the audit chain names the customer by its keyed hash (requested, running, completed)');
  t.is((await sql<{ n: number }>('orchestrator', "SELECT count(*)::int AS n FROM erasure_tombstones WHERE subject_kind = 'customer'"))[0]!.n, 0, 'no tombstone: a customer may order again');
});

test.serial('by phone (any common spelling) and by the tenant\'s customer id, inside the one tenant', async (t) => {
  const bBefore = await tenantHash(tenantB);
  const byPhone = await orch.deleteCustomer({ customer: { tenantId: tenantA, phone: '+49 (30) 1000-002' } }, operator);
  t.is(byPhone.finished?.status, JobStatus.JOB_STATUS_COMPLETED, byPhone.finished?.error ?? byPhone.error?.details);
  t.deepEqual(
    await sql('orders', 'SELECT id FROM customers WHERE tenant_id = $1 AND phone = $2', [tenantA, phoneOf(2)]),
    [],
    "the customer's record is gone",
  );
  const [third] = await sql<{ id: string }>('orders', 'SELECT id FROM customers WHERE tenant_id = $1 AND email = $2', [tenantA, emailOf(3)]);
  const byId = await orch.deleteCustomer({ customer: { tenantId: tenantA, customerId: ` ${third!.id} ` } }, operator);
  t.is(byId.finished?.status, JobStatus.JOB_STATUS_COMPLETED, byId.finished?.error ?? byId.error?.details);
  t.deepEqual(await sql('orders', 'SELECT id FROM customers WHERE id = $1', [third!.id]), []);
  t.deepEqual(await tenantHash(tenantB), bBefore, 'tenant B is byte-identical');
});

test.serial('a customer with no rows previews zero and completes', async (t) => {
  const customer = { tenantId: tenantA, email: 'nobody-here@example.test' };
  const preview = await orch.unary.previewCustomerDeletion({ customer }, operator);
  t.is(preview.totalRows, '0');
  t.deepEqual(preview.unreachableServices, []);
  const before = await tenantHash(tenantA);
  const run = await orch.deleteCustomer({ customer }, operator);
  t.is(run.finished?.status, JobStatus.JOB_STATUS_COMPLETED, run.finished?.error ?? run.error?.details);
  t.is(run.finished?.totalRowsDeleted, '0');
  t.deepEqual(await tenantHash(tenantA), before, 'nothing changed');
});

test.serial('a service exports a customer\'s rows: the record and the orders that point at it', async (t) => {
  const orders = erasureClient(mesh.addresses.orders!);
  try {
    const exported = await runExport(orders, { customer: { tenantId: tenantA, email: emailOf(4) } }, await serviceToken());
    t.falsy(exported.error, exported.error?.details);
    const result = exported.messages.at(-1)!.result!;
    const counts = Object.fromEntries(result.entities.map((e) => [e.entity, Number(e.rows)]));
    const [direct] = await sql<{ c: number; o: number }>(
      'orders',
      `SELECT (SELECT count(*)::int FROM customers WHERE tenant_id = $1 AND email = $2) AS c,
              (SELECT count(*)::int FROM customer_orders o JOIN customers c ON c.id = o.customer_id WHERE c.tenant_id = $1 AND c.email = $2) AS o`,
      [tenantA, emailOf(4)],
    );
    t.deepEqual(counts, { customer_orders: direct!.o, customers: direct!.c });
    t.true(direct!.c === 1 && direct!.o > 0);
  } finally {
    orders.close();
  }
});

test.serial('bad identifiers are INVALID_ARGUMENT without echoing them; another tenant\'s user is PERMISSION_DENIED; nothing is recorded', async (t) => {
  const jobsBefore = await jobCount();
  const bad: [CustomerSubject | undefined, string][] = [
    [{ tenantId: tenantA, email: 'Not An Address' }, 'Not An Address'],
    [{ tenantId: tenantA, phone: '+49 30 12' }, '+49 30 12'],
    [{ tenantId: tenantA, phone: '0049 30 1234567 ext' }, '0049 30 1234567 ext'],
    [{ tenantId: tenantA, email: emailOf(5), phone: phoneOf(5) }, emailOf(5)],
    [{ tenantId: tenantA }, tenantA],
    [{ tenantId: 'someone@example.test', email: emailOf(5) }, 'someone@example.test'],
    [undefined, ''],
  ];
  for (const [customer, raw] of bad) {
    const result = await outcome(orch.deleteCustomer({ customer }, operator).then((run) => { if (run.error) throw run.error; }));
    t.is(result.code, status.INVALID_ARGUMENT, `${JSON.stringify(customer)}: ${result.message}`);
    if (raw) t.false(result.message.toLowerCase().includes(raw.toLowerCase()), `the message does not repeat the value: ${result.message}`);
    const previewed = await outcome(orch.unary.previewCustomerDeletion({ customer }, operator));
    t.is(previewed.code, status.INVALID_ARGUMENT);
  }
  // B's owner is no controller of A's customers.
  const foreign = await userToken(ownerB);
  const denied = await orch.deleteCustomer({ customer: { tenantId: tenantA, email: emailOf(5) } }, foreign);
  t.is(denied.error?.code, status.PERMISSION_DENIED);
  t.is((await outcome(orch.unary.previewCustomerDeletion({ customer: { tenantId: tenantA, email: emailOf(5) } }, foreign))).code, status.PERMISSION_DENIED);
  t.is(await jobCount(), jobsBefore, 'no job was recorded');
  t.true((await sweep(tenantA, emailOf(5), phoneOf(5)))['orders.customers']! > 0, 'the customer is untouched');
});

test.serial('a legal hold on a customer stops its erasure ON_HOLD before any row changes; another operator\'s release completes it', async (t) => {
  t.timeout(120_000);
  const holds = new DeletionOrchestratorClient(mesh.addresses.orchestrator!, credentials.createInsecure());
  const [alice, bob] = [await operatorToken('alice'), await operatorToken('bob')];
  try {
    const email = emailOf(5); // the seed's last customer of A still in place: the bad-input test above left it untouched
    const customer: CustomerSubject = { tenantId: tenantA, email: email.toUpperCase() };
    const { hold } = await unaryCall(holds, 'placeHold', { subject: { customer }, services: [], entities: [], reason: 'case 2026-17' }, { metadata: bearerMetadata(alice) });
    t.is(hold!.subjectKind, 'customer');
    const listed = await unaryCall(holds, 'listHolds', { subject: { customer: { tenantId: tenantA, email } }, includeEnded: false }, { metadata: bearerMetadata(bob) });
    t.deepEqual(listed.holds.map((h) => h.id), [hold!.id], 'listed by the identifier in any spelling');
    const [stored] = await sql<{ subject_ref: string; tenant_id: string | null }>('orchestrator', 'SELECT subject_ref, tenant_id FROM legal_holds WHERE id = $1', [hold!.id]);
    t.is(stored!.tenant_id, null);
    t.false(stored!.subject_ref.includes(email), 'the hold keeps the keyed hash only');

    const [aBefore, bBefore] = [await tenantHash(tenantA), await tenantHash(tenantB)];
    const run = await orch.deleteCustomer({ customer: { tenantId: tenantA, email }, detach: true }, operator);
    const jobId = run.snapshot!.id;
    t.is(await waitForJobStatus(pools.get('orchestrator')!, jobId, 'ON_HOLD', 60_000), 'ON_HOLD');
    const [job] = await sql<{ hold_ids: string[]; subject_ref: string }>('orchestrator', 'SELECT hold_ids, subject_ref FROM erasure_jobs WHERE id = $1', [jobId]);
    t.deepEqual(job!.hold_ids, [hold!.id], 'the job names the hold');
    t.is(job!.subject_ref, stored!.subject_ref, "the hold is filed under the customer job's subject_ref");
    t.deepEqual(await tenantHash(tenantA), aBefore, 'nothing of A changed');
    const held = await sweep(tenantA, email, phoneOf(5));
    t.true(held['orders.customers']! > 0, JSON.stringify(held));

    const self = await unaryCall(holds, 'releaseHold', { holdId: hold!.id }, { metadata: bearerMetadata(alice) }).then(() => 0, (error: { code: number }) => error.code);
    t.is(self, status.PERMISSION_DENIED, 'the operator who placed it cannot release it');
    await unaryCall(holds, 'releaseHold', { holdId: hold!.id }, { metadata: bearerMetadata(bob) });
    t.is(await waitForJobStatus(pools.get('orchestrator')!, jobId, 'COMPLETED', 90_000), 'COMPLETED');
    t.deepEqual(await sweep(tenantA, email, phoneOf(5)), {}, 'released: the customer is erased');
    t.deepEqual(await tenantHash(tenantB), bBefore, 'tenant B is byte-identical');
  } finally {
    holds.close();
  }
});

test.serial('a customer erasure with require_approval waits; its requester cannot approve it; an operator\'s approval runs it to COMPLETED', async (t) => {
  t.timeout(120_000);
  const email = emailOf(4); // exported above, never erased
  const customer: CustomerSubject = { tenantId: tenantA, email };
  const owner = await userToken(ownerA);
  const [aBefore, bBefore] = [await tenantHash(tenantA), await tenantHash(tenantB)];
  const run = await orch.deleteCustomer({ customer, requireApproval: true }, owner);
  t.falsy(run.error, run.error?.details);
  const job = run.snapshot!;
  t.is(job.status, JobStatus.JOB_STATUS_AWAITING_APPROVAL);
  t.is(run.events.length, 1, 'answered with its snapshot, not streamed');
  t.deepEqual(await tenantHash(tenantA), aBefore, 'nothing changed while it waits');

  const self = await outcome(orch.unary.approveJob({ jobId: job.id }, owner));
  t.is(self.code, status.PERMISSION_DENIED, self.message);
  t.is((await outcome(orch.unary.approveJob({ jobId: job.id }, await userToken(ownerB)))).code, status.PERMISSION_DENIED, "another tenant's owner may not approve");
  const [waiting] = await sql<{ status: string }>('orchestrator', 'SELECT status FROM erasure_jobs WHERE id = $1', [job.id]);
  t.is(waiting!.status, 'AWAITING_APPROVAL', 'refused decisions changed nothing');

  await orch.unary.approveJob({ jobId: job.id }, operator);
  t.is(await waitForJobStatus(pools.get('orchestrator')!, job.id, 'COMPLETED', 90_000), 'COMPLETED');
  t.deepEqual(await sweep(tenantA, email, phoneOf(4)), {}, 'the customer is erased');
  t.deepEqual(await tenantHash(tenantB), bBefore, 'tenant B is byte-identical');
  const kinds = (await sql<{ kind: string }>('orchestrator', 'SELECT kind FROM erasure_audit_log WHERE job_id = $1 ORDER BY seq', [job.id])).map((r) => r.kind);
  t.deepEqual(kinds.slice(0, 3), ['job.requested', 'job.awaiting_approval', 'job.approved']);
});

test.serial('a hold on one entity of a customer keeps exactly those rows while the rest is erased; release completes the job', async (t) => {
  t.timeout(120_000);
  // Tenant B's customer this time; A is the control.
  const holds = new DeletionOrchestratorClient(mesh.addresses.orchestrator!, credentials.createInsecure());
  const [alice, bob] = [await operatorToken('alice'), await operatorToken('bob')];
  try {
    const [email, phone] = [emailOf(1), phoneOf(1)];
    const customer: CustomerSubject = { tenantId: tenantB, email };
    const invoices = await sql<{ id: string }>('sales', 'SELECT id FROM invoices WHERE tenant_id = $1 AND lower(customer_email) = $2 ORDER BY id', [tenantB, email]);
    t.true(invoices.length > 0);
    const { hold } = await unaryCall(holds, 'placeHold', { subject: { customer }, services: [], entities: ['sales/invoices'], reason: 'tax audit 2026-3' }, { metadata: bearerMetadata(alice) });
    const aBefore = await tenantHash(tenantA);
    const run = await orch.deleteCustomer({ customer, detach: true }, operator);
    t.is(await waitForJobStatus(pools.get('orchestrator')!, run.snapshot!.id, 'ON_HOLD', 60_000), 'ON_HOLD');
    const held = await sweep(tenantB, email, phone);
    t.deepEqual(Object.keys(held), ['sales.invoices'], 'only the held invoices still name the customer');
    t.is(held['sales.invoices'], invoices.length);
    await unaryCall(holds, 'releaseHold', { holdId: hold!.id }, { metadata: bearerMetadata(bob) });
    t.is(await waitForJobStatus(pools.get('orchestrator')!, run.snapshot!.id, 'COMPLETED', 90_000), 'COMPLETED');
    t.deepEqual(await sweep(tenantB, email, phone), {}, 'released: the invoices are anonymized too');
    t.deepEqual(await tenantHash(tenantA), aBefore, 'tenant A is byte-identical');
  } finally {
    holds.close();
  }
});
