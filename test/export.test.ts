/**
 * Export before erasure, end to end: all fourteen services and the orchestrator as real processes on
 * loopback. The archive is downloaded, decrypted with the requester's private key (which the mesh
 * never sees), verified against the orchestrator's public key, and compared row by row with direct
 * SQL against the services' databases; a control tenant's rows never appear.
 */
import { randomUUID } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { credentials, type ClientReadableStream, type ServiceError } from '@grpc/grpc-js';
import test, { type ExecutionContext } from 'ava';
import { exportJWK, generateKeyPair, type JWK } from 'jose';
import { Pool } from 'pg';
import { DeletionOrchestratorClient, JobStatus, type Job, type JobEvent } from '../gen/bakery/erasure/v1/deletion_orchestrator';
import { decryptArchive, readArchiveFiles, verifyArchive } from '../orchestrator/export/archive-file';
import { domainServiceDefinitions, identityServiceDefinitions } from '../services/definitions';
import type { DomainService } from '../services/kit/service-definition';
import { bearerMetadata, unaryCall } from '../services/kit/unary';
import { seedTenant } from '../services/seed';
import { testServerUrl } from './support/database';
import { MESH_SERVICES, ProcessMesh, freePort } from './support/process-mesh';
import { operatorToken, testKeys, userToken } from './support/services';
import { codeOf } from './support/identity';
import { OtlpReceiver } from './support/otlp-receiver';
import { Writable } from 'node:stream';
import { runCli } from '../cli/erasure';
import { AT_ONCE } from '../orchestrator/grace';
import { TEST_DATA_DIR } from './support/keys';

const definitions: DomainService[] = [...domainServiceDefinitions(), ...identityServiceDefinitions().map((s) => s.definition)];
const definition = (name: string) => definitions.find((d) => d.name === name)!;

let mesh: ProcessMesh;
let receiver: OtlpReceiver;
const pools = new Map<string, Pool>();
let client: DeletionOrchestratorClient;
let token: string;
let recipient: { publicJwk: JWK; privateJwk: JWK };
const work = mkdtempSync(join(tmpdir(), 'export-test-'));
/** Every row id of every service before the test tenants were seeded: the control's rows. */
const controlIds = new Map<string, Map<string, Set<string>>>();

test.before(async () => {
  receiver = new OtlpReceiver();
  await receiver.start();
  mesh = new ProcessMesh(testServerUrl(), `exp_${randomUUID().slice(0, 6)}`, {
    OTEL_EXPORTER_OTLP_ENDPOINT: receiver.endpoint,
    EXPORT_PAGE_ROWS: '150',
    EXPORT_SWEEP_INTERVAL_MS: '500',
    ORCHESTRATOR_STEP_RETRY_BUDGET_MS: '25000',
    ORCHESTRATOR_BACKOFF_BASE_MS: '200',
    ORCHESTRATOR_BACKOFF_MAX_MS: '1500',
    ORCHESTRATOR_LEASE_MS: '3000',
    ORCHESTRATOR_CONCURRENCY: '3',
  });
  await mesh.prepare();
  await mesh.startAll();
  for (const [name, url] of Object.entries(mesh.databases)) {
    const pool = new Pool({ connectionString: url, max: 1 });
    pool.on('error', () => undefined);
    pools.set(name, pool);
  }
  client = new DeletionOrchestratorClient(mesh.addresses.orchestrator!, credentials.createInsecure());
  token = await operatorToken();
  const pair = await generateKeyPair('ECDH-ES+A256KW', { crv: 'P-256', extractable: true });
  recipient = { publicJwk: await exportJWK(pair.publicKey), privateJwk: await exportJWK(pair.privateKey) };
  await seed(randomUUID(), 1500, 3);
  for (const service of MESH_SERVICES) controlIds.set(service, await idsByTable(service));
});

test.after.always(async () => {
  if (process.env.EXPORT_TEST_LOGS) for (const [key, lines] of mesh?.logs ?? []) console.log(key, lines.slice(-15).join('\n'));
  client?.close();
  await mesh?.stopAll();
  for (const pool of pools.values()) await pool.end().catch(() => undefined);
  await mesh?.dropDatabases();
  await receiver?.stop();
  rmSync(work, { recursive: true, force: true });
});

