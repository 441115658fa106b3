/**
 * The standard gRPC health service (grpc.health.v1.Health: Check, Watch, List, as in
 * third_party/proto/grpc/health/v1/health.proto), served and called without loading a .proto at run
 * time. Its four messages are one field each, encoded here with the wire codec the generated code
 * already uses (@bufbuild/protobuf/wire). The health package the mesh used before parsed the .proto
 * with proto-loader and protobufjs on every process start: ~55 modules and ~0.2 CPU-s per process of
 * the mesh (require timing, bench/startup.ts), before any status could be reported. The server side
 * does what the .proto's comments ask: NOT_FOUND for an unknown name on Check, SERVICE_UNKNOWN (and
 * the call kept open) on Watch, RESOURCE_EXHAUSTED on List past a limit (100 names).
 */
import { status as grpcStatus, type sendUnaryData, type ServerUnaryCall, type ServerWritableStream, type Server, type ServiceDefinition } from '@grpc/grpc-js';
import { BinaryReader, BinaryWriter } from '@bufbuild/protobuf/wire';

export type ServingStatus = 'UNKNOWN' | 'SERVING' | 'NOT_SERVING' | 'SERVICE_UNKNOWN';

const STATUS_NUMBERS: Record<ServingStatus, number> = { UNKNOWN: 0, SERVING: 1, NOT_SERVING: 2, SERVICE_UNKNOWN: 3 };
const STATUS_NAMES: ServingStatus[] = ['UNKNOWN', 'SERVING', 'NOT_SERVING', 'SERVICE_UNKNOWN'];

export interface HealthCheckRequest {
  service: string;
}
export interface HealthCheckResponse {
  status: ServingStatus;
}
export interface HealthListResponse {
  statuses: Record<string, HealthCheckResponse>;
}

/** Field 1 of a message, read with `read`; other fields skipped (a newer peer may send more). */
function decodeField1<T>(bytes: Uint8Array, initial: T, read: (reader: BinaryReader) => T): T {
  const reader = new BinaryReader(bytes);
  let value = initial;
  while (reader.pos < reader.len) {
    const [field, wireType] = reader.tag();
    if (field === 1) value = read(reader);
    else reader.skip(wireType);
  }
  return value;
}

const statusName = (number: number): ServingStatus => STATUS_NAMES[number] ?? 'UNKNOWN';

export const healthCodec = {
  encodeRequest: (message: HealthCheckRequest): Buffer => {
    const writer = new BinaryWriter();
    if (message.service) writer.uint32(10).string(message.service);
    return Buffer.from(writer.finish());
  },
  decodeRequest: (bytes: Uint8Array): HealthCheckRequest => ({ service: decodeField1(bytes, '', (reader) => reader.string()) }),
  encodeResponse: (message: HealthCheckResponse): Buffer => {
    const writer = new BinaryWriter();
    const number = STATUS_NUMBERS[message.status] ?? 0;
    if (number) writer.uint32(8).int32(number);
    return Buffer.from(writer.finish());
  },
  decodeResponse: (bytes: Uint8Array): HealthCheckResponse => ({ status: statusName(decodeField1(bytes, 0, (reader) => reader.int32())) }),
  encodeListResponse: (message: HealthListResponse): Buffer => {
    const writer = new BinaryWriter();
    for (const [service, response] of Object.entries(message.statuses)) {
      // map<string, HealthCheckResponse> = repeated entry { string key = 1; HealthCheckResponse value = 2; }
      writer.uint32(10).fork().uint32(10).string(service).uint32(18).bytes(healthCodec.encodeResponse(response)).join();
    }
    return Buffer.from(writer.finish());
  },
  decodeListResponse: (bytes: Uint8Array): HealthListResponse => {
    const statuses: Record<string, HealthCheckResponse> = {};
    const reader = new BinaryReader(bytes);
    while (reader.pos < reader.len) {
      const [field, wireType] = reader.tag();
      if (field !== 1) {
        reader.skip(wireType);
        continue;
      }
      const entry = new BinaryReader(reader.bytes());
      let key = '';
      let value: HealthCheckResponse = { status: 'UNKNOWN' };
      while (entry.pos < entry.len) {
        const [entryField, entryWire] = entry.tag();
        if (entryField === 1) key = entry.string();
        else if (entryField === 2) value = healthCodec.decodeResponse(entry.bytes());
        else entry.skip(entryWire);
      }
      statuses[key] = value;
    }
    return { statuses };
  },
};

