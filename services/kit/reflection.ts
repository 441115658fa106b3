import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import type { Server } from '@grpc/grpc-js';
import { ReflectionService } from '@grpc/reflection';
import type { loadSync } from '@grpc/proto-loader';
import { FileDescriptorSet, FileDescriptorProto } from 'protobufjs/ext/descriptor';
import { repoRoot } from './paths';

/**
 * Server reflection fed with the real FileDescriptorProtos of a `buf build` image (gen/descriptors.binpb),
 * dependencies and the vendored grpc.health.v1 proto included. Descriptors from proto-loader drop
 * dependencies, and `buf curl` then cannot call methods.
 */
export function addReflection(server: Server, serviceNames: string[]): void {
  const image = FileDescriptorSet.decode(readFileSync(resolve(repoRoot, 'gen/descriptors.binpb'))) as unknown as {
    file: unknown[];
  };
  const files = image.file.map((file) => FileDescriptorProto.encode(file as never).finish());
  const packageDefinition = { 'buf.image': { fileDescriptorProtos: files } } as unknown as ReturnType<typeof loadSync>;
  new ReflectionService(packageDefinition, { services: [...serviceNames, 'grpc.health.v1.Health'] }).addToServer(server);
}
