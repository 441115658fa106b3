/**
 * The test process's key set: one Ed25519 key pair per identity (every catalog process, `operator`,
 * and the `onboarding` identity that may create users), generated once per test process into a
 * private temporary folder (removed at exit). In-process services get their keys in memory; process
 * meshes get the folder (each process only its own private key file). Tokens for the tests come from
 * the helpers below, each signed with the key of the identity it claims.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { SignJWT, type JWSHeaderParameters, type JWTPayload } from 'jose';
import { AUDIENCE, mintOperatorToken, mintServiceToken, mintUserToken } from '../../services/kit/auth';
import {
  DEV_IDENTITIES,
  OPERATOR_IDENTITY,
  TOKEN_ALGORITHM,
  TRUST_BUNDLE_FILE,
  TrustBundle,
  USER_TOKEN_ISSUER,
  generateIdentityKey,
  loadSigningKey,
  privateKeyFile,
  signingKeyFromJwk,
  writeKeySet,
  type ProcessKeys,
  type SigningKey,
} from '../../services/kit/keys';
import { ONBOARDING_IDENTITIES } from '../../mesh/caller-rules';

/**
 * A data folder of this test process, whose `keys/` holds the key set (its files appear when
 * `testKeys()` first runs): `ERASURE_DATA_DIR=TEST_DATA_DIR` lets the CLI find them as in development.
 */
export const TEST_DATA_DIR = mkdtempSync(join(tmpdir(), 'erasure-test-data-'));
export const TEST_KEYS_DIR = join(TEST_DATA_DIR, 'keys');
process.on('exit', () => rmSync(TEST_DATA_DIR, { recursive: true, force: true }));

export const TEST_IDENTITIES: readonly string[] = [...DEV_IDENTITIES, ...ONBOARDING_IDENTITIES];

export interface TestKeys {
  dir: string;
  trust: TrustBundle;
  /** The private key of an identity of the set (throws for one outside it). */
  signer(identity: string): SigningKey;
  /** What a process of this identity is started with: the bundle and its own key. */
  processKeys(identity: string): ProcessKeys;
}

let keys: Promise<TestKeys> | undefined;

export function testKeys(): Promise<TestKeys> {
  keys ??= (async () => {
    await writeKeySet(TEST_KEYS_DIR, TEST_IDENTITIES);
    const trust = await TrustBundle.load(join(TEST_KEYS_DIR, TRUST_BUNDLE_FILE));
    const signers = new Map<string, SigningKey>();
    for (const identity of TEST_IDENTITIES) signers.set(identity, await loadSigningKey(privateKeyFile(TEST_KEYS_DIR, identity)));
    const signer = (identity: string) => {
      const key = signers.get(identity);
      if (!key) throw new Error(`the test key set has no identity ${identity}`);
      return key;
    };
    return { dir: TEST_KEYS_DIR, trust, signer, processKeys: (identity) => ({ trust, signer: signers.get(identity) }) };
  })();
  return keys;
}

/** A service token of `identity`, signed with its own key (the orchestrator unless said). */
export const serviceToken = async (identity = 'orchestrator'): Promise<string> => mintServiceToken((await testKeys()).signer(identity));
/** A user token as Login issues it (signed by auth). */
export const userToken = async (userId: string): Promise<string> => mintUserToken((await testKeys()).signer(USER_TOKEN_ISSUER), userId);
/** An operator token (signed with the operator key). */
export const operatorToken = async (name = 'test-operator'): Promise<string> => mintOperatorToken((await testKeys()).signer(OPERATOR_IDENTITY), name);

/** Seconds since the epoch, as tokens count. */
export const nowSeconds = (): number => Math.floor(Date.now() / 1000);

/**
 * Signs exactly these claims and header (no defaults added): for tests that forge tokens with a
 * defect (missing exp, too long a lifetime, a wrong issuer, …).
 */
export async function signClaims(signer: SigningKey, claims: JWTPayload, header: Partial<JWSHeaderParameters> = {}): Promise<string> {
  return new SignJWT(claims).setProtectedHeader({ alg: TOKEN_ALGORITHM, kid: signer.kid, ...header }).sign(signer.key);
}

/** A well-formed service token of `identity` (iss, sub, kind, aud, iat, exp), claims overridable. */
export function serviceClaims(identity: string, overrides: JWTPayload = {}): JWTPayload {
  const now = nowSeconds();
  return { kind: 'service', iss: identity, sub: `service:${identity}`, aud: AUDIENCE, iat: now, exp: now + 600, ...overrides };
}

/** A key pair of `identity` that no trust bundle knows (an attacker's own key). */
export async function strangerKey(identity: string): Promise<SigningKey> {
  return signingKeyFromJwk((await generateIdentityKey(identity)).privateJwk);
}
