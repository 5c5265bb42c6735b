package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"net/http"
	"os"
	"slices"
	"time"

	"github.com/mandatehq/mandate/config"
	"github.com/mandatehq/mandate/notify"
)

// backlogAge is how long a queued notification may wait before it counts as backlog: the
// same figure /readyz and /v1/status use to say degraded.
const backlogAge = time.Minute

// backlogAlert names the delivery-backlog alert among the replicas (postgres.AlertStore).
const backlogAlert = "delivery_backlog"

// maxOwed bounds the alerts a replica keeps trying to send: a flapping database must not
// grow the list without end. The oldest go first.
const maxOwed = 20

// alertClaims coordinates alerts between replicas; *postgres.AlertStore implements it.
type alertClaims interface {
	Raise(ctx context.Context, name, detail string) (bool, error)
	Clear(ctx context.Context, name string) (raisedAt time.Time, cleared bool, err error)
}

// monitor is Mandate watching itself, on every replica. At every beat (org.heartbeat_every,
// default 1 min) it
//   - POSTs its status to org.heartbeat_url, the dead-man's switch: an outside monitor
//     notices when Mandate goes silent;
//   - checks the database, and when it becomes unreachable tells the admins once, by the
//     backup webhook (org.backup_webhook) and email, which need neither the database nor
//     Slack; and once more when it is back. Without the database the replicas cannot
//     agree, so each replica that notices says so;
//   - checks the delivery backlog, and when notifications wait for delivery tells the
//     admins once across replicas (the database decides which replica sends), and once
//     when the backlog has cleared.
//
// An alert that could not be sent on some channel is tried again at the next beats. The
// config is read at every beat, so a reload can add or change the URLs.
type monitor struct {
	cfg     func() *config.Config
	ping    func(context.Context) error
	backlog func(context.Context) (int64, error) // notifications waiting over backlogAge
	alerts  alertClaims                          // nil: the backlog is not watched
	alarm   *notify.Alarm
	client  *http.Client
	log     *slog.Logger
	host    string
	now     func() time.Time

	failing  bool      // the heartbeat POST is failing
	dbDownAt time.Time // when the database stopped answering; zero while it answers
	dbErr    string
	owed     []owedAlert
}

// owedAlert is an alert with the channels it has not reached yet.
type owedAlert struct {
	alert    notify.Alert
	channels []string
}

func newMonitor(cfg func() *config.Config, ping func(context.Context) error, backlog func(context.Context) (int64, error),
	alerts alertClaims, alarm *notify.Alarm, log *slog.Logger) *monitor {
	host, _ := os.Hostname()
	return &monitor{cfg: cfg, ping: ping, backlog: backlog, alerts: alerts, alarm: alarm, log: log, host: host, now: time.Now,
		client: &http.Client{Timeout: 10 * time.Second}}
}

// run beats until ctx ends.
func (m *monitor) run(ctx context.Context) {
	for {
		m.beat(ctx)
		every := m.cfg().Org.HeartbeatEvery.Duration
		if every <= 0 {
			every = time.Minute
		}
		select {
		case <-ctx.Done():
			return
		case <-time.After(every):
		}
	}
}

// beat checks, reports the status to the heartbeat URL, and sends the alerts owed.
func (m *monitor) beat(ctx context.Context) {
	status := m.check(ctx)
	m.heartbeat(ctx, status)
	m.deliver(ctx)
}

