import { createServer, type Server } from 'node:http';

export interface ReceivedSpan {
  service: string;
  traceId: string;
  spanId: string;
  parentSpanId: string;
  name: string;
  attributes: Record<string, unknown>;
  /** Start, in milliseconds since the epoch (for timelines). */
  startMs: number;
  /** End minus start, in milliseconds. */
  durationMs: number;
}

/**
 * An OTLP/HTTP trace receiver on loopback (what Jaeger's 4318 port speaks). The exporter in
 * services/kit/tracing.ts sends OTLP JSON, which this decodes into flat spans.
 */
export class OtlpReceiver {
  readonly spans: ReceivedSpan[] = [];
  private server?: Server;
  endpoint = '';

  async start(): Promise<void> {
    this.server = createServer((request, response) => {
      const chunks: Buffer[] = [];
      request.on('data', (chunk: Buffer) => chunks.push(chunk));
      request.on('end', () => {
        if (request.method === 'POST' && request.url === '/v1/traces') {
          try {
            this.collect(JSON.parse(Buffer.concat(chunks).toString('utf8')));
          } catch {
            response.writeHead(400).end();
            return;
          }
        }
        response.writeHead(200, { 'content-type': 'application/json' }).end('{}');
      });
    });
    await new Promise<void>((resolve) => this.server!.listen(0, '127.0.0.1', resolve));
    const { port } = this.server.address() as { port: number };
    this.endpoint = `http://127.0.0.1:${port}`;
  }

  private collect(body: { resourceSpans?: any[] }): void {
    for (const resourceSpans of body.resourceSpans ?? []) {
      const service = resourceSpans.resource?.attributes?.find((a: any) => a.key === 'service.name')?.value?.stringValue ?? '?';
      for (const scope of resourceSpans.scopeSpans ?? []) {
        for (const span of scope.spans ?? []) {
          const attributes: Record<string, unknown> = {};
          for (const a of span.attributes ?? []) attributes[a.key] = Object.values(a.value ?? {})[0];
          const durationMs = Number(BigInt(span.endTimeUnixNano ?? 0) - BigInt(span.startTimeUnixNano ?? 0)) / 1e6;
          const startMs = Number(BigInt(span.startTimeUnixNano ?? 0) / 1000n) / 1000;
          this.spans.push({ service, traceId: span.traceId, spanId: span.spanId, parentSpanId: span.parentSpanId ?? '', name: span.name, attributes, startMs, durationMs });
        }
      }
    }
  }

  /** Waits until `predicate` holds over the received spans, or the time runs out. */
  async waitFor(predicate: (spans: ReceivedSpan[]) => boolean, timeoutMs = 15_000): Promise<boolean> {
    const deadline = Date.now() + timeoutMs;
    while (Date.now() < deadline) {
      if (predicate(this.spans)) return true;
      await new Promise((resolve) => setTimeout(resolve, 200));
    }
    return predicate(this.spans);
  }

  async stop(): Promise<void> {
    await new Promise<void>((resolve) => (this.server ? this.server.close(() => resolve()) : resolve()));
  }
}
