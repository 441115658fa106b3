/**
 * `npm run service -- <name>`: runs one process of the catalog on its port — the orchestrator, or a data
 * service (migrating its own database first unless MIGRATE=false). Tracing is preloaded with
 * `--require services/kit/tracing-register` so that grpc and pg are instrumented before they load.
 */
import { PROCESS_NAMES } from '../mesh/catalog';
import { loadServiceDefinition } from '../services/definitions';
import { runService } from '../services/kit/run-service';

const name = process.argv[2];
if (!name || !PROCESS_NAMES.includes(name)) {
  process.stderr.write(`usage: npm run service -- <name>\n${name ? `unknown service "${name}"; ` : ''}known services: ${PROCESS_NAMES.join(', ')}\n`);
  process.exit(2);
}
if (name === 'orchestrator') {
  // Loaded only here: a data service process does not load the orchestrator's code.
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  (require('../orchestrator/main') as typeof import('../orchestrator/main')).runOrchestrator();
} else {
  const { definition, extension } = loadServiceDefinition(name);
  runService(definition, extension);
}
