-- Delivery of notifications to Slack. A notification is 'pending' while no channel is
-- configured, 'queued' once a delivery job exists for it, then 'delivered', 'folded'
-- (merged into an earlier message) or 'failed'.
ALTER TABLE notifications
    ADD COLUMN channel           text,
    ADD COLUMN slack_ts          text,
    ADD COLUMN attempts          int NOT NULL DEFAULT 0,
    ADD COLUMN last_error        text NOT NULL DEFAULT '',
    ADD COLUMN delivered_at      timestamptz,
    ADD COLUMN folded_into       bigint REFERENCES notifications (id),
    ADD COLUMN folded            int NOT NULL DEFAULT 0,
    ADD COLUMN fold_key          text,
    ADD COLUMN first_response_at timestamptz,
    ADD COLUMN response_kind     text,
    ADD COLUMN tti_ms            bigint;
CREATE INDEX notifications_fold ON notifications (fold_key, delivered_at DESC) WHERE state = 'delivered';
CREATE INDEX notifications_message ON notifications (channel, slack_ts);

-- Every human intervention on a notification: who, what, when.
CREATE TABLE interventions (
    id              bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    notification_id bigint REFERENCES notifications (id),
    action_id       uuid REFERENCES actions (id),
    kind            text NOT NULL,
    slack_user      text NOT NULL DEFAULT '',
    person_id       text NOT NULL DEFAULT '',
    allowed         boolean NOT NULL DEFAULT true,
    note            text NOT NULL DEFAULT '',
    at              timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX interventions_action ON interventions (action_id, at);

-- Questions people ask about an action, readable by the agent.
CREATE TABLE questions (
    id         bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    action_id  uuid NOT NULL REFERENCES actions (id),
    asked_by   text NOT NULL,
    question   text NOT NULL,
    asked_at   timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX questions_action ON questions (action_id, asked_at);
