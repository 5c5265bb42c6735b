-- Incidents: something that went wrong, its causes, its channel, its postmortem, the
-- promises made in it and the patterns that recognise it next time.
CREATE TABLE incidents (
    number        bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    title         text NOT NULL,
    severity      text NOT NULL CHECK (severity IN ('low', 'medium', 'high', 'critical')),
    state         text NOT NULL DEFAULT 'open' CHECK (state IN ('open', 'mitigated', 'resolved', 'closed')),
    resources     jsonb NOT NULL,
    resource_keys text[] NOT NULL,
    teams         text[] NOT NULL,
    opened_by     text NOT NULL,
    via           text NOT NULL CHECK (via IN ('slack', 'api', 'rule')),
    commander     text,
    channel       text,
    channel_name  text,
    repeat_of     bigint REFERENCES incidents (number),
    -- An opt-in rule opens one incident per triggering action, however often it is retried.
    trigger_action uuid UNIQUE REFERENCES actions (id),
    opened_at     timestamptz NOT NULL,
    mitigated_at  timestamptz,
    resolved_at   timestamptz,
    closed_at     timestamptz,
    postmortem_state text NOT NULL DEFAULT '' CHECK (postmortem_state IN ('', 'draft', 'published', 'closed')),
    postmortem    text,
    postmortem_at timestamptz,
    published_by  text,
    -- Work outside Postgres, recorded step by step so a retried job (after a crash or a
    -- Slack or PagerDuty outage) neither repeats nor skips a step: the header message
    -- posted in the channel, PagerDuty paged and told of the resolution, the resolution
    -- announced and handed to the postmortem hook.
    header_ts        text,
    paged_at         timestamptz,
    page_resolved_at timestamptz,
    resolve_done_at  timestamptz
);
CREATE INDEX incidents_resource_keys ON incidents USING gin (resource_keys);
CREATE INDEX incidents_opened ON incidents (opened_at);
CREATE INDEX incidents_active ON incidents (number) WHERE state IN ('open', 'mitigated');
-- `/mandate incident timeline` typed in an incident's channel finds the incident by it.
CREATE UNIQUE INDEX incidents_channel ON incidents (channel) WHERE channel IS NOT NULL;

-- Candidate causing actions, ranked by attribution; responders confirm or dismiss them.
CREATE TABLE incident_causes (
    incident   bigint NOT NULL REFERENCES incidents (number),
    action_id  uuid NOT NULL REFERENCES actions (id),
    rank       int NOT NULL,
    score      double precision NOT NULL,
    reason     text NOT NULL,
    state      text NOT NULL DEFAULT 'candidate' CHECK (state IN ('candidate', 'confirmed', 'dismissed')),
    decided_by text,
    decided_at timestamptz,
    PRIMARY KEY (incident, action_id),
    UNIQUE (incident, rank)
);
CREATE INDEX incident_causes_action ON incident_causes (action_id);

-- What happened to an incident itself (opened, severity, assigned, mitigated, resolved,
-- cause confirmed, …): part of its timeline.
CREATE TABLE incident_events (
    id        bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    incident  bigint NOT NULL REFERENCES incidents (number),
    kind      text NOT NULL,
    who       text NOT NULL DEFAULT '',
    text      text NOT NULL,
    action_id uuid REFERENCES actions (id), -- the cause confirmed, the agent paused for, …
    at        timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX incident_events_incident ON incident_events (incident, at);

-- Promises made in postmortems. last_nagged is the day (in UTC) the owner was last
-- reminded, so the daily nag is sent once per day across replicas and restarts.
CREATE TABLE action_items (
    id          bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    incident    bigint NOT NULL REFERENCES incidents (number),
    title       text NOT NULL,
    owner       text NOT NULL,
    due         date NOT NULL,
    state       text NOT NULL DEFAULT 'open' CHECK (state IN ('open', 'done')),
    done_by     text,
    done_at     timestamptz,
    created_at  timestamptz NOT NULL DEFAULT now(),
    last_nagged date
);
CREATE INDEX action_items_open ON action_items (due) WHERE state = 'open';
CREATE INDEX action_items_incident ON action_items (incident);

-- Patterns extracted when incidents resolve: (action type, resource pattern, failure mode).
CREATE TABLE incident_patterns (
    id               bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    incident         bigint NOT NULL REFERENCES incidents (number),
    kind             text NOT NULL CHECK (kind IN ('exact', 'resource', 'failure_mode')),
    action_type      text NOT NULL,
    resource_pattern text NOT NULL DEFAULT '',
    failure_mode     text NOT NULL DEFAULT '',
    created_at       timestamptz NOT NULL DEFAULT now(),
    UNIQUE (incident, kind, action_type, resource_pattern, failure_mode)
);

-- Notifications that matched a stored pattern: the repeat-incident signal, counted.
CREATE TABLE pattern_hits (
    id        bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    pattern   bigint NOT NULL REFERENCES incident_patterns (id),
    action_id uuid NOT NULL REFERENCES actions (id),
    at        timestamptz NOT NULL DEFAULT now(),
    UNIQUE (pattern, action_id)
);
