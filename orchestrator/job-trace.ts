import { randomBytes } from 'node:crypto';
import { SpanStatusCode, context, trace, type Attributes, type Span } from '@opentelemetry/api';
import { contextFromTraceparent, traceparentOf } from '../services/kit/tracing';

const tracer = trace.getTracer('bakery-erasure-orchestrator');

/** The trace of a job as recorded with it. */
export interface JobTrace {
  traceId: string;
  traceparent: string;
  /** Ends the root span; a trace whose job was never recorded (a lost race) is simply not ended. */
  end(): void;
}

/**
 * Starts a job's trace: its one root span, `erasure.job`, begun when the job is recorded. The span
 * ends at once; its context is stored with the job and every run continues it (`inJobRun`), so a job
 * that outlives its replica is still one trace with one root. The request that created the job is
 * linked, not the parent: the job has a life of its own.
 */
export function beginJobTrace(jobId: string, attributes: Attributes): JobTrace {
  const request = trace.getActiveSpan()?.spanContext();
  const span = tracer.startSpan('erasure.job', {
    root: true,
    attributes: { 'erasure.job.id': jobId, ...attributes },
    links: request ? [{ context: request }] : [],
  });
  const { traceId, traceparent } = traceparentOf(span.spanContext());
  return { traceId, traceparent, end: () => span.end() };
}

/**
 * Runs one run of a job inside an `erasure.run` span, a child of the job's stored root context (for
 * jobs recorded without one: a context in the job's trace id).
 */
export function inJobRun<T>(
  job: { id: string; trace_id: string; trace_parent: string | null },
  attributes: Attributes,
  work: (span: Span) => Promise<T>,
): Promise<T> {
  const parent = contextFromTraceparent(job.trace_parent ?? `00-${job.trace_id}-${randomBytes(8).toString('hex')}-01`);
  return tracer.startActiveSpan('erasure.run', { attributes: { 'erasure.job.id': job.id, ...attributes } }, parent, async (span) => {
    try {
      return await work(span);
    } catch (error) {
      span.recordException(error as Error);
      span.setStatus({ code: SpanStatusCode.ERROR, message: (error as Error).message });
      throw error;
    } finally {
      span.end();
    }
  });
}

/** Runs `work` inside a child span of the active one (a step of a run). */
export function inSpan<T>(name: string, attributes: Attributes, work: (span: Span) => Promise<T>): Promise<T> {
  return tracer.startActiveSpan(name, { attributes }, context.active(), async (span) => {
    try {
      return await work(span);
    } finally {
      span.end();
    }
  });
}
