package incidents

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/slack-go/slack"

	"github.com/mandatehq/mandate"
	"github.com/mandatehq/mandate/blocks"
	"github.com/mandatehq/mandate/config"
)

// LearningStore keeps postmortems, action items and patterns; *postgres.LearningStore
// implements it.
type LearningStore interface {
	SavePostmortem(ctx context.Context, number int64, markdown string, at time.Time) error
	GetPostmortem(ctx context.Context, number int64) (*mandate.Postmortem, error)
	PublishPostmortem(ctx context.Context, number int64, by string, at time.Time) (*mandate.Postmortem, error)
	ClosePostmortem(ctx context.Context, number int64, final, by string, at time.Time) (*mandate.Postmortem, error)
	AddItem(ctx context.Context, it mandate.ActionItem) (*mandate.ActionItem, error)
	Item(ctx context.Context, id int64) (*mandate.ActionItem, error)
	Items(ctx context.Context, number int64) ([]mandate.ActionItem, error)
	MarkDone(ctx context.Context, id int64, by string, at time.Time) (*mandate.ActionItem, bool, error)
	Overdue(ctx context.Context, now time.Time) ([]mandate.ActionItem, error)
	ClaimNag(ctx context.Context, id int64, day time.Time) (bool, error)
	ReleaseNag(ctx context.Context, id int64, day time.Time) error
	SavePatterns(ctx context.Context, number int64, ps []mandate.IncidentPattern) ([]mandate.IncidentPattern, error)
	MarkRepeat(ctx context.Context, number, of int64) (bool, error)
	Involved(ctx context.Context, number int64) ([]mandate.Involvement, error)
}

// IncidentSource reads an incident with its causes (and their actions) and its timeline;
// *postgres.IncidentStore implements it.
type IncidentSource interface {
	Get(ctx context.Context, number int64) (*mandate.Incident, error)
	Timeline(ctx context.Context, number int64) ([]mandate.TimelineEntry, error)
}

// RuleFeedback is routing feedback: per rule, and the "should have been notified" marks
// on an incident's causes; *postgres.RoutingStore implements it.
type RuleFeedback interface {
	Stats(ctx context.Context, since time.Time) ([]mandate.RuleStats, error)
	Missed(ctx context.Context, actionID, who, note, by string) error
	IncidentMisses(ctx context.Context, number int64) ([]mandate.IncidentMiss, error)
}

// DefaultFeedbackWindow is how far back routing feedback informs a postmortem's
// suggestions.
const DefaultFeedbackWindow = 30 * 24 * time.Hour

// Learner closes the loop after an incident: it drafts the postmortem when the incident
// resolves, keeps the promises made in it (action items, their Done buttons and the daily
// nag), and turns the incident's causes into patterns the router warns about next time.
type Learner struct {
	Store     LearningStore
	Incidents IncidentSource
	// Feedback, when set, adds routing feedback to the suggested changes and records
	// "should have been notified" marks made during review (MarkMissed).
	Feedback RuleFeedback
	// Matcher, when set, is reloaded as patterns and items change here, and tells an
	// incident that repeats an earlier one.
	Matcher *Matcher
	// Slack, when set, gets the draft in the incident's channel, notes on items and
	// publishing, and the owners' reminders.
	Slack *slack.Client
	// Config returns the configuration in force: people's Slack ids and the org admins.
	Config func() *config.Config
	// Link is where a postmortem is read; PostmortemPath when nil.
	Link func(number int64) string
	// FeedbackWindow is how far back routing feedback is read; DefaultFeedbackWindow when 0.
	FeedbackWindow time.Duration
	Now            func() time.Time
	Log            *slog.Logger
}

func (l *Learner) now() time.Time {
	if l.Now != nil {
		return l.Now()
	}
	return time.Now()
}

func (l *Learner) logger() *slog.Logger {
	if l.Log != nil {
		return l.Log
	}
	return slog.Default()
}

func (l *Learner) link(number int64) string {
	if l.Link != nil {
		return l.Link(number)
	}
	return PostmortemPath(number)
}

