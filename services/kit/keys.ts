/**
 * Keys: one Ed25519 key pair per identity (every process of the catalog, plus `operator`), and the
 * trust bundle of public keys every process verifies tokens against.
 *
 * Conventions (one place):
 * - A key id (`kid`) is `<identity>.<version>`; the identity before the first dot is the issuer the key
 *   belongs to. That is how a key served by a JWKS URL (which has no room for more) names its issuer;
 *   the bundle file repeats it as `iss` and a bundle entry whose `iss` disagrees is refused.
 * - A process holds exactly one private key, its own (`ERASURE_SIGNING_KEY_FILE`); it can verify every
 *   identity's tokens but sign only as itself.
 * - Several keys per issuer may be trusted at once: during a rotation the retired public key stays in
 *   the bundle until every token signed with it has expired.
 */
import { randomBytes } from 'node:crypto';
import { chmodSync, existsSync, mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import {
  createRemoteJWKSet,
  exportJWK,
  generateKeyPair,
  importJWK,
  errors as joseErrors,
  type CryptoKey,
  type JWK,
  type JWSHeaderParameters,
  type KeyObject,
} from 'jose';
import { PROCESS_NAMES } from '../../mesh/catalog';
import { ConfigError } from './config';
import { unauthenticated } from './errors';
import { dataDir } from './paths';

/** The one signature algorithm of the mesh (Ed25519). */
export const TOKEN_ALGORITHM = 'EdDSA';
/** The issuer of user tokens (the auth service's Login). */
export const USER_TOKEN_ISSUER = 'auth';
/** The identity that signs operator tokens (`erasure token --operator`); not a service. */
export const OPERATOR_IDENTITY = 'operator';
/** Every identity of a local deployment: each catalog process, and the operator key. */
export const DEV_IDENTITIES: readonly string[] = [...PROCESS_NAMES, OPERATOR_IDENTITY];

const IDENTITY = /^[a-z][a-z0-9-]{0,62}$/;
const KID = /^([a-z][a-z0-9-]{0,62})\.[A-Za-z0-9_-]{1,64}$/;

export function isIdentity(value: unknown): value is string {
  return typeof value === 'string' && IDENTITY.test(value);
}

/** The identity a key id belongs to (`orders.2026…` → `orders`), or undefined for a malformed kid. */
export function kidIssuer(kid: unknown): string | undefined {
  return typeof kid === 'string' ? KID.exec(kid)?.[1] : undefined;
}

type VerifyKey = CryptoKey | KeyObject | Uint8Array;

/** A process's own private key: it signs as `identity`, with `kid` in the header. */
export interface SigningKey {
  identity: string;
  kid: string;
  key: VerifyKey;
}

/** A fresh key pair for `identity`: the private JWK (with kid) and the public one (with kid and iss). */
export async function generateIdentityKey(identity: string): Promise<{ privateJwk: JWK; publicJwk: JWK & { kid: string; iss: string } }> {
  if (!isIdentity(identity)) throw new ConfigError(`identity must be 1–63 lower-case letters, digits or "-", starting with a letter`);
  const { privateKey, publicKey } = await generateKeyPair(TOKEN_ALGORITHM, { crv: 'Ed25519', extractable: true });
  const day = new Date().toISOString().slice(0, 10).replace(/-/g, '');
  const kid = `${identity}.${day}-${randomBytes(4).toString('hex')}`;
  const privateJwk = { ...(await exportJWK(privateKey)), kid, alg: TOKEN_ALGORITHM, use: 'sig' };
  const publicJwk = { ...(await exportJWK(publicKey)), kid, alg: TOKEN_ALGORITHM, use: 'sig', iss: identity };
  return { privateJwk, publicJwk };
}

/** Imports a private JWK (as written by `generateIdentityKey`). */
export async function signingKeyFromJwk(jwk: JWK, source = 'signing key'): Promise<SigningKey> {
  const identity = kidIssuer(jwk.kid);
  if (!identity) throw new ConfigError(`${source} has no valid kid ("<identity>.<version>")`);
  if (jwk.kty !== 'OKP' || jwk.crv !== 'Ed25519' || typeof jwk.d !== 'string') throw new ConfigError(`${source} is not an Ed25519 private JWK`);
  return { identity, kid: jwk.kid!, key: await importJWK(jwk, TOKEN_ALGORITHM) };
}

export async function loadSigningKey(file: string): Promise<SigningKey> {
  let jwk: JWK;
  try {
    jwk = JSON.parse(readFileSync(file, 'utf8')) as JWK;
  } catch (error) {
    throw new ConfigError(`cannot read the signing key ${file}: ${(error as Error).message.split('\n')[0]}`);
  }
  return signingKeyFromJwk(jwk, `signing key ${file}`);
}

/** The JSON form of a trust bundle: public JWKs, each with its kid and issuer. */
export interface TrustBundleJson {
  keys: (JWK & { kid: string; iss: string })[];
}

type RemoteKeys = ReturnType<typeof createRemoteJWKSet>;

/**
 * The public keys a process trusts, by kid: from a bundle file, and, for kids not in it, from a JWKS
 * URL (keys fetched and cached by jose; a key's issuer is its kid's prefix).
 */
export class TrustBundle {
  private constructor(
    private readonly keys: ReadonlyMap<string, { issuer: string; key: VerifyKey }>,
    private readonly remote?: RemoteKeys,
  ) {}

  static async fromJson(json: TrustBundleJson, options: { jwksUrl?: string; source?: string } = {}): Promise<TrustBundle> {
    const source = options.source ?? 'trust bundle';
    if (!json || !Array.isArray(json.keys)) throw new ConfigError(`${source} must be a JSON object with a "keys" array`);
    const keys = new Map<string, { issuer: string; key: VerifyKey }>();
    for (const [index, jwk] of json.keys.entries()) {
      const issuer = kidIssuer(jwk?.kid);
      if (!issuer) throw new ConfigError(`${source}: key ${index} has no valid kid ("<identity>.<version>")`);
      if (jwk.iss !== issuer) throw new ConfigError(`${source}: key ${jwk.kid} names issuer ${JSON.stringify(String(jwk.iss).slice(0, 64))}, but its kid says ${issuer}`);
      if (typeof jwk.d === 'string') throw new ConfigError(`${source}: key ${jwk.kid} is a private key; a bundle holds public keys only`);
      if (keys.has(jwk.kid)) throw new ConfigError(`${source}: kid ${jwk.kid} appears twice`);
      const { iss: _iss, ...publicJwk } = jwk;
      keys.set(jwk.kid, { issuer, key: await importJWK(publicJwk, TOKEN_ALGORITHM) });
    }
    const remote = options.jwksUrl ? createRemoteJWKSet(new URL(options.jwksUrl), { cooldownDuration: 30_000, cacheMaxAge: 10 * 60_000 }) : undefined;
    if (!keys.size && !remote) throw new ConfigError(`${source} trusts no key and no JWKS URL is set`);
    return new TrustBundle(keys, remote);
  }

  static async load(file: string | undefined, jwksUrl?: string): Promise<TrustBundle> {
    if (file === undefined) return TrustBundle.fromJson({ keys: [] }, { jwksUrl, source: 'ERASURE_TRUST_JWKS_URL' });
    let json: TrustBundleJson;
    try {
      json = JSON.parse(readFileSync(file, 'utf8')) as TrustBundleJson;
    } catch (error) {
      throw new ConfigError(`cannot read the trust bundle ${file}: ${(error as Error).message.split('\n')[0]}`);
    }
    return TrustBundle.fromJson(json, { jwksUrl, source: `trust bundle ${file}` });
  }

  /**
   * The key a token header names, the issuer it belongs to, and whether it is one of the bundle's own
   * keys (fixed for the process's life) rather than one fetched from the JWKS URL; UNAUTHENTICATED for
   * an unknown kid.
   */
  async resolve(header: JWSHeaderParameters): Promise<{ issuer: string; key: VerifyKey; bundled: boolean }> {
    const kid = header.kid;
    if (typeof kid !== 'string' || kid === '') throw unauthenticated('token has no key id (kid) in its header');
    const local = this.keys.get(kid);
    if (local) return { ...local, bundled: true };
    const issuer = kidIssuer(kid);
    if (this.remote && issuer) {
      try {
        return { issuer, key: await this.remote(header, { payload: '', signature: '' }), bundled: false };
      } catch (error) {
        if (!(error instanceof joseErrors.JWKSNoMatchingKey)) throw unauthenticated('token key could not be fetched from the JWKS URL');
      }
    }
    throw unauthenticated('token key id is not in the trust bundle');
  }
}

/** What a process loaded: the bundle it verifies with, and its own signing key (when it has one). */
export interface ProcessKeys {
  trust: TrustBundle;
  signer?: SigningKey;
}

/** The development key folder: `<data dir>/keys`. */
export const devKeysDir = (): string => join(dataDir(), 'keys');
export const TRUST_BUNDLE_FILE = 'trust-bundle.json';
export const privateKeyFile = (dir: string, identity: string): string => join(dir, `${identity}.private.jwk`);

/**
 * Writes a key set into `dir`: `<identity>.private.jwk` (0600) for each identity that has none yet,
 * and `trust-bundle.json` with every public key (kept ones too, so a re-run only adds). Returns the
 * identities it generated.
 */
export async function writeKeySet(dir: string, identities: readonly string[]): Promise<string[]> {
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  const bundlePath = join(dir, TRUST_BUNDLE_FILE);
  const bundle: TrustBundleJson = existsSync(bundlePath) ? (JSON.parse(readFileSync(bundlePath, 'utf8')) as TrustBundleJson) : { keys: [] };
  const generated: string[] = [];
  for (const identity of identities) {
    const file = privateKeyFile(dir, identity);
    if (existsSync(file)) {
      // A private key whose public half is missing from the bundle (e.g. a bundle deleted by hand) is added back.
      const { kid, x, kty, crv } = JSON.parse(readFileSync(file, 'utf8')) as JWK;
      if (!bundle.keys.some((key) => key.kid === kid)) bundle.keys.push({ kty: kty!, crv, x, kid: kid!, alg: TOKEN_ALGORITHM, use: 'sig', iss: identity });
      continue;
    }
    const { privateJwk, publicJwk } = await generateIdentityKey(identity);
    try {
      writeFileSync(file, `${JSON.stringify(privateJwk, null, 2)}\n`, { flag: 'wx', mode: 0o600 });
    } catch (error) {
      // Another process wrote it first: keep theirs and start over, reading it like any existing key.
      // (The launcher writes the whole set before any child starts; this only matters for processes
      // started by hand at the same moment in development.)
      if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error;
      return [...generated, ...(await writeKeySet(dir, identities))];
    }
    bundle.keys.push(publicJwk);
    generated.push(identity);
  }
  // Written whole, then renamed: a reader never sees half a bundle.
  const temporary = `${bundlePath}.${process.pid}.tmp`;
  writeFileSync(temporary, `${JSON.stringify(bundle, null, 2)}\n`, { mode: 0o644 });
  renameSync(temporary, bundlePath);
  chmodSync(dir, 0o700);
  return generated;
}

/** The development key set under the data folder, generated once (missing identities added). */
export async function ensureDevKeys(identities: readonly string[] = DEV_IDENTITIES): Promise<string> {
  const dir = devKeysDir();
  await writeKeySet(dir, identities);
  return dir;
}

type Env = Record<string, string | undefined>;

/**
 * A process's keys from its environment: `ERASURE_TRUST_BUNDLE_FILE` and/or `ERASURE_TRUST_JWKS_URL`,
 * and `ERASURE_SIGNING_KEY_FILE` (whose kid must name `identity`). Without any of them (a process
 * started by hand in development), the development set under the data folder, generated if missing:
 * the bundle and `<identity>.private.jwk`, never another identity's file.
 */
export async function loadProcessKeys(identity: string, env: Env = process.env): Promise<ProcessKeys> {
  const bundleFile = env.ERASURE_TRUST_BUNDLE_FILE || undefined;
  const jwksUrl = env.ERASURE_TRUST_JWKS_URL || undefined;
  let keyFile = env.ERASURE_SIGNING_KEY_FILE || undefined;
  let trust: TrustBundle;
  if (bundleFile || jwksUrl) {
    trust = await TrustBundle.load(bundleFile, jwksUrl);
  } else {
    const dir = await ensureDevKeys();
    trust = await TrustBundle.load(join(dir, TRUST_BUNDLE_FILE));
    keyFile ??= privateKeyFile(dir, identity);
  }
  if (!keyFile || !existsSync(keyFile)) {
    if (env.ERASURE_SIGNING_KEY_FILE) throw new ConfigError(`ERASURE_SIGNING_KEY_FILE ${keyFile} does not exist`);
    return { trust };
  }
  const signer = await loadSigningKey(keyFile);
  if (signer.identity !== identity) throw new ConfigError(`the signing key belongs to "${signer.identity}", but this process is "${identity}"`);
  return { trust, signer };
}

/** The signing key a process must have (the orchestrator, auth): a clear start-up error otherwise. */
export function requireSigner(keys: ProcessKeys, identity: string): SigningKey {
  if (!keys.signer) throw new ConfigError(`${identity} signs tokens and needs its private key: set ERASURE_SIGNING_KEY_FILE`);
  return keys.signer;
}

/**
 * The environment that gives one process its keys: the bundle, and its own private key file only
 * (never another identity's), from a key folder written by `writeKeySet`.
 */
export function processKeyEnv(dir: string, identity: string): Record<string, string> {
  return { ERASURE_TRUST_BUNDLE_FILE: join(dir, TRUST_BUNDLE_FILE), ERASURE_SIGNING_KEY_FILE: privateKeyFile(dir, identity) };
}
