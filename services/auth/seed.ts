import { randomBytes } from 'node:crypto';
import type { Seeder } from '../kit/service-definition';
import { hashPassword } from './passwords';

const CONSENT_PURPOSES = ['terms_of_service', 'marketing_email', 'product_analytics'];

/**
 * The plan's users (id = plan.userIds; an id seeded before is kept), each with consents, refresh
 * tokens and login attempts, about `rows` rows in all. Emails derive from the id, so they are unique
 * across calls. Seeded users share one random password nobody knows: they cannot log in.
 */
export const seed: Seeder = async (pool, { userIds, rows }) => {
  if (userIds.length === 0) return;
  const perUser = Math.max(1, Math.floor(rows / userIds.length) - 1 - CONSENT_PURPOSES.length);
  const tokens = Math.max(1, Math.round(perUser / 5));
  const attempts = Math.max(1, perUser - tokens);
  const passwordHash = await hashPassword(randomBytes(24).toString('base64url'));
  await pool.query(
    `WITH u AS (
       INSERT INTO users (id, email, full_name, password_hash, created_at)
       SELECT u.id, 'baker.' || substr(md5(u.id::text), 1, 16) || '@example.test',
              (ARRAY['Anna','Ben','Clara','David','Elif','Finn','Greta','Hugo'])[1 + u.n % 8] || ' ' ||
              (ARRAY['Becker','Müller','Schmidt','Weber','Fischer','Wagner'])[1 + u.n % 6],
              $2, now() - (300 + u.n) * interval '1 day'
       FROM unnest($1::uuid[]) WITH ORDINALITY u (id, n)
       ON CONFLICT DO NOTHING
     ), c AS (
       INSERT INTO user_consents (user_id, purpose, granted, recorded_at)
       SELECT u.id, p.purpose, p.n = 1 OR (u.n + p.n) % 2 = 0, now() - (200 + u.n) * interval '1 day'
       FROM unnest($1::uuid[]) WITH ORDINALITY u (id, n)
       CROSS JOIN unnest($3::text[]) WITH ORDINALITY p (purpose, n)
       ON CONFLICT DO NOTHING
     ), r AS (
       INSERT INTO refresh_tokens (user_id, token_hash, created_at, expires_at, revoked_at)
       SELECT u.id, encode(sha256(convert_to(gen_random_uuid()::text || u.id || g, 'UTF8')), 'hex'),
              now() - g * interval '3 days', now() + (30 - 3 * g) * interval '1 day',
              CASE WHEN g % 3 = 0 THEN now() - g * interval '1 day' END
       FROM unnest($1::uuid[]) u (id) CROSS JOIN generate_series(1, $4::int) g
     )
     INSERT INTO login_attempts (user_id, succeeded, ip_address, user_agent, attempted_at)
     SELECT u.id, g % 7 <> 0, ('192.0.2.' || (1 + (g * 37) % 250))::inet,
            (ARRAY['BakeryApp/3.2 (iOS 17)', 'BakeryApp/3.2 (Android 14)', 'Mozilla/5.0 (Windows NT 10.0)'])[1 + g % 3],
            now() - g * interval '7 hours'
     FROM unnest($1::uuid[]) u (id) CROSS JOIN generate_series(1, $5::int) g`,
    [userIds, passwordHash, CONSENT_PURPOSES, tokens, attempts],
  );
};
