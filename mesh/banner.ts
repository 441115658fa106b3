/**
 * What `npm start` prints once the mesh is up: the services and where they listen, then commands that
 * work exactly as printed (the CLI, `buf curl`, tracing).
 */
import { catalogEntry, DELETION_ORCHESTRATOR, TENANT_DATA_DELETION } from './catalog';

export interface BannerInput {
  services: { name: string; address: string; pid: number | undefined; database: string }[];
  databaseServer: string;
  readyMs: number;
  logDir: string;
  /** The environment the launcher ran with (for tracing and non-default addresses). */
  env: Record<string, string | undefined>;
}

/** A plain text table with a header row and columns padded to their widest cell. */
export function textTable(headers: string[], rows: string[][], indent = '  '): string {
  const widths = headers.map((header, i) => Math.max(header.length, ...rows.map((row) => (row[i] ?? '').length)));
  const line = (cells: string[]) => `${indent}${cells.map((cell, i) => (i === cells.length - 1 ? cell : cell.padEnd(widths[i]!))).join('  ')}`.trimEnd();
  return [line(headers), ...rows.map(line)].join('\n');
}

/** The `ORCHESTRATOR_ADDR=… ` prefix the CLI needs when the orchestrator is not on its default address. */
function cliPrefix(services: BannerInput['services']): string {
  const orchestrator = services.find((service) => service.name === 'orchestrator');
  if (!orchestrator || orchestrator.address === `127.0.0.1:${catalogEntry('orchestrator')!.port}`) return '';
  return `ORCHESTRATOR_ADDR=${orchestrator.address} `;
}

export function banner(input: BannerInput): string {
  const { services } = input;
  const cli = `${cliPrefix(services)}npx erasure`;
  const sample = services.find((service) => service.name === 'orders') ?? services.find((service) => service.name !== 'orchestrator') ?? services[0]!;
  const orchestrator = services.find((service) => service.name === 'orchestrator');
  const curl = 'npx buf curl --protocol grpc --http2-prior-knowledge';
  const otlp = input.env.OTEL_EXPORTER_OTLP_ENDPOINT ?? input.env.OTEL_EXPORTER_OTLP_TRACES_ENDPOINT;
  const jaeger = input.env.JAEGER_UI_URL ?? 'http://localhost:16686';
  const lines = [
    '',
    `bakery erasure mesh is ready: ${services.length} services in ${(input.readyMs / 1000).toFixed(1)} s, database ${input.databaseServer}`,
    '',
    textTable(
      ['service', 'address', 'pid', 'database'],
      services.map((service) => [service.name, service.address, String(service.pid ?? '-'), service.database]),
    ),
    '',
    `Logs: ${input.logDir}/<service>.log (npm start -- --verbose shows them here). Ctrl-C stops everything.`,
    '',
  ];
  if (orchestrator) {
    lines.push(
      'Try it (in another terminal):',
      `  TENANT=$(${cli} seed --rows 10000 --quiet)     # a bakery with realistic rows in every service`,
      `  ${cli} tenants`,
      `  ${cli} preview $TENANT`,
      `  ${cli} delete $TENANT                         # four-eyes (on by default): the job waits for a second person`,
      `  ERASURE_OPERATOR=second-person ${cli} approve <job> && ${cli} watch <job>   # approved: live progress, then a summary`,
      `  ${cli} jobs`,
      `  ${cli} --help`,
      '',
    );
  } else {
    lines.push('The orchestrator is not running (--without orchestrator): the erasure CLI needs it; buf curl works.', '');
  }
  lines.push(
    'Any service with buf curl (server reflection is on everywhere):',
    '  TOKEN=$(npm run -s token -- --operator "$(whoami)")   # operators may Preview and use the orchestrator; only it may Delete',
    `  ${curl} --list-services http://${sample.address}`,
    `  ${curl} -H "authorization: Bearer $TOKEN" -d "{\\"subject\\":{\\"tenant_id\\":\\"$TENANT\\"}}" http://${sample.address}/${TENANT_DATA_DELETION}/Preview`,
  );
  if (orchestrator) {
    lines.push(`  ${curl} -H "authorization: Bearer $TOKEN" -d '{}' http://${orchestrator.address}/${DELETION_ORCHESTRATOR}/ListJobs`);
  }
  lines.push('');
  lines.push(
    otlp
      ? `Traces: exported over OTLP to ${otlp}; a deletion run is one trace (Jaeger: ${jaeger}).`
      : 'Traces: run Jaeger (docker run --rm -d -p 16686:16686 -p 4317:4317 -p 4318:4318 jaegertracing/all-in-one:1.62.0),\n' +
        '        then start the mesh with OTEL_EXPORTER_OTLP_ENDPOINT=http://127.0.0.1:4318 npm start',
    '',
  );
  return lines.join('\n');
}
