import { authExtension, authService } from './auth';
import type { ServiceExtension } from './kit/run-service';
import type { DomainService } from './kit/service-definition';
import { tenantExtension, tenantService } from './tenant';

/** The identity services (DESIGN §1): each is a service definition plus its own API beside TenantDataDeletion. */
export const identityServices: { definition: DomainService; extension: ServiceExtension }[] = [
  { definition: tenantService, extension: tenantExtension },
  { definition: authService, extension: authExtension },
];
