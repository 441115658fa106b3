import { runService } from '../kit/run-service';
import { alertProcessorService } from '.';

runService(alertProcessorService);
