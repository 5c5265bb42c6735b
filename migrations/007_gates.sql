-- Gates: a gated_execute action waits for a human decision. The public gate id is the
-- action's id; id orders and keys the gate's expiry job.
CREATE TABLE gates (
    id          bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    action_id   uuid NOT NULL UNIQUE REFERENCES actions (id),
    state       text NOT NULL DEFAULT 'pending' CHECK (state IN ('pending', 'approved', 'denied', 'expired')),
    created_at  timestamptz NOT NULL DEFAULT now(),
    expires_at  timestamptz NOT NULL,
    decided_by  text,
    decided_at  timestamptz,
    tti_ms      bigint
);
CREATE INDEX gates_pending ON gates (expires_at) WHERE state = 'pending';
