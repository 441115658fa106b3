/**
 * The container health check (Dockerfile HEALTHCHECK; the image has no grpc_health_probe): exits 0
 * when the container's service answers SERVING on its `<NAME>_ADDR` (0.0.0.0 is dialled as 127.0.0.1).
 * The service is the argument, ERASURE_SERVICE, or the last argument of the container's main process.
 */
import { readFileSync } from 'node:fs';
import { serviceAddress } from '../services/kit/config';
import { healthStatus } from '../services/kit/health-client';
import { dialAddress } from './services';

function mainProcessService(): string | undefined {
  try {
    return readFileSync('/proc/1/cmdline', 'utf8').split('\0').filter(Boolean).at(-1);
  } catch {
    return undefined;
  }
}

const service = process.argv[2] || process.env.ERASURE_SERVICE || mainProcessService();
if (!service) {
  process.stderr.write('healthcheck: name the service (argument or ERASURE_SERVICE)\n');
  process.exit(2);
}
healthStatus(dialAddress(serviceAddress(service)), '', 2000).then(
  (status) => {
    process.stdout.write(`${service}: ${status}\n`);
    process.exit(status === 'SERVING' ? 0 : 1);
  },
  () => process.exit(1),
);