const identity = <T>(value: T): T => value;

/** grpc.health.v1.Health for grpc-js: method paths and the codecs above. */
export const HEALTH_SERVICE = {
  Check: {
    path: '/grpc.health.v1.Health/Check',
    requestStream: false,
    responseStream: false,
    requestSerialize: healthCodec.encodeRequest,
    requestDeserialize: healthCodec.decodeRequest,
    responseSerialize: healthCodec.encodeResponse,
    responseDeserialize: healthCodec.decodeResponse,
    originalName: 'check',
  },
  Watch: {
    path: '/grpc.health.v1.Health/Watch',
    requestStream: false,
    responseStream: true,
    requestSerialize: healthCodec.encodeRequest,
    requestDeserialize: healthCodec.decodeRequest,
    responseSerialize: healthCodec.encodeResponse,
    responseDeserialize: healthCodec.decodeResponse,
    originalName: 'watch',
  },
  List: {
    path: '/grpc.health.v1.Health/List',
    requestStream: false,
    responseStream: false,
    // HealthListRequest has no fields.
    requestSerialize: () => Buffer.alloc(0),
    requestDeserialize: identity as (bytes: Buffer) => object,
    responseSerialize: healthCodec.encodeListResponse,
    responseDeserialize: healthCodec.decodeListResponse,
    originalName: 'list',
  },
} satisfies ServiceDefinition;

/** List answers at most this many names (RESOURCE_EXHAUSTED beyond, as the .proto allows). */
const LIST_LIMIT = 100;

/** The statuses a process reports, by service name ("" = the whole server), and their watchers. */
export class HealthImplementation {
  private readonly statusMap = new Map<string, ServingStatus>();
  private readonly watchers = new Map<string, Set<(status: ServingStatus) => void>>();

  constructor(initial: Record<string, ServingStatus> = {}) {
    for (const [service, status] of Object.entries(initial)) this.statusMap.set(service, status);
  }

  setStatus(service: string, status: ServingStatus): void {
    this.statusMap.set(service, status);
    for (const watcher of this.watchers.get(service) ?? []) watcher(status);
  }

  addToServer(server: Server): void {
    server.addService(HEALTH_SERVICE, {
      Check: (call: ServerUnaryCall<HealthCheckRequest, HealthCheckResponse>, callback: sendUnaryData<HealthCheckResponse>) => {
        const status = this.statusMap.get(call.request.service);
        if (status) callback(null, { status });
        else callback({ code: grpcStatus.NOT_FOUND, details: `Health status unknown for service ${call.request.service}` });
      },
      Watch: (call: ServerWritableStream<HealthCheckRequest, HealthCheckResponse>) => {
        const service = call.request.service;
        const watcher = (status: ServingStatus) => void call.write({ status });
        const set = this.watchers.get(service) ?? new Set();
        set.add(watcher);
        this.watchers.set(service, set);
        call.on('cancelled', () => set.delete(watcher));
        call.write({ status: this.statusMap.get(service) ?? 'SERVICE_UNKNOWN' });
      },
      List: (_call: ServerUnaryCall<object, HealthListResponse>, callback: sendUnaryData<HealthListResponse>) => {
        if (this.statusMap.size > LIST_LIMIT) {
          callback({ code: grpcStatus.RESOURCE_EXHAUSTED, details: 'Too many services to list.' });
          return;
        }
        callback(null, { statuses: Object.fromEntries([...this.statusMap].map(([service, status]) => [service, { status }])) });
      },
    });
  }
}
