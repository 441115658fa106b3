/**
 * Deletion certificates and the audit chain end to end: the fourteen services and TWO orchestrator
 * replicas as real processes on loopback, jobs started on both, then the proof checked from outside:
 * certificates verified offline with the published keys (and refused after any edit), the audit
 * chain walked and checked against the signed heads in the database and in the outside file, and
 * tampering by direct SQL (an UPDATE, a DELETE, a cut tail, a rewrite of everything the database
 * holds) each detected. Rows are checked by direct SQL; a control tenant stays untouched.
 */
import { randomUUID } from 'node:crypto';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import test from 'ava';
import { Client, Pool, type PoolClient } from 'pg';
import { CompactSign } from 'jose';
import { JobStatus, type Job } from '../gen/bakery/erasure/v1/deletion_orchestrator';
import { runCli } from '../cli/erasure';
import { seedTenant } from '../services/seed';
import { canonicalJson } from '../services/kit/canonical-json';
import { TOKEN_ALGORITHM } from '../services/kit/keys';
import { runtimeRoleStatements } from '../services/kit/database';
import { APPEND_ONLY_TABLES } from '../orchestrator/migrations';
import { GENESIS_HASH, entryHash, readEntries, type AuditEntry } from '../orchestrator/audit-chain';
import { AUDIT_HEAD_TYPE } from '../orchestrator/audit-heads';
import { parseHeads, verifyAuditChain, type HeadToCheck } from '../orchestrator/audit-verify';
import { CERTIFICATE_TYPE, verifySigned, type CertificatePayload, type Jwks } from '../orchestrator/certificates';
import { testServerUrl } from './support/database';
import { codeOf } from './support/identity';
import { orchestratorClient, isFinal } from './support/orchestrator-client';
import { MESH_SERVICES, ProcessMesh } from './support/process-mesh';
import { TEST_DATA_DIR, operatorToken, serviceToken, strangerKey, userToken } from './support/keys';
import { rowsContaining } from './support/snapshot';
import { AT_ONCE } from '../orchestrator/grace';

const outsideDir = mkdtempSync(join(tmpdir(), 'erasure-audit-outside-'));
const headsFile = join(outsideDir, 'signed-heads.jsonl');
const jwksFile = join(outsideDir, 'orchestrator-jwks.json');

let mesh: ProcessMesh;
const pools = new Map<string, Pool>();
let orchDb: Pool;
let replicas: ReturnType<typeof orchestratorClient>[];
let token: string;
const control = randomUUID();
let controlBefore: Map<string, Map<string, number>>;
/** Jobs of the mixed run, and what their subjects were (ids and e-mails, to search for). */
const completed: Job[] = [];
const secrets: string[] = [];
let cancelledJobId: string | undefined;
/** The owner of the first erased tenant: a viewer of its job (users outlive their tenants). */
const tenantAdmins: string[] = [];

test.before(async () => {
  mesh = new ProcessMesh(testServerUrl(), `cert_${randomUUID().slice(0, 6)}`, {
    ERASURE_CHUNK_INITIAL_ROWS: '100',
    ERASURE_CHUNK_MAX_ROWS: '200',
    ORCHESTRATOR_AUDIT_HEADS_FILE: headsFile,
    ORCHESTRATOR_JWKS_FILE: jwksFile,
    ORCHESTRATOR_AUDIT_HEAD_INTERVAL_MS: '300',
    ORCHESTRATOR_BACKUP_RETENTION_DAYS: '35',
  });
  await mesh.prepare();
  await mesh.startAll();
  const second = await mesh.freeAddress();
  await mesh.start('orchestrator', { key: 'orchestrator-2', address: second });
  replicas = [orchestratorClient(mesh.addresses.orchestrator!), orchestratorClient(second)];
  for (const name of MESH_SERVICES) {
    const pool = new Pool({ connectionString: mesh.databases[name], max: 1 });
    pool.on('error', () => undefined);
    pools.set(name, pool);
  }
  orchDb = new Pool({ connectionString: mesh.databases.orchestrator, max: 2 });
  orchDb.on('error', () => undefined);
  token = await operatorToken();
  await seed(control, 600, 2);
  controlBefore = await controlRows();
});

