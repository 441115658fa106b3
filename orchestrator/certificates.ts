import { createHash, createPublicKey, KeyObject } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { CompactSign, compactVerify, createLocalJWKSet, type JWK } from 'jose';
import type { PoolClient, Pool } from 'pg';
import { EntityAction, entityActionToJSON } from '../gen/bakery/erasure/v1/tenant_data_deletion';
import { canonicalJson } from '../services/kit/canonical-json';
import { devKeysDir, TOKEN_ALGORITHM, TRUST_BUNDLE_FILE, type SigningKey, type TrustBundleJson } from '../services/kit/keys';
import type { AuditChain, LockedHead } from './audit-chain';
import type { AuditHeads, SignedHead } from './audit-heads';
import type { JobRow, JobStep } from './store';

/** The JWS `typ` of a deletion certificate, and the payload's `typ`. */
export const CERTIFICATE_TYPE = 'erasure-deletion-certificate';

/** What a deletion certificate states (its JWS payload, canonical JSON). No raw id, no personal data. */
export interface CertificatePayload {
  typ: typeof CERTIFICATE_TYPE;
  version: 1;
  job_id: string;
  parent_job_id: string | null;
  subject: { kind: string; ref: string };
  /** Who asked, as a keyed hash of the caller's name (`requester:k<version>:…`). */
  requested_by: string;
  requested_at: string;
  /** When the grace period ended; null for a job without one. */
  grace_ends_at: string | null;
  started_at: string | null;
  completed_at: string;
  verified_at: string | null;
  services: {
    service: string;
    phase: string;
    status: string;
    rows: number;
    /** `sha256:<hex>` of the service's declared policy; null for steps that are not a service's erasure. */
    policy_fingerprint: string | null;
    entities: { entity: string; action: string; rows: number }[];
  }[];
  retained: { service: string; entity: string; rows: number; reason: string; retention: string | null; expires_at: string | null }[];
  trace_id: string;
  /** The signed audit head the certificate was issued under (its chain includes this job's completion). */
  audit_head: SignedHead;
  /** Until when backups may still hold the subject (completion + ORCHESTRATOR_BACKUP_RETENTION_DAYS). */
  backup_retention_until: string;
  /** The archive exported before the erasure (export_first): its manifest's SHA-256 and when it expires; null without one. */
  export_archive: { manifest_sha256: string; expires_at: string | null } | null;
  /**
   * The legal holds that stopped the erasure or kept part of it before their release
   * (orchestrator/holds.ts): what each kept, per service, as last counted while it held; empty when none did.
   */
  legal_holds: { hold_id: string; service: string; entities: string[]; rows: number; reason: string }[];
  issued_at: string;
  issuer: 'orchestrator';
}

const iso = (date: Date | null | undefined): string | null => (date ? date.toISOString() : null);

