import { identityServiceDefinitions } from '../services/definitions';

const identityServices = identityServiceDefinitions();
import { conformanceSuite } from './support/conformance';

conformanceSuite(identityServices);
