import { runService } from '../kit/run-service';
import { recipesService } from '.';

runService(recipesService);
