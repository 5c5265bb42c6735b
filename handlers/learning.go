package handlers

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/slack-go/slack"

	"github.com/mandatehq/mandate"
	"github.com/mandatehq/mandate/blocks"
)

// Postmortems and action items: the buttons of the postmortem card (add an action item,
// say who should have been notified, publish, close), their modals, and the Done button
// on items and on the owners' overdue reminders.

// Learning is what these buttons call; *incidents.Learner implements it.
type Learning interface {
	Card(ctx context.Context, number int64) (blocks.PostmortemCard, error)
	AddItem(ctx context.Context, it mandate.ActionItem, by string) (*mandate.ActionItem, error)
	ItemAdded(ctx context.Context, it *mandate.ActionItem, by string)
	Publish(ctx context.Context, number int64, by string) (*mandate.Postmortem, error)
	Close(ctx context.Context, number int64, by string) (*mandate.Postmortem, error)
	MarkDone(ctx context.Context, id int64, by string) (*mandate.ActionItem, bool, error)
	NagMessage(ctx context.Context, it *mandate.ActionItem) (fallback string, bs []slack.Block, err error)
	MissedForm(ctx context.Context, number int64, by string) (blocks.MissedForm, error)
	MarkMissed(ctx context.Context, number int64, actionID, who, note, by string) (*mandate.Incident, error)
	MissedMarked(ctx context.Context, inc *mandate.Incident, actionID, who, note, by string)
}

// learnings holds each Handlers' Learning. Handlers' fields are declared with the
// notification handlers; this keeps the feature in its own file until it earns a field.
var learnings sync.Map // *Handlers -> Learning

// SetLearning gives h the postmortem and action-item service; without one, these buttons
// answer that postmortems are not set up.
func (h *Handlers) SetLearning(l Learning) { learnings.Store(h, l) }

func (h *Handlers) learning(ctx context.Context, cb slack.InteractionCallback) (Learning, bool) {
	if v, ok := learnings.Load(h); ok {
		return v.(Learning), true
	}
	h.ephemeral(ctx, cb, "Postmortems are not set up on this Mandate server.")
	return nil, false
}

func init() {
	buttons[blocks.ActionAddActionItem] = (*Handlers).addActionItem
	buttons[blocks.ActionPublishPostmortem] = (*Handlers).publishPostmortem
	buttons[blocks.ActionClosePostmortem] = (*Handlers).closePostmortem
	buttons[blocks.ActionItemDone] = (*Handlers).actionItemDone
	views[blocks.ItemCallbackID] = (*Handlers).submitActionItem
	buttons[blocks.ActionMissedNotification] = (*Handlers).missedNotification
	views[blocks.MissedCallbackID] = (*Handlers).submitMissed
}

// notLinked is the answer to someone Mandate cannot name: publishing, closing and marking
// done are recorded with who did them.
const notLinked = "Your Slack account is not linked to a person in mandate.yaml (people[].slack), so Mandate cannot record who did this."

// pressedPostmortem reads the incident a postmortem card's button is about, answering
// the presser when the button or the server cannot serve it.
func (h *Handlers) pressedPostmortem(ctx context.Context, cb slack.InteractionCallback, act *slack.BlockAction) (Learning, int64, bool) {
	l, ok := h.learning(ctx, cb)
	if !ok {
		return nil, 0, false
	}
	number, _, ok := blocks.ParseIncidentValue(act.Value)
	if !ok {
		h.ephemeral(ctx, cb, "That button names no incident; it may come from an older message.")
		return nil, 0, false
	}
	return l, number, true
}

// linkedPresser is the person who pressed, or "" after telling them their Slack account
// is not linked: what they do is recorded with their name.
func (h *Handlers) linkedPresser(ctx context.Context, cb slack.InteractionCallback) string {
	person := h.personBySlack(cb.User.ID)
	if person == "" {
		h.ephemeral(ctx, cb, notLinked)
	}
	return person
}

