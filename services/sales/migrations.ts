import { createExpressionIndexes, createTables, dropExpressionIndexes, dropTables } from '../kit/migrations';
import type { ServiceMigration } from '../kit/service-definition';
import { tables } from './models';

export const migrations: ServiceMigration[] = [
  {
    name: '0001_sales',
    up: ({ context: db }) => createTables(db.getQueryInterface(), tables),
    down: ({ context: db }) => dropTables(db.getQueryInterface(), tables),
  },
  {
    // Customer subjects: the indexes that find a customer by normalized e-mail or phone (0001 makes
    // them on a fresh database, from the same models).
    name: '0002_customer_indexes',
    up: ({ context: db }) => createExpressionIndexes(db.getQueryInterface(), tables),
    down: ({ context: db }) => dropExpressionIndexes(db.getQueryInterface(), tables),
  },
];
