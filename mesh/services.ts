/**
 * The processes of the mesh: which ones exist, where they listen, which health names must say SERVING
 * before a process counts as up, and the command line that starts one.
 */
import { resolve } from 'node:path';
import { envPrefix, serviceAddress } from '../services/kit/config';
import { repoRoot } from '../services/kit/paths';
import { catalogEntry, PROCESS_NAMES } from './catalog';
import { NODE_FLAGS } from './process-env';

type Env = Record<string, string | undefined>;

/** Every process of the mesh, orchestrator first, in the catalog's (port) order. */
export const MESH_SERVICES: readonly string[] = PROCESS_NAMES;

/** The health service names that must all be SERVING (besides "") before a process counts as up. */
export function healthNames(service: string): string[] {
  const entry = catalogEntry(service);
  if (!entry) throw new Error(`unknown service "${service}"`);
  return [...entry.grpcServices];
}

/** The services to run: all of them minus `without`; an unknown name is an error, not ignored. */
export function selectServices(without: string[] = []): string[] {
  for (const name of without) {
    if (!MESH_SERVICES.includes(name)) throw new Error(`unknown service "${name}"; known: ${MESH_SERVICES.join(', ')}`);
  }
  return MESH_SERVICES.filter((name) => !without.includes(name));
}

/** `<NAME>_ADDR` of every service (defaults filled in), so each process can find all the others. */
export function addressEnv(env: Env): Record<string, string> {
  const out: Record<string, string> = {};
  for (const name of MESH_SERVICES) out[`${envPrefix(name)}_ADDR`] = serviceAddress(name, env);
  return out;
}

/** host:port to dial for a listening address (0.0.0.0 → 127.0.0.1, [::] → [::1]). */
export function dialAddress(address: string): string {
  return address.replace(/^0\.0\.0\.0:/, '127.0.0.1:').replace(/^\[::\]:/, '[::1]:');
}

/** Whether this code runs compiled (dist/…/*.js) rather than from TypeScript sources through tsx. */
export const compiled = __filename.endsWith('.js');

let built = false;

/**
 * Makes sure dist/ holds the runtime compiled from the current sources (bin/build.js: a no-op when its
 * stamp matches), once per process. Code that runs compiled is already in dist/ (and a Docker image
 * has no sources to build from), so only the TypeScript callers (tests, the bench, development) build.
 */
export function ensureRuntimeBuilt(): void {
  if (built || compiled) return;
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  (require(resolve(repoRoot, 'bin/build.js')) as { ensureBuilt(options?: { quiet?: boolean }): boolean }).ensureBuilt();
  built = true;
}

/**
 * The node arguments that run one service from dist/, exactly like `npm run service -- <name>`
 * (the heap flags of mesh/process-env.ts, tracing preloaded before grpc and pg), plus the guard that stops the child when the launcher
 * disappears. Children never run through the transpiler: it costs seconds of CPU and memory per process.
 */
export function serviceCommand(service: string): { command: string; args: string[]; cwd: string } {
  ensureRuntimeBuilt();
  const args = [...NODE_FLAGS, '--require', './dist/services/kit/tracing-register.js', '--require', './dist/mesh/child-guard.js', 'dist/bin/service.js', service];
  return { command: process.execPath, args, cwd: repoRoot };
}

/** The command that runs the embedded PostgreSQL holder (mesh/database-process.ts, compiled). */
export function databaseCommand(): { command: string; args: string[]; cwd: string } {
  ensureRuntimeBuilt();
  return { command: process.execPath, args: [resolve(repoRoot, 'dist/mesh/database-process.js')], cwd: repoRoot };
}
