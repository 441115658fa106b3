import { runService } from '../kit/run-service';
import { posService } from '.';

runService(posService);