test.after.always(async () => {
  for (const replica of replicas ?? []) replica.close();
  await mesh?.stopAll();
  for (const pool of pools.values()) await pool.end().catch(() => undefined);
  await orchDb?.end().catch(() => undefined);
  await mesh?.dropDatabases();
});

async function seed(tenantId: string, rows: number, users: number) {
  return seedTenant({ tenantId, rows, users, identity: true, migrate: false, databaseUrl: async (name) => mesh.databases[name]! });
}

/** Rows mentioning the control tenant, per service and table (direct SQL). */
async function controlRows(): Promise<Map<string, Map<string, number>>> {
  const result = new Map<string, Map<string, number>>();
  for (const name of MESH_SERVICES) result.set(name, await rowsContaining(pools.get(name)!, control));
  return result;
}

async function emailsOf(userIds: string[]): Promise<string[]> {
  const { rows } = await pools.get('auth')!.query<{ email: string }>('SELECT email FROM users WHERE id = ANY($1::uuid[])', [userIds]);
  return rows.map((row) => row.email);
}

async function waitFor<T>(what: string, probe: () => Promise<T | undefined>, timeoutMs = 90_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await probe();
    if (value !== undefined) return value;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}

async function finalJob(jobId: string): Promise<Job> {
  return waitFor(`job ${jobId}`, async () => {
    const { job } = await replicas[0]!.unary.getJob({ jobId }, token);
    return isFinal(job) ? job : undefined;
  });
}

function sink(): Writable & { text: () => string } {
  const chunks: string[] = [];
  const stream = new Writable({
    write(chunk, _encoding, done) {
      chunks.push(chunk.toString());
      done();
    },
  }) as Writable & { text: () => string };
  stream.text = () => chunks.join('');
  return stream;
}

async function cli(args: string[], env: Record<string, string> = {}) {
  const stdout = sink();
  const stderr = sink();
  const code = await runCli(args, {
    env: { ERASURE_DATA_DIR: TEST_DATA_DIR, ORCHESTRATOR_ADDR: mesh.addresses.orchestrator!, ORCHESTRATOR_AUDIT_HEADS_FILE: headsFile, ORCHESTRATOR_JWKS_FILE: jwksFile, ...env },
    stdout,
    stderr,
  });
  return { code, stdout: stdout.text(), stderr: stderr.text() };
}

const readJwks = (): Jwks => JSON.parse(readFileSync(jwksFile, 'utf8')) as Jwks;
const outsideHeads = (): HeadToCheck[] => parseHeads(readFileSync(headsFile, 'utf8'), headsFile);

/** Flips one character of a compact JWS's part (0 header, 1 payload, 2 signature). */
function tamper(jws: string, part: number, at = 10): string {
  const parts = jws.split('.');
  const text = parts[part]!;
  const index = Math.min(at, text.length - 2);
  parts[part] = text.slice(0, index) + (text[index] === 'A' ? 'B' : 'A') + text.slice(index + 1);
  return parts.join('.');
}

