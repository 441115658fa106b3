/**
 * `npm run service -- <name>`: runs one process on its default port (DESIGN §2) — a data service
 * (migrating its own database first unless MIGRATE=false) or the orchestrator.
 */
import { identityServices } from '../identity-registry';
import { domainService, domainServices } from '../registry';
import { runService } from './run-service';

const name = process.argv[2];
if (name === 'orchestrator') {
  // The orchestrator is not a data service; it has its own main (loaded only here).
  (require('../../orchestrator/main') as typeof import('../../orchestrator/main')).runOrchestrator();
} else {
  const identity = identityServices.find((service) => service.definition.name === name);
  const definition = identity?.definition ?? (name ? domainService(name) : undefined);
  if (!definition) {
    const known = ['orchestrator', ...[...identityServices.map((s) => s.definition), ...domainServices].map((s) => s.name)].join(', ');
    process.stderr.write(`usage: npm run service -- <name>\n${name ? `unknown service "${name}"; ` : ''}known services: ${known}\n`);
    process.exit(2);
  }
  runService(definition, identity?.extension);
}
