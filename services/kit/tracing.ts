/**
 * The OpenTelemetry bootstrap. It must run before `@grpc/grpc-js`, `pg` and `pino` are loaded, so
 * their instrumentation can patch them: processes load it with `--require` (see tracing-register.ts).
 * Spans are exported over OTLP/HTTP when `OTEL_EXPORTER_OTLP_ENDPOINT` is set; otherwise they are still
 * created (so trace ids exist and propagate) but dropped. Metrics are served for Prometheus on the
 * process's `/metrics` port and pushed by OTLP only when OTEL_METRICS_EXPORTER names otlp (metrics.ts).
 * A span per SQL statement is opt-in (ERASURE_TRACE_SQL, sqlSpans below).
 */
import { randomBytes } from 'node:crypto';
import { ROOT_CONTEXT, TraceFlags, context, isSpanContextValid, metrics, propagation, trace, type Context, type SpanContext } from '@opentelemetry/api';
import { AsyncLocalStorageContextManager } from '@opentelemetry/context-async-hooks';
import { CompositePropagator, W3CBaggagePropagator, W3CTraceContextPropagator } from '@opentelemetry/core';
import { registerInstrumentations } from '@opentelemetry/instrumentation';
import { resourceFromAttributes } from '@opentelemetry/resources';
import { MeterProvider } from '@opentelemetry/sdk-metrics';
import { BatchSpanProcessor, NoopSpanProcessor, TracerProvider, type SpanProcessor } from '@opentelemetry/sdk-trace';
import { GrpcInstrumentation } from '@opentelemetry/instrumentation-grpc';
import { PinoInstrumentation } from '@opentelemetry/instrumentation-pino';
import type { Instrumentation } from '@opentelemetry/instrumentation';
import { envBool } from './config';
import { metricReaders } from './metrics';

type Env = Record<string, string | undefined>;

/**
 * Whether every SQL statement gets a span (`ERASURE_TRACE_SQL`, default off). The pg instrumentation
 * was the largest single cost of a job in the mesh's processes: a CPU profile of the orchestrator
 * under 40 concurrent small-tenant jobs put ~23% of its busy time under its wrappers, with two spans
 * per statement (`pg.query`, `pg-pool.connect`) making up ~80% of the ~400 spans a job exported and a
 * duration histogram recorded per statement. A job's trace keeps its shape without them: `erasure.job`
 * → `erasure.run` → `erasure.step` → gRPC → `erasure.entity` / `erasure.chunk` / `erasure.verify`,
 * which carry the timings and row counts; turn SQL spans on to see the statements under a chunk.
 */
export const sqlSpans = (env: Env = process.env): boolean => envBool(env, 'ERASURE_TRACE_SQL', false);

/**
 * The pieces of the SDK this process runs, wired by hand rather than through `@opentelemetry/sdk-node`:
 * that package loads every exporter, propagator and the logs SDK whether used or not (about 600
 * modules, ~12 MB of RSS and ~0.4 s of start-up per process on a 2-core machine, by require timing).
 */
interface RunningSdk {
  tracerProvider: TracerProvider;
  meterProvider?: MeterProvider;
  contextManager: AsyncLocalStorageContextManager;
  disableInstrumentations(): void;
}

let sdk: RunningSdk | undefined;

export interface TracingOptions {
  serviceName: string;
  /** Extra processors, e.g. an in-memory exporter in tests. */
  spanProcessors?: SpanProcessor[];
}

