-- Watches people add from Slack (/mandate watch), on top of routing.watches in config.
CREATE TABLE watches (
    person_id  text NOT NULL,
    pattern    text NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (person_id, pattern)
);

-- Snoozes (/mandate snooze): notifications about a resource pattern or from a rule are
-- silenced until a time.
CREATE TABLE snoozes (
    id         bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    kind       text NOT NULL CHECK (kind IN ('resource', 'rule')),
    target     text NOT NULL,
    until      timestamptz NOT NULL,
    created_by text NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX snoozes_until ON snoozes (until);
