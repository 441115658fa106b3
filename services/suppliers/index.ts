import { defineService } from '../kit/service-definition';
import { migrations } from './migrations';
import { tables } from './models';
import { seed } from './seed';

export const suppliersService = defineService({ name: 'suppliers', tables, migrations, seed });