// check looks at the database and the backlog, owes an alert for every change, and
// returns the status for the heartbeat.
func (m *monitor) check(ctx context.Context) string {
	now := m.now()
	err := m.pingTwice(ctx)
	switch {
	case err != nil && m.dbDownAt.IsZero():
		m.dbDownAt, m.dbErr = now, err.Error()
		m.log.Error("database unreachable: telling the admins", "err", err)
		m.owe(notify.Alert{Event: notify.AlertDegraded, Status: "degraded", Problem: "database unreachable",
			Text: "Mandate is degraded: database unreachable",
			Detail: "Agents' reports are answered 503 with Retry-After, so agents retry; nothing acknowledged is lost. " +
				"Notifications, escalations and gates wait in the database and resume when it is back. Error: " + m.dbErr,
			Since: now, At: now})
	case err == nil && !m.dbDownAt.IsZero():
		down := now.Sub(m.dbDownAt).Round(time.Second)
		m.log.Info("database reachable again", "after", down)
		m.owe(notify.Alert{Event: notify.AlertRecovered, Status: "ok", Problem: "database unreachable",
			Text:   fmt.Sprintf("Mandate recovered: the database is reachable again after %s", down),
			Detail: "Notifications, escalations and gates that waited are going out now.", Since: m.dbDownAt, At: now})
		m.dbDownAt, m.dbErr = time.Time{}, ""
	}
	if err != nil {
		return "degraded: database unreachable"
	}
	if m.alerts == nil || m.backlog == nil {
		return "ok"
	}
	bctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	n, err := m.backlog(bctx)
	if err != nil {
		m.log.Warn("cannot count the delivery backlog", "err", err)
		return "ok"
	}
	if n > 0 {
		text := fmt.Sprintf("Mandate is degraded: %d %s waiting over %s for delivery", n, plural(n, "notification", "notifications"), backlogAge)
		raised, err := m.alerts.Raise(bctx, backlogAlert, text)
		if err != nil {
			m.log.Warn("cannot raise the backlog alert", "err", err)
		} else if raised {
			m.log.Warn("notifications are backing up: telling the admins", "waiting", n)
			m.owe(notify.Alert{Event: notify.AlertDegraded, Status: "degraded", Problem: "delivery backlog", Text: text,
				Detail: "The notifier, Slack or a webhook receiver is falling behind; /v1/status and the logs say more. " +
					"Notifications stay queued and go out when it catches up; after MANDATE_SLACK_FALLBACK_AFTER they go to PagerDuty and email.",
				Since: now, At: now})
		}
		return fmt.Sprintf("degraded: %d %s waiting for delivery", n, plural(n, "notification", "notifications"))
	}
	raisedAt, cleared, err := m.alerts.Clear(bctx, backlogAlert)
	if err != nil {
		m.log.Warn("cannot clear the backlog alert", "err", err)
	} else if cleared {
		m.log.Info("delivery backlog cleared")
		m.owe(notify.Alert{Event: notify.AlertRecovered, Status: "ok", Problem: "delivery backlog",
			Text:  fmt.Sprintf("Mandate recovered: no notification waits for delivery any more (backlog for %s)", now.Sub(raisedAt).Round(time.Second)),
			Since: raisedAt, At: now})
	}
	return "ok"
}

// pingTwice asks the database twice before calling it unreachable: the first ping after a
// database restart can fail on a connection the restart broke, which the pool then drops.
func (m *monitor) pingTwice(ctx context.Context) error {
	var err error
	for range 2 {
		pctx, cancel := context.WithTimeout(ctx, 5*time.Second)
		err = m.ping(pctx)
		cancel()
		if err == nil || ctx.Err() != nil {
			return err
		}
	}
	return err
}

// owe queues an alert for every channel configured now.
func (m *monitor) owe(al notify.Alert) {
	al.Host = m.host
	channels := m.alarm.Channels()
	if len(channels) == 0 {
		m.log.Warn("no channel to tell the admins: set org.backup_webhook, or MANDATE_SMTP_HOST with org.admins' emails", "alert", al.Text)
		return
	}
	m.owed = append(m.owed, owedAlert{alert: al, channels: channels})
	if len(m.owed) > maxOwed {
		m.owed = slices.Delete(m.owed, 0, len(m.owed)-maxOwed)
	}
}

// deliver sends the owed alerts, in order, on the channels they have not reached.
func (m *monitor) deliver(ctx context.Context) {
	kept := m.owed[:0]
	for _, o := range m.owed {
		var left []string
		for _, ch := range o.channels {
			sctx, cancel := context.WithTimeout(ctx, 15*time.Second)
			err := m.alarm.Send(sctx, ch, o.alert)
			cancel()
			if err != nil {
				m.log.Warn("cannot tell the admins; will try again", "channel", ch, "alert", o.alert.Text, "err", err)
				left = append(left, ch)
				continue
			}
			m.log.Info("admins told", "channel", ch, "alert", o.alert.Text)
		}
		if len(left) > 0 && ctx.Err() == nil {
			o.channels = left
			kept = append(kept, o)
		}
	}
	m.owed = kept
}

// heartbeat POSTs the status to org.heartbeat_url, if set.
func (m *monitor) heartbeat(ctx context.Context, status string) {
	url := m.cfg().Org.HeartbeatURL
	if url == "" {
		return
	}
	body, _ := json.Marshal(map[string]string{"service": "mandate", "status": status, "at": m.now().UTC().Format(time.RFC3339)})
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, url, bytes.NewReader(body))
	if err == nil {
		req.Header.Set("Content-Type", "application/json")
		var res *http.Response
		if res, err = m.client.Do(req); err == nil {
			res.Body.Close()
		}
	}
	switch {
	case err != nil && !m.failing && ctx.Err() == nil:
		m.failing = true
		m.log.Warn("heartbeat failed; the outside monitor may think Mandate is down", "url", url, "err", err)
	case err == nil && m.failing:
		m.failing = false
		m.log.Info("heartbeat delivered again", "url", url)
	}
}

func plural(n int64, one, many string) string {
	if n == 1 {
		return one
	}
	return many
}
