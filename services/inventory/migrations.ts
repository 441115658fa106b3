import { createTables, dropTables } from '../kit/migrations';
import type { ServiceMigration } from '../kit/service-definition';
import { tables } from './models';

export const migrations: ServiceMigration[] = [
  {
    name: '0001_inventory',
    up: ({ context: db }) => createTables(db.getQueryInterface(), tables),
    down: ({ context: db }) => dropTables(db.getQueryInterface(), tables),
  },
];
