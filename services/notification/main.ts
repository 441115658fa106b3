import { runService } from '../kit/run-service';
import { notificationService } from '.';

runService(notificationService);
