import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import type { Server } from '@grpc/grpc-js';
import { ReflectionService } from '@grpc/reflection';
import { loadSync } from '@grpc/proto-loader';
import { protoPath as healthProtoPath } from 'grpc-health-check';
import { FileDescriptorSet, FileDescriptorProto } from 'protobufjs/ext/descriptor';
import { repoRoot } from './paths';

/**
 * Server reflection fed with the real FileDescriptorProtos of a `buf build` image (gen/descriptors.binpb),
 * dependencies included. Descriptors from proto-loader drop dependencies, and `buf curl` then cannot
 * call methods (DESIGN §8). The health proto has no dependencies, so proto-loader's copy of it is fine.
 */
export function addReflection(server: Server, serviceNames: string[]): void {
  const image = FileDescriptorSet.decode(readFileSync(resolve(repoRoot, 'gen/descriptors.binpb'))) as unknown as {
    file: unknown[];
  };
  const files = image.file.map((file) => FileDescriptorProto.encode(file as never).finish());
  const health = loadSync(healthProtoPath, { keepCase: true });
  const packageDefinition = {
    ...health,
    'bakery.image': { fileDescriptorProtos: files },
  } as unknown as ReturnType<typeof loadSync>;
  new ReflectionService(packageDefinition, { services: [...serviceNames, 'grpc.health.v1.Health'] }).addToServer(server);
}