/** The certificate of a completed job, from its record and steps (read inside the completing transaction). */
export function certificatePayload(
  job: JobRow,
  steps: JobStep[],
  context: {
    subjectRef: string;
    requester: string;
    head: SignedHead;
    completedAt: Date;
    backupRetentionDays: number;
    issuedAt: Date;
    exportArchive?: { manifestSha256: string; expiresAt: Date | null };
  },
): CertificatePayload {
  const action = (value: number) => entityActionToJSON(value as EntityAction).replace('ENTITY_ACTION_', '');
  return {
    typ: CERTIFICATE_TYPE,
    version: 1,
    job_id: job.id,
    parent_job_id: job.parent_job_id,
    subject: { kind: job.subject_kind, ref: context.subjectRef },
    requested_by: context.requester,
    requested_at: job.created_at.toISOString(),
    grace_ends_at: job.purge_at ? job.purge_at.toISOString() : null,
    started_at: iso(job.started_at),
    completed_at: context.completedAt.toISOString(),
    verified_at: iso(job.verified_at),
    services: steps.map((step) => ({
      service: step.name,
      phase: step.phase,
      status: step.status,
      rows: step.rowsDeleted,
      policy_fingerprint: step.policyFingerprint,
      entities: Object.entries(step.entities).map(([entity, tally]) => ({ entity, action: action(tally.action), rows: tally.rows })),
    })),
    retained: steps.flatMap((step) =>
      Object.entries(step.entities)
        .filter(([, tally]) => tally.action === EntityAction.ENTITY_ACTION_RETAIN)
        .map(([entity, tally]) => ({
          service: step.name,
          entity,
          rows: tally.rows,
          reason: tally.retainReason ?? '',
          retention: tally.retention ?? null,
          // Per-row expiry is the retention purge's to compute; the period above says how it runs.
          expires_at: null,
        })),
    ),
    trace_id: job.trace_id,
    audit_head: context.head,
    backup_retention_until: new Date(context.completedAt.getTime() + context.backupRetentionDays * 86_400_000).toISOString(),
    export_archive: context.exportArchive ? { manifest_sha256: context.exportArchive.manifestSha256, expires_at: iso(context.exportArchive.expiresAt) } : null,
    legal_holds: [
      ...(job.held ?? []).map(({ hold_id, service, entities, rows, reason }) => ({ hold_id, service, entities, rows, reason })),
      // A whole-subject hold stopped the job before anything ran: no service's part to name.
      ...(job.hold_ids ?? []).filter((id) => !(job.held ?? []).some((part) => part.hold_id === id)).map((hold_id) => ({ hold_id, service: '*', entities: [], rows: 0, reason: '' })),
    ],
    issued_at: context.issuedAt.toISOString(),
    issuer: 'orchestrator',
  };
}

/**
 * Deletion certificates (table erasure_certificates): issued inside the transaction that completes
 * the job, so each completed job has exactly one, whichever replica ran it.
 */
export class Certificates {
  constructor(
    private readonly pool: Pool,
    private readonly signer: SigningKey,
    readonly audit: AuditChain,
    readonly heads: AuditHeads,
    private readonly backupRetentionDays: number,
  ) {}

  /**
   * Signs the audit head (which holds the job's completion entry) and the certificate, records both,
   * and appends `certificate.issued`. Runs inside the completing transaction, after the completion
   * entry was appended (the head is locked). Returns the head to export after the commit.
   */
  async issue(
    client: PoolClient,
    job: JobRow,
    steps: JobStep[],
    completedAt: Date,
    /** The job's export archive (exportArchiveOf), read by the caller before it locked the head; null without one. */
    exportArchive: ExportArchive | null,
    /** The head as the completion's append left it (the transaction holds it locked). */
    appended: LockedHead,
  ): Promise<SignedHead | undefined> {
    const signed = await this.heads.signAppended(client, appended);
    const issuedAt = new Date();
    const payload = certificatePayload(job, steps, {
      subjectRef: this.audit.subjectRef(job.subject_kind, job.subject_id),
      requester: this.audit.keys.pseudonym('requester', job.requested_by),
      head: signed.head,
      completedAt,
      backupRetentionDays: this.backupRetentionDays,
      issuedAt,
      exportArchive: exportArchive ?? undefined,
    });
    const jws = await new CompactSign(new TextEncoder().encode(canonicalJson(payload)))
      .setProtectedHeader({ alg: TOKEN_ALGORITHM, kid: this.signer.kid, typ: CERTIFICATE_TYPE })
      .sign(this.signer.key);
    const inserted = await client.query(
      `INSERT INTO erasure_certificates (job_id, issued_at, kid, jws) VALUES ($1, $2, $3, $4) ON CONFLICT (job_id) DO NOTHING`,
      [job.id, issuedAt, this.signer.kid, jws],
    );
    if (inserted.rowCount === 1) {
      // A head this call signed is the one the transaction holds locked (the completion entry's): the
      // entry goes after it without reading and locking it again, dated when the head was signed.
      const locked = signed.recorded ? { seq: signed.head.seq, hash: signed.head.hash, at: signed.head.signed_at } : undefined;
      await this.audit.append(
        client,
        {
          kind: 'certificate.issued',
          jobId: job.id,
          subjectRef: payload.subject.ref,
          details: { kid: this.signer.kid, certificate_sha256: certificateSha256(jws), audit_head_seq: signed.head.seq },
        },
        locked,
      );
    }
    return signed.recorded ? signed.head : undefined;
  }

