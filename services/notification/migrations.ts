import { createTables, dropTables } from '../kit/migrations';
import type { ServiceMigration } from '../kit/service-definition';
import { customerMessages, initialTables } from './models';

export const migrations: ServiceMigration[] = [
  {
    name: '0001_notification',
    up: ({ context: db }) => createTables(db.getQueryInterface(), initialTables),
    down: ({ context: db }) => dropTables(db.getQueryInterface(), initialTables),
  },
  {
    name: '0002_customer_messages',
    up: ({ context: db }) => createTables(db.getQueryInterface(), [customerMessages]),
    down: ({ context: db }) => dropTables(db.getQueryInterface(), [customerMessages]),
  },
];
