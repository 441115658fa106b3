/**
 * `npm run service -- <name>`: runs one service on its default port (DESIGN §2), migrating its own
 * database first unless MIGRATE=false.
 */
import { identityServices } from '../identity-registry';
import { domainService, domainServices } from '../registry';
import { runService } from './run-service';

const name = process.argv[2];
const identity = identityServices.find((service) => service.definition.name === name);
const definition = identity?.definition ?? (name ? domainService(name) : undefined);
if (!definition) {
  const known = [...identityServices.map((service) => service.definition), ...domainServices].map((service) => service.name).join(', ');
  process.stderr.write(`usage: npm run service -- <name>\n${name ? `unknown service "${name}"; ` : ''}known services: ${known}\n`);
  process.exit(2);
}
runService(definition, identity?.extension);
