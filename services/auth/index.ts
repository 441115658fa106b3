import type { ServiceExtension } from '../kit/run-service';
import { requireSigner } from '../kit/keys';
import { defineService } from '../kit/service-definition';
import { authApi } from './api';
import { migrations } from './migrations';
import { tables } from './models';
import { seed } from './seed';

/** The service definition (the convention every services/<name>/index.ts follows; see services/definitions.ts). */
export const service = defineService({ name: 'auth', tables, migrations, seed });

/** AuthService beside the kit's TenantDataDeletion. */
export const extension: ServiceExtension = {
  // auth signs user tokens (Login) with its own key.
  services: ({ db, deps, keys }) => [authApi(db.sequelize, deps, requireSigner(keys, 'auth'))],
};
