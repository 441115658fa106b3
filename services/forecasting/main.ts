import { runService } from '../kit/run-service';
import { forecastingService } from '.';

runService(forecastingService);
