import { SignJWT, decodeProtectedHeader, jwtVerify, errors as joseErrors, type JWTPayload } from 'jose';
import type { Metadata } from '@grpc/grpc-js';
import { isUuid, permissionDenied, unauthenticated } from './errors';
import { OPERATOR_IDENTITY, TOKEN_ALGORITHM, USER_TOKEN_ISSUER, type SigningKey, type TrustBundle } from './keys';
import { limit, type LimitName } from './limits';

/** Who is calling: a service (service token), a person (user token), or an operator (operator token). */
export type Principal =
  | { kind: 'service'; service: string }
  | { kind: 'user'; userId: string }
  | { kind: 'operator'; operator: string };

export type TokenKind = Principal['kind'];

/** Every token of the mesh is for the mesh. */
export const AUDIENCE = 'bakery';

const MAX_LIFETIME: Record<TokenKind, LimitName> = {
  user: 'userTokenMaxLifetime',
  service: 'serviceTokenMaxLifetime',
  operator: 'operatorTokenMaxLifetime',
};

/** The longest lifetime (seconds) a token of this kind may have (services/kit/limits.ts). */
export const maxTokenLifetime = (kind: TokenKind, env: Record<string, string | undefined> = process.env): number => limit(MAX_LIFETIME[kind], env);

const OPERATOR_NAME = /^[a-z0-9][a-z0-9._-]{0,63}$/i;

/** A readable description of a principal: `service orders`, `operator alice`, `user` (never the user id). */
export function describePrincipal(principal: Principal): string {
  if (principal.kind === 'service') return `service ${principal.service}`;
  if (principal.kind === 'operator') return `operator ${principal.operator}`;
  return 'a user';
}

async function sign(signer: SigningKey, kind: TokenKind, subject: string, ttlSeconds: number): Promise<string> {
  const max = maxTokenLifetime(kind);
  if (!Number.isInteger(ttlSeconds) || ttlSeconds < 1 || ttlSeconds > max) throw new Error(`a ${kind} token lives 1 to ${max} seconds, asked ${ttlSeconds}`);
  const now = Math.floor(Date.now() / 1000);
  return new SignJWT({ kind })
    .setProtectedHeader({ alg: TOKEN_ALGORITHM, kid: signer.kid, typ: 'JWT' })
    .setIssuer(signer.identity)
    .setSubject(subject)
    .setAudience(AUDIENCE)
    .setIssuedAt(now)
    .setExpirationTime(now + ttlSeconds)
    .sign(signer.key);
}

/** A token of the signer's own service identity (`sub = service:<identity>`). */
export function mintServiceToken(signer: SigningKey, ttlSeconds = 3600): Promise<string> {
  if (signer.identity === OPERATOR_IDENTITY) throw new Error('the operator key signs operator tokens, not service tokens');
  return sign(signer, 'service', `service:${signer.identity}`, ttlSeconds);
}

/** A user token; only the auth service's key may sign one (Login; `erasure token --user` in development). */
export function mintUserToken(signer: SigningKey, userId: string, ttlSeconds = 3600): Promise<string> {
  if (signer.identity !== USER_TOKEN_ISSUER) throw new Error(`user tokens are signed by ${USER_TOKEN_ISSUER}, not ${signer.identity}`);
  if (!isUuid(userId)) throw new Error('user id must be a UUID');
  return sign(signer, 'user', userId.toLowerCase(), ttlSeconds);
}

/** An operator token (`sub = operator:<name>`), signed with the operator key. */
export function mintOperatorToken(signer: SigningKey, name: string, ttlSeconds = 3600): Promise<string> {
  if (signer.identity !== OPERATOR_IDENTITY) throw new Error(`operator tokens are signed by the ${OPERATOR_IDENTITY} key, not ${signer.identity}`);
  if (!OPERATOR_NAME.test(name)) throw new Error('operator name must be 1–64 letters, digits, ".", "_" or "-"');
  return sign(signer, 'operator', `operator:${name}`, ttlSeconds);
}

/**
 * Verifies a token against the trust bundle; every defect is UNAUTHENTICATED with a message saying
 * which (never the token itself). The key must be trusted and belong to the token's issuer; `exp` and
 * `iat` are required; the lifetime is bounded per kind; user tokens come only from `auth`, operator
 * tokens only from `operator`, and a service token names its own issuer.
 */
export async function verifyToken(token: string, trust: TrustBundle, env: Record<string, string | undefined> = process.env): Promise<Principal> {
  return (await verify(token, trust, env)).principal;
}

