/**
 * Preloaded with `--require` by every process (`npm run service`, the orchestrator, the launcher's
 * children) so OpenTelemetry patches grpc and pg before anything loads them. The service name comes
 * from OTEL_SERVICE_NAME, else ERASURE_SERVICE, else the first command-line argument.
 */
import { startTracing } from './tracing';

startTracing({ serviceName: process.env.ERASURE_SERVICE ?? process.argv[2] ?? 'bakery-erasure' });