func (h *Handlers) addActionItem(ctx context.Context, cb slack.InteractionCallback, act *slack.BlockAction) {
	l, number, ok := h.pressedPostmortem(ctx, cb, act)
	if !ok {
		return
	}
	card, err := l.Card(ctx, number)
	if err != nil {
		h.ephemeral(ctx, cb, "Cannot add an action item: "+mandate.ErrorMessage(err))
		return
	}
	meta := blocks.ItemModalMetadata(number, cb.Container.ChannelID, cb.Container.MessageTs)
	if _, err := h.API.OpenViewContext(ctx, cb.TriggerID, blocks.ActionItemModal(number, card.Title, meta)); err != nil {
		h.Log.Warn("cannot open the action item modal", "err", err)
	}
}

func (h *Handlers) publishPostmortem(ctx context.Context, cb slack.InteractionCallback, act *slack.BlockAction) {
	h.settlePostmortem(ctx, cb, act, "publish", Learning.Publish)
}

func (h *Handlers) closePostmortem(ctx context.Context, cb slack.InteractionCallback, act *slack.BlockAction) {
	h.settlePostmortem(ctx, cb, act, "close", Learning.Close)
}

func (h *Handlers) settlePostmortem(ctx context.Context, cb slack.InteractionCallback, act *slack.BlockAction, verb string,
	do func(Learning, context.Context, int64, string) (*mandate.Postmortem, error)) {
	l, number, ok := h.pressedPostmortem(ctx, cb, act)
	if !ok {
		return
	}
	person := h.linkedPresser(ctx, cb)
	if person == "" {
		return
	}
	if _, err := do(l, ctx, number, person); err != nil {
		msg := fmt.Sprintf("Cannot %s the postmortem: %s.", verb, blocks.Escape(mandate.ErrorMessage(err)))
		if mandate.ErrorCode(err) == mandate.EINVALID && strings.Contains(mandate.ErrorMessage(err), "action item") {
			msg += " Add one with ➕ *Add action item* first."
		}
		h.ephemeral(ctx, cb, msg)
		return
	}
	h.refreshCard(ctx, l, number, cb.Container.ChannelID, cb.Container.MessageTs)
}

// refreshCard re-renders the postmortem card at (channel, ts).
func (h *Handlers) refreshCard(ctx context.Context, l Learning, number int64, channel, ts string) {
	if channel == "" || ts == "" {
		return
	}
	card, err := l.Card(ctx, number)
	if err != nil {
		h.Log.Warn("cannot read the postmortem card", "incident", number, "err", err)
		return
	}
	fallback, bs := blocks.Postmortem(card)
	if _, _, _, err := h.API.UpdateMessageContext(ctx, channel, ts, slack.MsgOptionText(fallback, false), slack.MsgOptionBlocks(bs...)); err != nil {
		h.Log.Warn("cannot update the postmortem card", "incident", number, "err", err)
	}
}

func (h *Handlers) actionItemDone(ctx context.Context, cb slack.InteractionCallback, act *slack.BlockAction) {
	l, ok := h.learning(ctx, cb)
	if !ok {
		return
	}
	id, ok := blocks.ParseItemValue(act.Value)
	if !ok {
		h.ephemeral(ctx, cb, "That button names no action item; it may come from an older message.")
		return
	}
	person := h.linkedPresser(ctx, cb)
	if person == "" {
		return
	}
	it, changed, err := l.MarkDone(ctx, id, person)
	switch {
	case err != nil:
		h.ephemeral(ctx, cb, "Cannot mark it done: "+blocks.Escape(mandate.ErrorMessage(err))+".")
		return
	case !changed:
		when := ""
		if it.DoneAt != nil {
			when = " on " + it.DoneAt.UTC().Format(time.DateOnly)
		}
		h.ephemeral(ctx, cb, fmt.Sprintf("Already done (by %s%s).", blocks.Escape(it.DoneBy), when))
	}
	channel, ts := cb.Container.ChannelID, cb.Container.MessageTs
	if strings.HasPrefix(act.BlockID, blocks.BlockItemNag+":") {
		// A reminder in a DM: it becomes the record that the item is done.
		fallback, bs, err := l.NagMessage(ctx, it)
		if err == nil && channel != "" && ts != "" {
			_, _, _, err = h.API.UpdateMessageContext(ctx, channel, ts, slack.MsgOptionText(fallback, false), slack.MsgOptionBlocks(bs...))
		}
		if err != nil {
			h.Log.Warn("cannot update the reminder", "item", id, "err", err)
		}
		return
	}
	h.refreshCard(ctx, l, it.Incident, channel, ts)
}

