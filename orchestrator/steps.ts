import { ALL_SERVICES, DOMAIN_SERVICES } from './config';

/** A tenant, a user, or a customer of one tenant (orchestrator/customers.ts). */
export type SubjectKind = 'tenant' | 'user' | 'customer';
/** Steps run phase by phase: a phase starts when every step of the one before succeeded. */
export type Phase = 'export' | 'seal' | 'prepare' | 'domain' | 'identity';
/** An export (a job of its own, or an erasure's `export_first`) comes before anything is erased. */
export const PHASES: readonly Phase[] = ['export', 'seal', 'prepare', 'domain', 'identity'];

/**
 * What a step does, which picks its handler (orchestrator/step-handlers.ts):
 * - `erase-service`: Preview and Delete on the service named by the step;
 * - `resolve-ownership`: hand over or erase the tenants a user owns (orchestrator/ownership.ts);
 * - `remove-memberships`: remove the user from every tenant;
 * - `export-service`: Export from the service named by the step into the job's archive (orchestrator/export/);
 * - `seal-archive`: check the archive's files and sign its manifest.
 */
export type StepKind = 'erase-service' | 'resolve-ownership' | 'remove-memberships' | 'export-service' | 'seal-archive';
export const STEP_KINDS: readonly StepKind[] = ['erase-service', 'resolve-ownership', 'remove-memberships', 'export-service', 'seal-archive'];

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
  // A bakery's customer is in the domain services only; the identity services hold no customer.
  if (subject === 'customer') return domain;
  return [
    { name: 'ownership', phase: 'prepare', kind: 'resolve-ownership' },
    { name: 'memberships', phase: 'prepare', kind: 'remove-memberships' },
    ...domain,
    erase('tenant', 'identity'),
    erase('auth', 'identity'),
  ];
}

/** The steps that build a subject's archive: every service's export in parallel, then the seal. */
export function exportSteps(): StepDeclaration[] {
  return [...ALL_SERVICES.map((name): StepDeclaration => ({ name: `export:${name}`, phase: 'export', kind: 'export-service' })), { name: 'seal', phase: 'seal', kind: 'seal-archive' }];
}
