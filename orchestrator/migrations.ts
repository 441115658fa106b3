import type { ServiceMigration } from '../services/kit/service-definition';

/** The orchestrator's own database: jobs and their per-service steps, written before any work starts. */
export const migrations: ServiceMigration[] = [
  {
    name: '0001_erasure_jobs',
    up: async ({ context: db }) => {
      await db.query(`
        CREATE TABLE erasure_jobs (
          id uuid PRIMARY KEY,
          subject_kind text NOT NULL CHECK (subject_kind IN ('tenant', 'user')),
          subject_id uuid NOT NULL,
          status text NOT NULL CHECK (status IN ('PENDING', 'RUNNING', 'COMPLETED', 'FAILED', 'CANCELLED')),
          requested_by text NOT NULL,
          request_id text,
          -- who may read and steer the job besides services: the initiator and, for tenant jobs, the
          -- tenant's owners and admins at the time of the request (the tenant is gone afterwards)
          viewers uuid[] NOT NULL DEFAULT '{}',
          options jsonb NOT NULL DEFAULT '{}',
          parent_job_id uuid REFERENCES erasure_jobs (id),
          trace_id text NOT NULL,
          error text NOT NULL DEFAULT '',
          cancel_requested boolean NOT NULL DEFAULT false,
          lease_owner text,
          lease_until timestamptz,
          created_at timestamptz NOT NULL DEFAULT now(),
          started_at timestamptz,
          finished_at timestamptz,
          verified_at timestamptz
        );
        -- At most one open job per subject, guaranteed by the database.
        CREATE UNIQUE INDEX erasure_jobs_one_open_per_subject ON erasure_jobs (subject_kind, subject_id)
          WHERE status IN ('PENDING', 'RUNNING');
        -- The same request id always names the same job.
        CREATE UNIQUE INDEX erasure_jobs_request_id ON erasure_jobs (request_id) WHERE request_id IS NOT NULL;
        CREATE INDEX erasure_jobs_listing ON erasure_jobs (created_at DESC, id DESC);
        CREATE INDEX erasure_jobs_subject ON erasure_jobs (subject_kind, subject_id);
        CREATE INDEX erasure_jobs_parent ON erasure_jobs (parent_job_id);

        CREATE TABLE erasure_job_steps (
          job_id uuid NOT NULL REFERENCES erasure_jobs (id),
          name text NOT NULL,
          phase text NOT NULL CHECK (phase IN ('prepare', 'domain', 'identity')),
          position int NOT NULL,
          status text NOT NULL CHECK (status IN ('PENDING', 'RUNNING', 'RETRYING', 'SUCCEEDED', 'FAILED', 'CANCELLED')),
          attempts int NOT NULL DEFAULT 0,
          rows_deleted bigint NOT NULL DEFAULT 0,
          expected_rows bigint,
          entities jsonb NOT NULL DEFAULT '{}',
          last_error text NOT NULL DEFAULT '',
          started_at timestamptz,
          finished_at timestamptz,
          PRIMARY KEY (job_id, name)
        );
      `);
    },
    down: async ({ context: db }) => {
      await db.query('DROP TABLE erasure_job_steps; DROP TABLE erasure_jobs;');
    },
  },
  {
    name: '0002_job_trace_context_and_step_kinds',
    up: async ({ context: db }) => {
      await db.query(`
        -- The W3C traceparent of the job's root span: every run of the job (a resumed one on another
        -- replica too) continues it, so the whole job is one trace. Jobs recorded before have none;
        -- their runs join trace_id.
        ALTER TABLE erasure_jobs ADD COLUMN trace_parent text;

        -- What a step does, which picks its handler; declared with the steps (orchestrator/steps.ts).
        ALTER TABLE erasure_job_steps ADD COLUMN kind text;
        UPDATE erasure_job_steps SET kind = CASE name
          WHEN 'ownership' THEN 'resolve-ownership'
          WHEN 'memberships' THEN 'remove-memberships'
          ELSE 'erase-service' END;
        ALTER TABLE erasure_job_steps ALTER COLUMN kind SET NOT NULL,
          ADD CONSTRAINT erasure_job_steps_kind CHECK (kind IN ('erase-service', 'resolve-ownership', 'remove-memberships'));
      `);
    },
    down: async ({ context: db }) => {
      await db.query('ALTER TABLE erasure_job_steps DROP COLUMN kind; ALTER TABLE erasure_jobs DROP COLUMN trace_parent;');
    },
  },
  {
    name: '0003_retry_schedule_and_stall_watch',
    up: async ({ context: db }) => {
      await db.query(`
        -- When a step waiting between attempts tries again (retries are bounded by time, not count).
        ALTER TABLE erasure_job_steps ADD COLUMN next_attempt_at timestamptz;
        -- The watchdog (orchestrator/watchdog.ts): when a job last recorded progress, and since when
        -- it has been seen stalled (null while it moves).
        ALTER TABLE erasure_jobs ADD COLUMN last_progress_at timestamptz, ADD COLUMN stalled_since timestamptz;
        UPDATE erasure_jobs SET last_progress_at = coalesce(started_at, created_at) WHERE status IN ('PENDING', 'RUNNING');
        -- Open jobs in arrival order: what the watchdog and the run slots walk.
        CREATE INDEX erasure_jobs_open_by_arrival ON erasure_jobs (created_at, id) WHERE status IN ('PENDING', 'RUNNING');
      `);
    },
    down: async ({ context: db }) => {
      await db.query(`
        DROP INDEX erasure_jobs_open_by_arrival;
        ALTER TABLE erasure_jobs DROP COLUMN stalled_since, DROP COLUMN last_progress_at;
        ALTER TABLE erasure_job_steps DROP COLUMN next_attempt_at;
      `);
    },
  },
  {
    name: '0004_tombstones_and_caller_scoped_requests',
    up: async ({ context: db }) => {
      await db.query(`
        -- What is left of an erased subject: a keyed hash of its id (orchestrator/tombstones.ts), never
        -- the id. Asked through TombstoneRegistry.CheckSubjects before a token is accepted or an id written.
        CREATE TABLE erasure_tombstones (
          subject_ref text PRIMARY KEY,
          subject_kind text NOT NULL CHECK (subject_kind IN ('tenant', 'user')),
          key_version int NOT NULL,
          job_id uuid NOT NULL REFERENCES erasure_jobs (id),
          erased_at timestamptz NOT NULL DEFAULT now()
        );

        -- An idempotency key belongs to its caller: one caller cannot claim the key another will use.
        DROP INDEX erasure_jobs_request_id;
        CREATE UNIQUE INDEX erasure_jobs_request_id ON erasure_jobs (requested_by, request_id) WHERE request_id IS NOT NULL;
        CREATE INDEX erasure_jobs_open_by_caller ON erasure_jobs (requested_by) WHERE status IN ('PENDING', 'RUNNING');

        -- After a user erasure completes, their jobs keep the keyed hash instead of the id.
        ALTER TABLE erasure_jobs ADD COLUMN subject_ref text;
        ALTER TABLE erasure_jobs ALTER COLUMN subject_id DROP NOT NULL;
        ALTER TABLE erasure_jobs ADD CONSTRAINT erasure_jobs_subject CHECK (subject_id IS NOT NULL OR subject_ref IS NOT NULL);
        CREATE INDEX erasure_jobs_subject_ref ON erasure_jobs (subject_ref) WHERE subject_ref IS NOT NULL;
      `);
    },
    down: async ({ context: db }) => {
      await db.query(`
        DROP INDEX erasure_jobs_subject_ref;
        ALTER TABLE erasure_jobs DROP CONSTRAINT erasure_jobs_subject;
        ALTER TABLE erasure_jobs DROP COLUMN subject_ref;
        DROP INDEX erasure_jobs_open_by_caller;
        DROP INDEX erasure_jobs_request_id;
        CREATE UNIQUE INDEX erasure_jobs_request_id ON erasure_jobs (request_id) WHERE request_id IS NOT NULL;
        DROP TABLE erasure_tombstones;
      `);
    },
  },
  {
    name: '0005_audit_chain_and_certificates',
    up: async ({ context: db }) => {
      await db.query(`
        -- The audit chain (orchestrator/audit-chain.ts): one entry per lifecycle event, each holding the
        -- hash of the one before. Subjects appear only as keyed hashes (orchestrator/tombstones.ts).
        CREATE TABLE erasure_audit_log (
          seq bigint PRIMARY KEY,
          at timestamptz NOT NULL,
          kind text NOT NULL,
          job_id uuid,
          subject_ref text,
          key_version int,
          details jsonb NOT NULL DEFAULT '{}',
          prev_hash text NOT NULL,
          hash text NOT NULL
        );
        CREATE INDEX erasure_audit_log_job ON erasure_audit_log (job_id) WHERE job_id IS NOT NULL;
        -- The chain's head, one row: an append locks it FOR UPDATE in its own transaction, so appends
        -- from every replica are serialized and the chain never forks.
        CREATE TABLE erasure_audit_head (
          only_row boolean PRIMARY KEY DEFAULT true CHECK (only_row),
          seq bigint NOT NULL,
          hash text NOT NULL
        );
        INSERT INTO erasure_audit_head (seq, hash) VALUES (0, repeat('0', 64));
        -- Signed heads (JWS over seq, hash and time); each is also written outside the database.
        CREATE TABLE erasure_audit_signed_heads (
          seq bigint PRIMARY KEY,
          hash text NOT NULL,
          signed_at timestamptz NOT NULL,
          kid text NOT NULL,
          jws text NOT NULL
        );
        -- One deletion certificate per completed job (orchestrator/certificates.ts).
        CREATE TABLE erasure_certificates (
          job_id uuid PRIMARY KEY REFERENCES erasure_jobs (id),
          issued_at timestamptz NOT NULL,
          kid text NOT NULL,
          jws text NOT NULL
        );
        -- The policy fingerprint each service reported with its Delete result (stated by the certificate).
        ALTER TABLE erasure_job_steps ADD COLUMN policy_fingerprint text;

        -- Append-only for every role but the owner (the role that runs migrations); the runtime role
        -- also lacks the privileges (APPEND_ONLY_TABLES).
        CREATE FUNCTION erasure_refuse_rewrite() RETURNS trigger LANGUAGE plpgsql AS $fn$
        BEGIN
          IF current_user <> (SELECT pg_get_userbyid(relowner) FROM pg_class WHERE oid = TG_RELID) THEN
            RAISE EXCEPTION '% is append-only: % refused', TG_TABLE_NAME, TG_OP USING ERRCODE = 'insufficient_privilege';
          END IF;
          IF TG_OP = 'DELETE' THEN RETURN OLD; END IF;
          RETURN NEW;
        END
        $fn$;
        CREATE TRIGGER erasure_audit_log_append_only BEFORE UPDATE OR DELETE ON erasure_audit_log
          FOR EACH ROW EXECUTE FUNCTION erasure_refuse_rewrite();
        CREATE TRIGGER erasure_audit_log_no_truncate BEFORE TRUNCATE ON erasure_audit_log
          FOR EACH STATEMENT EXECUTE FUNCTION erasure_refuse_rewrite();
        CREATE TRIGGER erasure_audit_signed_heads_append_only BEFORE UPDATE OR DELETE ON erasure_audit_signed_heads
          FOR EACH ROW EXECUTE FUNCTION erasure_refuse_rewrite();
        CREATE TRIGGER erasure_audit_signed_heads_no_truncate BEFORE TRUNCATE ON erasure_audit_signed_heads
          FOR EACH STATEMENT EXECUTE FUNCTION erasure_refuse_rewrite();
        CREATE TRIGGER erasure_certificates_append_only BEFORE UPDATE OR DELETE ON erasure_certificates
          FOR EACH ROW EXECUTE FUNCTION erasure_refuse_rewrite();
        CREATE TRIGGER erasure_certificates_no_truncate BEFORE TRUNCATE ON erasure_certificates
          FOR EACH STATEMENT EXECUTE FUNCTION erasure_refuse_rewrite();
      `);
    },
    down: async ({ context: db }) => {
      await db.query(`
        ALTER TABLE erasure_job_steps DROP COLUMN policy_fingerprint;
        DROP TABLE erasure_certificates, erasure_audit_signed_heads, erasure_audit_head, erasure_audit_log;
        DROP FUNCTION erasure_refuse_rewrite();
      `);
    },
  },
  {
    name: '0006_grace_schedule_due_dates',
    up: async ({ context: db }) => {
      await db.query(`
        -- A job may wait out a grace period (SCHEDULED, orchestrator/store.ts) before it runs at purge_at.
        ALTER TABLE erasure_jobs DROP CONSTRAINT erasure_jobs_status_check;
        ALTER TABLE erasure_jobs ADD CONSTRAINT erasure_jobs_status_check
          CHECK (status IN ('SCHEDULED', 'PENDING', 'RUNNING', 'COMPLETED', 'FAILED', 'CANCELLED'));
        -- When the request was received and when it is due (one month later, GDPR Art. 12(3)); jobs
        -- recorded before were received when they were recorded.
        ALTER TABLE erasure_jobs ADD COLUMN received_at timestamptz, ADD COLUMN due_at timestamptz, ADD COLUMN purge_at timestamptz;
        UPDATE erasure_jobs SET received_at = created_at, due_at = created_at + interval '1 month';
        ALTER TABLE erasure_jobs ALTER COLUMN received_at SET NOT NULL, ALTER COLUMN received_at SET DEFAULT now(),
          -- received now (the default) is due one month from now
          ALTER COLUMN due_at SET NOT NULL, ALTER COLUMN due_at SET DEFAULT now() + interval '1 month',
          ADD CONSTRAINT erasure_jobs_scheduled_purge CHECK (status <> 'SCHEDULED' OR purge_at IS NOT NULL);
        -- A subject has at most one unfinished job, a scheduled one included: a second request attaches.
        DROP INDEX erasure_jobs_one_open_per_subject;
        CREATE UNIQUE INDEX erasure_jobs_one_open_per_subject ON erasure_jobs (subject_kind, subject_id)
          WHERE status IN ('SCHEDULED', 'PENDING', 'RUNNING');
        DROP INDEX erasure_jobs_open_by_caller;
        CREATE INDEX erasure_jobs_open_by_caller ON erasure_jobs (requested_by) WHERE status IN ('SCHEDULED', 'PENDING', 'RUNNING');
        -- The watchdog's backstop for scheduled jobs whose purge time passed.
        CREATE INDEX erasure_jobs_scheduled_purge_at ON erasure_jobs (purge_at) WHERE status = 'SCHEDULED';
      `);
    },
    down: async ({ context: db }) => {
      await db.query(`
        DROP INDEX erasure_jobs_scheduled_purge_at;
        DROP INDEX erasure_jobs_open_by_caller;
        CREATE INDEX erasure_jobs_open_by_caller ON erasure_jobs (requested_by) WHERE status IN ('PENDING', 'RUNNING');
        UPDATE erasure_jobs SET status = 'CANCELLED', error = 'grace period dropped by a schema downgrade', finished_at = now() WHERE status = 'SCHEDULED';
        DROP INDEX erasure_jobs_one_open_per_subject;
        CREATE UNIQUE INDEX erasure_jobs_one_open_per_subject ON erasure_jobs (subject_kind, subject_id) WHERE status IN ('SCHEDULED', 'PENDING', 'RUNNING');
        ALTER TABLE erasure_jobs DROP CONSTRAINT erasure_jobs_scheduled_purge;
        ALTER TABLE erasure_jobs DROP COLUMN purge_at, DROP COLUMN due_at, DROP COLUMN received_at;
        ALTER TABLE erasure_jobs DROP CONSTRAINT erasure_jobs_status_check;
        ALTER TABLE erasure_jobs ADD CONSTRAINT erasure_jobs_status_check CHECK (status IN ('PENDING', 'RUNNING', 'COMPLETED', 'FAILED', 'CANCELLED'));
      `);
    },
  },
  {
    name: '0007_resurrections',
    up: async ({ context: db }) => {
      await db.query(`
        -- Rows of erased subjects that a service's resurrection sweep found and erased again
        -- (services/kit/resurrection-sweep.ts): a late writer, a replayed queue, a restored backup.
        -- The subject is its tombstone's keyed hash, never the id.
        CREATE TABLE erasure_resurrections (
          id bigserial PRIMARY KEY,
          subject_kind text NOT NULL CHECK (subject_kind IN ('tenant', 'user')),
          subject_ref text NOT NULL REFERENCES erasure_tombstones (subject_ref),
          service text NOT NULL,
          rows bigint NOT NULL CHECK (rows > 0),
          entities jsonb NOT NULL DEFAULT '{}',
          found_at timestamptz NOT NULL DEFAULT now()
        );
        CREATE INDEX erasure_resurrections_subject ON erasure_resurrections (subject_ref);
      `);
    },
    down: async ({ context: db }) => {
      await db.query('DROP TABLE erasure_resurrections;');
    },
  },
  {
    name: '0008_retention_purge',
    up: async ({ context: db }) => {
      await db.query(`
        -- Runs of the retention purge (orchestrator/retention-purge.ts): erased tenants' retained rows
        -- whose retention period is over, removed by every service and verified. Holds no subject id.
        CREATE TABLE retention_purges (
          id uuid PRIMARY KEY,
          status text NOT NULL CHECK (status IN ('RUNNING', 'COMPLETED', 'FAILED')),
          trigger text NOT NULL CHECK (trigger IN ('schedule', 'operator')),
          requested_by text NOT NULL,
          services jsonb NOT NULL DEFAULT '[]',
          total_rows bigint NOT NULL DEFAULT 0,
          error text NOT NULL DEFAULT '',
          started_at timestamptz NOT NULL DEFAULT now(),
          finished_at timestamptz,
          verified_at timestamptz
        );
        CREATE INDEX retention_purges_started ON retention_purges (started_at DESC);
      `);
    },
    down: async ({ context: db }) => {
      await db.query('DROP TABLE retention_purges;');
    },
  },
  {
    name: '0009_exports',
    up: async ({ context: db }) => {
      await db.query(`
        -- An export job (orchestrator/export/) runs on the same machinery as an erasure job; a subject
        -- may have one open job of each kind (export_first runs the export inside the erasure job).
        ALTER TABLE erasure_jobs ADD COLUMN job_kind text NOT NULL DEFAULT 'erasure' CHECK (job_kind IN ('erasure', 'export'));
        DROP INDEX erasure_jobs_one_open_per_subject;
        CREATE UNIQUE INDEX erasure_jobs_one_open_per_subject ON erasure_jobs (job_kind, subject_kind, subject_id)
          WHERE status IN ('SCHEDULED', 'PENDING', 'RUNNING');
        ALTER TABLE erasure_job_steps DROP CONSTRAINT erasure_job_steps_phase_check,
          ADD CONSTRAINT erasure_job_steps_phase_check CHECK (phase IN ('export', 'seal', 'prepare', 'domain', 'identity'));
        ALTER TABLE erasure_job_steps DROP CONSTRAINT erasure_job_steps_kind,
          ADD CONSTRAINT erasure_job_steps_kind CHECK (kind IN ('erase-service', 'resolve-ownership', 'remove-memberships', 'export-service', 'seal-archive'));

        -- One archive per export job: encrypted to the requester's public key (recipient, a public JWK),
        -- sealed by a manifest signed with the orchestrator's key, deleted by the sweep after expires_at.
        CREATE TABLE export_archives (
          job_id uuid PRIMARY KEY REFERENCES erasure_jobs (id),
          recipient jsonb NOT NULL,
          manifest_jws text,
          manifest_sha256 text,
          size_bytes bigint NOT NULL DEFAULT 0,
          sealed_at timestamptz,
          expires_at timestamptz,
          deleted_at timestamptz,
          created_at timestamptz NOT NULL DEFAULT now()
        );
        CREATE INDEX export_archives_expiry ON export_archives (expires_at) WHERE deleted_at IS NULL AND expires_at IS NOT NULL;
        -- One file per service and entity: its content key wrapped to the recipient (a JWE), the
        -- SHA-256 of the plaintext (what the manifest signs) and of the stored ciphertext (checked at seal).
        CREATE TABLE export_files (
          job_id uuid NOT NULL REFERENCES export_archives (job_id),
          name text NOT NULL,
          service text NOT NULL,
          entity text NOT NULL,
          rows bigint NOT NULL,
          bytes bigint NOT NULL,
          sha256 text NOT NULL,
          cipher_sha256 text NOT NULL,
          chunks int NOT NULL,
          wrapped_key text NOT NULL,
          PRIMARY KEY (job_id, name)
        );
        CREATE TABLE export_chunks (
          job_id uuid NOT NULL REFERENCES export_archives (job_id),
          name text NOT NULL,
          seq int NOT NULL,
          data bytea NOT NULL,
          PRIMARY KEY (job_id, name, seq)
        );
      `);
    },
    down: async ({ context: db }) => {
      await db.query(`
        DROP TABLE export_chunks; DROP TABLE export_files; DROP TABLE export_archives;
        DELETE FROM erasure_job_steps WHERE kind IN ('export-service', 'seal-archive');
        ALTER TABLE erasure_job_steps DROP CONSTRAINT erasure_job_steps_kind,
          ADD CONSTRAINT erasure_job_steps_kind CHECK (kind IN ('erase-service', 'resolve-ownership', 'remove-memberships'));
        ALTER TABLE erasure_job_steps DROP CONSTRAINT erasure_job_steps_phase_check,
          ADD CONSTRAINT erasure_job_steps_phase_check CHECK (phase IN ('prepare', 'domain', 'identity'));
        DROP INDEX erasure_jobs_one_open_per_subject;
        CREATE UNIQUE INDEX erasure_jobs_one_open_per_subject ON erasure_jobs (subject_kind, subject_id) WHERE status IN ('SCHEDULED', 'PENDING', 'RUNNING');
        ALTER TABLE erasure_jobs DROP COLUMN job_kind;
      `);
    },
  },
  {
    name: '0010_customer_subjects',
    up: async ({ context: db }) => {
      await db.query(`
        -- A customer of one tenant is a third kind of subject (orchestrator/customers.ts). Its job keeps
        -- no raw identifier: subject_id stays NULL, subject_ref is the keyed hash of (tenant, identifier
        -- kind, normalized identifier), and the identifier the services must be sent lives only
        -- encrypted in subject_sealed while the job is open.
        ALTER TABLE erasure_jobs DROP CONSTRAINT erasure_jobs_subject_kind_check;
        ALTER TABLE erasure_jobs ADD CONSTRAINT erasure_jobs_subject_kind_check CHECK (subject_kind IN ('tenant', 'user', 'customer'));
        ALTER TABLE erasure_jobs ADD COLUMN subject_sealed text;
        ALTER TABLE erasure_jobs ADD CONSTRAINT erasure_jobs_customer_subject
          CHECK (subject_kind <> 'customer' OR (subject_id IS NULL AND subject_ref IS NOT NULL));
        -- One open job per customer subject (the subject index above keys on subject_id, NULL here).
        CREATE UNIQUE INDEX erasure_jobs_one_open_per_customer ON erasure_jobs (job_kind, subject_ref)
          WHERE subject_kind = 'customer' AND status IN ('SCHEDULED', 'PENDING', 'RUNNING', 'AWAITING_APPROVAL', 'ON_HOLD');
        -- Wiped when the job ends, whichever code path ends it: afterwards only the hash is left.
        CREATE FUNCTION erasure_jobs_wipe_sealed_subject() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN
          IF NEW.status IN ('COMPLETED', 'FAILED', 'CANCELLED', 'REJECTED') THEN
            NEW.subject_sealed := NULL;
          END IF;
          RETURN NEW;
        END $$;
        CREATE TRIGGER erasure_jobs_wipe_sealed_subject BEFORE INSERT OR UPDATE ON erasure_jobs
          FOR EACH ROW WHEN (NEW.subject_sealed IS NOT NULL) EXECUTE FUNCTION erasure_jobs_wipe_sealed_subject();
      `);
    },
    down: async ({ context: db }) => {
      await db.query(`
        DROP TRIGGER erasure_jobs_wipe_sealed_subject ON erasure_jobs;
        DROP FUNCTION erasure_jobs_wipe_sealed_subject();
        DROP INDEX erasure_jobs_one_open_per_customer;
        UPDATE erasure_jobs SET status = 'CANCELLED', error = 'customer subjects dropped by a schema downgrade', finished_at = now()
          WHERE subject_kind = 'customer' AND status IN ('SCHEDULED', 'PENDING', 'RUNNING', 'AWAITING_APPROVAL', 'ON_HOLD');
        ALTER TABLE erasure_jobs DROP CONSTRAINT erasure_jobs_customer_subject;
        ALTER TABLE erasure_jobs DROP COLUMN subject_sealed;
        -- The subject_kind CHECK keeps 'customer': finished customer jobs (hashes only) stay on record.
      `);
    },
  },
  {
    name: '0011_legal_holds',
    up: async ({ context: db }) => {
      await db.query(`
        ${addStatus('erasure_jobs', 'erasure_jobs_status_check', 'ON_HOLD')}
        ${addStatus('erasure_job_steps', 'erasure_job_steps_status_check', 'ON_HOLD')}
        -- An ON_HOLD job has not ended: the subject's next request attaches to it.
        ${addIndexStatus('erasure_jobs_one_open_per_subject', 'ON_HOLD')}
        -- The holds that stopped the job or kept part of it (all of them, over its life), what they kept
        -- (HeldPart), and whether a hold was placed while it ran (its runner stops between chunks).
        ALTER TABLE erasure_jobs ADD COLUMN hold_ids uuid[] NOT NULL DEFAULT '{}',
          ADD COLUMN held jsonb NOT NULL DEFAULT '[]',
          ADD COLUMN hold_requested boolean NOT NULL DEFAULT false;

        -- Legal holds (orchestrator/holds.ts). A subject is named by its keyed hash, as in the audit
        -- chain; a tenant (a bakery, not a person) also by its id, which the retention purge sends to
        -- the services. A user's id is never stored here. placed_by/released_by are keyed hashes.
        CREATE TABLE legal_holds (
          id uuid PRIMARY KEY,
          subject_kind text NOT NULL,
          subject_ref text NOT NULL,
          tenant_id uuid,
          services text[] NOT NULL DEFAULT '{}',
          entities text[] NOT NULL DEFAULT '{}',
          reason text NOT NULL CHECK (length(reason) BETWEEN 1 AND 500),
          placed_by text NOT NULL,
          placed_at timestamptz NOT NULL DEFAULT now(),
          ends_at timestamptz,
          status text NOT NULL DEFAULT 'ACTIVE' CHECK (status IN ('ACTIVE', 'RELEASED', 'EXPIRED')),
          released_by text,
          released_at timestamptz,
          CHECK (subject_kind <> 'tenant' OR tenant_id IS NOT NULL)
        );
        CREATE INDEX legal_holds_active ON legal_holds (subject_ref) WHERE status = 'ACTIVE';
        CREATE INDEX legal_holds_listing ON legal_holds (placed_at DESC, id DESC);
      `);
    },
    down: async ({ context: db }) => {
      await db.query(`
        DROP TABLE legal_holds;
        ALTER TABLE erasure_jobs DROP COLUMN hold_ids, DROP COLUMN held, DROP COLUMN hold_requested;
      `);
    },
  },
  {
    name: '0012_approvals_and_deadline_extensions',
    up: async ({ context: db }) => {
      await db.query(`
        -- Four-eyes approval (orchestrator/approvals.ts): a job may wait AWAITING_APPROVAL for a second
        -- person, who approves it (it goes on) or rejects it (REJECTED, nothing deleted). A waiting job is
        -- unfinished: the subject's one unfinished job, counted against its requester's open-job limit.
        -- Statuses are added to what the CHECK and the indexes allow (other migrations add theirs).
        ${addStatus('erasure_jobs', 'erasure_jobs_status_check', 'AWAITING_APPROVAL')}
        ${addStatus('erasure_jobs', 'erasure_jobs_status_check', 'REJECTED')}
        ${addIndexStatus('erasure_jobs_one_open_per_subject', 'AWAITING_APPROVAL')}
        ${addIndexStatus('erasure_jobs_open_by_caller', 'AWAITING_APPROVAL')}
        -- Who approved or rejected (a keyed pseudonym, as in the audit chain) and when.
        ALTER TABLE erasure_jobs ADD COLUMN approval_required boolean NOT NULL DEFAULT false,
          ADD COLUMN approved_by text, ADD COLUMN approved_at timestamptz,
          -- A deadline extension (GDPR Art. 12(3)): the first due date and the latest reason.
          ADD COLUMN original_due_at timestamptz, ADD COLUMN due_extension_reason text;
        -- ListJobs by due date (ORDER BY due_at, id).
        CREATE INDEX erasure_jobs_due ON erasure_jobs (due_at, id);
      `);
    },
    down: async ({ context: db }) => {
      await db.query(`
        DROP INDEX erasure_jobs_due;
        UPDATE erasure_jobs SET status = 'CANCELLED', error = 'approval dropped by a schema downgrade', finished_at = now() WHERE status = 'AWAITING_APPROVAL';
        UPDATE erasure_jobs SET status = 'CANCELLED' WHERE status = 'REJECTED';
        ALTER TABLE erasure_jobs DROP COLUMN approval_required, DROP COLUMN approved_by, DROP COLUMN approved_at,
          DROP COLUMN original_due_at, DROP COLUMN due_extension_reason;
        DROP INDEX erasure_jobs_open_by_caller;
        CREATE INDEX erasure_jobs_open_by_caller ON erasure_jobs (requested_by) WHERE status IN ('SCHEDULED', 'PENDING', 'RUNNING');
        DROP INDEX erasure_jobs_one_open_per_subject;
        CREATE UNIQUE INDEX erasure_jobs_one_open_per_subject ON erasure_jobs (job_kind, subject_kind, subject_id)
          WHERE status IN ('SCHEDULED', 'PENDING', 'RUNNING');
        ALTER TABLE erasure_jobs DROP CONSTRAINT erasure_jobs_status_check;
        ALTER TABLE erasure_jobs ADD CONSTRAINT erasure_jobs_status_check
          CHECK (status IN ('SCHEDULED', 'PENDING', 'RUNNING', 'COMPLETED', 'FAILED', 'CANCELLED'));
      `);
    },
  },
  {
    name: '0013_webhook_outbox',
    up: async ({ context: db }) => {
      await db.query(`
        -- Notifications by webhook (orchestrator/webhooks.ts): one row per event and URL, written in the
        -- transaction of the status change it reports, sent by the delivery worker until a 2xx answers.
        -- The body is the exact JSON sent on every attempt (no subject id, no personal data).
        CREATE TABLE webhook_outbox (
          id bigserial PRIMARY KEY,
          event_id uuid NOT NULL,
          url text NOT NULL,
          job_id uuid NOT NULL REFERENCES erasure_jobs (id),
          status text NOT NULL,
          body text NOT NULL,
          created_at timestamptz NOT NULL DEFAULT now(),
          attempts int NOT NULL DEFAULT 0,
          next_attempt_at timestamptz NOT NULL DEFAULT now(),
          last_attempt_at timestamptz,
          last_status int,
          last_error text NOT NULL DEFAULT '',
          delivered_at timestamptz,
          UNIQUE (event_id, url)
        );
        CREATE INDEX webhook_outbox_due ON webhook_outbox (next_attempt_at, id) WHERE delivered_at IS NULL;
        CREATE INDEX webhook_outbox_job ON webhook_outbox (job_id);
      `);
    },
    down: async ({ context: db }) => {
      await db.query('DROP TABLE webhook_outbox;');
    },
  },
];