function seed(tenantId: string, rows: number, users: number | string[]) {
  return seedTenant({
    tenantId,
    rows,
    ...(Array.isArray(users) ? { userIds: users } : { users }),
    identity: true,
    migrate: false,
    databaseUrl: async (name) => mesh.databases[name]!,
  });
}

/** Row ids per table of one service (event tables left out: they hold ids of what happened). */
async function idsByTable(service: string): Promise<Map<string, Set<string>>> {
  const result = new Map<string, Set<string>>();
  for (const table of definition(service).deletionPolicy.schema ?? []) {
    if (definition(service).eventTables?.includes(table.table)) continue;
    const { rows } = await pools.get(service)!.query<{ id: string }>(`SELECT id::text AS id FROM "${table.table}"`);
    result.set(table.table, new Set(rows.map((r) => r.id)));
  }
  return result;
}

function collect(call: ClientReadableStream<JobEvent>, onEvent?: (event: JobEvent) => void): Promise<{ finished?: Job; snapshot?: Job; error?: ServiceError }> {
  return new Promise((resolve) => {
    const out: { finished?: Job; snapshot?: Job; error?: ServiceError } = {};
    call.on('data', (event: JobEvent) => {
      out.snapshot ??= event.snapshot;
      if (event.finished) out.finished = event.finished;
      onEvent?.(event);
    });
    call.on('error', (error: ServiceError) => resolve({ ...out, error }));
    call.on('end', () => resolve(out));
  });
}

const exportTenant = (tenantId: string, as = token, via = client, onEvent?: (event: JobEvent) => void) =>
  collect(via.exportTenant({ tenantId, recipientJwk: JSON.stringify(recipient.publicJwk), requestId: '', detach: false }, bearerMetadata(as)), onEvent);
const exportUser = (userId: string, as = token) =>
  collect(client.exportUser({ userId, recipientJwk: JSON.stringify(recipient.publicJwk), requestId: '', detach: false }, bearerMetadata(as)));

/** Downloads a job's archive and decrypts it into a tar under the test folder; returns its path. */
async function download(jobId: string, via = client): Promise<string> {
  const call = via.downloadExport({ jobId }, bearerMetadata(token));
  const encrypted = join(work, `${jobId}.export`);
  const pieces: Buffer[] = [];
  for await (const message of call) pieces.push(Buffer.from((message as { data: Uint8Array }).data));
  writeFileSync(encrypted, Buffer.concat(pieces));
  const tar = join(work, `${jobId}.tar`);
  const out: Buffer[] = [];
  await decryptArchive([readFileSync(encrypted)], recipient.privateJwk, async (data) => void out.push(Buffer.from(data)), (await testKeys()).trust);
  writeFileSync(tar, Buffer.concat(out));
  return tar;
}

const sortedKeys = (row: Record<string, unknown>) => Object.fromEntries(Object.entries(row).sort(([a], [b]) => a.localeCompare(b)));
const byId = (a: Record<string, unknown>, b: Record<string, unknown>) => String(a.id).localeCompare(String(b.id));

/**
 * The archive's files hold exactly `expected` (service → table → ids), with the content PostgreSQL
 * holds (row_to_json, secret columns dropped), and nothing else.
 */