test.serial('a mixed run on two replicas: every completed job has exactly one certificate, and the control tenant is untouched', async (t) => {
  const tenants = [randomUUID(), randomUUID(), randomUUID()];
  const seeded = await Promise.all(tenants.map((id) => seed(id, 400, 2)));
  tenantAdmins.push(seeded[0]!.userIds[0]!);
  // A user of the third tenant (not its owner) is erased on their own; the tenants themselves too.
  const member = seeded[2]!.userIds[1]!;
  secrets.push(...tenants, ...seeded.flatMap((s) => s.userIds), ...(await emailsOf(seeded.flatMap((s) => s.userIds))));
  const userRun = await replicas[1]!.deleteUser({ gracePeriod: AT_ONCE, userId: member }, token);
  t.falsy(userRun.error, userRun.error?.message);
  const runs = await Promise.all(tenants.map((tenantId, i) => replicas[i % 2]!.deleteTenant({ gracePeriod: AT_ONCE, tenantId }, token)));
  for (const run of runs) t.falsy(run.error, run.error?.message);
  const jobs = [userRun, ...runs].map((run) => run.finished!);
  for (const job of jobs) t.is(job.status, JobStatus.JOB_STATUS_COMPLETED, `${job.id}: ${job.error}`);
  completed.push(...jobs);

  // A job that ends CANCELLED: no certificate.
  const cancelled = randomUUID();
  await seed(cancelled, 800, 1);
  secrets.push(cancelled);
  const started = await replicas[0]!.deleteTenant({ gracePeriod: AT_ONCE, tenantId: cancelled, detach: true }, token);
  cancelledJobId = started.snapshot!.id;
  await replicas[1]!.unary.cancelJob({ jobId: cancelledJobId }, token);
  const last = await finalJob(cancelledJobId);
  if (last.status === JobStatus.JOB_STATUS_COMPLETED) completed.push(last); // finished before the cancellation landed

  const { rows } = await orchDb.query<{ job_id: string; n: number }>('SELECT job_id, count(*)::int AS n FROM erasure_certificates GROUP BY job_id');
  t.deepEqual(rows.map((r) => r.job_id).sort(), completed.map((job) => job.id).sort(), 'one certificate per completed job, none for others');
  t.true(rows.every((r) => r.n === 1));
  const issued = await orchDb.query<{ job_id: string; n: number }>(
    `SELECT job_id, count(*)::int AS n FROM erasure_audit_log WHERE kind = 'certificate.issued' GROUP BY job_id`,
  );
  t.is(issued.rowCount, completed.length);
  t.true(issued.rows.every((r) => r.n === 1), 'issued once, whichever replica ran the job');
  t.deepEqual(await controlRows(), controlBefore, 'the control tenant is untouched');
});

