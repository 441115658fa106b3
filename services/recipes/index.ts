import type { DomainService } from '../kit/service-definition';
import { migrations } from './migrations';
import { defineModels } from './models';
import { deletionPolicy } from './policy';
import { seed } from './seed';

/** The service definition (the convention every services/<name>/index.ts follows; see services/definitions.ts). */
export const service: DomainService = { name: 'recipes', migrations, defineModels, deletionPolicy, seed };
