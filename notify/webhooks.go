package notify

import (
	"cmp"
	"context"
	"fmt"
	"log/slog"
	"net/url"

	"github.com/mandatehq/mandate"
	"github.com/mandatehq/mandate/postgres"
)

// WebhookStore is what webhook delivery reads and records; *postgres.DeliveryStore
// implements it.
type WebhookStore interface {
	Get(ctx context.Context, id int64) (*mandate.Notification, error)
	Attempt(ctx context.Context, id int64, errText string) error
	Note(ctx context.Context, id int64, errText string) error
	DeliveredBy(ctx context.Context, id int64, channel, detail string) error
	FailedBy(ctx context.Context, id int64, channel, why string) error
}

// WebhookDeliveredMessage is logged for each notification a webhook receiver accepted.
const WebhookDeliveredMessage = "webhook notification delivered"

// WebhookEvent is the event name of a notification delivered to a webhook target.
const WebhookEvent = "action.notification"

// WebhookPayload is the data of an action.notification event: the action as the API
// shows it (its routing decision included) and what Mandate knows about recovering
// from it.
type WebhookPayload struct {
	// NotificationID identifies the delivery: a delivery whose answer was lost is sent
	// again, so receivers that act on events should ignore an id they have seen.
	NotificationID    int64           `json:"notification_id"`
	Action            *mandate.Action `json:"action"`
	SuggestedRecovery string          `json:"suggested_recovery,omitempty"`
}

// Webhooks delivers notifications whose target is a webhook (a routing rule's playbook or
// custom integration): the action and its routing decision as signed JSON. It is the
// postgres.JobWebhook handler: failures are retried by the queue with backoff, after the
// receiver's Retry-After when it gives one.
type Webhooks struct {
	// Webhook signs and sends; nil when no signing secret is configured, and then every
	// delivery fails saying so (playbooks must be able to trust what they receive).
	Webhook *Webhook
	Store   WebhookStore
	Log     *slog.Logger
	// MaxAttempts bounds the tries of one notification before it is recorded as failed;
	// default 10, about seven hours with the queue's backoff.
	MaxAttempts int
}

// Deliver posts notification id to its webhook. It is safe to run again after a
// failure; a receiver may see a notification twice, never a notification lost silently.
func (w *Webhooks) Deliver(ctx context.Context, id int64, attempt int) error {
	n, err := w.Store.Get(ctx, id)
	if err != nil {
		if mandate.ErrorCode(err) == mandate.ENOTFOUND {
			return postgres.Permanent{Err: err}
		}
		return err
	}
	if n.State != "queued" && n.State != "pending" {
		return nil // delivered or given up already
	}
	if n.TargetKind != mandate.TargetWebhook {
		return w.giveUp(ctx, n, fmt.Errorf("notification %d is for a %s, not a webhook", n.ID, n.TargetKind))
	}
	if w.Webhook == nil {
		return w.giveUp(ctx, n, fmt.Errorf("MANDATE_WEBHOOK_SECRET is not set, and Mandate does not send playbooks unsigned events"))
	}
	if err := w.Store.Attempt(ctx, id, ""); err != nil {
		return err
	}
	a := n.Action
	payload := WebhookPayload{NotificationID: n.ID, Action: a}
	if rec, ok := Recoveries[a.Type]; ok {
		payload.SuggestedRecovery = rec.Path
	}
	text := fmt.Sprintf("%s %s: %s (%s, %s urgency, rule %s)", a.ActorID, a.Type, a.Summary, a.Decision.Path, a.Decision.Urgency, a.Decision.Rule)
	err = w.Webhook.SendEvent(ctx, n.TargetID, Event{Name: WebhookEvent, Text: text, Data: payload})
	if err == nil {
		if err := w.Store.DeliveredBy(ctx, id, postgres.ChannelWebhook, "accepted by "+redactTarget(n.TargetID)); err != nil {
			return err
		}
		w.Log.Info(WebhookDeliveredMessage, "notification", id, "action", a.ID, "attempt", attempt)
		return nil
	}
	if !Retryable(err) || attempt >= cmp.Or(w.MaxAttempts, 10) {
		return w.giveUp(ctx, n, err)
	}
	w.Log.Warn("webhook delivery failed; will retry", "notification", id, "attempt", attempt, "err", err)
	if e := w.Store.Note(ctx, id, err.Error()); e != nil {
		return e
	}
	return JobError(err)
}

// giveUp records a notification as failed on the webhook channel (so status shows it),
// then logs it: whoever reads the log finds the record.
func (w *Webhooks) giveUp(ctx context.Context, n *mandate.Notification, err error) error {
	if e := w.Store.FailedBy(ctx, n.ID, postgres.ChannelWebhook, err.Error()); e != nil {
		return e
	}
	w.Log.Error("webhook notification not delivered", "notification", n.ID, "action", n.Action.ID, "err", err)
	return postgres.Permanent{Err: err}
}

// redactTarget is a webhook URL fit for the database and logs.
func redactTarget(target string) string {
	u, err := url.Parse(target)
	if err != nil {
		return "an unparsable URL"
	}
	return redactURL(u)
}
