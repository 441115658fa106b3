/**
 * Metrics of every process (OpenTelemetry, exposed for Prometheus scraping on an HTTP `/metrics` port
 * of its own, and pushed by OTLP when asked): what the dashboard and the alert rules in deploy/ read.
 *
 * Labels carry only bounded, non-personal values — a service name, an entity (table) name, a status,
 * a reason — never a job, tenant or user id or an e-mail: an erased subject must not live on in a
 * time-series database, and ids would make one series per subject.
 *
 * Instruments are created on first use (through the global meter provider the preloaded SDK registers,
 * services/kit/tracing.ts), not when this module loads: loading it declares nothing and touches
 * nothing else (no models, no database).
 */
import { metrics, type Attributes, type BatchObservableResult, type Counter, type Histogram, type Meter } from '@opentelemetry/api';
import { PrometheusExporter } from '@opentelemetry/exporter-prometheus';
import { PeriodicExportingMetricReader, type IMetricReader } from '@opentelemetry/sdk-metrics';
import { catalogEntry } from '../../mesh/catalog';
import { ConfigError, envInt, envPrefix, envString, serviceAddress } from './config';

type Env = Record<string, string | undefined>;

/** How far above its gRPC port a process serves `/metrics` by default (orders: 7103 → 7203). */
export const METRICS_PORT_OFFSET = 100;

/**
 * Where a process serves `/metrics`: `<NAME>_METRICS_ADDR` (host:port, or `off`), else 127.0.0.1 on its
 * gRPC port + 100. Undefined when off, or for a process that is not in the catalog.
 */
export function metricsAddress(name: string, env: Env = process.env): { host: string; port: number } | undefined {
  const variable = `${envPrefix(name)}_METRICS_ADDR`;
  const configured = env[variable];
  if (configured === 'off') return undefined;
  if (configured === undefined || configured === '') {
    if (!catalogEntry(name) && env[`${envPrefix(name)}_ADDR`] === undefined) return undefined;
    const grpcPort = Number(serviceAddress(name, env).split(':').pop());
    return { host: '127.0.0.1', port: grpcPort + METRICS_PORT_OFFSET };
  }
  const match = /^([^\s:]+|\[[0-9a-f:]+\]):(\d{1,5})$/i.exec(envString(env, variable));
  if (!match || Number(match[2]) > 65_535) throw new ConfigError(`${variable} must be host:port or off, got ${JSON.stringify(configured)}`);
  return { host: match[1]!.replace(/^\[|\]$/g, ''), port: Number(match[2]) };
}

/**
 * The metric readers of a process: the Prometheus endpoint (unless off) and, when OTEL_METRICS_EXPORTER
 * names `otlp`, a periodic OTLP/HTTP push (OTEL_EXPORTER_OTLP_[METRICS_]ENDPOINT, every
 * OTEL_METRIC_EXPORT_INTERVAL ms, default 15 s). A `/metrics` port
 * that cannot be bound is reported on stderr; the process keeps serving erasures.
 */
export function metricReaders(name: string, env: Env = process.env): IMetricReader[] {
  const readers: IMetricReader[] = [];
  const address = metricsAddress(name, env);
  if (address) {
    readers.push(
      new PrometheusExporter({ host: address.host, port: address.port, withoutScopeInfo: true }, (error) => {
        if (error) process.stderr.write(`${JSON.stringify({ level: 40, service: name, msg: 'metrics endpoint not served', error: String(error) })}\n`);
      }),
    );
  }
  if ((env.OTEL_METRICS_EXPORTER ?? '').split(',').map((value) => value.trim()).includes('otlp')) {
    const interval = envInt(env, 'OTEL_METRIC_EXPORT_INTERVAL', 15_000, 100);
    // Loaded only when asked for: the OTLP transformer is a few hundred modules a process rarely needs.
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    const { OTLPMetricExporter } = require('@opentelemetry/exporter-metrics-otlp-http') as typeof import('@opentelemetry/exporter-metrics-otlp-http');
    readers.push(new PeriodicExportingMetricReader({ exporter: new OTLPMetricExporter(), exportIntervalMillis: interval, exportTimeoutMillis: Math.min(interval, 30_000) }));
  }
  return readers;
}

