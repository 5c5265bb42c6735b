package notify

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/mandatehq/mandate/config"
)

// Alarm tells Mandate's admins about Mandate itself (its database is unreachable, its
// deliveries back up) by the channels that work without Mandate's database and without
// Slack: the backup webhook (org.backup_webhook) and email to org.admins.
type Alarm struct {
	// Webhook sends to org.backup_webhook; it signs when it has a secret.
	Webhook *Webhook
	// Email is nil when no SMTP relay is configured.
	Email  *Email
	Config func() *config.Config
}

// Alert is one message about Mandate's own state.
type Alert struct {
	Event   string    `json:"-"`       // AlertDegraded or AlertRecovered
	Status  string    `json:"status"`  // "degraded" or "ok"
	Problem string    `json:"problem"` // what is or was wrong, e.g. "database unreachable"
	Text    string    `json:"message"` // one line for people: "Mandate is degraded: …"
	Detail  string    `json:"detail,omitempty"`
	Host    string    `json:"host,omitempty"` // the replica that noticed
	Since   time.Time `json:"since"`          // when the problem started
	At      time.Time `json:"at"`
}

// Webhook events of alerts.
const (
	AlertDegraded  = "mandate.degraded"
	AlertRecovered = "mandate.recovered"
)

// Alarm channels.
const (
	AlarmWebhook = "webhook"
	AlarmEmail   = "email"
)

// Channels lists the channels an alert would go out on now: the backup webhook if
// configured, email if SMTP is configured and some admin has an address.
func (a *Alarm) Channels() []string {
	cfg := a.Config()
	var out []string
	if cfg.Org.BackupWebhook != "" && a.Webhook != nil {
		out = append(out, AlarmWebhook)
	}
	if a.Email != nil && len(emailsOf(cfg, cfg.Org.Admins)) > 0 {
		out = append(out, AlarmEmail)
	}
	return out
}

// Send sends al on one channel.
func (a *Alarm) Send(ctx context.Context, channel string, al Alert) error {
	cfg := a.Config()
	switch channel {
	case AlarmWebhook:
		if cfg.Org.BackupWebhook == "" || a.Webhook == nil {
			return errors.New("no org.backup_webhook configured")
		}
		return a.Webhook.SendEvent(ctx, cfg.Org.BackupWebhook, Event{Name: al.Event, Text: al.Text, Data: al})
	case AlarmEmail:
		to := emailsOf(cfg, cfg.Org.Admins)
		if a.Email == nil || len(to) == 0 {
			return errors.New("no SMTP relay configured, or no admin with an email address")
		}
		var b strings.Builder
		b.WriteString(al.Text + "\n\n")
		if al.Detail != "" {
			b.WriteString(al.Detail + "\n\n")
		}
		fmt.Fprintf(&b, "Since:    %s\nNoticed:  %s", al.Since.UTC().Format(time.RFC3339), al.At.UTC().Format(time.RFC3339))
		if al.Host != "" {
			fmt.Fprintf(&b, " by %s", al.Host)
		}
		b.WriteString("\n\nMandate tells its admins this by email and the backup webhook, which depend neither on Slack nor on its database.\n")
		return a.Email.Send(ctx, Message{To: to, Subject: "[mandate] " + al.Text, Text: b.String()})
	}
	return fmt.Errorf("unknown alarm channel %q", channel)
}
