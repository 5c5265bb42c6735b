package notify

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/mandatehq/mandate"
	"github.com/mandatehq/mandate/config"
)

// Fallback delivers a notification when Slack has failed for too long: a PagerDuty
// incident and an email to the people it was for, with the admins told that Slack is
// failing. Either channel may be nil (not configured).
type Fallback struct {
	PagerDuty *PagerDuty
	Email     *Email
	Config    func() *config.Config
	// Channels, if set, records how each channel did with each notification.
	Channels ChannelRecorder
}

// ChannelRecorder records one channel's outcome for a notification;
// *postgres.DeliveryStore implements it.
type ChannelRecorder interface {
	RecordChannel(ctx context.Context, id int64, channel string, ok bool, detail string) error
}

// record notes a channel's outcome when a recorder is set. A failure to record is not a
// failure to deliver, so it does not fail the delivery.
func (f *Fallback) record(ctx context.Context, id int64, channel string, err error, detail string) {
	if f.Channels == nil {
		return
	}
	if err != nil {
		detail = err.Error()
	}
	f.Channels.RecordChannel(context.WithoutCancel(ctx), id, channel, err == nil, detail)
}

// Deliver sends n through every configured fallback channel; it fails only if every
// configured channel failed (or none is configured).
func (f *Fallback) Deliver(ctx context.Context, n *mandate.Notification, slackErr error) error {
	a := n.Action
	var errs []error
	delivered := false
	if f.PagerDuty != nil {
		key := NotificationDedupKey(n.ID)
		err := f.PagerDuty.page(ctx, IncidentFor(a, key,
			fmt.Sprintf("Slack is failing; Mandate could not tell %s: %s %s %s", n.TargetID, a.ActorID, a.Type, a.Summary)), n.ID, PageSlackFallback)
		if err != nil {
			errs = append(errs, err)
		} else {
			delivered = true
		}
		f.record(ctx, n.ID, chPagerDuty, err, key)
	}
	if f.Email != nil {
		cfg := f.Config()
		to := f.recipients(cfg, n)
		admins := f.emails(cfg, cfg.Org.Admins)
		if len(to) > 0 {
			var b strings.Builder
			fmt.Fprintf(&b, "%s (%s) did this, and Slack is failing, so Mandate tells you by email.\n\n", a.ActorID, a.Type)
			fmt.Fprintf(&b, "Action:      %s\nEnvironment: %s\nResources:   ", a.Summary, a.Environment)
			for i, r := range a.Resources {
				if i > 0 {
					b.WriteString(", ")
				}
				b.WriteString(r.Key())
			}
			fmt.Fprintf(&b, "\nPath:        %s (%s urgency)\nWhy:         %s\n\nAction id %s. Pause the agent with: POST /v1/agents/%s/pause\n",
				a.Decision.Path, a.Decision.Urgency, strings.Join(a.Decision.Reasons, "; "), a.ID, a.ActorID)
			err := f.Email.Send(ctx, Message{To: to, Subject: fmt.Sprintf("[mandate] %s: %s", a.ActorID, a.Summary), Text: b.String()})
			if err != nil {
				errs = append(errs, err)
			} else {
				delivered = true
			}
			f.record(ctx, n.ID, chEmail, err, strings.Join(to, ", "))
		}
		if len(admins) > 0 {
			f.Email.Send(ctx, Message{To: admins, Subject: "[mandate] Slack delivery is failing",
				Text: fmt.Sprintf("Mandate could not deliver notification %d to Slack since %s: %v\nIt went to PagerDuty and email instead.\n",
					n.ID, n.Created.UTC().Format(time.RFC3339), slackErr)})
		}
	}
	switch {
	case delivered:
		return nil
	case len(errs) == 0:
		return errors.New("no fallback channel is configured (PAGERDUTY_ROUTING_KEY, MANDATE_SMTP_HOST)")
	}
	return errors.Join(errs...)
}

// recipients are the emails of the people a notification was for: its person, or its
// team's members.
func (f *Fallback) recipients(cfg *config.Config, n *mandate.Notification) []string {
	switch n.TargetKind {
	case mandate.TargetPerson:
		return f.emails(cfg, []string{n.TargetID})
	case mandate.TargetTeam:
		if t, ok := cfg.Team(n.TargetID); ok {
			return f.emails(cfg, t.Members)
		}
	}
	return nil
}

func (f *Fallback) emails(cfg *config.Config, people []string) []string {
	return emailsOf(cfg, people)
}

// emailsOf is the email addresses of config people, each once; people without one are
// skipped.
func emailsOf(cfg *config.Config, people []string) []string {
	var out []string
	for _, id := range people {
		if p, ok := cfg.Person(id); ok && p.Email != "" && !slices.Contains(out, p.Email) {
			out = append(out, p.Email)
		}
	}
	return out
}
