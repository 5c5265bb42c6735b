// Package handlers turns Slack interactions into domain calls: button presses on
// notifications (pause the agent, flag, acknowledge, …), the /mandate slash command, the
// "ask a question" modal and App Home. Every press is recorded as an intervention with
// its TTI, authorised per action, and reflected in the original message.
package handlers

import (
	"context"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/slack-go/slack"
	"github.com/slack-go/slack/slackevents"

	"github.com/mandatehq/mandate"
	"github.com/mandatehq/mandate/blocks"
	"github.com/mandatehq/mandate/config"
	"github.com/mandatehq/mandate/notify"
	"github.com/mandatehq/mandate/ownership"
)

// Deliveries is what handlers read and record; *postgres.DeliveryStore implements it.
type Deliveries interface {
	Get(ctx context.Context, id int64) (*mandate.Notification, error)
	Intervene(ctx context.Context, iv mandate.Intervention) (tti time.Duration, first bool, err error)
	Ask(ctx context.Context, actionID, by, question string) error
}

// Feedback records routing feedback; *postgres.RoutingStore implements it.
type Feedback interface {
	Feedback(ctx context.Context, notificationID int64, relevant bool, by string) error
}

// Live stores watches and snoozes set from Slack; *postgres.LiveStore implements it.
type Live interface {
	Watch(ctx context.Context, person, pattern string) (bool, error)
	Unwatch(ctx context.Context, person, pattern string) (bool, error)
	Snooze(ctx context.Context, kind, target string, until time.Time, by string) error
}

// Gates decides gates; *postgres.GateStore implements it.
type Gates interface {
	Decide(ctx context.Context, id string, approve bool, by string, at time.Time) (*mandate.Gate, bool, error)
}

// Handlers implements bot.Handler.
type Handlers struct {
	API        *slack.Client
	Deliveries Deliveries
	Actors     mandate.ActorStore
	Actions    mandate.ActionStore
	Feedback   Feedback
	Live       Live
	Gates      Gates
	Owners     *ownership.Resolver
	Notifier   *notify.Slack
	Config     func() *config.Config
	Status     func(ctx context.Context) (blocks.Status, error)
	Now        func() time.Time
	Log        *slog.Logger
	TTI        *prometheus.HistogramVec // by response kind
}

// outcomeOf maps a button to the intervention it records.
var outcomeOf = map[string]string{
	"pause_agent":  "paused",
	"resume_agent": "resumed",
	"flag":         "flagged",
	"looks_ok":     "looks_ok",
	"acknowledge":  "acknowledged",
	"recover":      "recovery",
	"approve":      "approved",
	"deny":         "denied",
	"not_relevant": "not_relevant",
}

// restricted buttons need the resource's owner, their team lead, on-call or an admin.
var restricted = []string{"approve", "deny", "recover", "resume_agent"}

// BlockAction handles a button press on a notification (already acked).
func (h *Handlers) BlockAction(ctx context.Context, cb slack.InteractionCallback) {
	for _, act := range cb.ActionCallback.BlockActions {
		if f, ok := buttons[act.ActionID]; ok {
			f(h, ctx, cb, act)
			continue
		}
		h.press(ctx, cb, act)
	}
}

