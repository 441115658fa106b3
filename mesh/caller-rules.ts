/**
 * Caller rules: who may call each RPC of the mesh, in one table next to the service catalog. The kit's
 * rpc layer (services/kit/rpc.ts) applies it right after authentication, before any handler runs; a
 * server refuses to start when it serves a method this table does not name (services/kit/server.ts).
 *
 * A rule admits service identities by name, operators (operator tokens), users (user tokens; the
 * handler then checks what the user may do, e.g. tenant membership or "only themself"), or anyone
 * without a token (`public`). Anything not admitted is PERMISSION_DENIED with nothing changed.
 */
import { AUTH_SERVICE, DATA_SERVICES, DELETION_ORCHESTRATOR, PROCESS_NAMES, TENANT_DATA_DELETION, TENANT_SERVICE, TOMBSTONE_REGISTRY } from './catalog';

export interface CallerRule {
  /** Service identities (token issuer = subject) that may call. */
  readonly services?: readonly string[];
  /** Whether operator tokens may call. */
  readonly operators?: boolean;
  /** Whether user tokens may call (the handler authorizes further). */
  readonly users?: boolean;
  /** No token needed at all (Login). */
  readonly public?: boolean;
}

/**
 * The identities that onboard users (CreateUser). No process of the mesh creates users today; a
 * deployment's sign-up front end runs as `onboarding` (its key is provisioned like any other).
 */
export const ONBOARDING_IDENTITIES: readonly string[] = ['onboarding'];

const ORCHESTRATOR: readonly string[] = ['orchestrator'];

