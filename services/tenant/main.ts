import { runService } from '../kit/run-service';
import { tenantExtension, tenantService } from '.';

runService(tenantService, tenantExtension);
