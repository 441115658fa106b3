import pino, { type Logger } from 'pino';

export type { Logger };

/**
 * Structured JSON logs, one line per meaningful event. Inside a span, the pino instrumentation
 * (services/kit/tracing.ts) adds the span's trace_id and span_id to every line, so a log line can be
 * found from a trace and back. No personal data goes into logs.
 */
export function createLogger(service: string, destination?: pino.DestinationStream): Logger {
  const options = { level: process.env.LOG_LEVEL ?? 'info', base: { service }, timestamp: pino.stdTimeFunctions.isoTime };
  // Default: stdout. `destination`: e.g. the launcher's lines for a process, into that process's log (mesh/mesh.ts).
  return destination ? pino(options, destination) : pino(options);
}
