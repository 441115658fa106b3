import {
  TombstoneRegistryService,
  type CheckSubjectsRequest,
  type CheckSubjectsResponse,
} from '../gen/bakery/erasure/v1/tombstone_registry';
import { TOMBSTONE_REGISTRY } from '../mesh/catalog';
import { requireNotUser } from '../services/kit/auth';
import { invalidArgument } from '../services/kit/errors';
import { parseSubject } from '../services/kit/erasure-service';
import { unary, type RpcDeps } from '../services/kit/rpc';
import type { HostedService } from '../services/kit/server';
import type { Tombstones } from './tombstones';

/** The most subjects one CheckSubjects call may ask about (the contract says 100). */
export const MAX_SUBJECTS_PER_CHECK = 100;

/**
 * `bakery.erasure.v1.TombstoneRegistry`: which of the given subjects were erased. Processes and operators
 * (every process asks before it accepts a user's token or writes an id; services/kit/tombstone-client.ts).
 * Who may ask is in mesh/caller-rules.ts.
 * The answer is a yes/no per subject: the raw ids are hashed here and never stored.
 */
export function tombstoneRegistry(deps: RpcDeps, tombstones: Tombstones): HostedService {
  const checkSubjects = unary<CheckSubjectsRequest, CheckSubjectsResponse>(deps, 'CheckSubjects', async (request, { principal }) => {
    requireNotUser(principal);
    if (request.subjects.length > MAX_SUBJECTS_PER_CHECK) {
      throw invalidArgument(`subjects holds ${request.subjects.length} entries; at most ${MAX_SUBJECTS_PER_CHECK} per call`);
    }
    const subjects = request.subjects.map((subject) => parseSubject(subject));
    const statuses = await tombstones.check(subjects);
    return { statuses: statuses.map((s) => ({ erased: s.erased, erasedAt: s.erasedAt, suspended: s.suspended })) };
  });
  return { name: TOMBSTONE_REGISTRY, definition: TombstoneRegistryService, implementation: { checkSubjects } };
}
