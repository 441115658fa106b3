import { definePolicy } from '../kit/deletion/policy';

/** The auth service holds no tenant data; a user erasure removes every row of the user. */
export const deletionPolicy = definePolicy({
  service: 'auth',
  tables: {
    users: { user: { delete: { column: 'id' } } },
    refresh_tokens: { user: { delete: { column: 'user_id' } } },
    user_consents: { user: { delete: { column: 'user_id' } } },
    login_attempts: { user: { delete: { column: 'user_id' } } },
  },
});
