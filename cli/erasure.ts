/**
 * `erasure`: the operator's command line for the erasure mesh (`npx erasure …` from a clone).
 * Every command takes `--json` (machine output only, on stdout) and `--help`. Exit codes: 0 success,
 * 1 failure (one line on stderr), 2 usage error, 130 interrupted.
 */
import { randomUUID } from 'node:crypto';
import { createWriteStream, existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { JWK } from 'jose';
import { decryptArchive, verifyArchive } from '../orchestrator/export/archive-file';
import {
  DeleteCustomerRequest,
  DeleteTenantRequest,
  DeleteUserRequest,
  PreviewCustomerDeletionResponse,
  Job,
  JobStatus,
  JobOrder,
  LegalHold,
  ListJobsResponse,
  PreviewTenantDeletionResponse,
  type ApproveJobResponse,
  type ExtendDeadlineResponse,
  type RejectJobResponse,
  PurgeExpiredRetentionResponse,
  type CancelJobResponse,
  type GetJobResponse,
  type RestoreTenantResponse,
  type RestoreUserResponse,
  type RetryJobResponse,
  type GetCertificateResponse,
  type GetPublicKeysResponse,
} from '../gen/bakery/erasure/v1/deletion_orchestrator';
import { Pool } from 'pg';
import { orchestratorConfig } from '../orchestrator/config';
import { CERTIFICATE_TYPE, verifySigned, type CertificatePayload, type Jwks } from '../orchestrator/certificates';
import { parseHeads, verifyAuditChain, type HeadToCheck } from '../orchestrator/audit-verify';
import { listDeliveries } from '../orchestrator/webhooks';
import type { Duration } from '../gen/google/protobuf/duration';
import { ListTenantsResponse, TenantStatus } from '../gen/bakery/tenant/v1/tenant_service';
import type { CheckSubjectsResponse } from '../gen/bakery/erasure/v1/tombstone_registry';
import type { CustomerSubject } from '../gen/bakery/erasure/v1/tenant_data_deletion';
import { maxTokenLifetime, mintOperatorToken, mintServiceToken, mintUserToken, type TokenKind } from '../services/kit/auth';
import { DEV_IDENTITIES, OPERATOR_IDENTITY, TRUST_BUNDLE_FILE, TrustBundle, USER_TOKEN_ISSUER, isIdentity, writeKeySet } from '../services/kit/keys';
import { resolveServiceDatabaseUrl, withDatabase } from '../services/kit/database';
import { ensureEmbeddedPostgres, type EmbeddedPostgres } from '../services/kit/embedded-postgres';
import { isUuid } from '../services/kit/errors';
import { DOMAIN_SERVICES, PROCESS_NAMES } from '../mesh/catalog';
import { provisionMesh, writeDatabasePasswords } from '../mesh/provision';
import { createLogger } from '../services/kit/logger';
import { AT_ONCE, graceDuration, parseGrace } from '../orchestrator/grace';
import { loadServiceDefinition } from '../services/definitions';
import { seedTenant, type SeedReport } from '../services/seed';
import { intFlag, parseArgs, UsageError, type FlagSpec, type Parsed } from './args';
import { MeshClient, RpcFailure, cliSigningKey, devKeysDirOf, operatorName } from './client';
import { LiveProgress } from './live';
import { awaitingLine, formatCount, formatDuration, jobDetail, jobsTable, jobStatusName, previewTable, scheduledLine, summary, table, tenantsTable } from './render';

type Env = Record<string, string | undefined>;

/** What a command may use: its parsed arguments, the environment, and where to write. */
export interface CommandContext {
  args: Parsed;
  json: boolean;
  env: Env;
  stdout: NodeJS.WritableStream & { isTTY?: boolean; columns?: number };
  stderr: NodeJS.WritableStream;
  client: MeshClient;
  signal: AbortSignal;
}

interface Command {
  usage: string;
  summary: string;
  details?: string;
  flags: FlagSpec;
  run(ctx: CommandContext): Promise<number>;
}

/** A command failed for a reason the user should read (one line, exit 1). */
export class CommandFailure extends Error {
  constructor(
    message: string,
    readonly exitCode = 1,
  ) {
    super(message);
    this.name = 'CommandFailure';
  }
}

const print = (ctx: CommandContext, text: string) => ctx.stdout.write(`${text}\n`);
const printJson = (ctx: CommandContext, value: unknown) => ctx.stdout.write(`${JSON.stringify(value, null, 2)}\n`);

function one(ctx: CommandContext, what: string, check: (value: string) => boolean = isUuid): string {
  const [value, ...rest] = ctx.args.positionals;
  if (value === undefined) throw new UsageError(`missing <${what}>`);
  if (rest.length) throw new UsageError(`unexpected argument ${JSON.stringify(rest[0])}`);
  if (!check(value)) throw new UsageError(`<${what}> must be a UUID, got ${JSON.stringify(value)}`);
  return value.toLowerCase();
}

/** The flags that name a customer of a tenant (erasure preview, erasure delete-customer). */
const CUSTOMER_FLAGS: FlagSpec = { email: 'string', phone: 'string', 'customer-id': 'string' };

/** The customer the flags name, or undefined when none is given; the orchestrator validates the value. */
function customerFlags(ctx: CommandContext, tenantId: string): CustomerSubject | undefined {
  const given = (['email', 'phone', 'customer-id'] as const).filter((flag) => ctx.args.flags[flag] !== undefined);
  if (given.length > 1) throw new UsageError(`give only one of --email, --phone, --customer-id (got ${given.map((f) => `--${f}`).join(', ')})`);
  if (!given.length) return undefined;
  const value = ctx.args.flags[given[0]!] as string;
  if (given[0] === 'email') return { tenantId, email: value };
  if (given[0] === 'phone') return { tenantId, phone: value };
  return { tenantId, customerId: value };
}

function none(ctx: CommandContext): void {
  if (ctx.args.positionals.length) throw new UsageError(`unexpected argument ${JSON.stringify(ctx.args.positionals[0])}`);
}

function uuidFlag(ctx: CommandContext, name: string): string | undefined {
  const value = ctx.args.flags[name];
  if (value === undefined) return undefined;
  if (typeof value !== 'string' || !isUuid(value)) throw new UsageError(`--${name} must be a UUID, got ${JSON.stringify(value)}`);
  return value.toLowerCase();
}

/** Exit code of a finished job: 0 when COMPLETED; otherwise 1 with the reason. */
function jobOutcome(ctx: CommandContext, job: Job): number {
  if (job.status === JobStatus.JOB_STATUS_COMPLETED) return 0;
  if (job.status === JobStatus.JOB_STATUS_ON_HOLD) throw new CommandFailure(`job ${job.id} ON_HOLD: legal hold ${job.holdIds.join(', ')}; it resumes when released (erasure hold list)`);
  throw new CommandFailure(`job ${job.id} ${jobStatusName(job.status)}${job.error ? `: ${job.error}` : ''}`);
}

/**
 * Runs a job stream with live progress (not in --json), then prints the summary or the job as JSON.
 * Ctrl-C stops watching only: the job goes on in the orchestrator.
 */
async function followJob(ctx: CommandContext, open: Parameters<MeshClient['follow']>[0], ended?: (job: Job) => void): Promise<number> {
  const live = ctx.json ? undefined : new LiveProgress(ctx.stdout);
  let job: Job;
  try {
    job = await ctx.client.follow(open, (event) => live?.onEvent(event), { signal: ctx.signal });
  } catch (error) {
    const known = live?.current;
    live?.finish();
    if (error instanceof RpcFailure && ctx.signal.aborted) {
      throw new CommandFailure(known ? `stopped watching; job ${known.id} goes on (npx erasure watch ${known.id})` : 'interrupted', 130);
    }
    throw error;
  }
  ended?.(job);
  if (ctx.json) printJson(ctx, Job.toJSON(job));
  else if (job.status === JobStatus.JOB_STATUS_AWAITING_APPROVAL) {
    live!.finish();
    print(ctx, awaitingLine(job));
  } else {
    live!.finish(job);
    print(ctx, summary(job, ctx.env));
  }
  return job.status === JobStatus.JOB_STATUS_AWAITING_APPROVAL ? 0 : jobOutcome(ctx, job);
}

/** The database server for `seed`: DATABASE_URL, or the embedded PostgreSQL (stopped after if started here). */
async function withDatabaseServer<T>(env: Env, work: (serverUrl: string | undefined) => Promise<T>): Promise<T> {
  if (env.DATABASE_URL) return work(env.DATABASE_URL);
  let embedded: EmbeddedPostgres | undefined;
  try {
    embedded = await ensureEmbeddedPostgres(env);
    return await work(embedded.url);
  } finally {
    if (embedded?.startedHere) await embedded.stop();
  }
}

/** Writes `text` to `-o <file>` when given (and says so), else to stdout. */
function output(ctx: CommandContext, text: string, what: string): void {
  const file = ctx.args.flags.output as string | undefined;
  if (file === undefined) return void print(ctx, text);
  writeFileSync(file, `${text}\n`);
  if (!ctx.json) ctx.stderr.write(`${what} written to ${file}\n`);
}

/** The JWKS to verify with: `--jwks <file>`, else the file the orchestrator publishes (ORCHESTRATOR_JWKS_FILE). */
function jwksOf(ctx: CommandContext): Jwks {
  const file = (ctx.args.flags.jwks as string | undefined) ?? orchestratorConfig(ctx.env).jwksFile;
  if (!existsSync(file)) throw new CommandFailure(`no JWKS file at ${file}: give --jwks <file> (erasure public-keys -o <file>)`);
  return JSON.parse(readFileSync(file, 'utf8')) as Jwks;
}

const proofCommands: Record<string, Command> = {
  certificate: {
    usage: 'erasure certificate <job> [-o <file>] [--json]',
    summary: "a completed job's signed deletion certificate (a JWS)",
    details: '  -o, --output <file>  write the JWS to a file (verify it with `erasure verify-certificate <file>`)\n  --json               the decoded payload instead of the JWS',
    flags: { output: 'string' },
    async run(ctx) {
      const jobId = one(ctx, 'job');
      const response = await ctx.client.call<GetCertificateResponse>('orchestrator', 'getCertificate', { jobId });
      if (ctx.json && ctx.args.flags.output === undefined) printJson(ctx, JSON.parse(response.payloadJson));
      else output(ctx, response.jws, 'certificate');
      return 0;
    },
  },

  'verify-certificate': {
    usage: 'erasure verify-certificate <file> [--jwks <file>] [--json]',
    summary: 'verify a deletion certificate offline against the published keys',
    details: '  --jwks <file>  the orchestrator\'s public keys (default: ORCHESTRATOR_JWKS_FILE, <data dir>/audit/orchestrator-jwks.json)\nExit 1 when the signature does not verify (any changed byte).',
    flags: { jwks: 'string' },
    async run(ctx) {
      const [file, ...rest] = ctx.args.positionals;
      if (file === undefined || rest.length) throw new UsageError('give exactly one <file>');
      const jws = readFileSync(file, 'utf8').trim();
      let verified: { payload: CertificatePayload; kid: string };
      try {
        verified = await verifySigned<CertificatePayload>(jws, jwksOf(ctx), CERTIFICATE_TYPE);
      } catch (error) {
        throw new CommandFailure(`certificate does NOT verify: ${(error as Error).message}`);
      }
      const { payload, kid } = verified;
      if (ctx.json) printJson(ctx, { valid: true, kid, payload });
      else {
        const rows = payload.services.reduce((sum, s) => sum + s.rows, 0);
        print(
          ctx,
          `certificate valid (key ${kid}): job ${payload.job_id}, ${payload.subject.kind} ${payload.subject.ref}, ${formatCount(rows)} rows in ${payload.services.length} steps, ` +
            `completed ${payload.completed_at}, audit head ${payload.audit_head.seq}, backups may hold it until ${payload.backup_retention_until}`,
        );
      }
      return 0;
    },
  },

  'public-keys': {
    usage: 'erasure public-keys [-o <file>]',
    summary: "the orchestrator's public keys (current and retired) as a JWKS",
    details: '  -o, --output <file>  write the JWKS to a file',
    flags: { output: 'string' },
    async run(ctx) {
      none(ctx);
      const { jwksJson } = await ctx.client.call<GetPublicKeysResponse>('orchestrator', 'getPublicKeys', {});
      output(ctx, JSON.stringify(JSON.parse(jwksJson), null, 2), 'JWKS');
      return 0;
    },
  },

  audit: {
    usage: 'erasure audit verify [--head <signed head: JWS or file>] [--heads-file <jsonl>] [--jwks <file>] [--json]',
    summary: 'walk the audit chain, check it against signed heads, name the first broken link',
    details:
      'Reads the orchestrator\'s database (ORCHESTRATOR_DATABASE_URL, else DATABASE_URL, else the embedded one).\n' +
      '  --head <jws|file>   a signed head kept outside (a JWS, a file with one, or JSON lines); repeatable with commas\n' +
      '  --heads-file <f>    the outside sink (default without --head: ORCHESTRATOR_AUDIT_HEADS_FILE, <data dir>/audit/signed-heads.jsonl, when it exists)\n' +
      '  --jwks <file>       the orchestrator\'s public keys (default: ORCHESTRATOR_JWKS_FILE)\n' +
      'Exit 1 when any link or head does not match.',
    flags: { head: 'list', 'heads-file': 'string', jwks: 'string' },
    async run(ctx) {
      if (ctx.args.positionals.length !== 1 || ctx.args.positionals[0] !== 'verify') throw new UsageError('the only audit command is `erasure audit verify`');
      const jwks = jwksOf(ctx);
      const outside: HeadToCheck[] = [];
      for (const head of (ctx.args.flags.head as string[] | undefined) ?? []) {
        outside.push(...(existsSync(head) ? parseHeads(readFileSync(head, 'utf8'), head) : parseHeads(head, '--head')));
      }
      // The configured sink is read when no head is given on the command line.
      const givenFile = ctx.args.flags['heads-file'] as string | undefined;
      const headsFile = givenFile ?? (outside.length ? undefined : orchestratorConfig(ctx.env).auditHeadsFile);
      if (headsFile && existsSync(headsFile)) outside.push(...parseHeads(readFileSync(headsFile, 'utf8'), headsFile));
      else if (givenFile !== undefined) throw new CommandFailure(`no heads file at ${givenFile}`);
      return withOrchestratorDatabase(ctx, async (pool) => {
        const report = await verifyAuditChain(pool, jwks, outside);
        if (ctx.json) printJson(ctx, report);
        else {
          print(ctx, `${report.entries} entries, last seq ${report.last.seq}; ${report.headsChecked} signed heads checked (${outside.length} kept outside)`);
          if (report.firstBroken) print(ctx, `first broken link: ${report.firstBroken.reason}`);
          for (const problem of report.problems) print(ctx, `problem: ${problem}`);
          if (report.ok) print(ctx, 'audit chain verified');
        }
        if (!report.ok) throw new CommandFailure(report.firstBroken ? `audit chain broken at entry ${report.firstBroken.seq}` : 'audit chain does not match its signed heads');
        return 0;
      });
    },
  },

  notifications: {
    usage: 'erasure notifications [--job <uuid>] [--limit <n>] [--json]',
    summary: 'webhook notifications and their delivery: attempts, last answer, delivered or next try',
    details:
      'Reads the orchestrator\'s database (ORCHESTRATOR_DATABASE_URL, else DATABASE_URL, else the embedded one).\n' +
      '  --job <uuid>   only this job\'s notifications\n' +
      '  --limit <n>    at most this many, newest first (default 50)',
    flags: { job: 'string', limit: 'string' },
    async run(ctx) {
      none(ctx);
      const jobId = uuidFlag(ctx, 'job');
      const limit = intFlag(ctx.args.flags.limit, 'limit', 50, 1, 10_000);
      return withOrchestratorDatabase(ctx, async (pool) => {
        const deliveries = await listDeliveries(pool, { jobId, limit });
        if (ctx.json) printJson(ctx, deliveries);
        else if (!deliveries.length) print(ctx, 'no notifications');
        else {
          const when = (date: Date | null) => (date ? date.toISOString() : '');
          print(
            ctx,
            table(
              ['event', 'job', 'status', 'receiver', 'attempts', 'last answer', 'delivered', 'next try'],
              deliveries.map((d) => [d.event_id, d.job_id, d.status, d.host, String(d.attempts), d.last_error || (d.last_status === null ? '' : String(d.last_status)), when(d.delivered_at), when(d.next_attempt_at)]),
            ),
          );
        }
        return 0;
      });
    },
  },
};

/** Runs `work` on a connection to the orchestrator's database (as the services find theirs), closed after. */
async function withOrchestratorDatabase<T>(ctx: CommandContext, work: (pool: Pool) => Promise<T>): Promise<T> {
  const { url, embedded } = await resolveServiceDatabaseUrl('orchestrator', ctx.env);
  const pool = new Pool({ connectionString: url, max: 1 });
  try {
    return await work(pool);
  } finally {
    await pool.end();
    if (embedded?.startedHere) await embedded.stop();
  }
}
/** `--export-first <public jwk file>` as the request's option. */
function exportFirst(ctx: CommandContext): { exportFirst?: { recipientJwk: string } } {
  const path = ctx.args.flags['export-first'] as string | undefined;
  return path ? { exportFirst: { recipientJwk: JSON.stringify(jwkFile(path, 'export-first')) } } : {};
}

/** A JWK read from a file named by a flag; a usage error names the flag when it cannot be read. */
function jwkFile(path: string, flag: string): JWK {
  try {
    return JSON.parse(readFileSync(path, 'utf8')) as JWK;
  } catch (error) {
    throw new UsageError(`--${flag}: cannot read a JWK from ${path}: ${(error as Error).message.split('\n')[0]}`);
  }
}

/** The orchestrator's public keys, to check manifests with: --trust <bundle>, ERASURE_TRUST_BUNDLE_FILE, or the development key set. */
function trustBundle(ctx: CommandContext): Promise<TrustBundle> {
  const file = (ctx.args.flags.trust as string | undefined) ?? (ctx.env.ERASURE_TRUST_BUNDLE_FILE || join(devKeysDirOf(ctx.env), TRUST_BUNDLE_FILE));
  return TrustBundle.load(file);
}

/** Writes to a file, awaiting the stream's back-pressure. */
function fileWriter(path: string): { write: (data: Buffer) => Promise<void>; close: () => Promise<void> } {
  const out = createWriteStream(path);
  return {
    write: (data) => (out.write(data) ? Promise.resolve() : new Promise((resolve) => out.once('drain', resolve))),
    close: () => new Promise((resolve, reject) => out.end((error?: Error | null) => (error ? reject(error) : resolve()))),
  };
}

const commands: Record<string, Command> = {
  seed: {
    usage: 'erasure seed [--rows <n>] [--tenant <uuid>] [--users <n> | --user <uuid>,…] [--services <names>] [--no-identity] [--offline] [--quiet] [--json]',
    summary: 'create a tenant with realistic rows in every service',
    details:
      'Writes straight into the services\' databases (DATABASE_URL, <NAME>_DATABASE_URL, or the embedded\n' +
      'PostgreSQL of npm start). The first user owns the tenant, the second is an admin, the rest are members.\n' +
      '  --rows <n>         rows across the domain services (default 10000)\n' +
      '  --tenant <uuid>    the tenant id (default: a new one)\n' +
      '  --users <n>        users of the tenant (default 5)\n' +
      '  --user <uuid>,…    the tenant\'s users by id instead (repeatable)\n' +
      '  --services <names> only these domain services, e.g. orders,sales (default: all twelve)\n' +
      '  --no-identity      no tenant and auth records (domain rows only)\n' +
      '  --offline          do not ask the orchestrator whether the ids were erased (a database no erasure\n' +
      '                     has run against); by default an erased tenant or user id is refused\n' +
      '  --quiet            print only the tenant id (TENANT=$(npx erasure seed --quiet))',
    flags: { rows: 'string', tenant: 'string', users: 'string', user: 'list', services: 'list', 'no-identity': 'boolean', offline: 'boolean', quiet: 'boolean' },
    async run(ctx) {
      none(ctx);
      const rows = intFlag(ctx.args.flags.rows, 'rows', 10_000, 1, 50_000_000);
      const userIds = ctx.args.flags.user as string[] | undefined;
      if (userIds && ctx.args.flags.users !== undefined) throw new UsageError('give --users <n> or --user <uuid>, not both');
      for (const id of userIds ?? []) if (!isUuid(id)) throw new UsageError(`--user must be a UUID, got ${JSON.stringify(id)}`);
      const users = intFlag(ctx.args.flags.users, 'users', 5, 1, 1000);
      const services = (ctx.args.flags.services as string[] | undefined)?.map((name) => {
        if (!DOMAIN_SERVICES.includes(name)) throw new UsageError(`unknown service ${JSON.stringify(name)} for --services; known: ${DOMAIN_SERVICES.join(', ')}`);
        return loadServiceDefinition(name).definition;
      });
      const tenantId = uuidFlag(ctx, 'tenant') ?? randomUUID();
      const identity = !ctx.args.flags['no-identity'];
      // An erased id is never written back (the tombstone registry decides; fail closed when it cannot answer).
      const erasedAmong = ctx.args.flags.offline ? undefined : (subjects: { kind: 'tenant' | 'user'; id: string }[]) => erasedAmongOf(ctx, subjects);
      const report: SeedReport = await withDatabaseServer(ctx.env, (server) => {
        const env = server ? { ...ctx.env, DATABASE_URL: server } : ctx.env;
        return seedTenant({ tenantId, rows, users, userIds, services, identity, erasedAmong, databaseUrl: async (name) => (await resolveServiceDatabaseUrl(name, env)).url });
      });
      if (ctx.json) {
        printJson(ctx, { tenantId: report.tenantId, ownerId: report.userIds[0], adminId: report.userIds[1] ?? null, userIds: report.userIds, rows: report.rows, ms: report.ms, perService: report.perService });
      } else if (ctx.args.flags.quiet) {
        print(ctx, report.tenantId);
      } else {
        const perService = [...report.perService].sort((a, b) => a.service.localeCompare(b.service));
        print(
          ctx,
          [
            `seeded tenant ${report.tenantId}: ${formatCount(report.rows)} rows in ${perService.length} databases (${formatDuration(report.ms)})`,
            `owner ${report.userIds[0]}${report.userIds[1] ? `, admin ${report.userIds[1]}` : ''}${report.userIds.length > 2 ? `, ${report.userIds.length - 2} more members` : ''}`,
            '',
            table(['service', 'rows'], perService.map((s) => [s.service, formatCount(s.rows)]), [1]),
            '',
            'next:',
            `  npx erasure preview ${report.tenantId}`,
            `  npx erasure delete ${report.tenantId}`,
          ].join('\n'),
        );
      }
      return 0;
    },
  },

  tombstone: {
    usage: 'erasure tombstone <id> [--kind tenant|user] [--json]',
    summary: 'whether an id was erased, and when (asks the tombstone registry)',
    details: '  --kind  ask about a tenant or a user only (default: both; an id names one or the other)',
    flags: { kind: 'string' },
    async run(ctx) {
      const id = one(ctx, 'id');
      const kindFlag = ctx.args.flags.kind as string | undefined;
      if (kindFlag !== undefined && kindFlag !== 'tenant' && kindFlag !== 'user') throw new UsageError(`--kind must be tenant or user, got ${JSON.stringify(kindFlag)}`);
      const kinds: ('tenant' | 'user')[] = kindFlag ? [kindFlag] : ['tenant', 'user'];
      const response = await ctx.client.call<CheckSubjectsResponse>('registry', 'checkSubjects', {
        subjects: kinds.map((kind) => (kind === 'tenant' ? { tenantId: id } : { userId: id })),
      });
      const answers = kinds.map((kind, i) => ({ kind, erased: response.statuses[i]?.erased ?? false, erasedAt: response.statuses[i]?.erasedAt }));
      const erased = answers.filter((a) => a.erased);
      if (ctx.json) {
        printJson(ctx, { id, erased: erased.length > 0, tombstones: erased.map((a) => ({ kind: a.kind, erasedAt: a.erasedAt?.toISOString() })) });
      } else if (erased.length) {
        for (const a of erased) print(ctx, `${a.kind} ${id} was erased at ${a.erasedAt?.toISOString() ?? '(time unknown)'}`);
      } else {
        print(ctx, `${id} was not erased (no ${kinds.join(' or ')} tombstone)`);
      }
      return 0;
    },
  },

  hold: {
    usage:
      'erasure hold place (--tenant <id> [--email <e-mail> | --phone <phone> | --customer-id <id>] | --user <id>) --reason <text> [--services a,b] [--entities service/table,…] [--until <time>] [--json]\n' +
      '       erasure hold release <hold-id> [--json]\n' +
      '       erasure hold list [--tenant <id> [--email … | --phone … | --customer-id …] | --user <id>] [--all] [--json]',
    summary: 'place, release and list legal holds (data under a hold is not erased nor purged)',
    details:
      'A hold without --services or --entities stops the subject\'s erasure before anything is deleted (job ON_HOLD);\n' +
      'with them, the rest is erased and the held part kept. The operator who placed a hold cannot release it.\n' +
      '  --email, --phone, --customer-id  with --tenant: the hold names that customer of the tenant, not the tenant\n' +
      '  --until  an ISO 8601 time in the future when the hold ends by itself\n' +
      '  --all    list released and expired holds too',
    flags: { tenant: 'string', user: 'string', ...CUSTOMER_FLAGS, reason: 'string', services: 'list', entities: 'list', until: 'string', all: 'boolean' },
    async run(ctx) {
      const [action, ...rest] = ctx.args.positionals;
      const tenantId = uuidFlag(ctx, 'tenant');
      const userId = uuidFlag(ctx, 'user');
      if (tenantId && userId) throw new UsageError('give --tenant or --user, not both');
      const customer = customerFlags(ctx, tenantId ?? '');
      if (customer && !tenantId) throw new UsageError('a customer is named within its tenant: give --tenant <id> too');
      const subject = customer ? { customer } : tenantId ? { tenantId } : userId ? { userId } : undefined;
      let holds: LegalHold[];
      if (action === 'place') {
        if (rest.length) throw new UsageError(`unexpected argument ${JSON.stringify(rest[0])}`);
        if (!subject) throw new UsageError('hold place needs --tenant <id> or --user <id>');
        const until = ctx.args.flags.until as string | undefined;
        if (until !== undefined && Number.isNaN(Date.parse(until))) throw new UsageError(`--until must be an ISO 8601 time, got ${JSON.stringify(until)}`);
        const response = await ctx.client.call<{ hold?: LegalHold }>('orchestrator', 'placeHold', {
          subject,
          reason: (ctx.args.flags.reason as string | undefined) ?? '',
          services: (ctx.args.flags.services as string[] | undefined) ?? [],
          entities: (ctx.args.flags.entities as string[] | undefined) ?? [],
          endTime: until === undefined ? undefined : new Date(until),
        });
        holds = [response.hold!];
      } else if (action === 'release') {
        const holdId = rest[0];
        if (holdId === undefined || rest.length > 1 || !isUuid(holdId)) throw new UsageError('hold release needs one <hold-id> (a UUID)');
        holds = [(await ctx.client.call<{ hold?: LegalHold }>('orchestrator', 'releaseHold', { holdId })).hold!];
      } else if (action === 'list') {
        if (rest.length) throw new UsageError(`unexpected argument ${JSON.stringify(rest[0])}`);
        holds = (await ctx.client.call<{ holds: LegalHold[] }>('orchestrator', 'listHolds', { subject, includeEnded: !!ctx.args.flags.all })).holds;
      } else {
        throw new UsageError('hold needs place, release or list');
      }
      if (ctx.json) printJson(ctx, holds.map((hold) => LegalHold.toJSON(hold)));
      else if (!holds.length) print(ctx, 'no holds');
      else {
        const scope = (hold: LegalHold) => [...hold.services, ...hold.entities].join(', ') || 'whole subject';
        print(ctx, table(['hold', 'subject', 'holds', 'status', 'until', 'reason'], holds.map((h) => [h.id, h.subjectKind, scope(h), h.status, h.endTime?.toISOString() ?? '-', h.reason])));
      }
      return 0;
    },
  },

  'purge-expired': {
    usage: 'erasure purge-expired [--json]',
    summary: "purge erased tenants' retained rows whose retention period is over, now (it also runs daily)",
    details:
      'Every service removes the expired retained rows of erased tenants (e.g. invoices after ten years), then a\n' +
      'second pass verifies that nothing expired is left. The run is recorded by the orchestrator.',
    flags: {},
    async run(ctx) {
      none(ctx);
      // A purge of many years' rows can take a while; the orchestrator records it whether we wait or not.
      const response = await ctx.client.call<PurgeExpiredRetentionResponse>('orchestrator', 'purgeExpiredRetention', {}, 60 * 60_000);
      const purge = response.purge!;
      if (ctx.json) printJson(ctx, PurgeExpiredRetentionResponse.toJSON(response));
      else {
        const rows = purge.services.flatMap((s) => s.entities.map((e) => [s.service, e.entity, formatCount(e.rows)]));
        print(
          ctx,
          [
            `retention purge ${purge.id} ${purge.status}: ${formatCount(purge.totalRows)} expired rows removed${purge.verifiedAt ? `, verified at ${purge.verifiedAt.toISOString()}` : ''}`,
            ...(rows.length ? ['', table(['service', 'entity', 'rows'], rows, [2])] : []),
            ...(purge.error ? ['', purge.error] : []),
          ].join('\n'),
        );
      }
      if (purge.status !== 'COMPLETED') throw new CommandFailure(`retention purge ${purge.id} ${purge.status}: ${purge.error}`);
      return 0;
    },
  },

  tenants: {
    usage: 'erasure tenants [--status active|deleting] [--limit <n>] [--page-token <token>] [--json]',
    summary: 'list tenants, newest first (TenantService.ListTenants)',
    flags: { status: 'string', limit: 'string', 'page-token': 'string' },
    async run(ctx) {
      none(ctx);
      const statusFlag = ctx.args.flags.status as string | undefined;
      const status = statusFlag === undefined ? TenantStatus.TENANT_STATUS_UNSPECIFIED : TenantStatus[`TENANT_STATUS_${statusFlag.toUpperCase()}` as keyof typeof TenantStatus];
      if (status === undefined) throw new UsageError(`--status must be active or deleting, got ${JSON.stringify(statusFlag)}`);
      const response = await ctx.client.call<ListTenantsResponse>('tenant', 'listTenants', {
        status,
        pageSize: intFlag(ctx.args.flags.limit, 'limit', 50, 1, 500),
        pageToken: (ctx.args.flags['page-token'] as string | undefined) ?? '',
      });
      if (ctx.json) printJson(ctx, ListTenantsResponse.toJSON(response));
      else print(ctx, tenantsTable(response.tenants, response.nextPageToken));
      return 0;
    },
  },

  preview: {
    usage: 'erasure preview <tenant> [--email <e-mail> | --phone <phone> | --customer-id <id>] [--json]',
    summary: 'what erasing a tenant (or one of its customers) would remove, per service and entity',
    flags: CUSTOMER_FLAGS,
    async run(ctx) {
      const tenantId = one(ctx, 'tenant');
      const customer = customerFlags(ctx, tenantId);
      if (customer) {
        const answer = await ctx.client.call<PreviewCustomerDeletionResponse>('orchestrator', 'previewCustomerDeletion', { customer });
        if (ctx.json) printJson(ctx, PreviewCustomerDeletionResponse.toJSON(answer));
        else print(ctx, previewTable(answer, `customer of tenant ${tenantId}`));
        if (answer.unreachableServices.length) throw new CommandFailure(`unreachable services (counts unknown): ${answer.unreachableServices.join(', ')}`);
        return 0;
      }
      const response = await ctx.client.call<PreviewTenantDeletionResponse>('orchestrator', 'previewTenantDeletion', { tenantId });
      if (ctx.json) printJson(ctx, PreviewTenantDeletionResponse.toJSON(response));
      else print(ctx, previewTable(response));
      if (response.unreachableServices.length) throw new CommandFailure(`unreachable services (counts unknown): ${response.unreachableServices.join(', ')}`);
      return 0;
    },
  },

  delete: {
    usage: 'erasure delete <tenant> [--grace <duration>|default] [--require-approval] [--request-id <key>] [--detach] [--json]',
    summary: 'erase a tenant everywhere, with live progress per service (or schedule it after a grace period)',
    details:
      '  --grace <duration>  wait this long first (30d, 12h, 90m, 45s): the job is SCHEDULED, the tenant hidden,\n' +
      '                      nothing deleted until then (undo: erasure restore); `default` = the operator\'s default;\n' +
      '                      without --grace the erasure runs at once — after a second person\'s approval while\n' +
      '                      the operator\'s four-eyes setting is on (the default): the job is AWAITING_APPROVAL\n' +
      '  --require-approval  wait for a second person\'s approval (erasure approve / erasure reject) in any case\n' +
      '  --request-id <key>  idempotency key: the same key always means the same job\n' +
      '  --detach            start the job (or find the open one) and return; follow it with `erasure watch`\n' +
      '  --export-first <f>  export the tenant first, encrypted to the public JWK in <f>; erasure starts once the\n' +
      '                      archive is sealed (download it with `erasure export`)\n' +
      'Ctrl-C stops watching; the job goes on in the orchestrator.',
    flags: { grace: 'string', 'require-approval': 'boolean', 'request-id': 'string', detach: 'boolean', 'export-first': 'string' },
    async run(ctx) {
      const tenantId = one(ctx, 'tenant');
      const request = DeleteTenantRequest.fromPartial({
        tenantId,
        requireApproval: Boolean(ctx.args.flags['require-approval']),
        requestId: (ctx.args.flags['request-id'] as string | undefined) ?? '',
        detach: Boolean(ctx.args.flags.detach),
        gracePeriod: graceFlag(ctx),
        ...exportFirst(ctx),
      });
      if (request.detach || mayBeScheduled(request)) return detached(ctx, (md) => ctx.client.orchestrator.deleteTenant(request, md));
      return followJob(ctx, (md) => ctx.client.orchestrator.deleteTenant(request, md));
    },
  },

  'delete-user': {
    usage: 'erasure delete-user <user> [--grace <duration>|default] [--erase-owned-tenants] [--require-approval] [--request-id <key>] [--detach] [--json]',
    summary: 'erase a user everywhere (ownerships first), with live progress',
    details:
      '  --erase-owned-tenants  erase the tenants the user owns that have other members but no other admin,\n' +
      '                         instead of refusing (FAILED_PRECONDITION names them)\n' +
      '  --grace <duration>     wait this long first (7d, 12h, …): login and tokens refused, nothing deleted until\n' +
      '                         then (undo: erasure restore --user); `default` = the operator\'s default; without: at once\n' +
      '  --require-approval     wait for a second person\'s approval (erasure approve / erasure reject)\n' +
      '  --request-id <key>     idempotency key\n' +
      '  --detach               start the job and return\n' +
      '  --export-first <file>  export the user first, encrypted to the public JWK in <file>',
    flags: { grace: 'string', 'erase-owned-tenants': 'boolean', 'require-approval': 'boolean', 'request-id': 'string', detach: 'boolean', 'export-first': 'string' },
    async run(ctx) {
      const userId = one(ctx, 'user');
      const request = DeleteUserRequest.fromPartial({
        userId,
        requireApproval: Boolean(ctx.args.flags['require-approval']),
        eraseOwnedTenants: Boolean(ctx.args.flags['erase-owned-tenants']),
        requestId: (ctx.args.flags['request-id'] as string | undefined) ?? '',
        detach: Boolean(ctx.args.flags.detach),
        gracePeriod: graceFlag(ctx),
        ...exportFirst(ctx),
      });
      if (request.detach || mayBeScheduled(request)) return detached(ctx, (md) => ctx.client.orchestrator.deleteUser(request, md));
      return followJob(ctx, (md) => ctx.client.orchestrator.deleteUser(request, md));
    },
  },

  'delete-customer': {
    usage: 'erasure delete-customer <tenant> --email <e-mail> | --phone <phone> | --customer-id <id> [--require-approval] [--request-id <key>] [--detach] [--json]',
    summary: "erase one of a tenant's customers (its own rows deleted, kept invoices anonymized), with live progress",
    details:
      '  --email <e-mail>     the customer\'s e-mail (matched trimmed, lower-cased)\n' +
      '  --phone <phone>      the customer\'s phone in E.164 (+ and 8–15 digits; spaces, dashes, dots, parentheses ignored)\n' +
      '  --customer-id <id>   the tenant\'s own id of the customer\n' +
      '  --require-approval   wait for a second person\'s approval (erasure approve / erasure reject)\n' +
      '  --request-id <key>   idempotency key\n' +
      '  --detach             start the job and return\n' +
      'The job keeps only a keyed hash of the identifier; nothing is matched outside the tenant.',
    flags: { ...CUSTOMER_FLAGS, 'require-approval': 'boolean', 'request-id': 'string', detach: 'boolean' },
    async run(ctx) {
      const tenantId = one(ctx, 'tenant');
      const customer = customerFlags(ctx, tenantId);
      if (!customer) throw new UsageError('give one of --email, --phone, --customer-id');
      const request = DeleteCustomerRequest.fromPartial({
        customer,
        requireApproval: Boolean(ctx.args.flags['require-approval']),
        requestId: (ctx.args.flags['request-id'] as string | undefined) ?? '',
        detach: Boolean(ctx.args.flags.detach),
      });
      if (request.detach) return detached(ctx, (md) => ctx.client.orchestrator.deleteCustomer(request, md));
      return followJob(ctx, (md) => ctx.client.orchestrator.deleteCustomer(request, md));
    },
  },

  export: {
    usage: 'erasure export <tenant> | --user <uuid>  --recipient <public jwk file> -o <file> [--key <private jwk file>] [--trust <bundle>] [--json]',
    summary: 'export a tenant\'s or a user\'s data into an encrypted, signed archive and download it',
    details:
      'Runs an export job (live progress), then downloads its archive: encrypted to the --recipient key,\n' +
      'which the mesh never holds the private half of. With --key (the recipient\'s private JWK) the archive\n' +
      'is decrypted here into a tar (manifest.jws and one NDJSON file per service and entity) after its\n' +
      'manifest signature is checked; without it the encrypted archive is written as it came.\n' +
      '  --recipient <file>  the public JWK (EC P-256/384/521 or OKP X25519) to encrypt to\n' +
      '  --user <uuid>       export a user instead of a tenant\n' +
      '  -o, --output <file> where to write the archive\n' +
      '  --key <file>        the recipient\'s private JWK: decrypt locally\n' +
      '  --trust <file>      the trust bundle holding the orchestrator\'s key (default: ERASURE_TRUST_BUNDLE_FILE or the development keys)',
    flags: { user: 'string', recipient: 'string', output: 'string', key: 'string', trust: 'string' },
    async run(ctx) {
      const userId = uuidFlag(ctx, 'user');
      const tenantId = userId ? (none(ctx), undefined) : one(ctx, 'tenant');
      const recipientPath = ctx.args.flags.recipient as string | undefined;
      const output = ctx.args.flags.output as string | undefined;
      if (!recipientPath) throw new UsageError('--recipient <public jwk file> is required');
      if (!output) throw new UsageError('-o <file> is required');
      const recipientJwk = JSON.stringify(jwkFile(recipientPath, 'recipient'));
      const privateKey = ctx.args.flags.key ? jwkFile(ctx.args.flags.key as string, 'key') : undefined;
      let jobId = '';
      const code = await followJob(
        ctx,
        (md) =>
          userId
            ? ctx.client.orchestrator.exportUser({ userId, recipientJwk, requestId: '', detach: false }, md)
            : ctx.client.orchestrator.exportTenant({ tenantId: tenantId!, recipientJwk, requestId: '', detach: false }, md),
        (job) => (jobId = job.id),
      );
      if (code !== 0) return code;
      const out = fileWriter(output);
      try {
        if (privateKey) {
          const manifest = await decryptArchive(ctx.client.download(jobId), privateKey, out.write, await trustBundle(ctx));
          if (!ctx.json) print(ctx, `decrypted archive written to ${output}: ${manifest.files.length} files, ${formatCount(manifest.total_rows)} rows (check it: npx erasure verify-export ${output})`);
        } else {
          for await (const piece of ctx.client.download(jobId)) await out.write(piece);
          if (!ctx.json) print(ctx, `encrypted archive written to ${output} (decrypt it with the recipient's private key: --key)`);
        }
      } finally {
        await out.close();
      }
      return 0;
    },
  },

  'verify-export': {
    usage: 'erasure verify-export <file> [--trust <bundle>] [--json]',
    summary: 'check a decrypted export archive: the manifest signature and every file\'s SHA-256',
    details: 'Exit 0 when the manifest is signed by the orchestrator and every file matches it; 1 otherwise, naming each problem.',
    flags: { trust: 'string' },
    async run(ctx) {
      const [path, ...rest] = ctx.args.positionals;
      if (!path) throw new UsageError('missing <file>');
      if (rest.length) throw new UsageError(`unexpected argument ${JSON.stringify(rest[0])}`);
      let result;
      try {
        result = await verifyArchive(path, await trustBundle(ctx));
      } catch (error) {
        throw new CommandFailure(`${path} does not verify: ${(error as Error).message}`);
      }
      if (ctx.json) printJson(ctx, { ok: result.problems.length === 0, problems: result.problems, jobId: result.manifest.job_id, files: result.manifest.files.length, totalRows: result.manifest.total_rows });
      if (result.problems.length) throw new CommandFailure(`${path} does not verify: ${result.problems.join('; ')}`);
      if (!ctx.json) print(ctx, `${path} verifies: manifest signed by the orchestrator, ${result.manifest.files.length} files, ${formatCount(result.manifest.total_rows)} rows, each matching its SHA-256`);
      return 0;
    },
  },

  jobs: {
    usage: 'erasure jobs [--status <status>] [--tenant <uuid> | --user <uuid>] [--due-within <duration>] [--by-due] [--limit <n>] [--page-token <token>] [--json]',
    summary: 'list erasure jobs, newest first (or by due date)',
    details:
      '  --status             awaiting_approval, scheduled, pending, running, completed, failed, cancelled or rejected\n' +
      '  --due-within <d>     only unfinished requests due within this time (7d, 12h, …; 0 = overdue), soonest due first\n' +
      '  --by-due             soonest due first',
    flags: { status: 'string', tenant: 'string', user: 'string', 'due-within': 'string', 'by-due': 'boolean', limit: 'string', 'page-token': 'string' },
    async run(ctx) {
      none(ctx);
      const tenantId = uuidFlag(ctx, 'tenant');
      const userId = uuidFlag(ctx, 'user');
      if (tenantId && userId) throw new UsageError('give --tenant or --user, not both');
      const statusFlag = ctx.args.flags.status as string | undefined;
      const status = statusFlag === undefined ? JobStatus.JOB_STATUS_UNSPECIFIED : JobStatus[`JOB_STATUS_${statusFlag.toUpperCase()}` as keyof typeof JobStatus];
      if (status === undefined || status === JobStatus.UNRECOGNIZED) {
        throw new UsageError(`--status must be awaiting_approval, scheduled, pending, running, completed, failed, cancelled or rejected, got ${JSON.stringify(statusFlag)}`);
      }
      const dueWithin = ctx.args.flags['due-within'] as string | undefined;
      const withinMs = dueWithin === undefined ? undefined : parseGrace(dueWithin);
      if (dueWithin !== undefined && withinMs === undefined) throw new UsageError(`--due-within must be a duration such as 7d, 12h or 0; got ${JSON.stringify(dueWithin)}`);
      const response = await ctx.client.call<ListJobsResponse>('orchestrator', 'listJobs', {
        status,
        subject: tenantId ? { tenantId } : userId ? { userId } : undefined,
        pageSize: intFlag(ctx.args.flags.limit, 'limit', 50, 1, 500),
        pageToken: (ctx.args.flags['page-token'] as string | undefined) ?? '',
        dueBefore: withinMs === undefined ? undefined : new Date(Date.now() + withinMs),
        unfinished: withinMs !== undefined,
        orderBy: withinMs !== undefined || ctx.args.flags['by-due'] ? JobOrder.JOB_ORDER_DUE_TIME : JobOrder.JOB_ORDER_UNSPECIFIED,
      });
      if (ctx.json) printJson(ctx, ListJobsResponse.toJSON(response));
      else print(ctx, jobsTable(response));
      return 0;
    },
  },

  job: {
    usage: 'erasure job <id> [--json]',
    summary: 'one job in full: steps, rows per entity, attempts, trace',
    flags: {},
    async run(ctx) {
      const jobId = one(ctx, 'id');
      const { job } = await ctx.client.call<GetJobResponse>('orchestrator', 'getJob', { jobId });
      if (ctx.json) printJson(ctx, Job.toJSON(job!));
      else print(ctx, jobDetail(job!, ctx.env));
      return 0;
    },
  },

  watch: {
    usage: 'erasure watch <id> [--json]',
    summary: 'follow a job live until it ends (a finished job prints its summary)',
    flags: {},
    async run(ctx) {
      const jobId = one(ctx, 'id');
      return followJob(ctx, (md) => ctx.client.orchestrator.watchJob({ jobId }, md));
    },
  },

  cancel: {
    usage: 'erasure cancel <id> [--json]',
    summary: 'stop a job between chunks (work done stays done); it ends CANCELLED',
    flags: {},
    async run(ctx) {
      const jobId = one(ctx, 'id');
      const { job } = await ctx.client.call<CancelJobResponse>('orchestrator', 'cancelJob', { jobId });
      if (ctx.json) printJson(ctx, Job.toJSON(job!));
      else if (job!.status === JobStatus.JOB_STATUS_CANCELLED && job!.purgeTime) print(ctx, `job ${job!.id} CANCELLED in its grace period: ${job!.error}`);
      else if (job!.status === JobStatus.JOB_STATUS_CANCELLED) {
        print(ctx, `job ${job!.id} CANCELLED: ${formatCount(job!.totalRowsDeleted)} rows were removed before it stopped (resume with: npx erasure retry ${job!.id})`);
      } else {
        print(ctx, `cancellation of job ${job!.id} requested; it is ${jobStatusName(job!.status)} and stops after the chunks in flight (npx erasure watch ${job!.id})`);
      }
      return 0;
    },
  },

  restore: {
    usage: 'erasure restore <tenant> | --user <uuid> [--json]',
    summary: 'end a SCHEDULED erasure in its grace period: the tenant or user returns to full use, nothing lost',
    flags: { user: 'string' },
    async run(ctx) {
      const userId = uuidFlag(ctx, 'user');
      if (userId) none(ctx);
      const { job } = userId
        ? await ctx.client.call<RestoreUserResponse>('orchestrator', 'restoreUser', { userId })
        : await ctx.client.call<RestoreTenantResponse>('orchestrator', 'restoreTenant', { tenantId: one(ctx, 'tenant') });
      if (ctx.json) printJson(ctx, Job.toJSON(job!));
      else print(ctx, `restored: job ${job!.id} ${jobStatusName(job!.status)} (${job!.error}); ${userId ? `user ${userId} can log in again` : 'the tenant is ACTIVE again'}`);
      return 0;
    },
  },

  retry: {
    usage: 'erasure retry <id> [--watch] [--json]',
    summary: 're-run what is not done of a FAILED or CANCELLED job',
    details: '  --watch  follow the job until it ends',
    flags: { watch: 'boolean' },
    async run(ctx) {
      const jobId = one(ctx, 'id');
      const { job } = await ctx.client.call<RetryJobResponse>('orchestrator', 'retryJob', { jobId });
      if (ctx.args.flags.watch) return followJob(ctx, (md) => ctx.client.orchestrator.watchJob({ jobId }, md));
      if (ctx.json) printJson(ctx, Job.toJSON(job!));
      else print(ctx, `job ${job!.id} ${jobStatusName(job!.status)} again (follow it: npx erasure watch ${job!.id})`);
      return 0;
    },
  },

  approve: {
    usage: 'erasure approve <id> [--json]',
    summary: 'approve a job AWAITING_APPROVAL as the second person (not its requester); it then runs or is SCHEDULED',
    flags: {},
    async run(ctx) {
      const jobId = one(ctx, 'id');
      const { job } = await ctx.client.call<ApproveJobResponse>('orchestrator', 'approveJob', { jobId });
      if (ctx.json) printJson(ctx, Job.toJSON(job!));
      else if (job!.status === JobStatus.JOB_STATUS_SCHEDULED) print(ctx, `approved; ${scheduledLine(job!)}`);
      else print(ctx, `approved: job ${job!.id} ${jobStatusName(job!.status)} (follow it: npx erasure watch ${job!.id})`);
      return 0;
    },
  },

  reject: {
    usage: 'erasure reject <id> --reason <text> [--json]',
    summary: 'reject a job AWAITING_APPROVAL as the second person: it ends REJECTED, nothing deleted',
    details: '  --reason <text>  why (required; kept in the job and the audit chain: no personal data)',
    flags: { reason: 'string' },
    async run(ctx) {
      const jobId = one(ctx, 'id');
      const reason = ctx.args.flags.reason as string | undefined;
      if (!reason) throw new UsageError('--reason <text> is required');
      const { job } = await ctx.client.call<RejectJobResponse>('orchestrator', 'rejectJob', { jobId, reason });
      if (ctx.json) printJson(ctx, Job.toJSON(job!));
      else print(ctx, `job ${job!.id} ${jobStatusName(job!.status)}: nothing was hidden or deleted (${job!.error})`);
      return 0;
    },
  },

  extend: {
    usage: 'erasure extend <id> --by <duration> --reason <text> [--json]',
    summary: 'extend an unfinished request\'s due date (at most two months past the first, GDPR Art. 12(3)); operators',
    details: '  --by <duration>  how much later (30d, 12h, …)\n  --reason <text>  why the request needs longer (required; no personal data)',
    flags: { by: 'string', reason: 'string' },
    async run(ctx) {
      const jobId = one(ctx, 'id');
      const by = ctx.args.flags.by as string | undefined;
      const ms = by === undefined ? undefined : parseGrace(by);
      if (!ms) throw new UsageError(`--by must be a positive duration such as 30d or 12h; got ${JSON.stringify(by ?? '')}`);
      const reason = ctx.args.flags.reason as string | undefined;
      if (!reason) throw new UsageError('--reason <text> is required');
      const { job } = await ctx.client.call<ExtendDeadlineResponse>('orchestrator', 'extendDeadline', { jobId, extension: graceDuration(ms), reason });
      if (ctx.json) printJson(ctx, Job.toJSON(job!));
      else print(ctx, `job ${job!.id} now due ${job!.dueTime?.toISOString() ?? '-'} (first due ${job!.originalDueTime?.toISOString() ?? '-'})`);
      return 0;
    },
  },

  token: {
    usage: 'erasure token --operator <name> | --service <name> | --user <uuid> [--ttl 1h] [--key-file <jwk>] [--json]',
    summary: 'print a signed JWT (for buf curl: -H "authorization: Bearer $TOKEN")',
    details: [
      '  --operator <name>  an operator token, signed with the operator key',
      '  --service <name>   a token of that service, signed with its own key (only where you hold it: development)',
      '  --user <uuid>      a user token signed with the auth key, as Login would (development and tests)',
      '  --ttl <n[smh]>     lifetime (default 1h; at most the kind\'s maximum in the limits table)',
      '  --key-file <jwk>   the private key to sign with (default: <data dir>/keys/<identity>.private.jwk)',
    ].join('\n'),
    flags: { operator: 'string', service: 'string', user: 'string', ttl: 'string', 'key-file': 'string' },
    async run(ctx) {
      none(ctx);
      const operator = ctx.args.flags.operator as string | undefined;
      const service = ctx.args.flags.service as string | undefined;
      const user = ctx.args.flags.user as string | undefined;
      const keyFile = ctx.args.flags['key-file'] as string | undefined;
      const ttlText = (ctx.args.flags.ttl as string | undefined) ?? '1h';
      if ([operator, service, user].filter((value) => value !== undefined).length !== 1) {
        throw new UsageError('give exactly one of --operator <name>, --service <name> or --user <uuid>');
      }
      if (operator !== undefined && !/^[a-z0-9][a-z0-9._-]{0,63}$/i.test(operator)) throw new UsageError('--operator must be 1–64 letters, digits, ".", "_" or "-"');
      if (service !== undefined && (!isIdentity(service) || service === OPERATOR_IDENTITY)) throw new UsageError(`--service must be a service name like "orchestrator"`);
      if (user !== undefined && !isUuid(user)) throw new UsageError('--user must be a UUID');
      const match = /^(\d+)([smh])$/.exec(ttlText);
      if (!match) throw new UsageError(`--ttl must look like 30s, 15m or 1h`);
      const ttl = Number(match[1]) * { s: 1, m: 60, h: 3600 }[match[2] as 's' | 'm' | 'h'];
      const kind: TokenKind = operator !== undefined ? 'operator' : service !== undefined ? 'service' : 'user';
      const max = maxTokenLifetime(kind, ctx.env);
      if (ttl < 1 || ttl > max) throw new UsageError(`--ttl must be at most ${max} s for ${kind} tokens`);
      let token: string;
      if (operator !== undefined) token = await mintOperatorToken(await cliSigningKey(ctx.env, OPERATOR_IDENTITY, keyFile), operator, ttl);
      else if (service !== undefined) token = await mintServiceToken(await cliSigningKey(ctx.env, service, keyFile), ttl);
      else token = await mintUserToken(await cliSigningKey(ctx.env, USER_TOKEN_ISSUER, keyFile), user!, ttl);
      const subject = operator !== undefined ? `operator:${operator}` : service !== undefined ? `service:${service}` : user!.toLowerCase();
      if (ctx.json) printJson(ctx, { token, kind, subject, ttl: ttlText });
      else print(ctx, token);
      return 0;
    },
  },

  keys: {
    usage: 'erasure keys init <dir> [--identity a,b,…] [--json]',
    summary: "generate a deployment's key pairs (one per process, and the operator's) and its trust bundle",
    details: [
      '  Writes <dir>/<identity>.private.jwk (mode 0600) for every process of the catalog and `operator`',
      `  (or only the given --identity names), and <dir>/${TRUST_BUNDLE_FILE} with every public key.`,
      '  Existing private keys are kept: running it again only adds what is missing. Give each process',
      '  only its own private key file (ERASURE_SIGNING_KEY_FILE) and everyone the bundle',
      '  (ERASURE_TRUST_BUNDLE_FILE). To rotate a key, move its file away and run again: the new kid is',
      '  added beside the old public key, which stays in the bundle until its tokens have expired.',
    ].join('\n'),
    flags: { identity: 'list' },
    async run(ctx) {
      const [action, dir, ...rest] = ctx.args.positionals;
      if (action !== 'init') throw new UsageError('the only action is `init`');
      if (dir === undefined) throw new UsageError('missing <dir>');
      if (rest.length) throw new UsageError(`unexpected argument ${JSON.stringify(rest[0])}`);
      const asked = ctx.args.flags.identity as string[] | undefined;
      const identities = asked?.length ? asked : DEV_IDENTITIES;
      const bad = identities.find((identity) => !isIdentity(identity));
      if (bad !== undefined) throw new UsageError('--identity must be 1–63 lower-case letters, digits or "-", starting with a letter');
      const generated = await writeKeySet(dir, identities);
      const passwords = writeDatabasePasswords(dir, identities.filter((identity) => PROCESS_NAMES.includes(identity)));
      if (ctx.json) printJson(ctx, { dir, generated, databasePasswords: passwords, bundle: `${dir}/${TRUST_BUNDLE_FILE}` });
      else {
        print(ctx, `${generated.length ? `generated keys for ${generated.join(', ')}` : 'every key exists already'}; trust bundle: ${dir}/${TRUST_BUNDLE_FILE}`);
        if (passwords.length) print(ctx, `generated runtime database passwords for ${passwords.join(', ')} in ${dir}/db/ (for \`erasure db provision\`)`);
      }
      return 0;
    },
  },

  db: {
    usage: 'erasure db provision <keys-dir> [--json]',
    summary: 'create, migrate and grant every process\'s database, each with its own runtime role',
    details: [
      '  Run once per deployment (and again after an upgrade) as a database administrator: DATABASE_URL',
      '  names the server and an administrator role. For every process of the catalog it creates',
      '  bakery_<name>, runs the migrations as the administrator, and creates the role',
      '  bakery_<name>_runtime with the password in <keys-dir>/db/<name>.password (`erasure keys init`):',
      '  CONNECT on its own database only, rows only (no DDL), the orchestrator\'s tombstones insert-only.',
      '  Then start each process with MIGRATE=false, <NAME>_DATABASE_URL=postgres://bakery_<name>_runtime@host/bakery_<name>',
      '  and ERASURE_DATABASE_PASSWORD_FILE pointing at its own password file (docker-compose.yml does).',
    ].join('\n'),
    flags: {},
    async run(ctx) {
      const [action, dir, ...rest] = ctx.args.positionals;
      if (action !== 'provision') throw new UsageError('the only action is `provision`');
      if (dir === undefined) throw new UsageError('missing <keys-dir>');
      if (rest.length) throw new UsageError(`unexpected argument ${JSON.stringify(rest[0])}`);
      const server = ctx.env.DATABASE_URL;
      if (!server) throw new CommandFailure('set DATABASE_URL to the server, as an administrator role');
      const urls = await provisionMesh(server, dir, createLogger('provision'));
      if (ctx.json) printJson(ctx, { runtimeUrls: urls });
      else print(ctx, table(['process', 'connects as'], Object.entries(urls).map(([name, url]) => [name, url.replace(/^postgres:\/\//, '').replace(/@.*$/, '')])));
      return 0;
    },
  },
  // Certificates, public keys and the audit chain.
  ...proofCommands,
};

/** The tombstone registry's answer for `seed` (at most 100 subjects per call, as the registry takes). */
async function erasedAmongOf(ctx: CommandContext, subjects: { kind: 'tenant' | 'user'; id: string }[]): Promise<boolean[]> {
  const response = await ctx.client.call<CheckSubjectsResponse>('registry', 'checkSubjects', {
    subjects: subjects.map(({ kind, id }) => (kind === 'tenant' ? { tenantId: id } : { userId: id })),
  });
  return response.statuses.map((s) => s.erased);
}

/** `--detach`: the job's first snapshot only; the job goes on without us. */
async function detached(ctx: CommandContext, open: Parameters<MeshClient['follow']>[0]): Promise<number> {
  const job = await ctx.client.firstSnapshot(open);
  if (ctx.json) printJson(ctx, Job.toJSON(job));
  else if (job.status === JobStatus.JOB_STATUS_SCHEDULED) print(ctx, scheduledLine(job));
  else if (job.status === JobStatus.JOB_STATUS_AWAITING_APPROVAL) print(ctx, awaitingLine(job));
  else print(ctx, `job ${job.id} ${jobStatusName(job.status)} (follow it: npx erasure watch ${job.id})`);
  return 0;
}

/** A request with a grace (or the operator's default) answers with its SCHEDULED job: nothing to follow until the purge. */
const mayBeScheduled = (request: { gracePeriod?: Duration }) =>
  request.gracePeriod === undefined || request.gracePeriod.seconds !== '0' || request.gracePeriod.nanos !== 0;

/**
 * `--grace`: always sent explicitly, so a command never changes meaning with the operator's default:
 * without the flag the erasure runs at once (as `erasure delete` always did); `default` asks for the
 * operator's default (the field left out).
 */
function graceFlag(ctx: CommandContext): Duration | undefined {
  const value = ctx.args.flags.grace;
  if (value === undefined) return AT_ONCE;
  if (value === 'default') return undefined;
  const ms = typeof value === 'string' ? parseGrace(value) : undefined;
  if (ms === undefined) throw new UsageError(`--grace must be a duration such as 30d, 12h, 90m, 45s or 0, or "default"; got ${JSON.stringify(value)}`);
  return graceDuration(ms);
}

const GLOBAL_FLAGS: FlagSpec = { json: 'boolean', help: 'boolean' };

export function usage(): string {
  const width = Math.max(...Object.keys(commands).map((name) => name.length));
  return [
    'usage: erasure <command> [arguments] [--json] [--help]',
    '',
    'commands:',
    ...Object.entries(commands).map(([name, command]) => `  ${name.padEnd(width)}  ${command.summary}`),
    '',
    'environment:',
    '  ORCHESTRATOR_ADDR  the orchestrator (default 127.0.0.1:7100); TENANT_ADDR for `tenants`',
    '  ERASURE_TOKEN      the bearer token to send (default: an operator token signed with the operator key)',
    '  ERASURE_SIGNING_KEY_FILE  the operator key (default: <data dir>/keys/operator.private.jwk)',
    '  ERASURE_OPERATOR   the operator name in that token (default: the login name)',
    '  JAEGER_UI_URL      where trace links point (default http://localhost:16686)',
    '  DATABASE_URL       the PostgreSQL server `seed` writes to (default: the embedded one)',
    '',
    'Run `erasure <command> --help` for a command\'s options.',
  ].join('\n');
}

function commandHelp(name: string, command: Command): string {
  return [`usage: ${command.usage}`, '', `${name}: ${command.summary}`, ...(command.details ? ['', command.details] : []), '', '  --json  machine-readable output only, on stdout', '  --help  this text'].join('\n');
}

export interface RunOptions {
  env?: Env;
  stdout?: CommandContext['stdout'];
  stderr?: NodeJS.WritableStream;
  signal?: AbortSignal;
}

/** Runs one command line; returns the exit code (errors are printed as one line on stderr). */
export async function runCli(argv: string[], options: RunOptions = {}): Promise<number> {
  const stdout = options.stdout ?? process.stdout;
  const stderr = options.stderr ?? process.stderr;
  const env = options.env ?? process.env;
  const [name, ...rest] = argv;
  if (name === undefined || name === '--help' || name === '-h' || name === 'help') {
    stdout.write(`${usage()}\n`);
    return name === undefined ? 2 : 0;
  }
  const command = commands[name];
  if (!command) {
    stderr.write(`erasure: unknown command ${JSON.stringify(name)} (see erasure --help)\n`);
    return 2;
  }
  const client = new MeshClient(env);
  try {
    const args = parseArgs(rest, { ...GLOBAL_FLAGS, ...command.flags });
    if (args.flags.help) {
      stdout.write(`${commandHelp(name, command)}\n`);
      return 0;
    }
    const signal = options.signal ?? new AbortController().signal;
    return await command.run({ args, json: Boolean(args.flags.json), env, stdout, stderr, client, signal });
  } catch (error) {
    if (error instanceof UsageError) {
      stderr.write(`erasure ${name}: ${error.message}\nusage: ${command.usage}\n`);
      return 2;
    }
    stderr.write(`erasure ${name}: ${(error as Error).message.split('\n')[0]}\n`);
    return error instanceof CommandFailure ? error.exitCode : 1;
  } finally {
    client.close();
  }
}

/** The process entry (cli/bin.js, or `node --require tsx/cjs cli/erasure.ts`). */
export function main(): void {
  const abort = new AbortController();
  let interrupted = false;
  process.on('SIGINT', () => {
    // The first Ctrl-C stops watching cleanly (the job goes on); a second one exits at once.
    if (interrupted) process.exit(130);
    interrupted = true;
    abort.abort();
  });
  runCli(process.argv.slice(2), { signal: abort.signal }).then(
    (code) => process.exit(code),
    (error: Error) => {
      process.stderr.write(`erasure: ${error.message}\n`);
      process.exit(1);
    },
  );
}

if (require.main === module) main();