// OnResolved is the hook incidents call once an incident is resolved: it extracts and
// stores the incident's patterns (and notes whether it repeats an earlier incident), writes
// the postmortem draft, and posts it to the incident's channel with its buttons. Each step
// that fails is logged and the others still run: a draft without Slack, or patterns
// without a draft, are still worth having.
func (l *Learner) OnResolved(ctx context.Context, resolved *mandate.Incident) {
	log := l.logger().With("incident", resolved.Ref())
	inc, err := l.Incidents.Get(ctx, resolved.Number)
	if err != nil {
		log.Error("cannot read the resolved incident; learning from what the hook was given", "err", err)
		inc = resolved
	}
	if err := l.learnPatterns(ctx, inc); err != nil {
		log.Error("cannot store the incident's patterns", "err", err)
	}
	d, err := l.redraft(ctx, inc.Number, true)
	if err != nil {
		log.Error("cannot write the postmortem draft", "err", err)
		return
	}
	if err := l.postDraft(ctx, d); err != nil {
		log.Warn("cannot post the postmortem draft to the incident channel", "err", err)
	}
}

// learnPatterns stores inc's patterns and, when its causes match an earlier incident's,
// records that it repeats the most recent such incident.
func (l *Learner) learnPatterns(ctx context.Context, inc *mandate.Incident) error {
	if l.Matcher != nil && inc.RepeatOf == 0 {
		if of := l.repeats(inc); of != 0 {
			if _, err := l.Store.MarkRepeat(ctx, inc.Number, of); err != nil {
				return err
			}
			inc.RepeatOf = of
		}
	}
	if ps := ExtractPatterns(inc); len(ps) > 0 {
		if _, err := l.Store.SavePatterns(ctx, inc.Number, ps); err != nil {
			return err
		}
	}
	if l.Matcher != nil {
		return l.Matcher.Load(ctx)
	}
	return nil
}

// repeats is the most recent earlier incident whose patterns inc's causing actions match
// (failure modes included: the causes have run), or 0.
func (l *Learner) repeats(inc *mandate.Incident) int64 {
	var of int64
	for _, c := range inc.CausingActions() {
		for _, s := range l.Matcher.find(c.Action) {
			if n := s.inc.Number; n < inc.Number && n > of {
				of = n
			}
		}
	}
	return of
}

// draft is a postmortem as written, with what was written from.
type draft struct {
	input    PostmortemInput
	markdown string
}

// gather reads everything a postmortem is written from.
func (l *Learner) gather(ctx context.Context, number int64) (PostmortemInput, error) {
	in := PostmortemInput{Now: l.now()}
	inc, err := l.Incidents.Get(ctx, number)
	if err != nil {
		return in, err
	}
	in.Incident = inc
	if inc.Items, err = l.Store.Items(ctx, number); err != nil {
		return in, err
	}
	if in.Timeline, err = l.Incidents.Timeline(ctx, number); err != nil {
		return in, err
	}
	if in.Involved, err = l.Store.Involved(ctx, number); err != nil {
		return in, err
	}
	if inc.RepeatOf != 0 {
		if in.Repeats, err = l.Incidents.Get(ctx, inc.RepeatOf); err != nil {
			return in, err
		}
		if in.Repeats.Items, err = l.Store.Items(ctx, inc.RepeatOf); err != nil {
			return in, err
		}
	}
	if l.Feedback != nil {
		window := l.FeedbackWindow
		if window <= 0 {
			window = DefaultFeedbackWindow
		}
		if in.Rules, err = l.Feedback.Stats(ctx, in.Now.Add(-window)); err != nil {
			return in, err
		}
		if in.Misses, err = l.Feedback.IncidentMisses(ctx, number); err != nil {
			return in, err
		}
	}
	return in, nil
}

