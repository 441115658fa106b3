import type { ServiceExtension } from '../kit/run-service';
import type { DomainService } from '../kit/service-definition';
import { authApi } from './api';
import { migrations } from './migrations';
import { defineModels } from './models';
import { deletionPolicy } from './policy';
import { seed } from './seed';

export const authService: DomainService = { name: 'auth', migrations, defineModels, deletionPolicy, seed };

/** AuthService beside the kit's TenantDataDeletion. */
export const authExtension: ServiceExtension = {
  services: ({ db, deps }) => [authApi(db.sequelize, deps)],
};