test.serial('certificates: verify with the published keys (RPC and JWKS file), state the run, hold no raw id or e-mail; any edit fails', async (t) => {
  t.true(completed.length >= 4);
  const { jwksJson } = await replicas[1]!.unary.getPublicKeys({}, token);
  const published = JSON.parse(jwksJson) as Jwks;
  t.deepEqual(readJwks(), published, 'the JWKS file holds what GetPublicKeys returns');
  const keyIds = published.keys.map((key) => key.kid);
  const { count: chainLength } = (await orchDb.query<{ count: string }>('SELECT count(*) FROM erasure_audit_log')).rows[0]!;

  for (const job of completed) {
    const response = await replicas[completed.indexOf(job) % 2]!.unary.getCertificate({ jobId: job.id }, token);
    const { payload, kid } = await verifySigned<CertificatePayload>(response.jws, published, CERTIFICATE_TYPE);
    t.true(keyIds.includes(kid));
    t.deepEqual(JSON.parse(response.payloadJson), payload);
    t.is(payload.job_id, job.id);
    t.regex(payload.subject.ref, /^erased:k\d+:/);
    t.regex(payload.requested_by, /^requester:k\d+:/);
    t.is(payload.trace_id, job.traceId);
    t.truthy(payload.verified_at);
    t.is(payload.grace_ends_at, null);
    t.is(new Date(payload.backup_retention_until).getTime() - new Date(payload.completed_at).getTime(), 35 * 86_400_000);
    // Per service: the rows the job recorded, and a policy fingerprint for every service's erasure.
    for (const step of job.steps) {
      const stated = payload.services.find((s) => s.service === step.service);
      t.is(stated?.rows, Number(step.rowsDeleted), `${job.id} ${step.service}`);
      if (MESH_SERVICES.includes(step.service) && Number(step.rowsDeleted) > 0) t.regex(stated!.policy_fingerprint ?? '', /^sha256:[0-9a-f]{64}$/, step.service);
    }
    if (payload.subject.kind === 'tenant') {
      t.true(payload.retained.length > 0, 'a tenant erasure retains invoices (legal reason)');
      t.true(payload.retained.every((r) => r.reason.length > 0));
    }
    // The audit head it was issued under verifies and is in the chain.
    const head = await verifySigned<{ seq: number; hash: string }>(payload.audit_head.jws, published, AUDIT_HEAD_TYPE);
    t.true(head.payload.seq <= Number(chainLength));
    const entry = await orchDb.query<{ hash: string }>('SELECT hash FROM erasure_audit_log WHERE seq = $1', [head.payload.seq]);
    t.is(entry.rows[0]?.hash, head.payload.hash);
    const completion = await orchDb.query(`SELECT 1 FROM erasure_audit_log WHERE seq <= $1 AND job_id = $2 AND kind = 'job.completed'`, [head.payload.seq, job.id]);
    t.is(completion.rowCount, 1, "the head covers the job's completion");

    // No raw subject id, user id or e-mail anywhere in the certificate (decoded).
    const decoded = Buffer.from(response.jws.split('.')[1]!, 'base64url').toString('utf8').toLowerCase();
    for (const secret of secrets) t.false(decoded.includes(secret.toLowerCase()), `${job.id} certificate mentions a raw id or e-mail`);

    // Any edit: payload, signature, header — refused offline.
    for (const [part, at] of [
      [1, 5],
      [1, 200],
      [2, 3],
      [2, 60],
      [0, 4],
    ] as const) {
      await t.throwsAsync(verifySigned(tamper(response.jws, part, at), published, CERTIFICATE_TYPE), undefined, `part ${part} at ${at}`);
    }
  }

  // The CLI: fetch to a file, verify offline with the JWKS file; a changed byte exits non-zero.
  const file = join(outsideDir, 'certificate.jws');
  const fetched = await cli(['certificate', completed[0]!.id, '-o', file]);
  t.is(fetched.code, 0, `certificate -o: ${fetched.stderr}${fetched.stdout}`);
  if (fetched.code !== 0) return;
  const good = await cli(['verify-certificate', file, '--jwks', jwksFile]);
  t.is(good.code, 0, good.stderr);
  t.regex(good.stdout, /certificate valid/);
  const original = readFileSync(file, 'utf8').trim();
  writeFileSync(file, `${tamper(original, 1, 40)}\n`);
  const bad = await cli(['verify-certificate', file, '--jwks', jwksFile]);
  t.is(bad.code, 1);
  t.regex(bad.stderr, /does NOT verify/);
  const keysOut = join(outsideDir, 'keys-from-rpc.json');
  t.is((await cli(['public-keys', '-o', keysOut])).code, 0);
  t.deepEqual(JSON.parse(readFileSync(keysOut, 'utf8')), published);

  // Not completed → FAILED_PRECONDITION; unknown → NOT_FOUND.
  if (cancelledJobId && !completed.some((job) => job.id === cancelledJobId)) {
    t.is(await codeOf(replicas[0]!.unary.getCertificate({ jobId: cancelledJobId }, token)), 'FAILED_PRECONDITION');
  }
  const failed = randomUUID();
  await orchDb.query(
    `INSERT INTO erasure_jobs (id, subject_kind, subject_id, status, requested_by, trace_id, finished_at) VALUES ($1, 'tenant', $2, 'FAILED', 'operator:test', 'x', now())`,
    [failed, randomUUID()],
  );
  t.is(await codeOf(replicas[0]!.unary.getCertificate({ jobId: failed }, token)), 'FAILED_PRECONDITION', 'a FAILED job has no certificate');
  t.is(await codeOf(replicas[0]!.unary.getCertificate({ jobId: randomUUID() }, token)), 'NOT_FOUND');

  // Who may read it: as GetJob (mesh/caller-rules.ts, orchestrator/authorization.ts).
  const byAdmin = await replicas[0]!.unary.getCertificate({ jobId: completed[1]!.id }, await userToken(tenantAdmins[0]!));
  t.is(byAdmin.jws, (await replicas[0]!.unary.getCertificate({ jobId: completed[1]!.id }, token)).jws, "the tenant's owner at the time reads its certificate");
  t.is(await codeOf(replicas[0]!.unary.getCertificate({ jobId: completed[1]!.id }, await userToken(randomUUID()))), 'PERMISSION_DENIED');
  t.is(await codeOf(replicas[0]!.unary.getCertificate({ jobId: completed[1]!.id }, await serviceToken('orders'))), 'PERMISSION_DENIED');
  t.is(await codeOf(replicas[0]!.unary.getCertificate({ jobId: completed[1]!.id })), 'UNAUTHENTICATED');
  t.is(await codeOf(replicas[0]!.unary.getCertificate({ jobId: 'not-a-uuid' }, token)), 'INVALID_ARGUMENT');
});

