import { DOMAIN_SERVICES } from './config';

export type SubjectKind = 'tenant' | 'user';
/** Steps run phase by phase: a phase starts when every step of the one before succeeded. */
export type Phase = 'prepare' | 'domain' | 'identity';
export const PHASES: readonly Phase[] = ['prepare', 'domain', 'identity'];

/**
 * What a step does, which picks its handler (orchestrator/step-handlers.ts):
 * - `erase-service`: Preview and Delete on the service named by the step;
 * - `resolve-ownership`: hand over or erase the tenants a user owns (orchestrator/ownership.ts);
 * - `remove-memberships`: remove the user from every tenant.
 */
export type StepKind = 'erase-service' | 'resolve-ownership' | 'remove-memberships';
export const STEP_KINDS: readonly StepKind[] = ['erase-service', 'resolve-ownership', 'remove-memberships'];

export interface StepDeclaration {
  /** The service erased, or the name of a preparation step. */
  name: string;
  phase: Phase;
  kind: StepKind;
}

/**
 * The steps of a job, in order. Tenant: every domain service, then the tenant service (memberships,
 * subscription, tenant row). User: ownership resolved and memberships removed first, then every
 * domain service, then the tenant service and, last, the auth service (the user record).
 */
export function stepsFor(subject: SubjectKind): StepDeclaration[] {
  const erase = (name: string, phase: Phase): StepDeclaration => ({ name, phase, kind: 'erase-service' });
  const domain = DOMAIN_SERVICES.map((name) => erase(name, 'domain'));
  if (subject === 'tenant') return [...domain, erase('tenant', 'identity')];
  return [
    { name: 'ownership', phase: 'prepare', kind: 'resolve-ownership' },
    { name: 'memberships', phase: 'prepare', kind: 'remove-memberships' },
    ...domain,
    erase('tenant', 'identity'),
    erase('auth', 'identity'),
  ];
}
