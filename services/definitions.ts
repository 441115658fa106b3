/**
 * Service definitions by catalog name, without a hand-kept registry. The convention: every
 * `services/<name>/index.ts` exports `service` (its DomainService definition) and, when it serves an API
 * of its own beside TenantDataDeletion (tenant, auth), `extension`. Which services exist is the
 * catalog's (mesh/catalog.ts) to say; this module only loads them.
 */
import { catalogEntry, DOMAIN_SERVICES, IDENTITY_SERVICES } from '../mesh/catalog';
import type { ServiceExtension } from './kit/run-service';
import type { DomainService } from './kit/service-definition';

/** What `services/<name>/index.ts` exports. */
export interface ServiceModule {
  service: DomainService;
  extension?: ServiceExtension;
}

/** A data service ready to start: its definition and, for tenant and auth, their own API. */
export interface LoadedService {
  definition: DomainService;
  extension?: ServiceExtension;
}

/** Loads the definition of a data service by its catalog name; an unknown name (or the orchestrator) throws. */
export function loadServiceDefinition(name: string): LoadedService {
  const entry = catalogEntry(name);
  if (!entry || entry.phase === 'orchestrator') throw new Error(`"${name}" is not a data service of the catalog`);
  // The name comes from the catalog, never from input, so only the catalog's folders can be loaded.
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  const module = require(`./${entry.name}`) as ServiceModule;
  if (module.service?.name !== entry.name) throw new Error(`services/${entry.name}/index.ts must export \`service\` named "${entry.name}"`);
  return { definition: module.service, extension: module.extension };
}

/** The twelve domain services (catalog order), loaded. */
export function domainServiceDefinitions(): DomainService[] {
  return DOMAIN_SERVICES.map((name) => loadServiceDefinition(name).definition);
}

/** tenant and auth (catalog order), each with its own API. */
export function identityServiceDefinitions(): LoadedService[] {
  return IDENTITY_SERVICES.map(loadServiceDefinition);
}
