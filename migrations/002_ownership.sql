-- Resources seen in actions, maintained incrementally from the actions table so coverage
-- and ownership history never scan the whole stream.
CREATE TABLE resources (
    key        text PRIMARY KEY,
    first_seen timestamptz NOT NULL,
    last_seen  timestamptz NOT NULL
);
CREATE INDEX resources_last_seen ON resources (last_seen);

-- How far the actions table has been scanned into resources.
CREATE TABLE resource_scan (
    id       int PRIMARY KEY CHECK (id = 1),
    last_seq bigint NOT NULL
);
INSERT INTO resource_scan (id, last_seq) VALUES (1, 0);

-- The owners each resource resolved to last, to detect changes.
CREATE TABLE resource_owners (
    key        text PRIMARY KEY,
    owners     text[] NOT NULL,
    layer      text NOT NULL,
    updated_at timestamptz NOT NULL DEFAULT now()
);

-- Every change of a resource's resolved owners.
CREATE TABLE ownership_changes (
    id           bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    resource_key text NOT NULL,
    from_owners  text[] NOT NULL,
    to_owners    text[] NOT NULL,
    from_layer   text NOT NULL,
    to_layer     text NOT NULL,
    source       text NOT NULL,
    changed_at   timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX ownership_changes_resource ON ownership_changes (resource_key, changed_at DESC);

-- Team memberships as last configured, and departures from teams, for grace periods.
CREATE TABLE team_members (
    team_id   text NOT NULL,
    person_id text NOT NULL,
    since     timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (team_id, person_id)
);
CREATE TABLE team_departures (
    id        bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    team_id   text NOT NULL,
    person_id text NOT NULL,
    left_at   timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX team_departures_left ON team_departures (left_at);

-- Health of each ownership source (CODEOWNERS, catalog, PagerDuty, GitHub).
CREATE TABLE ownership_sources (
    source       text PRIMARY KEY,
    last_attempt timestamptz NOT NULL,
    last_success timestamptz,
    last_error   text NOT NULL DEFAULT '',
    items        int NOT NULL DEFAULT 0
);
