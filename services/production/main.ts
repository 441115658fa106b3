import { runService } from '../kit/run-service';
import { productionService } from '.';

runService(productionService);
