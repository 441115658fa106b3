import { runService } from '../kit/run-service';
import { salesService } from '.';

runService(salesService);
