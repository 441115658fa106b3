/**
 * The identity services (tenant, auth) against the TenantDataDeletion contract, and the same
 * fail-closed suites as every domain service: an unclassified table and model/schema drift make
 * Preview and Delete answer UNAVAILABLE naming it, delete nothing, and recover once reverted.
 */
import { identityServiceDefinitions } from '../services/definitions';
import { conformanceSuite, schemaDriftSuite, unclassifiedTableSuite } from './support/conformance';

const identityServices = identityServiceDefinitions();

conformanceSuite(identityServices);
unclassifiedTableSuite(identityServices);
schemaDriftSuite(identityServices);