/** verifyToken, with what the cache in `authenticate` needs: the token's expiry and whether its key is the bundle's own. */
async function verify(token: string, trust: TrustBundle, env: Record<string, string | undefined>): Promise<{ principal: Principal; exp: number; bundled: boolean }> {
  let header;
  try {
    header = decodeProtectedHeader(token);
  } catch {
    throw unauthenticated('token is not a well-formed JWT');
  }
  if (header.alg !== TOKEN_ALGORITHM) {
    throw unauthenticated(header.alg === 'none' ? 'token is unsigned (alg "none")' : `token algorithm must be ${TOKEN_ALGORITHM}`);
  }
  const { issuer, key, bundled } = await trust.resolve(header);
  const skew = limit('tokenClockSkew', env);
  let payload: JWTPayload;
  try {
    ({ payload } = await jwtVerify(token, key, {
      algorithms: [TOKEN_ALGORITHM],
      audience: AUDIENCE,
      clockTolerance: skew,
      requiredClaims: ['iss', 'sub', 'exp', 'iat'],
    }));
  } catch (error) {
    if (error instanceof joseErrors.JWTExpired) throw unauthenticated('token expired');
    if (error instanceof joseErrors.JWSSignatureVerificationFailed) throw unauthenticated('token signature is invalid');
    if (error instanceof joseErrors.JWTClaimValidationFailed) throw unauthenticated(`token claim "${error.claim}" is ${error.reason === 'missing' ? 'missing' : 'invalid'}`);
    throw unauthenticated('token is malformed');
  }
  if (payload.iss !== issuer) throw unauthenticated(`token issuer does not match its signing key (the key belongs to ${issuer})`);
  const now = Math.floor(Date.now() / 1000);
  if (payload.iat! > now + skew) throw unauthenticated('token is issued in the future');
  const kind = payload.kind;
  if (kind !== 'service' && kind !== 'user' && kind !== 'operator') throw unauthenticated('token kind must be service, user or operator');
  const max = maxTokenLifetime(kind, env);
  if (payload.exp! - payload.iat! > max) throw unauthenticated(`token lifetime exceeds the maximum for ${kind} tokens (${max} s)`);
  const sub = payload.sub!;
  const principal = (principal: Principal) => ({ principal, exp: payload.exp!, bundled });
  switch (kind) {
    case 'service':
      if (issuer === OPERATOR_IDENTITY) throw unauthenticated('the operator key does not sign service tokens');
      if (sub !== `service:${issuer}`) throw unauthenticated('service token subject must name its issuer');
      return principal({ kind: 'service', service: issuer });
    case 'user':
      if (issuer !== USER_TOKEN_ISSUER) throw unauthenticated(`user tokens are accepted only from ${USER_TOKEN_ISSUER}`);
      if (!isUuid(sub)) throw unauthenticated('user token subject must be a user id');
      return principal({ kind: 'user', userId: sub.toLowerCase() });
    case 'operator': {
      if (issuer !== OPERATOR_IDENTITY) throw unauthenticated(`operator tokens are accepted only from ${OPERATOR_IDENTITY}`);
      const name = sub.startsWith('operator:') ? sub.slice('operator:'.length) : '';
      if (!OPERATOR_NAME.test(name)) throw unauthenticated('operator token subject must be operator:<name>');
      return principal({ kind: 'operator', operator: name });
    }
  }
}

/**
 * Tokens verified by this process, by the exact token string, until their `exp`: a caller sends the
 * same token with every call (the orchestrator re-mints its own when five sixths of its lifetime have
 * passed, orchestrator/clients.ts), and an Ed25519 signature check per call was a CPU cost of every RPC
 * of a job. Only what verification would decide the same way later is kept: the token string covers
 * header, claims and signature, so any other bytes miss; the time checks only get stricter as time
 * passes, and an entry is not used from its `exp` on (verification itself tolerates the clock skew
 * past it); the bundle's keys never change while a process runs. A key fetched from the JWKS URL can
 * be withdrawn there, so tokens signed with one are verified every time. Whether the principal is
 * still allowed in (an erased or suspended user) is not a property of the token: `checkPrincipal`
 * (services/kit/rpc.ts) asks on every call, cached or not.
 */
const verifiedTokens = new WeakMap<TrustBundle, Map<string, { principal: Principal; untilMs: number }>>();

/** Reads `authorization: Bearer <JWT>` from call metadata and verifies it (or finds it verified, above). */
export async function authenticate(metadata: Metadata, trust: TrustBundle): Promise<Principal> {
  const header = metadata.get('authorization')[0];
  if (header === undefined) throw unauthenticated('missing authorization metadata (expected "Bearer <JWT>")');
  const match = /^Bearer\s+(\S+)$/i.exec(String(header));
  if (!match) throw unauthenticated('authorization metadata must be "Bearer <JWT>"');
  const token = match[1]!;
  let cache = verifiedTokens.get(trust);
  const known = cache?.get(token);
  if (known) {
    if (Date.now() < known.untilMs) return { ...known.principal };
    cache!.delete(token);
  }
  const verified = await verify(token, trust, process.env);
  const max = limit('verifiedTokenCacheEntries');
  if (verified.bundled && max > 0) {
    if (!cache) verifiedTokens.set(trust, (cache = new Map()));
    // A Map iterates in insertion order: the first key is the oldest entry.
    while (cache.size >= max) cache.delete(cache.keys().next().value!);
    cache.set(token, { principal: { ...verified.principal }, untilMs: verified.exp * 1000 });
  }
  return verified.principal;
}

/** For handlers that treat every non-user caller alike (services and operators, already admitted by the caller rules). */
export function requireNotUser(principal: Principal): Exclude<Principal, { kind: 'user' }> {
  if (principal.kind === 'user') throw permissionDenied('this RPC is not open to user tokens');
  return principal;
}
