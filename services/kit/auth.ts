import { randomBytes } from 'node:crypto';
import { mkdirSync, readFileSync, writeFileSync, existsSync } from 'node:fs';
import { dirname } from 'node:path';
import { SignJWT, jwtVerify, errors as joseErrors } from 'jose';
import type { Metadata } from '@grpc/grpc-js';
import { isUuid, permissionDenied, unauthenticated } from './errors';
import { dataDir } from './paths';

/** Who is calling: another service (service token) or a person (user token). */
export type Principal = { kind: 'service'; service: string } | { kind: 'user'; userId: string };

const ISSUER = 'bakery-erasure';
const AUDIENCE = 'bakery';
const ALGORITHM = 'HS256';

/**
 * The signing secret: `ERASURE_JWT_SECRET`, or for local development a random one generated once and
 * kept with the local data (never a default written in the repository).
 */
export function jwtSecret(env: Record<string, string | undefined> = process.env): Uint8Array {
  const configured = env.ERASURE_JWT_SECRET;
  if (configured !== undefined && configured !== '') {
    if (configured.length < 32) throw new Error('ERASURE_JWT_SECRET must be at least 32 characters long');
    return new TextEncoder().encode(configured);
  }
  const file = `${dataDir()}/jwt-secret`;
  if (!existsSync(file)) {
    mkdirSync(dirname(file), { recursive: true });
    try {
      writeFileSync(file, randomBytes(48).toString('base64url'), { flag: 'wx', mode: 0o600 });
    } catch (error) {
      // Another process created it first: use theirs.
      if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error;
    }
  }
  return new TextEncoder().encode(readFileSync(file, 'utf8').trim());
}

export async function mintServiceToken(service: string, secret: Uint8Array, ttl = '1h'): Promise<string> {
  return new SignJWT({ kind: 'service', svc: service })
    .setProtectedHeader({ alg: ALGORITHM })
    .setSubject(`service:${service}`)
    .setIssuer(ISSUER)
    .setAudience(AUDIENCE)
    .setIssuedAt()
    .setExpirationTime(ttl)
    .sign(secret);
}

export async function mintUserToken(userId: string, secret: Uint8Array, ttl = '1h'): Promise<string> {
  if (!isUuid(userId)) throw new Error(`user id must be a UUID, got ${JSON.stringify(userId)}`);
  return new SignJWT({ kind: 'user' })
    .setProtectedHeader({ alg: ALGORITHM })
    .setSubject(userId.toLowerCase())
    .setIssuer(ISSUER)
    .setAudience(AUDIENCE)
    .setIssuedAt()
    .setExpirationTime(ttl)
    .sign(secret);
}

/** Verifies a token; any defect is UNAUTHENTICATED with a message that says which. */
export async function verifyToken(token: string, secret: Uint8Array): Promise<Principal> {
  let payload;
  try {
    ({ payload } = await jwtVerify(token, secret, { issuer: ISSUER, audience: AUDIENCE, algorithms: [ALGORITHM] }));
  } catch (error) {
    if (error instanceof joseErrors.JWTExpired) throw unauthenticated('token expired');
    if (error instanceof joseErrors.JWSSignatureVerificationFailed) throw unauthenticated('token signature is invalid');
    throw unauthenticated(`token is invalid: ${(error as Error).message}`);
  }
  if (payload.kind === 'service' && typeof payload.svc === 'string' && payload.svc !== '') {
    return { kind: 'service', service: payload.svc };
  }
  if (payload.kind === 'user' && isUuid(payload.sub)) return { kind: 'user', userId: payload.sub.toLowerCase() };
  throw unauthenticated('token carries neither a service nor a user identity');
}

/** Reads `authorization: Bearer <JWT>` from call metadata and verifies it. */
export async function authenticate(metadata: Metadata, secret: Uint8Array): Promise<Principal> {
  const header = metadata.get('authorization')[0];
  if (header === undefined) throw unauthenticated('missing authorization metadata (expected "Bearer <JWT>")');
  const match = /^Bearer\s+(\S+)$/i.exec(String(header));
  if (!match) throw unauthenticated('authorization metadata must be "Bearer <JWT>"');
  return verifyToken(match[1]!, secret);
}

export function requireService(principal: Principal): { kind: 'service'; service: string } {
  if (principal.kind !== 'service') throw permissionDenied('this RPC accepts service tokens only');
  return principal;
}
