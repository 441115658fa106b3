import { runService } from '../kit/run-service';
import { inventoryService } from '.';

runService(inventoryService);