/** The highest seq among the signed heads kept outside. */
const lastOutsideSeq = (): number => Math.max(0, ...readFileSync(headsFile, 'utf8').split('\n').filter(Boolean).map((line) => (JSON.parse(line) as { seq: number }).seq));

/** Waits until the chain's head is signed, stored and written outside; returns its seq. */
async function headSigned(): Promise<number> {
  return waitFor('the head to be signed', async () => {
    const { rows } = await orchDb.query<{ seq: string; signed: boolean }>(
      'SELECT h.seq, EXISTS (SELECT 1 FROM erasure_audit_signed_heads s WHERE s.seq = h.seq) AS signed FROM erasure_audit_head h',
    );
    const seq = Number(rows[0]!.seq);
    return rows[0]!.signed && lastOutsideSeq() === seq ? seq : undefined;
  });
}

test.serial('audit chain: every lifecycle event from both replicas, one unforked chain, no raw ids; it verifies against stored and outside heads', async (t) => {
  const lastSeq = await headSigned();
  const entries: AuditEntry[] = [];
  for (let page = await readEntries(orchDb, 0); page.length; page = await readEntries(orchDb, page.at(-1)!.seq)) entries.push(...page);
  t.is(entries.length, lastSeq);
  t.deepEqual(entries.map((e) => e.seq), entries.map((_, i) => i + 1), 'seqs without gaps');
  t.is(entries[0]!.prev_hash, GENESIS_HASH);
  for (const job of completed) {
    const kinds = entries.filter((e) => e.job_id === job.id).map((e) => e.kind);
    for (const kind of ['job.requested', 'job.running', 'step.succeeded', 'job.verified', 'job.completed', 'certificate.issued']) t.true(kinds.includes(kind), `${job.id}: ${kind}`);
  }
  if (cancelledJobId) t.true(entries.some((e) => e.job_id === cancelledJobId && /^job\.(cancelled|completed)$/.test(e.kind)));
  const text = JSON.stringify(entries).toLowerCase();
  for (const secret of secrets) t.false(text.includes(secret.toLowerCase()), 'the chain holds no raw id or e-mail');

  const report = await verifyAuditChain(orchDb, readJwks(), outsideHeads());
  t.true(report.ok, JSON.stringify(report));
  t.is(report.entries, lastSeq);
  t.true(report.headsChecked > outsideHeads().length, 'stored and outside heads were checked');
  const viaCli = await cli(['audit', 'verify'], { ORCHESTRATOR_DATABASE_URL: mesh.databases.orchestrator! });
  t.is(viaCli.code, 0, viaCli.stdout + viaCli.stderr);
  t.regex(viaCli.stdout, /audit chain verified/);
  t.true(Number(/\((\d+) kept outside\)/.exec(viaCli.stdout)?.[1]) > 0, 'the CLI read the configured outside sink');
});

