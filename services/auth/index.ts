import type { ServiceExtension } from '../kit/run-service';
import { defineService } from '../kit/service-definition';
import { authApi } from './api';
import { migrations } from './migrations';
import { tables } from './models';
import { seed } from './seed';

/** The service definition (the convention every services/<name>/index.ts follows; see services/definitions.ts). */
export const service = defineService({ name: 'auth', tables, migrations, seed });

/** AuthService beside the kit's TenantDataDeletion. */
export const extension: ServiceExtension = {
  services: ({ db, deps }) => [authApi(db.sequelize, deps)],
};