async function assertArchiveHolds(t: ExecutionContext, tar: string, expected: Map<string, Map<string, string[]>>, label: string) {
  const files = await readArchiveFiles(tar);
  let checked = 0;
  for (const [service, tables] of expected) {
    for (const [table, ids] of tables) {
      const name = `${service}/${table}.ndjson`;
      const text = files.get(name);
      t.truthy(text !== undefined || ids.length === 0, `${label}: ${name} is in the archive`);
      const rows = (text ?? '').split('\n').filter(Boolean).map((line) => JSON.parse(line) as Record<string, unknown>);
      t.is(rows.length, ids.length, `${label}: ${name}: rows = direct SQL count`);
      const secrets = (definition(service).deletionPolicy.schema ?? []).find((d) => d.table === table)!.columns.filter((c) => c.secret).map((c) => c.column);
      const { rows: direct } = await pools.get(service)!.query<{ row: Record<string, unknown> }>(
        `SELECT row_to_json(t) AS row FROM "${table}" t WHERE t.id::text = ANY($1::text[]) ORDER BY t.id`,
        [ids],
      );
      const directRows = direct.map(({ row }) => {
        for (const secret of secrets) delete row[secret];
        return sortedKeys(row);
      });
      t.deepEqual(rows.sort(byId).map(sortedKeys), directRows, `${label}: ${name}: content = direct SQL`);
      for (const secret of secrets) t.false(rows.some((row) => secret in row), `${label}: ${name}: ${secret} never exported`);
      checked += ids.length;
    }
  }
  for (const [name, text] of files) {
    if (name === 'manifest.jws') continue;
    const [service, file] = name.split('/');
    const table = file!.replace(/\.ndjson$/, '');
    if (!expected.get(service!)?.has(table)) t.is(text, '', `${label}: ${name} holds nothing the subject does not own`);
  }
  t.true(checked > 0, `${label}: the archive was compared row by row`);
  // Nothing of the control tenant, anywhere in the archive.
  const all = [...files.values()].join('\n');
  const leaked = [...controlIds.values()].flatMap((tables) => [...tables.values()].flatMap((ids) => [...ids])).filter((id) => all.includes(id));
  t.deepEqual(leaked, [], `${label}: no row of the control tenant is in the archive`);
}

/** The rows a tenant's seed added, by direct SQL: ids present now and not before, per service and table with a tenant rule. */
async function addedRows(before: Map<string, Map<string, Set<string>>>): Promise<Map<string, Map<string, string[]>>> {
  const added = new Map<string, Map<string, string[]>>();
  for (const service of MESH_SERVICES) {
    const now = await idsByTable(service);
    const tables = new Map<string, string[]>();
    for (const [table, ids] of now) {
      if (!definition(service).deletionPolicy.tables[table]?.tenant) continue;
      const fresh = [...ids].filter((id) => !before.get(service)!.get(table)!.has(id));
      if (fresh.length) tables.set(table, fresh);
    }
    if (tables.size) added.set(service, tables);
  }
  return added;
}

async function snapshotIds(): Promise<Map<string, Map<string, Set<string>>>> {
  const result = new Map<string, Map<string, Set<string>>>();
  for (const service of MESH_SERVICES) result.set(service, await idsByTable(service));
  return result;
}

