/**
 * `npm run token -- --service <name>` prints a signed service JWT for operators (e.g. for `buf curl`);
 * `npm run token -- --user <uuid>` prints a user JWT. `--ttl 15m` sets the lifetime (default 1h).
 * The secret is ERASURE_JWT_SECRET, or the local development secret under .data/.
 */
import { jwtSecret, mintServiceToken, mintUserToken } from './auth';
import { parseFlags } from './cli-args';
import { isUuid } from './errors';

async function main(): Promise<void> {
  const flags = parseFlags(process.argv.slice(2), { service: 'string', user: 'string', ttl: 'string', help: 'boolean' });
  const service = flags.service as string | undefined;
  const user = flags.user as string | undefined;
  const ttl = (flags.ttl as string | undefined) ?? '1h';
  if (flags.help || (!service && !user) || (service && user)) {
    process.stdout.write('usage: npm run token -- --service <name> | --user <uuid> [--ttl 1h]\n');
    process.exit(flags.help ? 0 : 2);
  }
  if (!/^\d+[smhd]$/.test(ttl)) throw new Error(`--ttl must look like 30s, 15m, 1h or 7d, got ${JSON.stringify(ttl)}`);
  if (user !== undefined && !isUuid(user)) throw new Error(`--user must be a UUID, got ${JSON.stringify(user)}`);
  const secret = jwtSecret();
  process.stdout.write(`${service ? await mintServiceToken(service, secret, ttl) : await mintUserToken(user!, secret, ttl)}\n`);
}

main().catch((error: Error) => {
  process.stderr.write(`token: ${error.message}\n`);
  process.exit(2);
});