const meter = (): Meter => metrics.getMeter('bakery-erasure');

/** Bucket bounds in seconds: chunks are sized to ~100 ms, steps and jobs take from milliseconds to hours. */
const CHUNK_BUCKETS = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5];
const DURATION_BUCKETS = [0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300, 900, 3600];

function lazy<T>(create: () => T): () => T {
  let instrument: T | undefined;
  return () => (instrument ??= create());
}

/** The instruments, by what they count. Names and labels are the contract of deploy/ (rules, dashboard). */
export const instruments = {
  /** Jobs that ended, by final status (COMPLETED, FAILED, CANCELLED). */
  jobsFinished: lazy<Counter>(() => meter().createCounter('erasure_jobs_finished', { description: 'erasure jobs that ended, by final status' })),
  /** From a job's request to its end. */
  jobDuration: lazy<Histogram>(() =>
    meter().createHistogram('erasure_job_duration_seconds', { unit: 's', description: 'time from request to end of an erasure job', advice: { explicitBucketBoundaries: DURATION_BUCKETS } }),
  ),
  /** One step of a job (one service), from its first attempt to its end, by service and outcome. */
  stepDuration: lazy<Histogram>(() =>
    meter().createHistogram('erasure_step_duration_seconds', { unit: 's', description: 'time of one step of a job (one service), by outcome', advice: { explicitBucketBoundaries: DURATION_BUCKETS } }),
  ),
  /** A step attempt failed and will be retried. */
  stepRetries: lazy<Counter>(() => meter().createCounter('erasure_step_retries', { description: 'step attempts that failed and are retried, by service' })),
  /** Verification found rows left in (or could not ask) a service after its step succeeded. */
  verificationFailures: lazy<Counter>(() =>
    meter().createCounter('erasure_verification_failures', { description: 'services where verification found rows left or could not ask' }),
  ),
  /** Rows a data service erased (deleted or anonymised), by entity. */
  rowsErased: lazy<Counter>(() => meter().createCounter('erasure_rows_erased', { description: 'rows erased by a data service, by entity' })),
  /** One chunk transaction of the deletion engine, by entity (its root table). */
  chunkDuration: lazy<Histogram>(() =>
    meter().createHistogram('erasure_chunk_duration_seconds', { unit: 's', description: 'one chunk transaction of the deletion engine', advice: { explicitBucketBoundaries: CHUNK_BUCKETS } }),
  ),
  /** Logins the auth service refused, by reason (invalid_credentials, throttled). */
  loginRefusals: lazy<Counter>(() => meter().createCounter('erasure_login_refusals', { description: 'logins refused by the auth service, by reason' })),
  /** Webhook POSTs of the orchestrator, by outcome (delivered, http_error, timeout, network_error). */
  webhookDeliveries: lazy<Counter>(() => meter().createCounter('erasure_webhook_deliveries', { description: 'webhook notification attempts, by outcome' })),
};

/**
 * Starts counters at 0 for every label set they can have, so their series exist (and `rate()` and
 * `increase()` in the alert rules work) before the first failure, retry or refusal happens.
 */
export function zeroCounters(counter: () => Counter, labelSets: Attributes[]): void {
  for (const attributes of labelSets) counter().add(0, attributes);
}

/** Adds to a counter (labels: bounded, non-personal values only, see above). */
export function count(counter: () => Counter, value: number, attributes: Attributes): void {
  if (value > 0) counter().add(value, attributes);
}

/** Records seconds from milliseconds. */
export function observeMs(histogram: () => Histogram, ms: number, attributes: Attributes): void {
  histogram().record(Math.max(0, ms) / 1000, attributes);
}

/** What the orchestrator's gauges read from its job table at each scrape. */
export interface JobGaugeReading {
  /** Jobs per status, every status present (0 when none). */
  byStatus: Record<string, number>;
  /** RUNNING jobs the watchdog marked stalled. */
  stalled: number;
  /** Age of the oldest open (PENDING or RUNNING) job in seconds, 0 when none is open. */
  oldestOpenAgeSeconds: number;
  /** Unfinished requests (SCHEDULED, PENDING, RUNNING) by the time left until their due date. */
  openByTimeLeft: Record<TimeLeft, number>;
}