func (h *Handlers) press(ctx context.Context, cb slack.InteractionCallback, act *slack.BlockAction) {
	id, ok := notify.NotificationIDFromValue(act.Value)
	if !ok {
		h.ephemeral(ctx, cb, "That button carries no notification; it may come from an older message.")
		return
	}
	n, err := h.Deliveries.Get(ctx, id)
	if err != nil {
		h.Log.Warn("button on unknown notification", "notification", id, "err", err)
		h.ephemeral(ctx, cb, fmt.Sprintf("Notification %d is not known to Mandate.", id))
		return
	}
	user := cb.User.ID
	person := h.personBySlack(user)
	now := h.Now()
	switch act.ActionID {
	case "details":
		view, err := h.Notifier.View(ctx, n)
		if err == nil {
			h.ephemeralBlocks(ctx, cb, "Details", blocks.Details(view))
		}
		return
	case "ask":
		if _, err := h.API.OpenViewContext(ctx, cb.TriggerID, blocks.AskModal(n.ID, n.Action.Summary, cb.Container.ChannelID, cb.Container.MessageTs)); err != nil {
			h.Log.Warn("cannot open the ask modal", "err", err)
		}
		return
	}
	kind, known := outcomeOf[act.ActionID]
	if !known {
		h.ephemeral(ctx, cb, fmt.Sprintf("Unknown button %q.", act.ActionID))
		return
	}
	allowed := !slices.Contains(restricted, act.ActionID) || h.mayDecide(person, n.Action)
	iv := mandate.Intervention{NotificationID: n.ID, ActionID: n.Action.ID, Kind: kind, SlackUser: user, PersonID: person, Allowed: allowed, At: now}
	if !allowed {
		h.Deliveries.Intervene(ctx, iv)
		h.Log.Warn("intervention refused", "button", act.ActionID, "slack_user", user, "person", person, "notification", n.ID)
		h.ephemeral(ctx, cb, fmt.Sprintf("Only the owners of %s, their team lead, whoever is on call, or an org admin may %s.",
			resourceList(n.Action), strings.ReplaceAll(act.ActionID, "_", " ")))
		return
	}
	by := person
	if by == "" {
		by = "slack:" + user
	}
	switch act.ActionID {
	case "pause_agent":
		if _, _, err := h.Actors.SetPaused(ctx, n.Action.ActorID, true, by, "paused from Slack on notification "+fmt.Sprint(n.ID)); err != nil {
			h.ephemeral(ctx, cb, "Could not pause "+n.Action.ActorID+": "+mandate.ErrorMessage(err))
			return
		}
	case "resume_agent":
		if _, _, err := h.Actors.SetPaused(ctx, n.Action.ActorID, false, by, ""); err != nil {
			h.ephemeral(ctx, cb, "Could not resume "+n.Action.ActorID+": "+mandate.ErrorMessage(err))
			return
		}
	case "not_relevant":
		if err := h.Feedback.Feedback(ctx, n.ID, false, by); err != nil {
			h.Log.Warn("cannot record feedback", "err", err)
		}
	case "recover":
		if rec, ok := notify.Recoveries[n.Action.Type]; ok {
			h.ephemeral(ctx, cb, fmt.Sprintf("Recovery for %s: %s. Limits: %s. Mandate does not run it for you; this records that you started it.",
				n.Action.Type, rec.Path, strings.Join(rec.Limits, "; ")))
		} else {
			h.ephemeral(ctx, cb, "No recovery path is known for "+n.Action.Type+"; recorded that you started one.")
		}
	case "approve", "deny":
		g, changed, err := h.Gates.Decide(ctx, n.Action.ID, act.ActionID == "approve", by, now)
		switch {
		case mandate.ErrorCode(err) == mandate.ENOTFOUND:
			h.ephemeral(ctx, cb, n.Action.ActorID+"'s action has no gate: it did not wait for a decision.")
			return
		case err != nil:
			h.ephemeral(ctx, cb, "Could not decide the gate: "+mandate.ErrorMessage(err))
			return
		case !changed:
			h.ephemeral(ctx, cb, fmt.Sprintf("The gate is already %s.", g.State))
			return
		}
	}
	tti, first, err := h.Deliveries.Intervene(ctx, iv)
	if err != nil {
		h.Log.Error("cannot record intervention", "err", err)
		return
	}
	if first && h.TTI != nil {
		h.TTI.WithLabelValues(kind).Observe(tti.Seconds())
	}
	h.reflect(ctx, n, iv, cb)
}

// reflect updates the original message and tells the thread, so everyone sees who did
// what (conflicting presses: the latest wins, and the thread shows the sequence).
func (h *Handlers) reflect(ctx context.Context, n *mandate.Notification, iv mandate.Intervention, cb slack.InteractionCallback) {
	fresh, err := h.Deliveries.Get(ctx, n.ID)
	if err != nil {
		return
	}
	if fresh.Channel == "" || fresh.TS == "" {
		// Pressed before the post's answer was stored (or while a retry recovers it):
		// the press itself says which message it was on.
		fresh.Channel, fresh.TS = cb.Container.ChannelID, cb.Container.MessageTs
		if fresh.Channel == "" || fresh.TS == "" {
			return
		}
	}
	if err := h.Notifier.Update(ctx, fresh); err != nil {
		h.Log.Warn("cannot update the notification message", "err", err)
	}
	o := blocks.Outcome{Kind: iv.Kind, By: iv.SlackUser}
	if fresh.Delivered != nil {
		o.After = iv.At.Sub(*fresh.Delivered)
	}
	if _, _, err := h.API.PostMessageContext(ctx, fresh.Channel, slack.MsgOptionTS(fresh.TS),
		slack.MsgOptionText(blocks.ThreadNote(o, n.Action.ActorID), false)); err != nil {
		h.Log.Warn("cannot post in the thread", "err", err)
	}
}

