import { domainServiceDefinitions } from '../services/definitions';
import { unclassifiedTableSuite } from './support/conformance';

unclassifiedTableSuite(domainServiceDefinitions().map((definition) => ({ definition })));