// redraft writes the postmortem again from the facts as they are now and stores it. A
// closed postmortem is final and left as it is; one not drafted yet is written only when
// create is set (the incident resolved).
func (l *Learner) redraft(ctx context.Context, number int64, create bool) (*draft, error) {
	in, err := l.gather(ctx, number)
	if err != nil {
		return nil, err
	}
	switch in.Incident.Postmortem {
	case mandate.PostmortemClosed:
		return &draft{input: in}, nil
	case mandate.PostmortemNone:
		if !create {
			return &draft{input: in}, nil
		}
		in.Incident.Postmortem = mandate.PostmortemDraft
	}
	d := &draft{input: in, markdown: Postmortem(in)}
	return d, l.Store.SavePostmortem(ctx, number, d.markdown, in.Now)
}

// postDraft posts the card to the incident's channel and the Markdown in its thread.
func (l *Learner) postDraft(ctx context.Context, d *draft) error {
	inc := d.input.Incident
	if l.Slack == nil || inc.Channel == "" {
		return nil
	}
	fallback, bs := blocks.Postmortem(l.card(d.input, nil))
	_, ts, err := l.Slack.PostMessageContext(ctx, inc.Channel, slack.MsgOptionText(fallback, false), slack.MsgOptionBlocks(bs...))
	if err != nil {
		return err
	}
	for _, part := range blocks.MarkdownMessages(d.markdown) {
		if _, _, err := l.Slack.PostMessageContext(ctx, inc.Channel, slack.MsgOptionTS(ts), slack.MsgOptionText(part, false)); err != nil {
			return err
		}
	}
	return nil
}

// Card is the postmortem card of an incident as things stand, for re-rendering the
// message after a button.
func (l *Learner) Card(ctx context.Context, number int64) (blocks.PostmortemCard, error) {
	inc, err := l.Incidents.Get(ctx, number)
	if err != nil {
		return blocks.PostmortemCard{}, err
	}
	if inc.Items, err = l.Store.Items(ctx, number); err != nil {
		return blocks.PostmortemCard{}, err
	}
	pm, err := l.Store.GetPostmortem(ctx, number)
	if err != nil {
		return blocks.PostmortemCard{}, err
	}
	in := PostmortemInput{Incident: inc, Now: l.now()}
	if l.Feedback != nil {
		if in.Misses, err = l.Feedback.IncidentMisses(ctx, number); err != nil {
			return blocks.PostmortemCard{}, err
		}
	}
	return l.card(in, pm), nil
}

func (l *Learner) card(in PostmortemInput, pm *mandate.Postmortem) blocks.PostmortemCard {
	inc := in.Incident
	c := blocks.PostmortemCard{Incident: inc.Number, Title: inc.Title, State: inc.Postmortem, Causes: len(causesByRank(inc)),
		Missed: len(in.Misses), Link: l.link(inc.Number), At: in.Now}
	if pm != nil {
		c.State, c.PublishedBy = pm.State, l.slackName(pm.PublishedBy)
		if pm.At != nil {
			c.At = *pm.At
		}
	}
	for _, it := range inc.Items {
		c.Items = append(c.Items, l.itemView(it, in.Now))
	}
	return c
}

func (l *Learner) itemView(it mandate.ActionItem, now time.Time) blocks.ActionItem {
	return blocks.ActionItem{ID: it.ID, Title: it.Title, Owner: l.slackName(it.Owner), Due: it.Due,
		Done: it.State == mandate.ItemDone, DoneBy: l.slackName(it.DoneBy), Overdue: it.Overdue(now)}
}

// slackName is how a person is named in Slack: their user id (a mention) when
// mandate.yaml links one, else their id.
func (l *Learner) slackName(person string) string {
	if l.Config == nil || person == "" {
		return person
	}
	if p, ok := l.Config().Person(person); ok && p.Slack != "" {
		return p.Slack
	}
	return person
}

// mentionOf renders a person for mrkdwn text: a mention when mandate.yaml links their
// Slack account, else their escaped id.
func (l *Learner) mentionOf(person string) string {
	if id := l.slackName(person); id != person {
		return "<@" + id + ">"
	}
	return blocks.Escape(person)
}

// announce posts a note in the incident's channel, when it has one.
func (l *Learner) announce(ctx context.Context, inc *mandate.Incident, text string) {
	if l.Slack == nil || inc == nil || inc.Channel == "" {
		return
	}
	if _, _, err := l.Slack.PostMessageContext(ctx, inc.Channel, slack.MsgOptionText(text, false)); err != nil {
		l.logger().Warn("cannot post in the incident channel", "incident", inc.Ref(), "err", err)
	}
}