// learningModal reads what every postmortem modal starts from: its incident and message
// (private_metadata) and the postmortem service. A non-nil refusal is the answer to give,
// its reason shown next to block.
func (h *Handlers) learningModal(cb slack.InteractionCallback, block string) (number int64, channel, ts string, l Learning, refusal any) {
	number, channel, ts, ok := blocks.ParseItemModalMetadata(cb.View.PrivateMetadata)
	if !ok {
		return 0, "", "", nil, slack.NewErrorsViewSubmissionResponse(map[string]string{block: "This form lost its incident; open it again from the postmortem."})
	}
	v, found := learnings.Load(h)
	if !found {
		return 0, "", "", nil, slack.NewErrorsViewSubmissionResponse(map[string]string{block: "Postmortems are not set up on this Mandate server."})
	}
	return number, channel, ts, v.(Learning), nil
}

// submitActionItem handles the "Add action item" modal. Mistakes keep the modal open
// with the reason next to the field; nothing is stored until everything is right.
func (h *Handlers) submitActionItem(ctx context.Context, cb slack.InteractionCallback) any {
	vals := cb.View.State.Values
	field := func(block, input string) slack.BlockAction { return vals[block][input] }
	number, channel, ts, l, refusal := h.learningModal(cb, blocks.ItemTitleBlock)
	if refusal != nil {
		return refusal
	}

	errs := map[string]string{}
	title := strings.TrimSpace(field(blocks.ItemTitleBlock, blocks.ItemTitleInput).Value)
	if title == "" {
		errs[blocks.ItemTitleBlock] = "Say what will be done."
	}
	user := field(blocks.ItemOwnerBlock, blocks.ItemOwnerInput).SelectedUser
	personID := strings.TrimSpace(field(blocks.ItemPersonBlock, blocks.ItemPersonInput).Value)
	owner, ownerBlock := personID, blocks.ItemPersonBlock
	switch {
	case user == "" && personID == "":
		errs[blocks.ItemOwnerBlock] = "Choose the owner, or give their person id below."
	case user != "" && personID != "":
		errs[blocks.ItemPersonBlock] = "Give the owner once: choose them above or type a person id, not both."
	case user != "":
		owner, ownerBlock = h.personBySlack(user), blocks.ItemOwnerBlock
		if owner == "" {
			errs[blocks.ItemOwnerBlock] = "This Slack user is not linked to a person in mandate.yaml (people[].slack), so Mandate could not remind them. Link them, or give a person id below."
		}
	}
	var due time.Time
	switch d := field(blocks.ItemDueBlock, blocks.ItemDueInput).SelectedDate; {
	case d == "":
		errs[blocks.ItemDueBlock] = "Choose a due date."
	default:
		var err error
		if due, err = time.Parse(time.DateOnly, d); err != nil {
			errs[blocks.ItemDueBlock] = fmt.Sprintf("%q is not a date.", d)
		}
	}
	if len(errs) > 0 {
		return slack.NewErrorsViewSubmissionResponse(errs)
	}
	by := h.personBySlack(cb.User.ID)
	if by == "" {
		by = "slack:" + cb.User.ID
	}
	it, err := l.AddItem(ctx, mandate.ActionItem{Incident: number, Title: title, Owner: owner, Due: due}, by)
	if err != nil {
		blockOf := map[string]string{"title": blocks.ItemTitleBlock, "owner": ownerBlock, "due": blocks.ItemDueBlock}
		if e, ok := errors.AsType[*mandate.Error](err); ok && len(e.Fields) > 0 {
			for _, f := range e.Fields {
				if b, ok := blockOf[f.Field]; ok {
					errs[b] = strings.ToUpper(f.Message[:1]) + f.Message[1:] + "."
				}
			}
		}
		if len(errs) == 0 {
			errs[blocks.ItemTitleBlock] = "Could not add it: " + mandate.ErrorMessage(err)
		}
		return slack.NewErrorsViewSubmissionResponse(errs)
	}
	// The modal closes now; the channel note, the postmortem and the card follow.
	go func() {
		ctx := context.WithoutCancel(ctx)
		l.ItemAdded(ctx, it, by)
		h.refreshCard(ctx, l, number, channel, ts)
	}()
	return nil
}

