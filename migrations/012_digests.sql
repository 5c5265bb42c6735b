-- Scheduled runs: a team's weekly digest, the admins' digest, the daily nag of overdue
-- action items. The primary key is the claim: every replica's tick inserts the run it
-- finds due with ON CONFLICT, and only the one whose insert wins sends it, so a digest
-- goes out once however many replicas run and however often they restart. retry_at is
-- the claim's lease: a run that is neither finished nor retried before then (its replica
-- died mid-send) can be claimed again.
CREATE TABLE digest_runs (
    kind         text NOT NULL CHECK (kind IN ('team', 'admin', 'nag')),
    team         text NOT NULL DEFAULT '', -- '' for the admins' digest and the nag
    period_start timestamptz NOT NULL,
    period_end   timestamptz NOT NULL,
    -- Sent by hand (`mandate digest` without --dry-run), not by the schedule.
    manual       boolean NOT NULL DEFAULT false,
    claimed_by   text NOT NULL,
    claimed_at   timestamptz NOT NULL,
    attempts     int NOT NULL DEFAULT 1,
    retry_at     timestamptz NOT NULL,
    finished_at  timestamptz,
    last_error   text NOT NULL DEFAULT '',
    PRIMARY KEY (kind, team, period_start)
);

-- Where each run was delivered: a Slack channel or DM (with the message's ts) or an email
-- address. A retried run skips the places it already reached, so a Slack post that
-- succeeded is not repeated because an email after it failed.
CREATE TABLE digest_deliveries (
    kind         text NOT NULL,
    team         text NOT NULL,
    period_start timestamptz NOT NULL,
    destination  text NOT NULL, -- "slack:C0PAY", "slack-dm:U0ALICE", "email:alice@acme.test"
    ref          text NOT NULL DEFAULT '', -- the Slack message ts
    sent_at      timestamptz NOT NULL,
    PRIMARY KEY (kind, team, period_start, destination),
    FOREIGN KEY (kind, team, period_start) REFERENCES digest_runs (kind, team, period_start)
);

-- Digests read a week of the activity stream by time. BRIN indexes cost next to nothing
-- on the ingest path (rows arrive in time order) and let those reads skip the older
-- blocks instead of scanning every action ever recorded.
CREATE INDEX actions_recorded_brin ON actions USING brin (recorded_at);
CREATE INDEX notifications_created_brin ON notifications USING brin (created_at);
