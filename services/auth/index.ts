import type { ServiceExtension } from '../kit/run-service';
import type { DomainService } from '../kit/service-definition';
import { authApi } from './api';
import { migrations } from './migrations';
import { defineModels } from './models';
import { deletionPolicy } from './policy';
import { seed } from './seed';

/** The service definition (the convention every services/<name>/index.ts follows; see services/definitions.ts). */
export const service: DomainService = { name: 'auth', migrations, defineModels, deletionPolicy, seed };

/** AuthService beside the kit's TenantDataDeletion. */
export const extension: ServiceExtension = {
  services: ({ db, deps }) => [authApi(db.pool, deps)],
};
