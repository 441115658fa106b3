import { runService } from '../kit/run-service';
import { externalService } from '.';

runService(externalService);
