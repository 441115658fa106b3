import type { Logger } from 'pino';
import {
  TombstoneRegistryService,
  type CheckSubjectsRequest,
  type CheckSubjectsResponse,
  type ReportResurrectionsRequest,
  type ReportResurrectionsResponse,
} from '../gen/bakery/erasure/v1/tombstone_registry';
import { TOMBSTONE_REGISTRY } from '../mesh/catalog';
import { requireNotUser } from '../services/kit/auth';
import { invalidArgument, permissionDenied } from '../services/kit/errors';
import { parseSubject } from '../services/kit/erasure-service';
import { unary, type RpcDeps } from '../services/kit/rpc';
import type { HostedService } from '../services/kit/server';
import type { AuditChain } from './audit-chain';
import type { RecordedResurrection, Resurrections, Tombstones } from './tombstones';

/** The most subjects one CheckSubjects or ReportResurrections call may carry (the contract says 100). */
export const MAX_SUBJECTS_PER_CHECK = 100;

/** Where lifecycle events that are not a job's state change are appended (orchestrator/audit-chain.ts). */
export type AuditSink = Pick<AuditChain, 'appendAuditEvent'>;

/**
 * The one place a recorded resurrection leaves the registry: a log line (keyed hash, service, rows;
 * never the id) and one `resurrection.swept` entry in the audit chain.
 */
export async function announceResurrection(log: Logger, resurrection: RecordedResurrection, audit?: AuditSink): Promise<void> {
  await audit?.appendAuditEvent(
    'resurrection.swept',
    { service: resurrection.service, rows: resurrection.rows, entities: resurrection.entities },
    { subject: { kind: resurrection.kind, id: resurrection.subjectRef } },
  );
  log.warn(
    {
      subject_kind: resurrection.kind,
      subject_ref: resurrection.subjectRef,
      swept_service: resurrection.service,
      rows: resurrection.rows,
      entities: resurrection.entities,
    },
    'resurrection swept: rows of an erased subject were found and erased again',
  );
}

/**
 * `bakery.erasure.v1.TombstoneRegistry`: which of the given subjects were erased. Processes and operators
 * (every process asks before it accepts a user's token or writes an id; services/kit/tombstone-client.ts).
 * Who may ask is in mesh/caller-rules.ts.
 * The answer is a yes/no per subject: the raw ids are hashed here and never stored.
 */
export function tombstoneRegistry(deps: RpcDeps, tombstones: Tombstones, resurrections?: Resurrections, audit?: AuditSink): HostedService {
  const checkSubjects = unary<CheckSubjectsRequest, CheckSubjectsResponse>(deps, 'CheckSubjects', async (request, { principal }) => {
    requireNotUser(principal);
    if (request.subjects.length > MAX_SUBJECTS_PER_CHECK) {
      throw invalidArgument(`subjects holds ${request.subjects.length} entries; at most ${MAX_SUBJECTS_PER_CHECK} per call`);
    }
    const subjects = request.subjects.map((subject) => parseSubject(subject));
    const statuses = await tombstones.check(subjects);
    return { statuses: statuses.map((s) => ({ erased: s.erased, erasedAt: s.erasedAt, suspended: s.suspended })) };
  });

  const reportResurrections = unary<ReportResurrectionsRequest, ReportResurrectionsResponse>(
    deps,
    'ReportResurrections',
    async (request, { principal, log }) => {
      // The caller rules admit data services only; the service reported is always the caller itself.
      if (principal.kind !== 'service') throw permissionDenied('only a service reports what its sweep found');
      if (!resurrections) throw permissionDenied('this registry does not record resurrections');
      if (request.resurrections.length > MAX_SUBJECTS_PER_CHECK) {
        throw invalidArgument(`resurrections holds ${request.resurrections.length} entries; at most ${MAX_SUBJECTS_PER_CHECK} per call`);
      }
      const reports = request.resurrections.map((entry, i) => {
        const subject = parseSubject(entry.subject);
        const rows = Number(entry.rows);
        if (!Number.isSafeInteger(rows) || rows < 1) throw invalidArgument(`resurrections[${i}].rows must be a positive count`);
        const entities: Record<string, number> = {};
        for (const entity of entry.entities) entities[entity.entity] = (entities[entity.entity] ?? 0) + Number(entity.rows);
        return { ...subject, rows, entities };
      });
      const { recorded, notErased } = await resurrections.record(principal.service, reports);
      for (const resurrection of recorded) await announceResurrection(log, resurrection, audit);
      if (notErased) log.warn({ swept_service: principal.service, subjects: notErased }, 'a sweep reported subjects that have no tombstone; not recorded');
      return { recorded: recorded.length };
    },
  );
  return { name: TOMBSTONE_REGISTRY, definition: TombstoneRegistryService, implementation: { checkSubjects, reportResurrections } };
}
