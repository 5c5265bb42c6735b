// Package notify delivers notifications. Slack delivers one notification to its target's
// channel (a team's channel, or a person's DM), folds repeats into the earlier message,
// and classifies failures so the durable queue retries what is worth retrying: Slack's
// 429 after its Retry-After, 5xx and timeouts with backoff, and gives up on what retrying
// cannot fix (an unknown channel, bad credentials).
package notify

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"strconv"
	"sync"
	"time"

	"github.com/slack-go/slack"

	"github.com/mandatehq/mandate"
	"github.com/mandatehq/mandate/blocks"
	"github.com/mandatehq/mandate/config"
	"github.com/mandatehq/mandate/postgres"
)

// Store is what delivery reads and records; *postgres.DeliveryStore implements it.
type Store interface {
	Get(ctx context.Context, id int64) (*mandate.Notification, error)
	Attempt(ctx context.Context, id int64, errText string) error
	Note(ctx context.Context, id int64, errText string) error
	Delivered(ctx context.Context, id int64, channel, ts string, at time.Time) error
	Failed(ctx context.Context, id int64, why string) error
	FellBack(ctx context.Context, id int64, why string) error
	FoldTarget(ctx context.Context, foldKey, channel string, since time.Time) (*mandate.Notification, error)
	Fold(ctx context.Context, id, into int64, channel, ts string) (int, error)
	Outcomes(ctx context.Context, actionID string) ([]mandate.Intervention, error)
}

// Slack delivers notifications to Slack.
type Slack struct {
	API    *slack.Client
	Store  Store
	Actors mandate.ActorStore
	// Config returns the configuration in force: teams' channels, people's Slack ids.
	Config     func() *config.Config
	FoldWindow time.Duration // default 60 s
	Now        func() time.Time
	Log        *slog.Logger
	// Delivered, if set, hears each delivery's latency from the action's record.
	Delivered func(n *mandate.Notification, latency time.Duration)
	// OnDelivered, if set, is told of each notification posted (escalation starts there).
	OnDelivered func(ctx context.Context, n *mandate.Notification)
	// Fallback, if set, takes a notification Slack has failed to deliver for FallbackAfter
	// (default 5 min): PagerDuty and email instead.
	Fallback      *Fallback
	FallbackAfter time.Duration

	dms sync.Map // Slack user id -> DM channel id
}

func (s *Slack) now() time.Time {
	if s.Now != nil {
		return s.Now()
	}
	return time.Now()
}

// Deliver posts notification id, or folds it into an earlier message. It is the delivery
// job's handler: safe to run again after a failure.
func (s *Slack) Deliver(ctx context.Context, id int64, attempt int) error {
	n, err := s.Store.Get(ctx, id)
	if err != nil {
		if mandate.ErrorCode(err) == mandate.ENOTFOUND {
			return postgres.Permanent{Err: err}
		}
		return err
	}
	if n.State == "delivered" || n.State == "folded" || n.State == "failed" || n.State == "fallback" {
		return nil // done already: a retried job must not post twice
	}
	channel, err := s.channelFor(ctx, n)
	if err != nil {
		return s.fail(ctx, n, err)
	}
	window := s.FoldWindow
	if window == 0 {
		window = 60 * time.Second
	}
	if into, err := s.Store.FoldTarget(ctx, n.FoldKey, channel, s.now().Add(-window)); err != nil {
		return err
	} else if into != nil && into.ID != n.ID {
		folded, err := s.Store.Fold(ctx, n.ID, into.ID, into.Channel, into.TS)
		if err != nil {
			return err
		}
		into.Folded = folded
		if err := s.Update(ctx, into); err != nil {
			s.Log.Warn("cannot update folded message", "notification", into.ID, "err", err)
		}
		return nil
	}
	view, err := s.View(ctx, n)
	if err != nil {
		return err
	}
	// Post at most once. Each attempt is counted before posting, and the message carries
	// the notification id as metadata: if an earlier attempt may have posted but not
	// recorded it (a crash, a timeout on the answer), the channel's history says so.
	if n.Attempts > 0 {
		if ts, found := s.findPosted(ctx, channel, n.ID); found {
			return s.Store.Delivered(ctx, n.ID, channel, ts, s.now())
		}
	}
	if err := s.Store.Attempt(ctx, n.ID, ""); err != nil {
		return err
	}
	text, bs := blocks.Message(view, nil)
	_, ts, err := s.API.PostMessageContext(ctx, channel, slack.MsgOptionText(text, false), slack.MsgOptionBlocks(bs...),
		slack.MsgOptionMetadata(slack.SlackMetadata{EventType: metadataType, EventPayload: map[string]any{"notification_id": n.ID}}))
	if err != nil {
		return s.fail(ctx, n, err)
	}
	at := s.now()
	if err := s.Store.Delivered(ctx, n.ID, channel, ts, at); err != nil {
		return err
	}
	if s.Delivered != nil {
		s.Delivered(n, at.Sub(n.Action.RecordedAt))
	}
	if s.OnDelivered != nil {
		n.State, n.Channel, n.TS, n.Delivered = "delivered", channel, ts, &at
		s.OnDelivered(ctx, n)
	}
	return nil
}

