import { runService } from '../kit/run-service';
import { ordersService } from '.';

runService(ordersService);