export const CALLER_RULES: Readonly<Record<string, CallerRule>> = {
  // Erasing is the orchestrator's alone: every erasure has a job, an audit entry and a verification.
  [`${TENANT_DATA_DELETION}/Delete`]: { services: ORCHESTRATOR },
  [`${TENANT_DATA_DELETION}/Preview`]: { services: ORCHESTRATOR, operators: true },
  // Purging expired retained rows is an audited orchestrator job too (orchestrator/retention-purge.ts).
  [`${TENANT_DATA_DELETION}/PurgeExpired`]: { services: ORCHESTRATOR },
  // A copy of a subject's data leaves only inside an orchestrator export job (signed, encrypted archive).
  [`${TENANT_DATA_DELETION}/Export`]: { services: ORCHESTRATOR },

  // Every process asks the registry whether an id was erased.
  [`${TOMBSTONE_REGISTRY}/CheckSubjects`]: { services: PROCESS_NAMES, operators: true },
  // Each data service reports what its own resurrection sweep found (services/kit/resurrection-sweep.ts).
  [`${TOMBSTONE_REGISTRY}/ReportResurrections`]: { services: DATA_SERVICES },

  [`${TENANT_SERVICE}/CreateTenant`]: { users: true, operators: true },
  [`${TENANT_SERVICE}/GetTenant`]: { users: true, operators: true, services: ORCHESTRATOR },
  [`${TENANT_SERVICE}/AddMember`]: { users: true, operators: true },
  [`${TENANT_SERVICE}/ListMembers`]: { users: true, operators: true, services: ORCHESTRATOR },
  // The orchestrator reads a tenant's admins to authorize erasures and to pick an heir.
  [`${TENANT_SERVICE}/GetTenantAdmins`]: { users: true, operators: true, services: ORCHESTRATOR },
  // An owner hands over; the orchestrator hands over for an owner being erased.
  [`${TENANT_SERVICE}/TransferOwnership`]: { users: true, services: ORCHESTRATOR },
  // Tenant state and memberships change only inside an orchestrator job.
  [`${TENANT_SERVICE}/DeleteUserMemberships`]: { services: ORCHESTRATOR },
  [`${TENANT_SERVICE}/BeginTenantDeletion`]: { services: ORCHESTRATOR },
  [`${TENANT_SERVICE}/CancelTenantDeletion`]: { services: ORCHESTRATOR },
  [`${TENANT_SERVICE}/ListUserMemberships`]: { users: true, operators: true, services: ORCHESTRATOR },
  // Every tenant at once is an operator's view (erasure tenants), not a user's.
  [`${TENANT_SERVICE}/ListTenants`]: { operators: true },

  [`${AUTH_SERVICE}/CreateUser`]: { services: ONBOARDING_IDENTITIES, operators: true },
  [`${AUTH_SERVICE}/GetUser`]: { users: true, operators: true },
  [`${AUTH_SERVICE}/Login`]: { public: true },

  // Users (authorized per job and subject by orchestrator/authorization.ts) and operators.
  [`${DELETION_ORCHESTRATOR}/PreviewTenantDeletion`]: { users: true, operators: true },
  [`${DELETION_ORCHESTRATOR}/DeleteTenant`]: { users: true, operators: true },
  [`${DELETION_ORCHESTRATOR}/DeleteUser`]: { users: true, operators: true },
  // A bakery's customer: the tenant's owners and admins (checked per tenant by the handler) and operators.
  [`${DELETION_ORCHESTRATOR}/DeleteCustomer`]: { users: true, operators: true },
  [`${DELETION_ORCHESTRATOR}/PreviewCustomerDeletion`]: { users: true, operators: true },
  [`${DELETION_ORCHESTRATOR}/WatchJob`]: { users: true, operators: true },
  [`${DELETION_ORCHESTRATOR}/GetJob`]: { users: true, operators: true },
  [`${DELETION_ORCHESTRATOR}/ListJobs`]: { users: true, operators: true },
  [`${DELETION_ORCHESTRATOR}/CancelJob`]: { users: true, operators: true },
  [`${DELETION_ORCHESTRATOR}/RetryJob`]: { users: true, operators: true },
  // As GetJob: operators, and users who may see the job (its initiator, the tenant's admins, the erased user).
  [`${DELETION_ORCHESTRATOR}/GetCertificate`]: { users: true, operators: true },
  // Public knowledge, but asked with a token like every other read (the JWKS file needs none).
  [`${DELETION_ORCHESTRATOR}/GetPublicKeys`]: { users: true, operators: true },
  // A retention purge on demand is an operator's (it also runs daily by itself).
  [`${DELETION_ORCHESTRATOR}/PurgeExpiredRetention`]: { operators: true },
  // A tenant's owners and admins (checked per tenant by the handler) and operators restore a tenant;
  // a user in grace cannot log in, so operators restore them.
  [`${DELETION_ORCHESTRATOR}/RestoreTenant`]: { users: true, operators: true },
  [`${DELETION_ORCHESTRATOR}/RestoreUser`]: { operators: true },
  // Exports: tenant owners and admins, the user themself (orchestrator/authorization.ts), operators.
  [`${DELETION_ORCHESTRATOR}/ExportTenant`]: { users: true, operators: true },
  [`${DELETION_ORCHESTRATOR}/ExportUser`]: { users: true, operators: true },
  [`${DELETION_ORCHESTRATOR}/GetExport`]: { users: true, operators: true },
  [`${DELETION_ORCHESTRATOR}/DownloadExport`]: { users: true, operators: true },
  // Four-eyes approval: whoever may request the erasure, but not its requester (orchestrator/approvals.ts).
  [`${DELETION_ORCHESTRATOR}/ApproveJob`]: { users: true, operators: true },
  [`${DELETION_ORCHESTRATOR}/RejectJob`]: { users: true, operators: true },
  // Extending a legal deadline is an operator's decision, with a reason.
  [`${DELETION_ORCHESTRATOR}/ExtendDeadline`]: { operators: true },
  // Legal holds are the privacy team's (orchestrator/holds.ts): operators only.
  [`${DELETION_ORCHESTRATOR}/PlaceHold`]: { operators: true },
  [`${DELETION_ORCHESTRATOR}/ReleaseHold`]: { operators: true },
  [`${DELETION_ORCHESTRATOR}/ListHolds`]: { operators: true },
};

/** The rule of a fully qualified method (`package.Service/Method`, no leading slash), if any. */
export function callerRule(method: string): CallerRule | undefined {
  return Object.hasOwn(CALLER_RULES, method) ? CALLER_RULES[method] : undefined;
}
