-- On-call shifts as seen in PagerDuty, one row per rotation, user and shift start. The
-- unique key is the claim: every replica, before and after restarts, inserts what it sees
-- with ON CONFLICT DO NOTHING, so a shift is recorded once, and the one insert that finds
-- a different person holding the rotation's previous shift is the handoff (its message
-- goes out as one durable job).
CREATE TABLE oncall_shifts (
    id          bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    -- "schedule:ID", or "policy:ID:level:N" for a direct target of an escalation rule.
    rotation    text NOT NULL,
    pd_user     text NOT NULL,
    name        text NOT NULL DEFAULT '',
    -- The config person the PagerDuty user maps to; '' when none (nobody to tell).
    person      text NOT NULL DEFAULT '',
    -- The shift's start; 0001-01-01 (Go's zero time) when open-ended (a direct target).
    shift_start timestamptz NOT NULL,
    teams       text[] NOT NULL,
    seen_at     timestamptz NOT NULL,
    -- The rotation's shift before this one, held by someone else: set only on handoffs.
    previous    bigint REFERENCES oncall_shifts (id),
    handoff     boolean NOT NULL DEFAULT false,
    sent_at     timestamptz,
    UNIQUE (rotation, pd_user, shift_start)
);
CREATE INDEX oncall_shifts_rotation ON oncall_shifts (rotation, shift_start DESC);
