-- Escalation of notifications that need an answer: one chain per action, started from
-- its primary notification; each step is taken once (step advances atomically).
CREATE TABLE escalations (
    notification_id bigint PRIMARY KEY REFERENCES notifications (id),
    action_id       uuid NOT NULL REFERENCES actions (id),
    policy          text NOT NULL,
    step            int NOT NULL DEFAULT 0,
    state           text NOT NULL DEFAULT 'running' CHECK (state IN ('running', 'answered', 'exhausted')),
    started_at      timestamptz NOT NULL,
    ended_at        timestamptz
);
CREATE UNIQUE INDEX escalations_action ON escalations (action_id);

-- Every escalation step taken: whom it told.
CREATE TABLE escalation_steps (
    id              bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    notification_id bigint NOT NULL REFERENCES escalations (notification_id),
    step            int NOT NULL,
    notify          text NOT NULL,
    told            text[] NOT NULL,
    at              timestamptz NOT NULL DEFAULT now(),
    UNIQUE (notification_id, step)
);
