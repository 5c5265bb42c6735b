package incidents

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/mandatehq/mandate"
	"github.com/mandatehq/mandate/blocks"
)

// "Should have been notified" marks made during an incident's review: someone says who
// should have been told about one of its causes and was not. A mark is a routing miss
// like those of POST /v1/routing/missed (it counts against the rule that routed the
// action, in routing stats and the digest), and the postmortem suggests the change.

// errNoFeedback answers a mark on a server whose Learner has no routing feedback store.
var errNoFeedback = mandate.Errorf(mandate.EUNAVAILABLE, "routing feedback is not set up on this Mandate server, so a missed notification cannot be recorded")

// MayReview reports whether a person may mark who should have been told about an
// incident's causes: a member or lead of one of its teams (those of its resources and of
// the causes nobody dismissed), its commander, or an org admin.
func (l *Learner) MayReview(person string, inc *mandate.Incident) bool {
	if person == "" || inc == nil {
		return false
	}
	if person == inc.Commander {
		return true
	}
	if l.Config == nil {
		return false
	}
	cfg := l.Config()
	if slices.Contains(cfg.Org.Admins, person) {
		return true
	}
	for _, id := range affectedTeams(inc) {
		if t, ok := cfg.Team(id); ok && (t.Lead == person || slices.Contains(t.Members, person)) {
			return true
		}
	}
	return false
}

// forbiddenReview says who may review inc, for someone who may not.
func forbiddenReview(inc *mandate.Incident) error {
	who := "members of " + inc.Ref() + "'s teams"
	if teams := affectedTeams(inc); len(teams) > 0 {
		who += " (" + strings.Join(teams, ", ") + ")"
	}
	if inc.Commander != "" {
		who += ", its commander (" + inc.Commander + ")"
	} else {
		who += ", its commander"
	}
	return mandate.Errorf(mandate.EFORBIDDEN, "only %s or an org admin may say who should have been notified", who)
}

// MissedForm is what the "Should have been notified" modal offers for an incident: its
// causes nobody dismissed, likeliest first, and the teams of mandate.yaml. It is
// EFORBIDDEN for someone who may not review the incident (see MayReview) and ECONFLICT
// when the incident has no cause to mark.
func (l *Learner) MissedForm(ctx context.Context, number int64, by string) (blocks.MissedForm, error) {
	if l.Feedback == nil {
		return blocks.MissedForm{}, errNoFeedback
	}
	inc, err := l.Incidents.Get(ctx, number)
	if err != nil {
		return blocks.MissedForm{}, err
	}
	if !l.MayReview(by, inc) {
		return blocks.MissedForm{}, forbiddenReview(inc)
	}
	f := blocks.MissedForm{Incident: inc.Number, Title: inc.Title}
	for _, c := range causesByRank(inc) {
		mc := blocks.MissedCause{ActionID: c.ActionID}
		if a := c.Action; a != nil {
			mc.Actor, mc.ActionType, mc.Summary = a.ActorID, a.Type, a.Summary
		}
		f.Causes = append(f.Causes, mc)
	}
	if len(f.Causes) == 0 {
		return blocks.MissedForm{}, mandate.Errorf(mandate.ECONFLICT,
			"%s has no causing action to mark: attribution found none, or responders dismissed every candidate", inc.Ref())
	}
	if l.Config != nil {
		for _, t := range l.Config().Teams {
			f.Teams = append(f.Teams, blocks.MissedTeam{ID: t.ID, Name: t.Name})
		}
	}
	return f, nil
}