test.serial('a tenant export holds exactly the tenant\'s rows, verifies, and an edited file fails verification', async (t) => {
  const before = await snapshotIds();
  const tenantId = randomUUID();
  await seed(tenantId, 2000, 3);
  const expected = await addedRows(before);
  const run = await exportTenant(tenantId);
  t.is(run.error, undefined, run.error?.message);
  t.is(run.finished?.status, JobStatus.JOB_STATUS_COMPLETED, run.finished?.error);
  const jobId = run.finished!.id;
  t.is(run.finished!.verifiedTime, undefined, 'an export records no erasure verification');

  const info = await unaryCall(client, 'getExport', { jobId }, { metadata: bearerMetadata(token) });
  t.true(info.manifestJws.length > 0 && info.manifestSha256.length === 64, 'sealed with a signed manifest');
  t.truthy(info.expireTime && info.expireTime > new Date(), 'expires in the future');
  // The orchestrator holds only ciphertext: no row of the tenant is readable in its database.
  const { rows: stored } = await pools.get('orchestrator')!.query(`SELECT count(*)::int AS n FROM export_chunks WHERE job_id = $1 AND strpos(encode(data, 'escape'), $2) > 0`, [jobId, tenantId]);
  t.is(stored[0].n, 0, 'stored chunks are encrypted');

  const tar = await download(jobId);
  const verified = await verifyArchive(tar, (await testKeys()).trust);
  t.deepEqual(verified.problems, [], 'the archive verifies');
  t.is(verified.manifest.subject.id, tenantId);
  await assertArchiveHolds(t, tar, expected, 'tenant');
  const total = [...expected.values()].flatMap((tables) => [...tables.values()]).reduce((s, ids) => s + ids.length, 0);
  t.is(verified.manifest.total_rows, total, 'manifest total = direct SQL total');

  // The export job is one trace: its root, its steps, and every service's Export beneath them.
  const traceId = run.finished!.traceId;
  const everyone = ['orchestrator', ...MESH_SERVICES];
  const arrived = await receiver.waitFor((spans) => everyone.every((s) => spans.some((span) => span.service === s && span.traceId === traceId)));
  t.true(arrived, `spans of the export's trace came from: ${[...new Set(receiver.spans.filter((s) => s.traceId === traceId).map((s) => s.service))].sort().join(', ')}`);
  const spans = receiver.spans.filter((s) => s.traceId === traceId);
  t.truthy(spans.find((s) => s.name === 'erasure.job' && s.attributes['erasure.job.id'] === jobId), 'root span of the job');
  t.is(spans.filter((s) => s.name === 'erasure.step').length, 15, 'a span per export step and the seal');
  t.deepEqual(receiver.spans.filter((s) => /^pg[.-]/.test(s.name)).map((s) => `${s.service}: ${s.name}`), [], 'no SQL spans unless ERASURE_TRACE_SQL turns them on');

  // One byte of one file changed: its hash no longer matches the signed manifest.
  const bytes = readFileSync(tar);
  const at = bytes.indexOf(Buffer.from(tenantId), bytes.indexOf(Buffer.from('orders/')) + 512);
  t.true(at > 0);
  bytes[at] = bytes[at] === 0x30 ? 0x31 : 0x30;
  const edited = join(work, 'edited.tar');
  writeFileSync(edited, bytes);
  const { problems } = await verifyArchive(edited, (await testKeys()).trust);
  t.is(problems.length, 1, 'exactly the edited file fails');
  t.regex(problems[0] ?? '', /does not match its SHA-256/);
});

/** The command line, in process, against the mesh; output collected. */
async function cli(args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  const collect = () => {
    const chunks: string[] = [];
    const stream = new Writable({ write: (chunk, _encoding, done) => void (chunks.push(chunk.toString()), done()) });
    return { stream, text: () => chunks.join('') };
  };
  const [stdout, stderr] = [collect(), collect()];
  const code = await runCli(args, { env: { ERASURE_DATA_DIR: TEST_DATA_DIR, ORCHESTRATOR_ADDR: mesh.addresses.orchestrator }, stdout: stdout.stream, stderr: stderr.stream });
  return { code, stdout: stdout.text(), stderr: stderr.text() };
}

test.serial('erasure export decrypts with --key; verify-export passes the archive and fails an edited one', async (t) => {
  const tenantId = randomUUID();
  await seed(tenantId, 600, 2);
  const publicFile = join(work, 'recipient.public.jwk');
  const privateFile = join(work, 'recipient.private.jwk');
  writeFileSync(publicFile, JSON.stringify(recipient.publicJwk));
  writeFileSync(privateFile, JSON.stringify(recipient.privateJwk));
  const out = join(work, 'cli-export.tar');
  const exported = await cli(['export', tenantId, '--recipient', publicFile, '-o', out, '--key', privateFile]);
  t.is(exported.code, 0, exported.stderr);
  const verified = await cli(['verify-export', out]);
  t.is(verified.code, 0, verified.stderr);
  t.regex(verified.stdout, /verifies/);
  const bytes = readFileSync(out);
  const at = bytes.indexOf(Buffer.from(tenantId), bytes.indexOf(Buffer.from('recipes/')) + 512);
  bytes[at] = bytes[at] === 0x30 ? 0x31 : 0x30;
  writeFileSync(out, bytes);
  const failed = await cli(['verify-export', out]);
  t.is(failed.code, 1, 'an edited file fails with a non-zero exit');
  t.regex(failed.stderr, /does not match its SHA-256/);
  const encrypted = join(work, 'cli-export.enc');
  t.is((await cli(['export', tenantId, '--recipient', publicFile, '-o', encrypted])).code, 0);
  // Every exported row names its tenant; encrypted, none of them is readable.
  t.false(readFileSync(encrypted).includes(Buffer.from(tenantId)), 'without --key the archive stays encrypted');
  t.regex(readFileSync(encrypted, 'utf8').split('\n')[0]!, /bakery-erasure-export\/1/);
});

