import { DOMAIN_SERVICES } from './config';
import type { Phase, SubjectKind } from './store';

/**
 * The steps of a job, in order (DESIGN §5). Tenant: every domain service, then the tenant service
 * (memberships, subscription, tenant row). User: ownership resolved and memberships removed first, then
 * every domain service, then the tenant service and, last, the auth service (the user record).
 */
export function stepsFor(kind: SubjectKind): { name: string; phase: Phase }[] {
  const domain = DOMAIN_SERVICES.map((name) => ({ name, phase: 'domain' as const }));
  if (kind === 'tenant') return [...domain, { name: 'tenant', phase: 'identity' }];
  return [
    { name: 'ownership', phase: 'prepare' },
    { name: 'memberships', phase: 'prepare' },
    ...domain,
    { name: 'tenant', phase: 'identity' },
    { name: 'auth', phase: 'identity' },
  ];
}