  async get(jobId: string): Promise<{ jws: string; issuedAt: Date } | undefined> {
    const { rows } = await this.pool.query<{ jws: string; issued_at: Date }>('SELECT jws, issued_at FROM erasure_certificates WHERE job_id = $1', [jobId]);
    return rows[0] && { jws: rows[0].jws, issuedAt: rows[0].issued_at };
  }
}

/** A certificate's identifier outside the orchestrator (audit entry, webhook): the SHA-256 (hex) of its JWS. */
export const certificateSha256 = (jws: string): string => createHash('sha256').update(jws).digest('hex');

/** A JSON Web Key Set. */
export interface Jwks {
  keys: JWK[];
}

/**
 * The orchestrator's public keys: its current key and every orchestrator key the trust bundle still
 * lists (retired keys stay there for as long as what they signed must verify; services/kit/keys.ts).
 */
export function orchestratorJwks(signer: SigningKey, env: Record<string, string | undefined> = process.env): Jwks {
  const privateKey = signer.key instanceof KeyObject ? signer.key : KeyObject.from(signer.key as Parameters<typeof KeyObject.from>[0]);
  const current = { ...(createPublicKey(privateKey).export({ format: 'jwk' }) as JWK), kid: signer.kid, alg: TOKEN_ALGORITHM, use: 'sig' };
  const bundleFile = env.ERASURE_TRUST_BUNDLE_FILE || join(devKeysDir(), TRUST_BUNDLE_FILE);
  const bundled = existsSync(bundleFile) ? (JSON.parse(readFileSync(bundleFile, 'utf8')) as TrustBundleJson).keys : [];
  const others = bundled
    .filter((key) => key.iss === signer.identity && key.kid !== signer.kid)
    .map(({ kty, crv, x, kid }) => ({ kty, crv, x, kid, alg: TOKEN_ALGORITHM, use: 'sig' }));
  return { keys: [current, ...others] };
}

/** Writes the JWKS file (ORCHESTRATOR_JWKS_FILE), whole then renamed. */
export function writeJwksFile(file: string, jwks: Jwks): void {
  mkdirSync(dirname(file), { recursive: true });
  const temporary = `${file}.${process.pid}.tmp`;
  writeFileSync(temporary, `${JSON.stringify(jwks, null, 2)}\n`, { mode: 0o644 });
  renameSync(temporary, file);
}

/**
 * Verifies a compact JWS (a certificate or a signed audit head) against a JWKS, offline: the signature
 * over the exact bytes, the algorithm, the kid and the expected `typ`. Returns the decoded payload;
 * throws with the reason otherwise.
 */
export async function verifySigned<T>(jws: string, jwks: Jwks, typ: string): Promise<{ payload: T; kid: string }> {
  const keySet = createLocalJWKSet({ keys: jwks.keys });
  const { payload, protectedHeader } = await compactVerify(jws.trim(), keySet, { algorithms: [TOKEN_ALGORITHM] });
  if (protectedHeader.typ !== typ) throw new Error(`the JWS is a ${String(protectedHeader.typ)}, not a ${typ}`);
  const decoded = JSON.parse(new TextDecoder().decode(payload)) as T & { typ?: string };
  if (decoded.typ !== typ) throw new Error(`the payload is not a ${typ}`);
  return { payload: decoded, kid: protectedHeader.kid! };
}

/** The sealed archive of an export_first erasure, as a certificate names it. */
export interface ExportArchive {
  manifestSha256: string;
  expiresAt: Date | null;
}

/** The sealed archive an export_first erasure made before it erased (migration 0009), if any. */
export async function exportArchiveOf(client: PoolClient, jobId: string): Promise<ExportArchive | undefined> {
  const { rows } = await client.query<{ manifest_sha256: string; expires_at: Date | null }>(
    `SELECT manifest_sha256, expires_at FROM export_archives WHERE job_id = $1 AND manifest_sha256 IS NOT NULL`,
    [jobId],
  );
  return rows[0] ? { manifestSha256: rows[0].manifest_sha256, expiresAt: rows[0].expires_at } : undefined;
}
