import { domainServiceDefinitions } from '../services/definitions';

const domainServices = domainServiceDefinitions();
import { conformanceSuite } from './support/conformance';

conformanceSuite(domainServices.map((definition) => ({ definition })));
