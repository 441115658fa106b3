import { identityServices } from '../services/identity-registry';
import { conformanceSuite } from './support/conformance';

conformanceSuite(identityServices);
