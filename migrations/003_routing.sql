-- Failed actions by time, to warm routing's track record at start.
CREATE INDEX actions_failed ON actions (result_at) WHERE result_status = 'failed';

-- Feedback on notifications: was it relevant to the person told? Kept per rule through
-- the notification's action.
CREATE TABLE notification_feedback (
    id              bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    notification_id bigint NOT NULL REFERENCES notifications (id),
    relevant        boolean NOT NULL,
    given_by        text NOT NULL,
    given_at        timestamptz NOT NULL DEFAULT now(),
    UNIQUE (notification_id, given_by)
);

-- "Should have been notified": false negatives, per action (and so per rule).
CREATE TABLE routing_misses (
    id        bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    action_id uuid NOT NULL REFERENCES actions (id),
    who       text NOT NULL,
    note      text NOT NULL DEFAULT '',
    given_by  text NOT NULL,
    given_at  timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX routing_misses_action ON routing_misses (action_id);
