import { createTables, dropTables } from '../kit/migrations';
import type { ServiceMigration } from '../kit/service-definition';
import { loginThrottle, tables } from './models';

export const migrations: ServiceMigration[] = [
  {
    name: '0001_users',
    up: async ({ context: db }) => {
      await createTables(db.getQueryInterface(), tables.filter((table) => table !== loginThrottle));
      // A CHECK on an expression, which the model cannot say (named as PostgreSQL names it).
      await db.query('ALTER TABLE users ADD CONSTRAINT users_email_check CHECK (email = lower(email))');
    },
    down: ({ context: db }) => dropTables(db.getQueryInterface(), tables.filter((table) => table !== loginThrottle)),
  },
  {
    name: '0002_login_throttle',
    up: ({ context: db }) => createTables(db.getQueryInterface(), [loginThrottle]),
    down: ({ context: db }) => dropTables(db.getQueryInterface(), [loginThrottle]),
  },
];
