/**
 * The service catalog: every process of the mesh, as data. It is the one list of services — the kit,
 * the orchestrator, the launcher, the tests and the bench all read it — so it imports nothing.
 */

/** When the orchestrator drives a service in an erasure: domain services first, identity last. */
export type ServicePhase = 'orchestrator' | 'domain' | 'identity';

export interface CatalogEntry {
  /** Process name, also the `<NAME>_ADDR` / `<NAME>_DATABASE_URL` prefix (`alert-processor` → `ALERT_PROCESSOR`). */
  readonly name: string;
  /** Default port on 127.0.0.1, in one contiguous block below Linux's ephemeral range (32768–60999). */
  readonly port: number;
  readonly phase: ServicePhase;
  /** Fully qualified gRPC services the process serves (besides health and reflection). */
  readonly grpcServices: readonly string[];
  /** The process's own database (`bakery_<name>` with `-` → `_`). */
  readonly database: string;
}

export const TENANT_DATA_DELETION = 'bakery.erasure.v1.TenantDataDeletion';
export const DELETION_ORCHESTRATOR = 'bakery.erasure.v1.DeletionOrchestrator';
/** Served by the orchestrator: whether a subject was erased (its tombstone). */
export const TOMBSTONE_REGISTRY = 'bakery.erasure.v1.TombstoneRegistry';
export const TENANT_SERVICE = 'bakery.tenant.v1.TenantService';
export const AUTH_SERVICE = 'bakery.auth.v1.AuthService';

/** First port of the block; the catalog's order is the port order. */
const BASE_PORT = 7100;

const processes: { name: string; phase: ServicePhase; grpcServices: string[] }[] = [
  { name: 'orchestrator', phase: 'orchestrator', grpcServices: [DELETION_ORCHESTRATOR, TOMBSTONE_REGISTRY] },
  { name: 'tenant', phase: 'identity', grpcServices: [TENANT_DATA_DELETION, TENANT_SERVICE] },
  { name: 'auth', phase: 'identity', grpcServices: [TENANT_DATA_DELETION, AUTH_SERVICE] },
  ...[
    'orders',
    'inventory',
    'recipes',
    'production',
    'sales',
    'suppliers',
    'pos',
    'external',
    'forecasting',
    'training',
    'notification',
    'alert-processor',
  ].map((name) => ({ name, phase: 'domain' as const, grpcServices: [TENANT_DATA_DELETION] })),
];

export const SERVICE_CATALOG: readonly CatalogEntry[] = processes.map((entry, index) => ({
  ...entry,
  port: BASE_PORT + index,
  database: `bakery_${entry.name.replace(/-/g, '_')}`,
}));

/** Every process name, orchestrator first, in port order. */
export const PROCESS_NAMES: readonly string[] = SERVICE_CATALOG.map((entry) => entry.name);
/** The services holding subject data (every process but the orchestrator). */
export const DATA_SERVICES: readonly string[] = SERVICE_CATALOG.filter((entry) => entry.phase !== 'orchestrator').map((entry) => entry.name);
/** The twelve domain services, erased in parallel before the identity services. */
export const DOMAIN_SERVICES: readonly string[] = SERVICE_CATALOG.filter((entry) => entry.phase === 'domain').map((entry) => entry.name);
/** tenant and auth, erased after every domain service confirmed. */
export const IDENTITY_SERVICES: readonly string[] = SERVICE_CATALOG.filter((entry) => entry.phase === 'identity').map((entry) => entry.name);

export function catalogEntry(name: string): CatalogEntry | undefined {
  return SERVICE_CATALOG.find((entry) => entry.name === name);
}