// missedNotification opens the "Should have been notified" modal, for those who may
// review the incident; anyone else is told at once who may, before filling anything in.
func (h *Handlers) missedNotification(ctx context.Context, cb slack.InteractionCallback, act *slack.BlockAction) {
	l, number, ok := h.pressedPostmortem(ctx, cb, act)
	if !ok {
		return
	}
	person := h.linkedPresser(ctx, cb)
	if person == "" {
		return
	}
	form, err := l.MissedForm(ctx, number, person)
	if err != nil {
		h.ephemeral(ctx, cb, "Cannot mark who should have been notified: "+blocks.Escape(mandate.ErrorMessage(err))+".")
		return
	}
	meta := blocks.ItemModalMetadata(number, cb.Container.ChannelID, cb.Container.MessageTs)
	if _, err := h.API.OpenViewContext(ctx, cb.TriggerID, blocks.MissedModal(form, meta)); err != nil {
		h.Log.Warn("cannot open the missed notification modal", "err", err)
	}
}

// submitMissed handles the "Should have been notified" modal: one causing action, and
// either a Slack user linked to a person of mandate.yaml or a team. Mistakes keep the
// modal open with the reason next to the field; nothing is recorded until all is right.
func (h *Handlers) submitMissed(ctx context.Context, cb slack.InteractionCallback) any {
	vals := cb.View.State.Values
	field := func(block, input string) slack.BlockAction { return vals[block][input] }
	number, channel, ts, l, refusal := h.learningModal(cb, blocks.MissedCauseBlock)
	if refusal != nil {
		return refusal
	}

	errs := map[string]string{}
	by := h.personBySlack(cb.User.ID)
	actionID := field(blocks.MissedCauseBlock, blocks.MissedCauseInput).SelectedOption.Value
	switch {
	case by == "":
		errs[blocks.MissedCauseBlock] = notLinked
	case actionID == "":
		errs[blocks.MissedCauseBlock] = "Choose the causing action."
	}
	user := field(blocks.MissedPersonBlock, blocks.MissedPersonInput).SelectedUser
	team := field(blocks.MissedTeamBlock, blocks.MissedTeamInput).SelectedOption.Value
	var who, whoBlock string
	switch {
	case user == "" && team == "":
		errs[blocks.MissedPersonBlock] = "Choose who should have been told: a person, or a team below."
	case user != "" && team != "":
		errs[blocks.MissedTeamBlock] = "Choose a person or a team, not both."
	case user != "":
		who, whoBlock = h.personBySlack(user), blocks.MissedPersonBlock
		if who == "" {
			errs[blocks.MissedPersonBlock] = "This Slack user is not linked to a person in mandate.yaml (people[].slack), so routing could never reach them. Link them, or choose their team below."
		}
	default:
		// A team is a target like a notification's: "team:<id>", never mistaken for a
		// person with the same id.
		who, whoBlock = string(mandate.TargetTeam)+":"+team, blocks.MissedTeamBlock
	}
	if len(errs) > 0 {
		return slack.NewErrorsViewSubmissionResponse(errs)
	}
	note := field(blocks.MissedNoteBlock, blocks.MissedNoteInput).Value
	inc, err := l.MarkMissed(ctx, number, actionID, who, note, by)
	if err != nil {
		blockOf := map[string]string{"action": blocks.MissedCauseBlock, "who": whoBlock, "note": blocks.MissedNoteBlock}
		if e, ok := errors.AsType[*mandate.Error](err); ok {
			for _, f := range e.Fields {
				if b, ok := blockOf[f.Field]; ok {
					errs[b] = strings.ToUpper(f.Message[:1]) + f.Message[1:] + "."
				}
			}
		}
		if len(errs) == 0 {
			errs[blocks.MissedCauseBlock] = "Could not record it: " + mandate.ErrorMessage(err) + "."
		}
		return slack.NewErrorsViewSubmissionResponse(errs)
	}
	// The modal closes now; the channel line, the postmortem and the card follow.
	go func() {
		ctx := context.WithoutCancel(ctx)
		l.MissedMarked(ctx, inc, actionID, who, note, by)
		h.refreshCard(ctx, l, number, channel, ts)
	}()
	return nil
}
