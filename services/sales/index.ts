import type { DomainService } from '../kit/service-definition';
import { migrations } from './migrations';
import { defineModels } from './models';
import { deletionPolicy } from './policy';
import { seed } from './seed';

export const salesService: DomainService = { name: 'sales', migrations, defineModels, deletionPolicy, seed };