// Update re-renders a delivered notification's message in place, with every
// intervention on its action so far.
func (s *Slack) Update(ctx context.Context, n *mandate.Notification) error {
	view, err := s.View(ctx, n)
	if err != nil {
		return err
	}
	ivs, err := s.Store.Outcomes(ctx, n.Action.ID)
	if err != nil {
		return err
	}
	var outcomes []blocks.Outcome
	for _, iv := range ivs {
		o := blocks.Outcome{Kind: iv.Kind, By: iv.SlackUser, Note: iv.Note}
		if n.Delivered != nil {
			o.After = iv.At.Sub(*n.Delivered)
		}
		outcomes = append(outcomes, o)
	}
	text, bs := blocks.Message(view, outcomes)
	_, _, _, err = s.API.UpdateMessageContext(ctx, n.Channel, n.TS, slack.MsgOptionText(text, false), slack.MsgOptionBlocks(bs...))
	return err
}

// fail classifies a Slack failure: retry after Retry-After, retry with backoff, or give
// up and record why.
func (s *Slack) fail(ctx context.Context, n *mandate.Notification, err error) error {
	if !SlackRetryable(err) {
		s.Log.Error("notification not delivered", "notification", n.ID, "target", string(n.TargetKind)+":"+n.TargetID, "err", err)
		if e := s.Store.Failed(ctx, n.ID, err.Error()); e != nil {
			return e
		}
		return postgres.Permanent{Err: err}
	}
	if s.Fallback != nil && s.now().Sub(n.Created) >= cmp.Or(s.FallbackAfter, 5*time.Minute) {
		// Slack has failed for too long: the same notification goes out another way.
		if ferr := s.Fallback.Deliver(ctx, n, err); ferr != nil {
			s.Log.Error("slack is failing and so is the fallback", "notification", n.ID, "slack", err, "fallback", ferr)
			s.Store.Note(ctx, n.ID, err.Error())
			return err // keep trying both
		}
		if e := s.Store.FellBack(ctx, n.ID, "slack unavailable; delivered by PagerDuty/email: "+err.Error()); e != nil {
			return e
		}
		s.Log.Warn("slack is failing: notification delivered by PagerDuty and email instead", "notification", n.ID, "err", err)
		return nil
	}
	s.Store.Note(ctx, n.ID, err.Error())
	var rate *slack.RateLimitedError
	if errors.As(err, &rate) {
		return postgres.RetryAfter{D: rate.RetryAfter}
	}
	return err
}

// SlackRetryable says whether a Slack failure may succeed later: rate limits, 5xx,
// network errors and timeouts, and Slack's own transient error codes.
func SlackRetryable(err error) bool {
	var rate *slack.RateLimitedError
	var status slack.StatusCodeError
	var slackErr slack.SlackErrorResponse
	var netErr net.Error
	switch {
	case errors.As(err, &rate), errors.As(err, &netErr), errors.Is(err, context.DeadlineExceeded):
		return true
	case errors.As(err, &status):
		return status.Code >= 500
	case errors.As(err, &slackErr):
		switch slackErr.Err {
		case "ratelimited", "internal_error", "fatal_error", "service_unavailable", "request_timeout":
			return true
		}
	}
	return false
}

// metadataType marks Mandate's notification messages in Slack.
const metadataType = "mandate_notification"

// findPosted looks in the channel's recent history for the message of notification id.
func (s *Slack) findPosted(ctx context.Context, channel string, id int64) (string, bool) {
	h, err := s.API.GetConversationHistoryContext(ctx, &slack.GetConversationHistoryParameters{ChannelID: channel, Limit: 200, IncludeAllMetadata: true})
	if err != nil {
		s.Log.Warn("cannot read channel history to avoid a double post", "channel", channel, "err", err)
		return "", false
	}
	for _, m := range h.Messages {
		if m.Metadata.EventType != metadataType {
			continue
		}
		if v, ok := m.Metadata.EventPayload["notification_id"].(float64); ok && int64(v) == id {
			return m.Timestamp, true
		}
	}
	return "", false
}

// errNoChannel is a target that has no Slack destination.
type errNoChannel struct{ why string }

func (e errNoChannel) Error() string { return e.why }

// channelFor finds where a notification goes: a team's channel, or a person's DM.
func (s *Slack) channelFor(ctx context.Context, n *mandate.Notification) (string, error) {
	cfg := s.Config()
	switch n.TargetKind {
	case mandate.TargetTeam:
		t, ok := cfg.Team(n.TargetID)
		if !ok || t.SlackChannel == "" {
			return "", errNoChannel{fmt.Sprintf("team %q has no slack_channel in mandate.yaml", n.TargetID)}
		}
		return t.SlackChannel, nil
	case mandate.TargetPerson:
		return s.dmChannel(ctx, cfg, n.TargetID)
	}
	return "", errNoChannel{fmt.Sprintf("%s targets are not delivered to Slack", n.TargetKind)}
}

