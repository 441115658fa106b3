import type { ServiceMigration } from '../kit/service-definition';

export const migrations: ServiceMigration[] = [
  {
    name: '0001_users',
    up: async ({ context: db }) => {
      await db.query(`
        CREATE TABLE users (
          id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
          email text NOT NULL CHECK (email = lower(email)),
          full_name text NOT NULL,
          password_hash text NOT NULL,
          created_at timestamptz NOT NULL DEFAULT now(),
          CONSTRAINT users_email_key UNIQUE (email)
        );

        CREATE TABLE refresh_tokens (
          id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
          user_id uuid NOT NULL REFERENCES users (id),
          token_hash text NOT NULL UNIQUE,
          created_at timestamptz NOT NULL DEFAULT now(),
          expires_at timestamptz NOT NULL,
          revoked_at timestamptz
        );
        CREATE INDEX refresh_tokens_user_id_idx ON refresh_tokens (user_id);

        CREATE TABLE user_consents (
          id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
          user_id uuid NOT NULL REFERENCES users (id),
          purpose text NOT NULL,
          granted boolean NOT NULL,
          recorded_at timestamptz NOT NULL DEFAULT now(),
          CONSTRAINT user_consents_user_purpose_key UNIQUE (user_id, purpose)
        );

        -- Only attempts against known users are kept: an unknown email is personal data of someone
        -- who is not a user, so it is not stored at all.
        CREATE TABLE login_attempts (
          id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
          user_id uuid NOT NULL REFERENCES users (id),
          succeeded boolean NOT NULL,
          ip_address inet,
          user_agent text,
          attempted_at timestamptz NOT NULL DEFAULT now()
        );
        CREATE INDEX login_attempts_user_id_idx ON login_attempts (user_id, attempted_at);
      `);
    },
    down: async ({ context: db }) => {
      await db.query('DROP TABLE login_attempts; DROP TABLE user_consents; DROP TABLE refresh_tokens; DROP TABLE users;');
    },
  },
];
