import { domainServices } from '../services/registry';
import { unclassifiedTableSuite } from './support/conformance';

unclassifiedTableSuite(domainServices.map((definition) => ({ definition })));
