import { domainServices } from '../services/registry';
import { schemaDriftSuite } from './support/conformance';

schemaDriftSuite(domainServices.map((definition) => ({ definition })));
