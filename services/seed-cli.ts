/**
 * `npm run seed -- --tenant <uuid> --rows <n> [--users <n> | --user <uuid> …] [--services a,b]`
 * writes realistic rows for a tenant and its users into every service's database.
 */
import { parseFlags } from './kit/cli-args';
import { isUuid } from './kit/errors';
import { createLogger } from './kit/logger';
import { DOMAIN_SERVICES } from '../mesh/catalog';
import { loadServiceDefinition } from './definitions';
import { seedTenant } from './seed';

async function main(): Promise<void> {
  const flags = parseFlags(process.argv.slice(2), {
    tenant: 'string',
    rows: 'string',
    users: 'string',
    user: 'list',
    services: 'list',
    'no-identity': 'boolean',
    help: 'boolean',
  });
  if (flags.help) {
    process.stdout.write('usage: npm run seed -- --tenant <uuid> --rows <n> [--users <n> | --user <uuid> …] [--services orders,sales] [--no-identity]\n  The first user owns the tenant, the second is an admin, the rest are members; --no-identity skips the tenant and auth records.\n');
    return;
  }
  const tenantId = flags.tenant as string | undefined;
  if (!tenantId || !isUuid(tenantId)) throw new Error(`--tenant must be a UUID, got ${JSON.stringify(tenantId ?? '')}`);
  const rows = Number(flags.rows ?? 1000);
  if (!Number.isInteger(rows) || rows < 1 || rows > 50_000_000) throw new Error(`--rows must be an integer from 1 to 50000000, got ${JSON.stringify(flags.rows)}`);
  const userIds = flags.user as string[] | undefined;
  for (const id of userIds ?? []) if (!isUuid(id)) throw new Error(`--user must be a UUID, got ${JSON.stringify(id)}`);
  const users = flags.users === undefined ? undefined : Number(flags.users);
  if (users !== undefined && (!Number.isInteger(users) || users < 1 || users > 1000)) throw new Error('--users must be an integer from 1 to 1000');
  const services = (flags.services as string[] | undefined)?.map((name) => {
    if (!DOMAIN_SERVICES.includes(name)) throw new Error(`unknown service "${name}"; known: ${DOMAIN_SERVICES.join(', ')}`);
    return loadServiceDefinition(name).definition;
  });
  const log = createLogger('seed');
  const report = await seedTenant({ tenantId, rows, userIds, users, services, log, identity: !flags['no-identity'] });
  process.stdout.write(
    `${JSON.stringify({ tenant_id: report.tenantId, user_ids: report.userIds, rows: report.rows, ms: report.ms, per_service: report.perService })}\n`,
  );
}

main().then(
  () => process.exit(0),
  (error: Error) => {
    process.stderr.write(`seed: ${error.message}\n`);
    process.exit(1);
  },
);
