import { defineService } from '../kit/service-definition';
import { migrations } from './migrations';
import { tables } from './models';
import { seed } from './seed';

/** The service definition (the convention every services/<name>/index.ts follows; see services/definitions.ts). */
export const service = defineService({ name: 'production', tables, migrations, seed });