test.serial('a user export holds the user\'s rows and the rows that reference them, no password hash; only the user themself may ask', async (t) => {
  const tenantId = randomUUID();
  const [owner, user] = [randomUUID(), randomUUID()];
  await seed(tenantId, 800, [owner!, user!]);
  const expected = new Map<string, Map<string, string[]>>();
  for (const service of MESH_SERVICES) {
    const tables = new Map<string, string[]>();
    for (const table of definition(service).deletionPolicy.schema ?? []) {
      if (definition(service).eventTables?.includes(table.table)) continue;
      const { rows } = await pools.get(service)!.query<{ id: string }>(`SELECT id::text AS id FROM "${table.table}" t WHERE strpos(t::text, $1) > 0`, [user]);
      if (rows.length) tables.set(table.table, rows.map((r) => r.id));
    }
    if (tables.size) expected.set(service, tables);
  }
  t.true(expected.get('auth')?.get('users')?.length === 1, 'the user record is expected');

  t.is((await exportUser(user!, '')).error?.code, 16 /* UNAUTHENTICATED */, 'no token, no export');
  const other = await exportUser(user!, await userToken(owner!));
  t.is(other.error?.code, 7 /* PERMISSION_DENIED */, 'another user may not export this user');

  const run = await exportUser(user!, await userToken(user!));
  t.is(run.error, undefined, run.error?.message);
  t.is(run.finished?.status, JobStatus.JOB_STATUS_COMPLETED, run.finished?.error);
  const tar = await download(run.finished!.id);
  t.deepEqual((await verifyArchive(tar, (await testKeys()).trust)).problems, []);
  await assertArchiveHolds(t, tar, expected, 'user');
  const files = await readArchiveFiles(tar);
  const record = JSON.parse(files.get('auth/users.ndjson')!.trim()) as Record<string, unknown>;
  t.false('password_hash' in record, 'no password hash');
  const { rows } = await pools.get('auth')!.query<{ h: string }>(`SELECT password_hash AS h FROM users WHERE id = $1`, [user]);
  t.false([...files.values()].join('\n').includes(rows[0]!.h), 'the stored hash appears nowhere');
});

