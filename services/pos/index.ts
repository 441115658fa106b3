import type { DomainService } from '../kit/service-definition';
import { migrations } from './migrations';
import { defineModels } from './models';
import { deletionPolicy } from './policy';
import { seed } from './seed';

export const posService: DomainService = { name: 'pos', migrations, defineModels, deletionPolicy, seed };