// mayDecide: the resource's owners, their team leads, on-call (the escalation path) and
// org admins may approve, deny, recover and resume.
func (h *Handlers) mayDecide(person string, a *mandate.Action) bool {
	if person == "" {
		return false
	}
	cfg := h.Config()
	if slices.Contains(cfg.Org.Admins, person) {
		return true
	}
	snap := h.Owners.Snapshot()
	for _, r := range a.Resources {
		o := snap.Resolve(r)
		if slices.Contains(o.People, person) || slices.Contains(o.Escalation, person) {
			return true
		}
		for _, t := range o.Teams {
			if team, ok := cfg.Team(t); ok && team.Lead == person {
				return true
			}
		}
	}
	return false
}

func (h *Handlers) personBySlack(user string) string {
	for _, p := range h.Config().People {
		if p.Slack == user {
			return p.ID
		}
	}
	return ""
}

func resourceList(a *mandate.Action) string {
	keys := make([]string, len(a.Resources))
	for i, r := range a.Resources {
		keys[i] = r.Key()
	}
	return strings.Join(keys, ", ")
}

func (h *Handlers) ephemeral(ctx context.Context, cb slack.InteractionCallback, text string) {
	h.ephemeralBlocks(ctx, cb, text, blocks.Ephemeral(text))
}

func (h *Handlers) ephemeralBlocks(ctx context.Context, cb slack.InteractionCallback, text string, bs []slack.Block) {
	channel := cb.Channel.ID
	if channel == "" {
		channel = cb.Container.ChannelID
	}
	if _, err := h.API.PostEphemeralContext(ctx, channel, cb.User.ID, slack.MsgOptionText(text, false), slack.MsgOptionBlocks(bs...)); err != nil {
		h.Log.Warn("cannot post an ephemeral reply", "err", err)
	}
}

// ViewSubmission handles the "ask a question" modal: the question is stored (the agent
// reads it through GET /v1/actions/{id}/questions) and posted in the message's thread.
func (h *Handlers) ViewSubmission(ctx context.Context, cb slack.InteractionCallback) any {
	if f, ok := views[cb.View.CallbackID]; ok {
		return f(h, ctx, cb)
	}
	if cb.View.CallbackID != "ask_question" {
		return nil
	}
	question := strings.TrimSpace(cb.View.State.Values["q"]["q_input"].Value)
	if question == "" {
		return slack.NewErrorsViewSubmissionResponse(map[string]string{"q": "Write a question."})
	}
	meta, ok := blocks.ParseAskMetadata(cb.View.PrivateMetadata)
	if !ok {
		return slack.NewErrorsViewSubmissionResponse(map[string]string{"q": "This form lost its notification; ask again from the message."})
	}
	n, err := h.Deliveries.Get(ctx, meta.NotificationID)
	if err != nil {
		return slack.NewErrorsViewSubmissionResponse(map[string]string{"q": "That notification is gone."})
	}
	if n.Channel == "" || n.TS == "" {
		// Asked before the post's answer was recorded: the modal knows the message.
		n.Channel, n.TS = meta.Channel, meta.TS
	}
	person := h.personBySlack(cb.User.ID)
	by := person
	if by == "" {
		by = "slack:" + cb.User.ID
	}
	if err := h.Deliveries.Ask(ctx, n.Action.ID, by, question); err != nil {
		return slack.NewErrorsViewSubmissionResponse(map[string]string{"q": "Could not save the question; try again."})
	}
	iv := mandate.Intervention{NotificationID: n.ID, ActionID: n.Action.ID, Kind: "question", SlackUser: cb.User.ID, PersonID: person, Allowed: true, Note: question, At: h.Now()}
	go func() {
		ctx := context.WithoutCancel(ctx)
		if tti, first, err := h.Deliveries.Intervene(ctx, iv); err == nil && first && h.TTI != nil {
			h.TTI.WithLabelValues("question").Observe(tti.Seconds())
		}
		if n.Channel != "" {
			h.API.PostMessageContext(ctx, n.Channel, slack.MsgOptionTS(n.TS),
				slack.MsgOptionText(fmt.Sprintf("❓ <@%s> asks %s: %s", cb.User.ID, n.Action.ActorID, question), false))
		}
	}()
	return nil
}

// Event handles Events API events: App Home shows the status page.
func (h *Handlers) Event(ctx context.Context, ev slackevents.EventsAPIEvent) {
	if ev.Type != slackevents.CallbackEvent {
		return
	}
	if home, ok := ev.InnerEvent.Data.(*slackevents.AppHomeOpenedEvent); ok {
		st, err := h.Status(ctx)
		if err != nil {
			h.Log.Warn("cannot build the status for App Home", "err", err)
			return
		}
		if _, err := h.API.PublishViewContext(ctx, slack.PublishViewContextRequest{UserID: home.User, View: blocks.Home(st)}); err != nil {
			h.Log.Warn("cannot publish App Home", "err", err)
		}
	}
}