/**
 * SQL that adds one value to a status CHECK constraint, whatever values it already allows (read from
 * the catalog), so migrations that each add their own status apply in any order.
 */
function addStatus(table: string, constraint: string, value: string): string {
  return `DO $$ DECLARE def text; BEGIN
    SELECT pg_get_constraintdef(oid) INTO def FROM pg_constraint WHERE conrelid = '${table}'::regclass AND conname = '${constraint}';
    IF strpos(def, '''${value}''') = 0 THEN
      EXECUTE format('ALTER TABLE ${table} DROP CONSTRAINT ${constraint}, ADD CONSTRAINT ${constraint} %s', replace(def, 'ARRAY[', 'ARRAY[''${value}''::text, '));
    END IF;
  END $$;`;
}

/** SQL that adds one status value to a partial index's `status IN (…)` predicate, as addStatus does. */
function addIndexStatus(index: string, value: string): string {
  return `DO $$ DECLARE def text; BEGIN
    SELECT pg_get_indexdef(oid) INTO def FROM pg_class WHERE relname = '${index}';
    IF strpos(def, '''${value}''') = 0 THEN
      EXECUTE 'DROP INDEX ${index}';
      EXECUTE replace(def, 'ARRAY[', 'ARRAY[''${value}''::text, ');
    END IF;
  END $$;`;
}

/**
 * Tables the orchestrator's runtime role may only read and insert into (mesh/provision.ts): nothing that
 * runs jobs can rewrite what proves an erasure happened. Tombstones are never updated — a key rotation
 * adds a version, it does not re-hash. The audit chain, its signed heads and the certificates
 * (migration 0005) also refuse UPDATE, DELETE and TRUNCATE by trigger to every role but their owner.
 */
export const APPEND_ONLY_TABLES: readonly string[] = ['erasure_tombstones', 'erasure_audit_log', 'erasure_audit_signed_heads', 'erasure_certificates'];