// dmChannel opens (once) the direct-message channel with a config person.
func (s *Slack) dmChannel(ctx context.Context, cfg *config.Config, person string) (string, error) {
	p, ok := cfg.Person(person)
	if !ok || p.Slack == "" {
		return "", errNoChannel{fmt.Sprintf("person %q has no slack id in mandate.yaml", person)}
	}
	if ch, ok := s.dms.Load(p.Slack); ok {
		return ch.(string), nil
	}
	ch, _, _, err := s.API.OpenConversationContext(ctx, &slack.OpenConversationParameters{Users: []string{p.Slack}, ReturnIM: true})
	if err != nil {
		return "", err
	}
	s.dms.Store(p.Slack, ch.ID)
	return ch.ID, nil
}

// DM sends text to a config person by direct message.
func (s *Slack) DM(ctx context.Context, person, text string) error {
	ch, err := s.dmChannel(ctx, s.Config(), person)
	if err != nil {
		return err
	}
	_, _, err = s.API.PostMessageContext(ctx, ch, slack.MsgOptionText(text, false))
	return err
}

// TeamChannel posts text in a team's channel.
func (s *Slack) TeamChannel(ctx context.Context, team, text string) error {
	t, ok := s.Config().Team(team)
	if !ok || t.SlackChannel == "" {
		return errNoChannel{fmt.Sprintf("team %q has no slack_channel in mandate.yaml", team)}
	}
	_, _, err := s.API.PostMessageContext(ctx, t.SlackChannel, slack.MsgOptionText(text, false))
	return err
}

// Thread posts text in the thread of a delivered notification's message.
func (s *Slack) Thread(ctx context.Context, n *mandate.Notification, text string) error {
	if n.Channel == "" || n.TS == "" {
		return nil
	}
	_, _, err := s.API.PostMessageContext(ctx, n.Channel, slack.MsgOptionTS(n.TS), slack.MsgOptionText(text, false))
	return err
}

// View builds the message's view model from the notification and the config in force.
func (s *Slack) View(ctx context.Context, n *mandate.Notification) (blocks.Notification, error) {
	cfg := s.Config()
	a := n.Action
	v := blocks.Notification{
		ID: n.ID, ActionID: a.ID, Path: string(a.Decision.Path), Urgency: string(a.Decision.Urgency),
		Actor: a.ActorID, ActionType: a.Type, Summary: a.Summary, Environment: a.Environment,
		Reasons: a.Decision.Reasons, Rule: a.Decision.Rule, ReviewBy: a.Decision.ReviewBy, OccurredAt: a.OccurredAt,
		Folded: n.Folded,
	}
	if actor, err := s.Actors.Actor(ctx, a.ActorID); err == nil {
		v.ActorType = string(actor.Type)
		v.AgentPaused = actor.State.Paused
	} else {
		v.ActorType = string(mandate.ActorAgent)
	}
	// The owners told about the action: mentioned in team channels, listed per resource.
	var owners []string
	for _, t := range a.Decision.Targets {
		if t.Kind != mandate.TargetPerson {
			continue
		}
		if p, ok := cfg.Person(t.ID); ok && p.Slack != "" {
			v.Mentions = append(v.Mentions, p.Slack)
			owners = append(owners, "<@"+p.Slack+">")
		} else {
			owners = append(owners, t.ID)
		}
	}
	team := ""
	for _, t := range a.Decision.Targets {
		if t.Kind == mandate.TargetTeam {
			team = t.ID
			break
		}
	}
	for _, r := range a.Resources {
		v.Resources = append(v.Resources, blocks.Resource{Key: r.Key(), Owners: owners, Team: team})
	}
	if rec, ok := Recoveries[a.Type]; ok {
		v.Recovery = &rec
	}
	return v, nil
}

// Recoveries are the known recovery paths per action type, with their limits. Mandate
// shows them; it never runs a production rollback by itself.
var Recoveries = map[string]blocks.Recovery{
	"deploy":         {Path: "roll back to the previous release (kubectl rollout undo, or redeploy the last good version)", Limits: []string{"does not revert database migrations shipped with the release", "in-flight requests on the new version are lost"}},
	"code_change":    {Path: "revert the commit or close the pull request", Limits: []string{"anything already deployed from it must be rolled back separately"}},
	"db_write":       {Path: "restore the affected rows from the latest backup or point-in-time recovery", Limits: []string{"writes after the backup are lost unless replayed", "needs a DBA"}},
	"db_migration":   {Path: "run the migration's down step", Limits: []string{"dropped columns or tables come back empty", "lock time on large tables"}},
	"config_change":  {Path: "re-apply the previous configuration version", Limits: []string{"services may need a restart to pick it up"}},
	"s3_delete":      {Path: "restore from object versioning or the bucket backup", Limits: []string{"only if versioning was on before the delete"}},
	"email_send":     {Path: "none: sent email cannot be recalled; send a correction", Limits: []string{"irreversible"}},
	"payment_charge": {Path: "refund through the payment provider", Limits: []string{"fees are not returned", "the customer sees both charge and refund"}},
}

// NotificationIDFromValue parses a button's value.
func NotificationIDFromValue(v string) (int64, bool) {
	id, err := strconv.ParseInt(v, 10, 64)
	return id, err == nil && id > 0
}
