import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import type { MethodDefinition, Server, ServiceDefinition, UntypedHandleCall, UntypedServiceImplementation } from '@grpc/grpc-js';
import type { loadSync } from '@grpc/proto-loader';
import { repoRoot } from './paths';

/** The reflection services @grpc/reflection serves, each with its one bidirectional method. */
const REFLECTION_SERVICES = ['grpc.reflection.v1.ServerReflection', 'grpc.reflection.v1alpha.ServerReflection'] as const;
const METHOD = 'ServerReflectionInfo';

type Registered = { definition: ServiceDefinition; implementation: UntypedServiceImplementation };

/**
 * Server reflection fed with the real FileDescriptorProtos of a `buf build` image (gen/descriptors.binpb),
 * dependencies and the vendored grpc.health.v1 proto included. Descriptors from proto-loader drop
 * dependencies, and `buf curl` then cannot call methods.
 *
 * Built on the first reflection call, not at start-up: @grpc/reflection parses its own .proto files
 * with proto-loader and decodes, indexes and re-encodes every descriptor of the image (twice, v1 and
 * v1alpha) — ~130 modules and a fifth of a process's start-up CPU (--cpu-prof of a service), for a
 * service that operators and `buf curl` call now and then. The methods are registered at once with
 * their paths; their codecs and handlers come from @grpc/reflection when first used.
 */
export function addReflection(server: Server, serviceNames: string[]): void {
  let built: Map<string, Registered> | undefined;
  const reflection = (service: string): Registered => {
    built ??= buildReflection(serviceNames);
    return built.get(service)!;
  };
  for (const service of REFLECTION_SERVICES) {
    const method = () => reflection(service).definition[METHOD]! as MethodDefinition<unknown, unknown>;
    const definition: ServiceDefinition = {
      [METHOD]: {
        path: `/${service}/${METHOD}`,
        requestStream: true,
        responseStream: true,
        requestSerialize: (value: unknown) => method().requestSerialize(value),
        requestDeserialize: (bytes: Buffer) => method().requestDeserialize(bytes),
        responseSerialize: (value: unknown) => method().responseSerialize(value),
        responseDeserialize: (bytes: Buffer) => method().responseDeserialize(bytes),
      },
    };
    const handler = ((call: unknown) => (reflection(service).implementation[METHOD] as (call: unknown) => void)(call)) as UntypedHandleCall;
    server.addService(definition, { [METHOD]: handler });
  }
}

/** @grpc/reflection's services over the image, as it would add them to a server. */
function buildReflection(serviceNames: string[]): Map<string, Registered> {
  /* eslint-disable @typescript-eslint/no-require-imports */
  const { ReflectionService } = require('@grpc/reflection') as typeof import('@grpc/reflection');
  const { FileDescriptorSet, FileDescriptorProto } = require('protobufjs/ext/descriptor') as typeof import('protobufjs/ext/descriptor');
  /* eslint-enable @typescript-eslint/no-require-imports */
  const image = FileDescriptorSet.decode(readFileSync(resolve(repoRoot, 'gen/descriptors.binpb'))) as unknown as {
    file: unknown[];
  };
  const files = image.file.map((file) => FileDescriptorProto.encode(file as never).finish());
  const packageDefinition = { 'buf.image': { fileDescriptorProtos: files } } as unknown as ReturnType<typeof loadSync>;
  const registered = new Map<string, Registered>();
  // Collects what addToServer would register, keyed by the service of its method paths.
  const collector = {
    addService(definition: ServiceDefinition, implementation: UntypedServiceImplementation) {
      const path = Object.values(definition)[0]!.path;
      registered.set(path.slice(1, path.lastIndexOf('/')), { definition, implementation });
    },
  };
  new ReflectionService(packageDefinition, { services: [...serviceNames, 'grpc.health.v1.Health'] }).addToServer(collector as unknown as Server);
  for (const service of REFLECTION_SERVICES) {
    if (!registered.get(service)?.definition[METHOD]) throw new Error(`@grpc/reflection did not provide ${service}/${METHOD}`);
  }
  return registered;
}