test.serial('export then erase: the erasure starts after the archive is sealed; the archive outlives the erasure, then the sweep deletes it', async (t) => {
  const before = await snapshotIds();
  const tenantId = randomUUID();
  await seed(tenantId, 1500, 3);
  const expected = await addedRows(before);
  const run = await collect(
    client.deleteTenant({ gracePeriod: AT_ONCE, tenantId, requestId: '', detach: false, requireApproval: false, exportFirst: { recipientJwk: JSON.stringify(recipient.publicJwk) } }, bearerMetadata(token)),
  );
  t.is(run.finished?.status, JobStatus.JOB_STATUS_COMPLETED, run.finished?.error);
  const steps = run.finished!.steps;
  const sealed = steps.find((s) => s.service === 'seal')!;
  const exports = steps.filter((s) => s.service.startsWith('export:'));
  const erasures = steps.filter((s) => s.phase === 'domain' || s.phase === 'identity');
  t.is(exports.length, 14);
  t.true(exports.every((s) => s.endTime! <= sealed.startTime!), 'every export ended before the seal');
  t.true(erasures.every((s) => s.startTime! >= sealed.endTime!), 'no erasure started before the archive was sealed');
  const { rows: left } = await pools.get('orders')!.query(`SELECT count(*)::int AS n FROM customer_orders WHERE tenant_id = $1`, [tenantId]);
  t.is(left[0].n, 0, 'the tenant was erased');
  // The erasure's certificate names the archive it made first (manifest hash and expiry).
  const certificate = await unaryCall(client, 'getCertificate', { jobId: run.finished!.id }, { metadata: bearerMetadata(token) });
  const { rows: archived } = await pools.get('orchestrator')!.query(`SELECT manifest_sha256, expires_at FROM export_archives WHERE job_id = $1`, [run.finished!.id]);
  t.deepEqual(JSON.parse(certificate.payloadJson).export_archive, { manifest_sha256: archived[0].manifest_sha256, expires_at: archived[0].expires_at.toISOString() });

  // An erasure already open without export_first is not joined by one that asks for it.
  const other = randomUUID();
  await seed(other, 3000, 2);
  const plain = await collect(client.deleteTenant({ gracePeriod: AT_ONCE, tenantId: other, requestId: '', detach: true, requireApproval: false }, bearerMetadata(token)));
  const late = await collect(
    client.deleteTenant({ gracePeriod: AT_ONCE, tenantId: other, requestId: '', detach: true, requireApproval: false, exportFirst: { recipientJwk: JSON.stringify(recipient.publicJwk) } }, bearerMetadata(token)),
  );
  if (plain.snapshot) {
    const state = await pools.get('orchestrator')!.query(`SELECT status FROM erasure_jobs WHERE id = $1`, [plain.snapshot.id]);
    // Attaching is refused while the plain job is open; once it ended, the request starts a job of its own.
    if (late.error) t.is(late.error.code, 9 /* FAILED_PRECONDITION */, late.error.details);
    else t.not(late.snapshot?.id, plain.snapshot.id, `a new job, the plain one being ${state.rows[0].status}`);
  }
  const erasedSteps = steps.filter((s) => !s.service.startsWith('export:') && s.service !== 'seal');
  t.is(Number(run.finished!.totalRowsDeleted), erasedSteps.reduce((sum, s) => sum + Number(s.rowsDeleted), 0), 'the job counts erased rows, not exported ones');

  // The erased rows are gone from the services; the archive still holds them (compared with what they were).
  const tar = await download(run.finished!.id);
  const verified = await verifyArchive(tar, (await testKeys()).trust);
  t.deepEqual(verified.problems, []);
  const rows = [...(await readArchiveFiles(tar)).entries()].filter(([name]) => name !== 'manifest.jws').reduce((s, [, text]) => s + text.split('\n').filter(Boolean).length, 0);
  t.is(rows, [...expected.values()].flatMap((m) => [...m.values()]).reduce((s, ids) => s + ids.length, 0), 'the archive holds every erased row');

  // Expired (set by direct SQL): the sweep deletes the content, keeps the record, and downloads stop.
  await pools.get('orchestrator')!.query(`UPDATE export_archives SET expires_at = now() WHERE job_id = $1`, [run.finished!.id]);
  let info;
  for (let i = 0; i < 40; i++) {
    info = await unaryCall(client, 'getExport', { jobId: run.finished!.id }, { metadata: bearerMetadata(token) });
    if (info.deleted) break;
    await new Promise((resolve) => setTimeout(resolve, 250));
  }
  t.true(info?.deleted, 'the sweep deleted the archive');
  const { rows: chunks } = await pools.get('orchestrator')!.query(`SELECT count(*)::int AS n FROM export_chunks WHERE job_id = $1`, [run.finished!.id]);
  t.is(chunks[0].n, 0, 'no chunk is left');
  const { rows: audited } = await pools.get('orchestrator')!.query(`SELECT count(*)::int AS n FROM erasure_audit_log WHERE kind = 'export.deleted' AND job_id = $1`, [run.finished!.id]);
  t.is(audited[0].n, 1, 'the deletion of the archive is an entry of the audit chain');
  t.is(await codeOf(download(run.finished!.id)), 'NOT_FOUND');
});

