import type { DomainService } from '../kit/service-definition';
import { migrations } from './migrations';
import { defineModels } from './models';
import { deletionPolicy } from './policy';
import { seed } from './seed';

export const forecastingService: DomainService = {
  name: 'forecasting',
  migrations,
  defineModels,
  deletionPolicy,
  seed,
};
