import { defineService } from '../kit/service-definition';
import { migrations } from './migrations';
import { tables } from './models';
import { seed } from './seed';

export const alertProcessorService = defineService({ name: 'alert-processor', tables, migrations, seed });