test.serial('append-only: a role that is not the owner cannot UPDATE, DELETE or TRUNCATE the chain, even with the privileges; the runtime role only reads and appends', async (t) => {
  const role = `audit_probe_${randomUUID().slice(0, 8)}`;
  const client = await orchDb.connect();
  try {
    await client.query(`CREATE ROLE ${role} NOLOGIN`);
    await client.query(`GRANT ALL ON erasure_audit_log, erasure_certificates, erasure_audit_signed_heads TO ${role}`);
    for (const statement of ['UPDATE erasure_audit_log SET kind = kind', 'DELETE FROM erasure_audit_log WHERE seq = 1', 'TRUNCATE erasure_audit_log', 'DELETE FROM erasure_certificates', 'UPDATE erasure_audit_signed_heads SET jws = jws']) {
      await client.query('BEGIN');
      await client.query(`SET LOCAL ROLE ${role}`);
      const error = await client.query(statement).then(() => undefined, (e: { code?: string; message: string }) => e);
      await client.query('ROLLBACK');
      t.is(error?.code, '42501', statement);
      t.regex(error?.message ?? '', /append-only/);
    }
  } finally {
    await client.query(`DROP OWNED BY ${role}; DROP ROLE ${role}`).catch(() => undefined);
    client.release();
  }

  // The orchestrator's runtime role (runtimeRoleStatements with APPEND_ONLY_TABLES): reads and appends, never rewrites.
  const runtimeRole = `orch_rt_${randomUUID().slice(0, 8)}`;
  const url = new URL(mesh.databases.orchestrator!);
  const statements = runtimeRoleStatements({ database: url.pathname.slice(1), role: runtimeRole, password: 'runtime-password', migrationRole: url.username || 'postgres', appendOnly: [...APPEND_ONLY_TABLES] });
  for (const sql of [...statements.server, ...statements.database]) await orchDb.query(sql);
  url.username = runtimeRole;
  url.password = 'runtime-password';
  const runtime = new Client({ connectionString: url.toString() });
  await runtime.connect();
  try {
    t.true((await runtime.query('SELECT count(*)::int AS n FROM erasure_audit_log')).rows[0].n > 0, 'reads the chain');
    for (const statement of ['UPDATE erasure_audit_log SET kind = kind', 'DELETE FROM erasure_audit_log', 'TRUNCATE erasure_audit_log', 'DELETE FROM erasure_certificates']) {
      t.is(await runtime.query(statement).then(() => undefined, (e: { code?: string }) => e.code), '42501', `runtime role: ${statement}`);
    }
    await runtime.query('BEGIN');
    await runtime.query('SELECT seq FROM erasure_audit_head FOR UPDATE');
    await runtime.query('ROLLBACK');
  } finally {
    await runtime.end();
    await orchDb.query(`DROP OWNED BY ${runtimeRole}; DROP ROLE ${runtimeRole}`).catch(() => undefined);
  }
});

/** Runs `change` and the verification in one transaction that is rolled back: the chain stays as it was. */
async function tampered(change: (client: PoolClient) => Promise<void>, outside: HeadToCheck[] = outsideHeads()) {
  const client = await orchDb.connect();
  try {
    await client.query('BEGIN');
    await change(client);
    return await verifyAuditChain(client, readJwks(), outside);
  } finally {
    await client.query('ROLLBACK');
    client.release();
  }
}

