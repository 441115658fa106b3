import type { DomainService } from '../kit/service-definition';
import { migrations } from './migrations';
import { defineModels } from './models';
import { deletionPolicy } from './policy';
import { seed } from './seed';

export const externalService: DomainService = { name: 'external', migrations, defineModels, deletionPolicy, seed };
