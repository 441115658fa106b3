import { runService } from '../kit/run-service';
import { trainingService } from '.';

runService(trainingService);
