import type { ServiceMigration } from '../kit/service-definition';

export const migrations: ServiceMigration[] = [
  {
    name: '0001_notification',
    up: async ({ context: db }) => {
      await db.query(`
        CREATE TABLE notification_templates (
          id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
          tenant_id uuid NOT NULL,
          code text NOT NULL,
          channel text NOT NULL,
          locale text NOT NULL DEFAULT 'de-DE',
          subject text,
          body text NOT NULL,
          active boolean NOT NULL DEFAULT true,
          created_by uuid,
          updated_by uuid,
          created_at timestamptz NOT NULL DEFAULT now()
        );
        CREATE INDEX notification_templates_tenant_id_idx ON notification_templates (tenant_id);
        CREATE INDEX notification_templates_created_by_idx ON notification_templates (created_by);
        CREATE INDEX notification_templates_updated_by_idx ON notification_templates (updated_by);

        -- Owned by the user: a user erasure deletes these rows outright.
        CREATE TABLE notification_preferences (
          id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
          tenant_id uuid NOT NULL,
          user_id uuid NOT NULL,
          channel text NOT NULL,
          enabled boolean NOT NULL DEFAULT true,
          digest text NOT NULL DEFAULT 'immediate',
          quiet_hours_start time,
          quiet_hours_end time,
          updated_at timestamptz NOT NULL DEFAULT now()
        );
        CREATE INDEX notification_preferences_tenant_id_idx ON notification_preferences (tenant_id);
        CREATE INDEX notification_preferences_user_id_idx ON notification_preferences (user_id);

        -- The recipient is referenced, not owned: the notification stays (anonymized) for the tenant.
        CREATE TABLE notifications (
          id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
          tenant_id uuid NOT NULL,
          template_id uuid REFERENCES notification_templates (id),
          recipient_user_id uuid,
          channel text NOT NULL,
          priority text NOT NULL DEFAULT 'normal',
          subject text,
          body text NOT NULL,
          status text NOT NULL,
          scheduled_at timestamptz NOT NULL DEFAULT now(),
          created_at timestamptz NOT NULL DEFAULT now()
        );
        CREATE INDEX notifications_tenant_id_idx ON notifications (tenant_id);
        CREATE INDEX notifications_template_id_idx ON notifications (template_id);
        CREATE INDEX notifications_recipient_user_id_idx ON notifications (recipient_user_id);

        -- notification_deliveries carries no tenant_id: it is reached through its notification.
        CREATE TABLE notification_deliveries (
          id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
          notification_id uuid NOT NULL REFERENCES notifications (id),
          attempt integer NOT NULL,
          provider text NOT NULL,
          provider_message_id text,
          status text NOT NULL,
          error_message text,
          attempted_at timestamptz NOT NULL DEFAULT now()
        );
        CREATE INDEX notification_deliveries_notification_id_idx ON notification_deliveries (notification_id);
      `);
    },
    down: async ({ context: db }) => {
      await db.query(
        'DROP TABLE notification_deliveries; DROP TABLE notifications; DROP TABLE notification_preferences; ' +
          'DROP TABLE notification_templates;',
      );
    },
  },
];