test.serial('tampering by direct SQL is detected, and the first broken link is named', async (t) => {
  // The replicas stop: nothing appends while the chain is altered (and each change is rolled back).
  await headSigned();
  await mesh.stop('orchestrator-2');
  await mesh.stop('orchestrator');
  const last = Number((await orchDb.query<{ seq: string }>('SELECT seq FROM erasure_audit_head')).rows[0]!.seq);
  t.true(last > 40);
  const middle = Math.floor(last / 2);

  // 1. UPDATE of one entry (the hash left as it was).
  const updated = await tampered((c) => c.query(`UPDATE erasure_audit_log SET details = '{"rows":0}' WHERE seq = $1`, [middle]).then(() => undefined));
  t.false(updated.ok);
  t.deepEqual(updated.firstBroken?.seq, middle);
  t.regex(updated.firstBroken!.reason, /was changed/);

  // 1b. The same, with the entry's own hash recomputed: the next link breaks.
  const rehashed = await tampered(async (c) => {
    const [entry] = await readEntries(c, middle - 1, 1);
    const changed = { ...entry!, details: { rows: 0 } };
    await c.query('UPDATE erasure_audit_log SET details = $2, hash = $3 WHERE seq = $1', [middle, changed.details, entryHash(changed)]);
  });
  t.is(rehashed.firstBroken?.seq, middle + 1);
  t.regex(rehashed.firstBroken!.reason, /does not link/);

  // 2. DELETE of one entry.
  const deleted = await tampered((c) => c.query('DELETE FROM erasure_audit_log WHERE seq = $1', [middle]).then(() => undefined));
  t.is(deleted.firstBroken?.seq, middle);
  t.regex(deleted.firstBroken!.reason, /missing/);

  // 3. Truncation of the tail, the head row moved back and the stored heads after the cut removed:
  // consistent inside the database, caught by the heads kept outside.
  const cut = lastOutsideSeq() - 3;
  const truncated = await tampered(async (c) => {
    await c.query('DELETE FROM erasure_audit_log WHERE seq > $1', [cut]);
    await c.query('DELETE FROM erasure_audit_signed_heads WHERE seq > $1', [cut]);
    await c.query('UPDATE erasure_audit_head SET seq = seq_cut.seq, hash = seq_cut.hash FROM (SELECT seq, hash FROM erasure_audit_log WHERE seq = $1) seq_cut', [cut]);
  });
  t.false(truncated.ok);
  t.is(truncated.firstBroken, undefined, 'no link inside the database is broken');
  t.true(truncated.problems.some((p) => p.includes(headsFile) && /entries after it were removed/.test(p)), truncated.problems.join('\n'));

  // 4. A rewrite of every entry (one changed, all re-hashed) and of the heads stored in the database
  // (re-signed with a key that is not the orchestrator's): the database alone is consistent…
  const forger = await strangerKey('orchestrator');
  const rewrite = async (c: PoolClient) => {
    let previous = GENESIS_HASH;
    for (let page = await readEntries(c, 0); page.length; page = await readEntries(c, page.at(-1)!.seq)) {
      for (const entry of page) {
        const changed = { ...entry, prev_hash: previous, details: entry.seq === middle ? { rows: 0 } : entry.details };
        changed.hash = entryHash(changed);
        await c.query('UPDATE erasure_audit_log SET details = $2, prev_hash = $3, hash = $4 WHERE seq = $1', [entry.seq, changed.details, changed.prev_hash, changed.hash]);
        previous = changed.hash;
      }
    }
    await c.query('UPDATE erasure_audit_head SET hash = $1', [previous]);
    await c.query('DELETE FROM erasure_audit_signed_heads');
    const signedAt = new Date().toISOString();
    const payload = { typ: AUDIT_HEAD_TYPE, seq: last, hash: previous, signed_at: signedAt };
    const jws = await new CompactSign(new TextEncoder().encode(canonicalJson(payload))).setProtectedHeader({ alg: TOKEN_ALGORITHM, kid: forger.kid, typ: AUDIT_HEAD_TYPE }).sign(forger.key);
    await c.query('INSERT INTO erasure_audit_signed_heads (seq, hash, signed_at, kid, jws) VALUES ($1, $2, $3, $4, $5)', [last, previous, signedAt, forger.kid, jws]);
  };
  const rewrittenWithoutForgedHead = await tampered(async (c) => {
    await rewrite(c);
    await c.query('DELETE FROM erasure_audit_signed_heads');
  }, []);
  t.true(rewrittenWithoutForgedHead.ok, 'without a head kept outside, a full rewrite is consistent');
  const rewritten = await tampered(rewrite);
  t.false(rewritten.ok);
  t.is(rewritten.firstBroken, undefined);
  t.true(rewritten.problems.some((p) => /signature does not verify/.test(p)), 'the forged stored head is refused');
  t.true(
    rewritten.problems.some((p) => p.includes(headsFile) && /differs from the signed head/.test(p)),
    `the heads kept outside catch the rewrite: ${rewritten.problems.join('\n')}`,
  );

  // The CLI on a committed change names the first broken link and exits 1; put back, it verifies again.
  const [original] = await readEntries(orchDb, middle - 1, 1);
  await orchDb.query(`UPDATE erasure_audit_log SET kind = 'job.forged' WHERE seq = $1`, [middle]);
  const env = { ORCHESTRATOR_DATABASE_URL: mesh.databases.orchestrator! };
  const broken = await cli(['audit', 'verify', '--jwks', jwksFile, '--heads-file', headsFile], env);
  await orchDb.query('UPDATE erasure_audit_log SET kind = $2 WHERE seq = $1', [middle, original!.kind]);
  t.is(broken.code, 1);
  t.regex(broken.stdout, new RegExp(`first broken link: entry ${middle} was changed`));
  const fixed = await cli(['audit', 'verify', '--jwks', jwksFile, '--head', outsideHeads().at(-1)!.jws], env);
  t.is(fixed.code, 0, fixed.stdout + fixed.stderr);
});
