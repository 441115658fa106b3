import { domainServiceDefinitions } from '../services/definitions';
import { schemaDriftSuite } from './support/conformance';

schemaDriftSuite(domainServiceDefinitions().map((definition) => ({ definition })));