/** Buckets of time left until a request's due date (not cumulative): past it, under a day, under a week, more. */
export const TIME_LEFT_BUCKETS = ['overdue', '1d', '7d', 'later'] as const;
export type TimeLeft = (typeof TIME_LEFT_BUCKETS)[number];

const jobGauges = lazy(() => {
  const m = meter();
  return {
    byStatus: m.createObservableGauge('erasure_jobs', { description: 'erasure jobs by status (the whole job table)' }),
    queued: m.createObservableGauge('erasure_queue_depth', { description: 'jobs waiting to run (PENDING)' }),
    running: m.createObservableGauge('erasure_jobs_running', { description: 'jobs running now (RUNNING)' }),
    stalled: m.createObservableGauge('erasure_jobs_stalled', { description: 'RUNNING jobs without progress past the stall limit' }),
    oldest: m.createObservableGauge('erasure_open_job_oldest_age_seconds', { unit: 's', description: 'age of the oldest open (PENDING or RUNNING) job' }),
    byTimeLeft: m.createObservableGauge('erasure_open_requests', {
      description: 'unfinished erasure requests by time left until their due date (due_within: overdue, 1d, 7d, later)',
    }),
    due: m.createObservableGauge('erasure_legal_due_seconds', { unit: 's', description: 'the time an erasure request may take by law (ORCHESTRATOR_LEGAL_DUE_DAYS)' }),
  };
});

/**
 * The orchestrator's gauges, read from the job table when scraped (so every replica reports the same
 * mesh-wide numbers): jobs by status, queue depth (PENDING), running and stalled jobs, the oldest open
 * job's age, and the legal time limit it is measured against. Returns the function that stops reading
 * (an orchestrator that stops must not be asked by a later scrape).
 */
export function registerJobGauges(read: () => Promise<JobGaugeReading>, legalDueSeconds: number): () => void {
  const m = meter();
  const gauges = jobGauges();
  const callback = async (result: BatchObservableResult) => {
    result.observe(gauges.due, legalDueSeconds);
    let reading: JobGaugeReading;
    try {
      reading = await read();
    } catch {
      return; // the database is away: no reading (an alert on the missing series would be noise)
    }
    for (const [status, n] of Object.entries(reading.byStatus)) result.observe(gauges.byStatus, n, { status });
    result.observe(gauges.queued, reading.byStatus.PENDING ?? 0);
    result.observe(gauges.running, reading.byStatus.RUNNING ?? 0);
    result.observe(gauges.stalled, reading.stalled);
    result.observe(gauges.oldest, reading.oldestOpenAgeSeconds);
    for (const bucket of TIME_LEFT_BUCKETS) result.observe(gauges.byTimeLeft, reading.openByTimeLeft[bucket], { due_within: bucket });
  };
  const observables = Object.values(gauges);
  m.addBatchObservableCallback(callback, observables);
  return () => m.removeBatchObservableCallback(callback, observables);
}

const webhookGauges = lazy(() => {
  const m = meter();
  return {
    undelivered: m.createObservableGauge('erasure_webhook_undelivered', { description: 'webhook notifications not yet acknowledged by their receiver (the outbox backlog)' }),
    oldest: m.createObservableGauge('erasure_webhook_oldest_undelivered_age_seconds', { unit: 's', description: 'age of the oldest webhook notification not yet acknowledged' }),
  };
});

/**
 * The webhook outbox's gauges (orchestrator/webhooks.ts), read from its table when scraped (every
 * replica reports the same numbers). Returns the function that stops reading.
 */
export function registerWebhookGauges(read: () => Promise<{ undelivered: number; oldestAgeSeconds: number }>): () => void {
  const m = meter();
  const gauges = webhookGauges();
  const callback = async (result: BatchObservableResult) => {
    const reading = await read().catch(() => undefined); // the database is away: no reading
    if (!reading) return;
    result.observe(gauges.undelivered, reading.undelivered);
    result.observe(gauges.oldest, reading.oldestAgeSeconds);
  };
  const observables = Object.values(gauges);
  m.addBatchObservableCallback(callback, observables);
  return () => m.removeBatchObservableCallback(callback, observables);
}
