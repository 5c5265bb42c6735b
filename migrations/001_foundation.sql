-- Actors: agents declared in config, plus humans and systems that report actions through
-- the admin token. The run state (paused or not) lives here; state_version increases on
-- every change so long-polling agents can ask "anything new since version N?".
CREATE TABLE actors (
    id            text PRIMARY KEY,
    type          text NOT NULL CHECK (type IN ('agent', 'human', 'system')),
    team          text,
    trust         text NOT NULL DEFAULT 'new' CHECK (trust IN ('new', 'trusted', 'restricted')),
    -- false once an agent has been removed from config: its tokens stop working.
    declared      boolean NOT NULL DEFAULT true,
    paused        boolean NOT NULL DEFAULT false,
    paused_by     text,
    pause_reason  text,
    paused_at     timestamptz,
    state_version bigint NOT NULL DEFAULT 1,
    created_at    timestamptz NOT NULL DEFAULT now(),
    updated_at    timestamptz NOT NULL DEFAULT now()
);

-- Every pause and resume, for the audit trail and TTI.
CREATE TABLE actor_state_changes (
    id         bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    actor_id   text NOT NULL REFERENCES actors (id),
    paused     boolean NOT NULL,
    changed_by text NOT NULL,
    reason     text NOT NULL DEFAULT '',
    version    bigint NOT NULL,
    changed_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX actor_state_changes_actor ON actor_state_changes (actor_id, changed_at DESC);

-- Bearer tokens for agents. Only a SHA-256 of the secret part is stored; the token's id
-- (its public prefix) finds the row.
CREATE TABLE agent_tokens (
    id         text PRIMARY KEY,
    actor_id   text NOT NULL REFERENCES actors (id),
    secret_sha bytea NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now(),
    revoked_at timestamptz
);
CREATE INDEX agent_tokens_actor ON agent_tokens (actor_id) WHERE revoked_at IS NULL;

-- Actions: the activity stream. seq orders the stream (newest first) and backs cursors;
-- id is the public identifier. answer is exactly what the first request was told, so an
-- idempotent replay can return it unchanged.
CREATE TABLE actions (
    seq             bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    id              uuid NOT NULL UNIQUE,
    actor_id        text NOT NULL REFERENCES actors (id),
    idempotency_key text,
    request_sha     bytea NOT NULL,
    type            text NOT NULL,
    summary         text NOT NULL,
    resources       jsonb NOT NULL,
    resource_keys   text[] NOT NULL,
    environment     text NOT NULL DEFAULT '',
    reversibility   text NOT NULL,
    params          jsonb,
    session         text NOT NULL DEFAULT '',
    occurred_at     timestamptz NOT NULL,
    recorded_at     timestamptz NOT NULL DEFAULT now(),
    status          text NOT NULL,
    path            text NOT NULL,
    urgency         text NOT NULL,
    rule            text NOT NULL,
    reasons         text[] NOT NULL,
    targets         jsonb NOT NULL,
    teams           text[] NOT NULL,
    answer          json NOT NULL, -- json, not jsonb: replays must return the very same bytes
    result_status   text,
    result_error    text,
    failure_mode    text,
    duration_ms     bigint,
    result          jsonb,
    result_at       timestamptz,
    UNIQUE (actor_id, idempotency_key)
);
CREATE INDEX actions_actor ON actions (actor_id, seq DESC);
CREATE INDEX actions_type ON actions (type, seq DESC);
CREATE INDEX actions_resource_keys ON actions USING gin (resource_keys);
CREATE INDEX actions_teams ON actions USING gin (teams);

-- Notifications: one signal to one target about one action. They are written in the same
-- transaction as the action (a transactional outbox) and wait here, durably, until a
-- delivery channel such as Slack takes them.
CREATE TABLE notifications (
    id           bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    action_id    uuid NOT NULL REFERENCES actions (id),
    target_kind  text NOT NULL,
    target_id    text NOT NULL,
    urgency      text NOT NULL,
    state        text NOT NULL DEFAULT 'pending',
    created_at   timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX notifications_pending ON notifications (created_at) WHERE state = 'pending';
CREATE INDEX notifications_action ON notifications (action_id);