test.serial('bad input changes nothing: a private key or no key as recipient is INVALID_ARGUMENT', async (t) => {
  const tenantId = randomUUID();
  await seed(tenantId, 200, 1);
  const { rows: before } = await pools.get('orchestrator')!.query(`SELECT count(*)::int AS n FROM erasure_jobs`);
  for (const recipientJwk of ['', '{"kty":"oct","k":"AAAA"}', JSON.stringify(recipient.privateJwk)]) {
    const run = await collect(client.exportTenant({ tenantId, recipientJwk, requestId: '', detach: false }, bearerMetadata(token)));
    t.is(run.error?.code, 3 /* INVALID_ARGUMENT */);
    t.regex(run.error?.details ?? '', /recipient_jwk/);
    t.false((run.error?.details ?? '').includes(String(recipient.privateJwk.d)), 'the key is not echoed');
  }
  const { rows: after } = await pools.get('orchestrator')!.query(`SELECT count(*)::int AS n FROM erasure_jobs`);
  t.is(after[0].n, before[0].n, 'no job recorded');
});

test.serial('crash safety: the orchestrator killed mid-export resumes; the complete archive downloads through another replica', async (t) => {
  const before = await snapshotIds();
  const tenantId = randomUUID();
  await seed(tenantId, 20000, 3);
  const expected = await addedRows(before);
  let jobId = '';
  const progress = new Promise<void>((resolve) => {
    void exportTenant(tenantId, token, client, (event) => {
      jobId ||= event.snapshot?.id ?? '';
      if (event.progress) resolve();
    });
  });
  await progress;
  await mesh.stop('orchestrator', 'SIGKILL');
  const { rows } = await pools.get('orchestrator')!.query(`SELECT status FROM erasure_jobs WHERE id = $1`, [jobId]);
  t.is(rows[0].status, 'RUNNING', 'the export was cut off mid-run');

  await mesh.start('orchestrator');
  client.close();
  client = new DeletionOrchestratorClient(mesh.addresses.orchestrator!, credentials.createInsecure());
  const watched = await collect(client.watchJob({ jobId }, bearerMetadata(token)));
  t.is(watched.finished?.status, JobStatus.JOB_STATUS_COMPLETED, watched.finished?.error);

  const address = `127.0.0.1:${await freePort()}`;
  await mesh.start('orchestrator', { key: 'orchestrator-2', address });
  const other = new DeletionOrchestratorClient(address, credentials.createInsecure());
  try {
    const tar = await download(jobId, other);
    t.deepEqual((await verifyArchive(tar, (await testKeys()).trust)).problems, [], 'the resumed archive verifies');
    await assertArchiveHolds(t, tar, expected, 'resumed');
  } finally {
    other.close();
    await mesh.stop('orchestrator-2');
  }
});

test.serial('a caller may have ORCHESTRATOR_OPEN_EXPORTS_PER_CALLER open exports; one more is RESOURCE_EXHAUSTED and records nothing', async (t) => {
  const tenants = [randomUUID(), randomUUID(), randomUUID()];
  for (const tenantId of tenants) await seed(tenantId, 4000, 2);
  const caller = await operatorToken('export-limit-operator');
  const start = (tenantId: string) =>
    collect(client.exportTenant({ tenantId, recipientJwk: JSON.stringify(recipient.publicJwk), requestId: '', detach: true }, bearerMetadata(caller)));
  const [first, second] = [await start(tenants[0]!), await start(tenants[1]!)];
  t.truthy(first.snapshot && second.snapshot, 'two exports started');
  const third = await start(tenants[2]!);
  t.is(third.error?.code, 8 /* RESOURCE_EXHAUSTED */, 'the third open export is refused');
  t.regex(third.error?.details ?? '', /ORCHESTRATOR_OPEN_EXPORTS_PER_CALLER/);
  const { rows } = await pools.get('orchestrator')!.query(`SELECT count(*)::int AS n FROM erasure_jobs WHERE subject_id = $1`, [tenants[2]]);
  t.is(rows[0].n, 0, 'no job recorded for the refused export');
  for (const started of [first, second]) {
    const done = await collect(client.watchJob({ jobId: started.snapshot!.id }, bearerMetadata(caller)));
    t.is(done.finished?.status, JobStatus.JOB_STATUS_COMPLETED, done.finished?.error);
  }
});
