/**
 * The OpenTelemetry bootstrap. It must run before `@grpc/grpc-js` and `pg` are loaded, so their
 * instrumentation can patch them: processes load it with `--require` (see tracing-register.ts).
 * Spans are exported over OTLP/HTTP when `OTEL_EXPORTER_OTLP_ENDPOINT` is set; otherwise they are still
 * created (so trace ids exist and propagate) but dropped.
 */
import { AsyncLocalStorage } from 'node:async_hooks';
import { NodeSDK, tracing, resources } from '@opentelemetry/sdk-node';
import { OTLPTraceExporter } from '@opentelemetry/exporter-trace-otlp-http';
import { GrpcInstrumentation } from '@opentelemetry/instrumentation-grpc';
import { PgInstrumentation } from '@opentelemetry/instrumentation-pg';

let sdk: NodeSDK | undefined;

const forcedTraceId = new AsyncLocalStorage<string>();

/**
 * Lets a root span take a trace id chosen earlier: an erasure job's trace id is recorded with the job
 * when it is created, and every run of the job (a resumed run after a crash included) joins that trace.
 */
class JobTraceIdGenerator implements tracing.IdGenerator {
  private readonly random = new tracing.RandomIdGenerator();
  generateTraceId(): string {
    return forcedTraceId.getStore() ?? this.random.generateTraceId();
  }
  generateSpanId(): string {
    return this.random.generateSpanId();
  }
}

/** Runs `work` so that a root span started in it gets `traceId` (32 hex digits). */
export function inTrace<T>(traceId: string, work: () => T): T {
  return forcedTraceId.run(traceId, work);
}

export interface TracingOptions {
  serviceName: string;
  /** Extra processors, e.g. an in-memory exporter in tests. */
  spanProcessors?: tracing.SpanProcessor[];
}

export function startTracing(options: TracingOptions): NodeSDK {
  if (sdk) return sdk;
  // This product exports traces only; metrics and logs go elsewhere (pino).
  process.env.OTEL_METRICS_EXPORTER ??= 'none';
  process.env.OTEL_LOGS_EXPORTER ??= 'none';
  const processors: tracing.SpanProcessor[] = [...(options.spanProcessors ?? [])];
  if (process.env.OTEL_EXPORTER_OTLP_ENDPOINT || process.env.OTEL_EXPORTER_OTLP_TRACES_ENDPOINT) {
    processors.push(new tracing.BatchSpanProcessor(new OTLPTraceExporter(), { scheduledDelayMillis: 500 }));
  }
  if (processors.length === 0) processors.push(new tracing.NoopSpanProcessor());
  sdk = new NodeSDK({
    resource: resources.resourceFromAttributes({ 'service.name': process.env.OTEL_SERVICE_NAME ?? options.serviceName }),
    spanProcessors: processors,
    idGenerator: new JobTraceIdGenerator(),
    instrumentations: [
      // Health checks are polled constantly and would bury the deletion runs.
      new GrpcInstrumentation({ ignoreGrpcMethods: ['Check', 'Watch'] }),
      new PgInstrumentation({ requireParentSpan: true }),
    ],
  });
  sdk.start();
  return sdk;
}

/** Flushes and stops the SDK (part of graceful shutdown). */
export async function stopTracing(): Promise<void> {
  const current = sdk;
  sdk = undefined;
  await current?.shutdown().catch(() => undefined);
}
