import { runService } from '../kit/run-service';
import { suppliersService } from '.';

runService(suppliersService);
