import { runService } from '../kit/run-service';
import { authExtension, authService } from '.';

runService(authService, authExtension);
