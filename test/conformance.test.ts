import { domainServices } from '../services/registry';
import { conformanceSuite } from './support/conformance';

conformanceSuite(domainServices.map((definition) => ({ definition })));
