package incidents

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/slack-go/slack"

	"github.com/mandatehq/mandate"
	"github.com/mandatehq/mandate/blocks"
)

// dayOf is the UTC date of t: due dates and nag days are dates.
func dayOf(t time.Time) time.Time {
	y, m, d := t.UTC().Date()
	return time.Date(y, m, d, 0, 0, 0, 0, time.UTC)
}

// AddItem stores an action item promised in an incident's postmortem. Beyond what the
// store checks (a title, an owner, a due date), the owner must be a person in mandate.yaml
// — someone Mandate can remind — and the due date must not have passed. Nothing is stored
// when any of it is wrong; the error names each field.
func (l *Learner) AddItem(ctx context.Context, it mandate.ActionItem, by string) (*mandate.ActionItem, error) {
	now := l.now()
	var fields []mandate.FieldError
	if it.Owner != "" && l.Config != nil {
		if _, ok := l.Config().Person(it.Owner); !ok {
			fields = append(fields, mandate.FieldError{Field: "owner", Message: fmt.Sprintf("there is no person %q in mandate.yaml", it.Owner)})
		}
	}
	if !it.Due.IsZero() && dayOf(it.Due).Before(dayOf(now)) {
		fields = append(fields, mandate.FieldError{Field: "due", Message: fmt.Sprintf("%s has passed: pick today or later", it.Due.Format(time.DateOnly))})
	}
	if len(fields) > 0 {
		return nil, &mandate.Error{Code: mandate.EINVALID, Message: "the action item cannot be added", Fields: fields}
	}
	it.Created = now
	return l.Store.AddItem(ctx, it)
}

// ItemAdded tells the incident's channel about a new action item and rewrites the
// postmortem to list it. It runs after AddItem has answered, so a slow Slack never
// delays the modal's answer.
func (l *Learner) ItemAdded(ctx context.Context, it *mandate.ActionItem, by string) {
	if inc, err := l.Incidents.Get(ctx, it.Incident); err == nil {
		l.announce(ctx, inc, fmt.Sprintf("📌 %s added an action item to %s: *%s* — owner %s, due %s",
			l.mentionOf(by), inc.Ref(), blocks.Escape(it.Title), l.mentionOf(it.Owner), it.Due.Format(time.DateOnly)))
	}
	l.refresh(ctx, it.Incident)
}

// MayMarkDone reports whether a person may mark an item done: its owner, the incident's
// commander, or an org admin.
func (l *Learner) MayMarkDone(person string, it *mandate.ActionItem, inc *mandate.Incident) bool {
	if person == "" {
		return false
	}
	if person == it.Owner || (inc != nil && person == inc.Commander) {
		return true
	}
	return l.Config != nil && slices.Contains(l.Config().Org.Admins, person)
}

// MarkDone marks an action item done on behalf of a person, if they may (see
// MayMarkDone); changed is false when it was done already. The channel hears of it and
// the postmortem is rewritten.
func (l *Learner) MarkDone(ctx context.Context, id int64, by string) (it *mandate.ActionItem, changed bool, err error) {
	it, err = l.Store.Item(ctx, id)
	if err != nil {
		return nil, false, err
	}
	inc, err := l.Incidents.Get(ctx, it.Incident)
	if err != nil {
		return nil, false, err
	}
	if !l.MayMarkDone(by, it, inc) {
		who := "its owner (" + it.Owner + ")"
		if inc.Commander != "" && inc.Commander != it.Owner {
			who += ", the incident commander (" + inc.Commander + ")"
		}
		return nil, false, mandate.Errorf(mandate.EFORBIDDEN, "only %s or an org admin may mark %q done", who, it.Title)
	}
	it, changed, err = l.Store.MarkDone(ctx, id, by, l.now())
	if err != nil || !changed {
		return it, changed, err
	}
	l.announce(ctx, inc, fmt.Sprintf("✅ %s marked an action item of %s done: *%s*", l.mentionOf(by), inc.Ref(), blocks.Escape(it.Title)))
	l.refresh(ctx, it.Incident)
	return it, true, nil
}

// NagMessage renders the reminder about an item as it stands (open, or done and by whom).
func (l *Learner) NagMessage(ctx context.Context, it *mandate.ActionItem) (fallback string, bs []slack.Block, err error) {
	inc, err := l.Incidents.Get(ctx, it.Incident)
	if err != nil {
		return "", nil, err
	}
	now := l.now()
	fallback, bs = blocks.ItemNag(inc.Number, inc.Title, l.itemView(*it, now), now)
	return fallback, bs, nil
}

// errNoSlackUser marks an owner Mandate cannot DM: retrying will not help.
var errNoSlackUser = errors.New("no Slack user")

// Nag reminds the owners of overdue action items by DM, once per item and UTC day across
// every replica: each item's day is claimed in the database before its message is sent,
// and given back when Slack fails, so a later run that day tries again. It returns how
// many reminders were sent; the error joins what failed (the job may run again: claimed
// items are not sent twice).
func (l *Learner) Nag(ctx context.Context, now time.Time) (sent int, err error) {
	if l.Slack == nil {
		return 0, errors.New("nag: Slack is not configured: nobody can be reminded")
	}
	items, err := l.Store.Overdue(ctx, now)
	if err != nil {
		return 0, err
	}
	day := dayOf(now)
	incs := map[int64]*mandate.Incident{}
	dms := map[string]string{}
	var errs []error
	for i := range items {
		it := &items[i]
		claimed, err := l.Store.ClaimNag(ctx, it.ID, day)
		if err != nil {
			errs = append(errs, fmt.Errorf("action item %d: %w", it.ID, err))
			continue
		}
		if !claimed {
			continue // reminded today already, here or on another replica
		}
		inc, ok := incs[it.Incident]
		if !ok {
			if inc, err = l.Incidents.Get(ctx, it.Incident); err != nil {
				errs = append(errs, fmt.Errorf("action item %d: %w", it.ID, err))
				_ = l.Store.ReleaseNag(ctx, it.ID, day)
				continue
			}
			incs[it.Incident] = inc
		}
		if err := l.sendNag(ctx, inc, it, now, dms); err != nil {
			if !errors.Is(err, errNoSlackUser) {
				if rerr := l.Store.ReleaseNag(ctx, it.ID, day); rerr != nil {
					err = errors.Join(err, rerr)
				}
			}
			errs = append(errs, fmt.Errorf("action item %d (owner %s): %w", it.ID, it.Owner, err))
			continue
		}
		sent++
	}
	return sent, errors.Join(errs...)
}

func (l *Learner) sendNag(ctx context.Context, inc *mandate.Incident, it *mandate.ActionItem, now time.Time, dms map[string]string) error {
	user := l.slackName(it.Owner)
	if user == it.Owner || user == "" {
		return fmt.Errorf("%w: person %q has no slack id in mandate.yaml", errNoSlackUser, it.Owner)
	}
	ch, ok := dms[user]
	if !ok {
		c, _, _, err := l.Slack.OpenConversationContext(ctx, &slack.OpenConversationParameters{Users: []string{user}, ReturnIM: true})
		if err != nil {
			return err
		}
		ch = c.ID
		dms[user] = ch
	}
	fallback, bs := blocks.ItemNag(inc.Number, inc.Title, l.itemView(*it, now), now)
	_, _, err := l.Slack.PostMessageContext(ctx, ch, slack.MsgOptionText(fallback, false), slack.MsgOptionBlocks(bs...))
	return err
}