// Markdown is the postmortem as stored: what GET /v1/incidents/{number}/postmortem.md
// serves. It is ENOTFOUND until the incident has been resolved.
func (l *Learner) Markdown(ctx context.Context, number int64) (string, error) {
	pm, err := l.Store.GetPostmortem(ctx, number)
	if err != nil {
		return "", err
	}
	if pm.State == mandate.PostmortemNone || pm.Markdown == "" {
		return "", mandate.Errorf(mandate.ENOTFOUND, "INC-%d has no postmortem yet: it is drafted when the incident is resolved", number)
	}
	return pm.Markdown, nil
}

// Publish publishes an incident's postmortem on behalf of a person: always a human act,
// refused (with the reason) without a draft or without an action item that has an owner
// and a due date.
func (l *Learner) Publish(ctx context.Context, number int64, by string) (*mandate.Postmortem, error) {
	if by == "" {
		return nil, mandate.Errorf(mandate.EFORBIDDEN, "publishing a postmortem is a human act: Mandate must know who you are (people[].slack in mandate.yaml)")
	}
	pm, err := l.Store.PublishPostmortem(ctx, number, by, l.now())
	if err != nil {
		return nil, err
	}
	d, err := l.redraft(ctx, number, false)
	if err != nil {
		l.logger().Warn("cannot rewrite the published postmortem", "incident", number, "err", err)
		return pm, nil
	}
	if pm, err = l.Store.GetPostmortem(ctx, number); err != nil {
		return nil, err
	}
	l.announce(ctx, d.input.Incident, fmt.Sprintf("📣 %s published the postmortem of %s: %s", l.mentionOf(by), d.input.Incident.Ref(), l.link(number)))
	return pm, nil
}

// Close closes an incident's postmortem (and the incident) on behalf of a person, under
// the same conditions as publishing; the text is written one last time first.
func (l *Learner) Close(ctx context.Context, number int64, by string) (*mandate.Postmortem, error) {
	if by == "" {
		return nil, mandate.Errorf(mandate.EFORBIDDEN, "closing a postmortem is a human act: Mandate must know who you are (people[].slack in mandate.yaml)")
	}
	in, err := l.gather(ctx, number)
	if err != nil {
		return nil, err
	}
	final := ""
	if in.Incident.Postmortem != mandate.PostmortemNone && in.Incident.Postmortem != mandate.PostmortemClosed {
		in.Incident.Postmortem = mandate.PostmortemClosed
		in.Incident.State = mandate.IncidentClosed
		final = Postmortem(in)
	}
	pm, err := l.Store.ClosePostmortem(ctx, number, final, by, in.Now)
	if err != nil {
		return nil, err
	}
	l.announce(ctx, in.Incident, fmt.Sprintf("🔒 %s closed the postmortem of %s, and with it the incident. Its action items stay tracked.",
		l.mentionOf(by), in.Incident.Ref()))
	return pm, nil
}

// SeverityChanged rewrites the incident's postmortem draft, if it has one, with its new
// severity: the Service's OnSeverity hook.
func (l *Learner) SeverityChanged(ctx context.Context, inc *mandate.Incident) {
	if _, err := l.redraft(ctx, inc.Number, false); err != nil {
		l.logger().Warn("cannot rewrite the postmortem after a severity change", "incident", inc.Number, "err", err)
	}
}

// refresh rewrites an incident's postmortem after its items changed, and reloads the
// patterns' view of them; failures are logged, since the change itself is stored.
func (l *Learner) refresh(ctx context.Context, number int64) {
	var errs []error
	if _, err := l.redraft(ctx, number, false); err != nil {
		errs = append(errs, err)
	}
	if l.Matcher != nil {
		errs = append(errs, l.Matcher.Load(ctx))
	}
	if err := errors.Join(errs...); err != nil {
		l.logger().Warn("cannot refresh the postmortem after an action item changed", "incident", number, "err", err)
	}
}
