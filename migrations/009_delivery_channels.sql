-- Delivery by every channel, not just Slack. A notification can go out by Slack, by a
-- signed webhook (a routing rule's playbook), or by PagerDuty and email when Slack fails;
-- an escalation_policy target starts an escalation chain. Each channel's outcome is one
-- row: confirmed once the channel said yes (Slack's ts, a webhook receiver's 2xx,
-- PagerDuty's 202, the SMTP server's 250), failed once Mandate gave up on it, so status
-- can name a channel that keeps failing.
CREATE TABLE deliveries (
    notification_id bigint NOT NULL REFERENCES notifications (id),
    channel         text NOT NULL CHECK (channel IN ('slack', 'webhook', 'pagerduty', 'email', 'escalation')),
    state           text NOT NULL CHECK (state IN ('confirmed', 'failed')),
    detail          text NOT NULL DEFAULT '',
    at              timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (notification_id, channel)
);
CREATE INDEX deliveries_failed ON deliveries (at) WHERE state = 'failed';

-- PagerDuty incidents Mandate opened about an action: an escalation that ran out of Slack,
-- an expired gate, a notification Slack could not deliver. The row is written before the
-- trigger is sent ('paging') and marked 'triggered' once PagerDuty accepted it, so a
-- human's answer in Slack acknowledges or resolves exactly the incidents that were opened.
-- want is the answer still to be sent: set in the transaction that records the
-- intervention, together with the job that sends it.
CREATE TABLE pages (
    id              bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    dedup_key       text NOT NULL UNIQUE,
    action_id       uuid NOT NULL REFERENCES actions (id),
    notification_id bigint REFERENCES notifications (id),
    reason          text NOT NULL,
    state           text NOT NULL DEFAULT 'paging' CHECK (state IN ('paging', 'triggered', 'acknowledged', 'resolved')),
    want            text CHECK (want IN ('acknowledge', 'resolve')),
    answered_by     bigint REFERENCES interventions (id),
    last_error      text NOT NULL DEFAULT '',
    created_at      timestamptz NOT NULL DEFAULT now(),
    triggered_at    timestamptz,
    acknowledged_at timestamptz,
    resolved_at     timestamptz
);
CREATE INDEX pages_action ON pages (action_id);

-- Alerts to the admins about Mandate itself (a delivery backlog) that need the database to
-- coordinate: the replica that inserts the row sends the alert, the one that deletes it
-- sends the all-clear, so several replicas alert once.
CREATE TABLE system_alerts (
    name      text PRIMARY KEY,
    detail    text NOT NULL,
    raised_at timestamptz NOT NULL DEFAULT now()
);
