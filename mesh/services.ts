/**
 * The processes of the mesh: which ones exist, where they listen, which health names must say SERVING
 * before a process counts as up, and the command line that starts one.
 */
import { resolve } from 'node:path';
import { envPrefix, serviceAddress } from '../services/kit/config';
import { repoRoot } from '../services/kit/paths';
import { catalogEntry, PROCESS_NAMES } from './catalog';

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

/**
 * The node arguments that run one service, exactly like `npm run service -- <name>` (tracing preloaded
 * before grpc and pg), plus the guard that stops the child when the launcher disappears.
 */
export function serviceCommand(service: string, isCompiled = compiled): { command: string; args: string[]; cwd: string } {
  const args = isCompiled
    ? ['--require', './dist/services/kit/tracing-register.js', '--require', './dist/mesh/child-guard.js', 'dist/bin/service.js', service]
    : ['--require', 'tsx/cjs', '--require', './services/kit/tracing-register.ts', '--require', './mesh/child-guard.ts', 'bin/service.ts', service];
  return { command: process.execPath, args, cwd: repoRoot };
}

/** The command that runs the embedded PostgreSQL holder (mesh/database-process.ts). */
export function databaseCommand(isCompiled = compiled): { command: string; args: string[]; cwd: string } {
  const args = isCompiled ? [resolve(repoRoot, 'dist/mesh/database-process.js')] : ['--require', 'tsx/cjs', 'mesh/database-process.ts'];
  return { command: process.execPath, args, cwd: repoRoot };
}
