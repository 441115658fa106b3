import type { ServiceExtension } from '../kit/run-service';
import { defineService } from '../kit/service-definition';
import { authApi } from './api';
import { migrations } from './migrations';
import { tables } from './models';
import { seed } from './seed';

export const authService = defineService({ name: 'auth', tables, migrations, seed });

/** AuthService beside the kit's TenantDataDeletion. */
export const authExtension: ServiceExtension = {
  services: ({ db, deps }) => [authApi(db.sequelize, deps)],
};