// MarkMissed records that who (a person id of mandate.yaml, or "team:<id>" for a team)
// should have been told about actionID, one of the incident's causes nobody dismissed,
// on behalf of by, who must be allowed to review it (see MayReview). Nothing is recorded
// when anything is wrong: the error names each bad field (action, who, note), and marking
// the same person or team for the same action again is ECONFLICT on who.
func (l *Learner) MarkMissed(ctx context.Context, number int64, actionID, who, note, by string) (*mandate.Incident, error) {
	if by == "" {
		return nil, mandate.Errorf(mandate.EFORBIDDEN, "a missed notification is recorded with who marked it: Mandate must know who you are (people[].slack in mandate.yaml)")
	}
	if l.Feedback == nil {
		return nil, errNoFeedback
	}
	inc, err := l.Incidents.Get(ctx, number)
	if err != nil {
		return nil, err
	}
	if !l.MayReview(by, inc) {
		return nil, forbiddenReview(inc)
	}

	var fe invalid
	var cause *mandate.IncidentCause
	for i, c := range inc.Causes {
		if strings.EqualFold(c.ActionID, actionID) && c.State != mandate.CauseDismissed {
			cause = &inc.Causes[i]
		}
	}
	switch {
	case actionID == "":
		fe.add("action", "is required: choose the causing action")
	case cause == nil:
		fe.add("action", "%q is not one of %s's causes (dismissed ones excepted)", actionID, inc.Ref())
	}
	switch team, isTeam := strings.CutPrefix(who, teamPrefix); {
	case who == "" || isTeam && team == "":
		fe.add("who", "is required: the person or team that should have been told")
	case isTeam && !l.known(func() bool { _, ok := l.Config().Team(team); return ok }):
		fe.add("who", "there is no team %q in mandate.yaml", team)
	case !isTeam && !l.known(func() bool { _, ok := l.Config().Person(who); return ok }):
		fe.add("who", "there is no person %q in mandate.yaml", who)
	}
	note = strings.TrimSpace(note)
	switch {
	case utf8.RuneCountInString(note) > blocks.MissedNoteMax:
		fe.add("note", "is %d characters long; at most %d", utf8.RuneCountInString(note), blocks.MissedNoteMax)
	case !utf8.ValidString(note) || strings.ContainsFunc(note, func(r rune) bool { return unicode.IsControl(r) && r != '\n' && r != '\t' }):
		fe.add("note", "must be text without control characters")
	}
	if len(fe) > 0 {
		return nil, &mandate.Error{Code: mandate.EINVALID, Message: "the missed notification cannot be recorded", Fields: fe}
	}

	// Each mark counts against the rule, so the same one twice would count twice.
	misses, err := l.Feedback.IncidentMisses(ctx, number)
	if err != nil {
		return nil, err
	}
	for _, m := range misses {
		if m.ActionID == cause.ActionID && m.Who == who {
			return nil, &mandate.Error{Code: mandate.ECONFLICT, Message: "the missed notification is recorded already",
				Fields: []mandate.FieldError{{Field: "who", Message: fmt.Sprintf("%s is marked already as someone who should have been told about this action", missedName(who))}}}
		}
	}
	if err := l.Feedback.Missed(ctx, cause.ActionID, who, note, by); err != nil {
		return nil, err
	}
	l.logger().Info("missed notification marked", "incident", inc.Ref(), "action", cause.ActionID, "who", who, "by", by)
	return inc, nil
}

// known reports whether lookup finds something in the configuration in force; without a
// configuration nothing is known.
func (l *Learner) known(lookup func() bool) bool {
	return l.Config != nil && lookup()
}

// MissedMarked tells the incident's channel about a mark MarkMissed recorded and rewrites
// the postmortem, whose "What we'll change" now names who was missed. It runs after
// MarkMissed has answered, so a slow Slack never delays the modal's answer.
func (l *Learner) MissedMarked(ctx context.Context, inc *mandate.Incident, actionID, who, note, by string) {
	what := "action " + actionID
	for _, c := range inc.Causes {
		if c.ActionID == actionID && c.Action != nil {
			what = fmt.Sprintf("%s's %s (%s)", c.Action.ActorID, c.Action.Type, c.Action.Summary)
		}
	}
	whom := l.mentionOf(who)
	if team, ok := strings.CutPrefix(who, teamPrefix); ok {
		whom = "team " + blocks.Escape(team)
		if l.Config != nil {
			if t, found := l.Config().Team(team); found && t.Name != "" {
				whom = "team *" + blocks.Escape(t.Name) + "*"
			}
		}
	}
	text := fmt.Sprintf("🔕 %s marked that %s should have been told about %s", l.mentionOf(by), whom, blocks.Escape(mdLine(what)))
	if note = mdLine(note); note != "" {
		text += ": “" + blocks.Escape(pmClip(note, 300)) + "”"
	}
	l.announce(ctx, inc, text+". The postmortem suggests the change.")
	if _, err := l.redraft(ctx, inc.Number, false); err != nil {
		l.logger().Warn("cannot rewrite the postmortem after a missed notification", "incident", inc.Ref(), "err", err)
	}
}