export function startTracing(options: TracingOptions): void {
  if (sdk) return;
  // Logs go to pino, not to OpenTelemetry; metrics to the readers chosen in metrics.ts.
  const readers = metricReaders(options.serviceName);
  const resource = resourceFromAttributes({ 'service.name': process.env.OTEL_SERVICE_NAME ?? options.serviceName });
  const processors: SpanProcessor[] = [...(options.spanProcessors ?? [])];
  if (process.env.OTEL_EXPORTER_OTLP_ENDPOINT || process.env.OTEL_EXPORTER_OTLP_TRACES_ENDPOINT) {
    // Loaded only when spans are exported: most processes never need the OTLP transformer.
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    const { OTLPTraceExporter } = require('@opentelemetry/exporter-trace-otlp-http') as typeof import('@opentelemetry/exporter-trace-otlp-http');
    processors.push(new BatchSpanProcessor({ exporter: new OTLPTraceExporter(), scheduledDelayMillis: 500 }));
  }
  // A provider with a no-op processor still makes real, propagated trace ids.
  if (processors.length === 0) processors.push(new NoopSpanProcessor());
  const contextManager = new AsyncLocalStorageContextManager().enable();
  context.setGlobalContextManager(contextManager);
  propagation.setGlobalPropagator(new CompositePropagator({ propagators: [new W3CTraceContextPropagator(), new W3CBaggagePropagator()] }));
  const tracerProvider = new TracerProvider({ resource, spanProcessors: processors });
  trace.setGlobalTracerProvider(tracerProvider);
  let meterProvider: MeterProvider | undefined;
  if (readers.length) {
    meterProvider = new MeterProvider({ resource, readers });
    metrics.setGlobalMeterProvider(meterProvider);
  }
  const disableInstrumentations = registerInstrumentations({
    tracerProvider,
    meterProvider,
    instrumentations: [
      // Health checks are polled constantly and would bury the deletion runs.
      new GrpcInstrumentation({ ignoreGrpcMethods: ['Check', 'Watch'] }),
      ...(sqlSpans() ? [pgInstrumentation()] : []),
      // Every log line written inside a span carries its trace_id and span_id; the lines stay in pino.
      new PinoInstrumentation({
        disableLogSending: true,
        logHook: (_span, record) => {
          delete record.trace_flags; // always "01" here: noise in every line
        },
      }),
    ],
  });
  sdk = { tracerProvider, meterProvider, contextManager, disableInstrumentations };
}

/**
 * Spans of SQL statements (only with ERASURE_TRACE_SQL: loaded only then). Sequelize writes values into
 * the SQL text: a span keeps the statement's shape, not its values (ids and e-mails are personal data
 * and must not outlive an erasure in a trace store).
 */
function pgInstrumentation(): Instrumentation {
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  const { PgInstrumentation } = require('@opentelemetry/instrumentation-pg') as typeof import('@opentelemetry/instrumentation-pg');
  return new PgInstrumentation({
    requireParentSpan: true,
    requestHook: (span, info) => span.setAttribute('db.query.text', redactSqlLiterals(info.query.text)),
  });
}

/** SQL text with every string literal replaced by '?' (values bound as $1… are not in the text anyway). */
export function redactSqlLiterals(text: string): string {
  return text.replace(/[Ee]?'(?:[^'\\]|''|\\.)*'/g, "'?'");
}

/** Flushes and stops the SDK (part of graceful shutdown). */
export async function stopTracing(): Promise<void> {
  const current = sdk;
  sdk = undefined;
  if (!current) return;
  current.disableInstrumentations();
  await Promise.allSettled([current.tracerProvider.shutdown(), current.meterProvider?.shutdown()]);
  current.contextManager.disable();
}

/**
 * The W3C `traceparent` of a span context, to be stored and continued later (by another run, in
 * another process). Without a registered SDK the span context is invalid; a fresh random one is
 * made so the stored trace id is still a real one that later runs and logs can share.
 */
export function traceparentOf(spanContext: SpanContext): { traceId: string; traceparent: string } {
  const valid = isSpanContextValid(spanContext);
  const carrier: Record<string, string> = {};
  if (valid) propagation.inject(trace.setSpanContext(ROOT_CONTEXT, spanContext), carrier);
  if (carrier.traceparent) return { traceId: spanContext.traceId, traceparent: carrier.traceparent };
  const traceId = valid ? spanContext.traceId : randomBytes(16).toString('hex');
  const spanId = valid ? spanContext.spanId : randomBytes(8).toString('hex');
  const flags = valid ? spanContext.traceFlags : TraceFlags.SAMPLED;
  return { traceId, traceparent: `00-${traceId}-${spanId}-${flags.toString(16).padStart(2, '0')}` };
}

/**
 * The context a stored `traceparent` names, as the parent of new spans: work resumed later (after a
 * restart, on another replica) stays in the trace it began in.
 */
export function contextFromTraceparent(traceparent: string): Context {
  const extracted = propagation.extract(ROOT_CONTEXT, { traceparent });
  if (trace.getSpanContext(extracted)) return extracted;
  // No propagator registered (no SDK): parse it here, so spans still join the stored trace.
  const match = /^00-([0-9a-f]{32})-([0-9a-f]{16})-([0-9a-f]{2})$/.exec(traceparent);
  if (!match) return ROOT_CONTEXT;
  return trace.setSpanContext(ROOT_CONTEXT, { traceId: match[1]!, spanId: match[2]!, traceFlags: parseInt(match[3]!, 16), isRemote: true });
}
