/**
 * The export archive's format, shared by the orchestrator (which writes it) and the command line
 * (which decrypts and verifies it).
 *
 * Each file (one per service and entity, NDJSON) is encrypted with a content key of its own
 * (AES-256-GCM, one random IV per chunk, the job, file and chunk number as additional data, so chunks
 * cannot be swapped or reordered); the content key is wrapped to the requester's public key as a JWE
 * (ECDH-ES+A256KW). The orchestrator forgets the content key when the file is written: it never
 * holds the means to decrypt an archive. The manifest (files, rows, bytes, SHA-256 of each plaintext
 * file) is a JWS signed with the orchestrator's own key.
 */
import { createCipheriv, createDecipheriv, createHash, randomBytes } from 'node:crypto';
import { CompactEncrypt, CompactSign, compactDecrypt, compactVerify, importJWK, type JWK, type KeyObject, type CryptoKey } from 'jose';
import type { SigningKey, TrustBundle } from '../../services/kit/keys';
import type { SubjectKind } from '../steps';

export const ARCHIVE_FORMAT = 'bakery-erasure-export/1';
/** Key management and content encryption of the wrapped content keys. */
export const KEY_WRAP = { alg: 'ECDH-ES+A256KW', enc: 'A256GCM' } as const;
const IV_BYTES = 12;
const TAG_BYTES = 16;

export interface ManifestFile {
  /** `<service>/<entity>.ndjson`. */
  name: string;
  service: string;
  entity: string;
  rows: number;
  /** Bytes of the plaintext file. */
  bytes: number;
  /** SHA-256 of the plaintext file, hex. */
  sha256: string;
}

export interface Manifest {
  format: typeof ARCHIVE_FORMAT;
  job_id: string;
  subject: { kind: SubjectKind; id: string };
  created_at: string;
  expires_at: string;
  files: ManifestFile[];
  total_rows: number;
}

export const fileName = (service: string, entity: string): string => `${service}/${entity}.ndjson`;

/** Checks a requester's key: a public ECDH key (EC P-256/384/521 or OKP X25519), never a private one. */
export async function recipientKey(jwk: JWK): Promise<CryptoKey | KeyObject | Uint8Array> {
  if (typeof jwk !== 'object' || jwk === null) throw new Error('the recipient must be a JWK object');
  if ('d' in jwk) throw new Error('the recipient is a private key; give the public key only (the private key never leaves you)');
  const ecdh = (jwk.kty === 'EC' && ['P-256', 'P-384', 'P-521'].includes(String(jwk.crv))) || (jwk.kty === 'OKP' && jwk.crv === 'X25519');
  if (!ecdh) throw new Error('the recipient must be an EC (P-256, P-384, P-521) or OKP X25519 public JWK');
  return importJWK(jwk, KEY_WRAP.alg);
}

/** A fresh content key for one file, and that key wrapped to the recipient. */
export async function newContentKey(recipient: JWK): Promise<{ key: Buffer; wrapped: string }> {
  const key = randomBytes(32);
  const wrapped = await new CompactEncrypt(key).setProtectedHeader(KEY_WRAP).encrypt(await recipientKey(recipient));
  return { key, wrapped };
}

/** The recipient's private key unwraps a file's content key. */
export async function unwrapContentKey(wrapped: string, privateJwk: JWK): Promise<Buffer> {
  const { plaintext } = await compactDecrypt(wrapped, await importJWK(privateJwk, KEY_WRAP.alg));
  if (plaintext.length !== 32) throw new Error('a wrapped content key is not 32 bytes');
  return Buffer.from(plaintext);
}

const aad = (jobId: string, name: string, seq: number) => Buffer.from(`${jobId}/${name}/${seq}`);

/** One encrypted chunk: IV, ciphertext, tag. */
export function encryptChunk(key: Buffer, jobId: string, name: string, seq: number, plaintext: Buffer): Buffer {
  const iv = randomBytes(IV_BYTES);
  const cipher = createCipheriv('aes-256-gcm', key, iv).setAAD(aad(jobId, name, seq));
  return Buffer.concat([iv, cipher.update(plaintext), cipher.final(), cipher.getAuthTag()]);
}

/** Decrypts one chunk; throws when it was altered, moved, or belongs to another file or job. */
export function decryptChunk(key: Buffer, jobId: string, name: string, seq: number, data: Buffer): Buffer {
  const iv = data.subarray(0, IV_BYTES);
  const tag = data.subarray(data.length - TAG_BYTES);
  const decipher = createDecipheriv('aes-256-gcm', key, iv).setAAD(aad(jobId, name, seq));
  decipher.setAuthTag(tag);
  return Buffer.concat([decipher.update(data.subarray(IV_BYTES, data.length - TAG_BYTES)), decipher.final()]);
}

export const sha256 = (data: Buffer | string): string => createHash('sha256').update(data).digest('hex');

/** The manifest as a JWS signed with the orchestrator's key (its kid in the header). */
export function signManifest(manifest: Manifest, signer: SigningKey): Promise<string> {
  return new CompactSign(Buffer.from(JSON.stringify(manifest)))
    .setProtectedHeader({ alg: 'EdDSA', kid: signer.kid, typ: 'bakery-export-manifest+jws' })
    .sign(signer.key);
}

/** Verifies a manifest JWS against the orchestrator's keys in the trust bundle; returns the manifest. */
export async function verifyManifest(jws: string, trust: TrustBundle): Promise<Manifest> {
  const { payload } = await compactVerify(jws, async (header) => {
    const { issuer, key } = await trust.resolve(header);
    if (issuer !== 'orchestrator') throw new Error(`the manifest is signed by ${issuer}, not by the orchestrator`);
    return key;
  });
  const manifest = JSON.parse(Buffer.from(payload).toString('utf8')) as Manifest;
  if (manifest.format !== ARCHIVE_FORMAT) throw new Error(`unknown archive format ${JSON.stringify(String(manifest.format).slice(0, 40))}`);
  return manifest;
}

/**
 * The encrypted archive as downloaded (DownloadExport, `erasure export` without --key): NDJSON lines —
 * a header with the signed manifest, then per file a line with its wrapped key and one line per
 * encrypted chunk (base64).
 */
export type ArchiveLine =
  | { format: typeof ARCHIVE_FORMAT; job_id: string; manifest: string }
  | { file: string; key: string; chunks: number }
  | { file: string; seq: number; data: string };
