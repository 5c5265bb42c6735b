package blocks

import (
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/mandatehq/mandate"
	"github.com/slack-go/slack"
)

// Button action_ids. They are a public contract: handlers dispatch on them, and messages
// already posted keep working across releases only if they never change.
const (
	ActionDetails     = "details"
	ActionPauseAgent  = "pause_agent"
	ActionResumeAgent = "resume_agent"
	ActionFlag        = "flag"
	ActionLooksOK     = "looks_ok"
	ActionAcknowledge = "acknowledge"
	ActionRecover     = "recover"
	ActionAsk         = "ask"
	ActionApprove     = "approve"
	ActionDeny        = "deny"
	ActionNotRelevant = "not_relevant"
)

// Block id prefixes; the full block_id is "<prefix>:<notification id>", so a handler (or a
// test) can find a block of a given message without relying on its position.
const (
	BlockStatus      = "status"
	BlockTitle       = "title"
	BlockSummary     = "summary"
	BlockRecovery    = "recovery"
	BlockWhy         = "why"
	BlockActions     = "actions"      // the primary buttons: decide, stop, recover, respond
	BlockMoreActions = "actions_more" // the secondary buttons: details, ask, not relevant, open incident
)

// Budgets for the parts of the summary section (runes, after escaping). Together with the
// fixed words they stay under maxText, so fit only fires on pathological input.
const (
	budgetActor    = 100
	budgetTarget   = 200
	budgetSummary  = 1000
	budgetEnv      = 80
	budgetAffected = 1100
	budgetResource = 150
	budgetOwners   = 400
	budgetMentions = 300
	budgetReason   = 300
	budgetWhy      = 2500
	budgetNote     = 150
	budgetRecovery = 1000
	maxStatusLines = 10 // outcome lines shown; earlier ones are counted, not listed
)

// Message renders the Slack message for a notification: the fallback text (shown in push
// notifications and by clients that cannot show blocks) and the blocks. outcomes are the
// interventions so far, oldest first; each adds a status line at the top, and the message
// otherwise keeps its content so that an update never hides what happened.
//
// Urgency critical selects the critical shape (a header, "Affected services", "Owners
// notified"); every other urgency gets the standard shape.
func Message(n Notification, outcomes []Outcome) (fallback string, blocks []slack.Block) {
	id := strconv.FormatInt(n.ID, 10)
	title := titleLine(n, true)

	if len(outcomes) > 0 {
		blocks = append(blocks, section(BlockStatus+":"+id, statusText(outcomes)))
	}
	var body []string
	if critical(n) {
		blocks = append(blocks, slack.NewHeaderBlock(plain(clipPlain(titleLine(n, false), maxHeaderText)),
			slack.HeaderBlockOptionBlockID(BlockTitle+":"+id)))
		body = criticalBody(n)
	} else {
		body = append([]string{"*" + title + "*"}, standardBody(n)...)
	}
	blocks = append(blocks, section(BlockSummary+":"+id, strings.Join(body, "\n")))
	if n.Recovery != nil {
		blocks = append(blocks, section(BlockRecovery+":"+id, recoveryText(n.Recovery)))
	}
	blocks = append(blocks, slack.NewContextBlock(BlockWhy+":"+id, mrkdwn(whyText(n))))
	blocks = append(blocks, buttons(n, outcomes)...)

	fallback = title
	if ms := mentions(n.Mentions); ms != "" {
		fallback += " · cc " + ms
	}
	if len(outcomes) > 0 {
		// Screen readers and notification previews read the fallback: say where things stand.
		fallback += "\n" + outcomeLine(outcomes[len(outcomes)-1], false)
	}
	return fit(fallback, maxText), blocks
}

func critical(n Notification) bool { return n.Urgency == string(mandate.UrgencyCritical) }

// pathLabel returns the emoji and the bracketed label of the first line. Critical urgency
// overrides the path, because it is what the reader must notice first.
func pathLabel(n Notification) (emoji, label string) {
	if critical(n) {
		return "🔴", "critical"
	}
	switch mandate.Path(n.Path) {
	case mandate.PathMonitored:
		return "🔵", "monitored"
	case mandate.PathFlagged:
		return "🟡", "flagged"
	case mandate.PathGated:
		return "🟠", "gated"
	case mandate.PathAuto:
		return "⚪", "auto"
	}
	return "⚪", clip(strings.TrimSuffix(n.Path, "_execute"), 40)
}

// verb turns an action type into the words between actor and resource; an unknown type is
// shown as it is. escape is false for plain_text.
func verb(actionType string, escape bool) string {
	switch actionType {
	case "deploy":
		return "deployed to"
	case "code_change":
		return "modified"
	case "db_write", "db_migration":
		return "wrote to"
	case "email_send":
		return "sent email via"
	case "payment_charge":
		return "charged through"
	case "s3_delete", "delete":
		return "deleted from"
	}
	return clipWith(actionType, 60, escape)
}

// actorLabel is `Agent "code-reviewer"`: the kind of actor matters to the reader (an agent
// can be paused; a human is asked).
func actorLabel(n Notification, escape bool) string {
	kind := "Actor"
	switch mandate.ActorType(n.ActorType) {
	case mandate.ActorAgent:
		kind = "Agent"
	case mandate.ActorHuman:
		kind = "Human"
	case mandate.ActorSystem:
		kind = "System"
	}
	return kind + ` "` + clipWith(orDash(n.Actor), budgetActor, escape) + `"`
}

// target names what the action touched: the first resource, and how many more.
func target(n Notification, escape bool) string {
	switch len(n.Resources) {
	case 0:
		if n.Environment != "" {
			return clipWith(n.Environment, budgetTarget, escape)
		}
		return "an unknown resource"
	case 1:
		return clipWith(n.Resources[0].Key, budgetTarget, escape)
	}
	return clipWith(n.Resources[0].Key, budgetTarget, escape) + " and " + plural(len(n.Resources)-1, "more resource", "more resources")
}

// titleLine is the first line, e.g. `🔵 [monitored] Agent "code-reviewer" modified auth-service`,
// escaped for mrkdwn, or not for plain_text (the critical header), where entities would show.
func titleLine(n Notification, escape bool) string {
	emoji, label := pathLabel(n)
	return emoji + " [" + label + "] " + actorLabel(n, escape) + " " + verb(n.ActionType, escape) + " " + target(n, escape)
}

// actionLine is "*Action:* summary · environment".
func actionLine(n Notification) string {
	s := "*Action:* " + clip(orDash(n.Summary), budgetSummary)
	if n.Environment != "" {
		s += " · " + clip(n.Environment, budgetEnv)
	}
	return s
}

func orDash(s string) string {
	if strings.TrimSpace(s) == "" {
		return "—"
	}
	return s
}

// standardBody is the standard shape below the first line.
func standardBody(n Notification) []string {
	lines := []string{actionLine(n), affectedLines(n.Resources), "*Time:* " + formatTime(n.OccurredAt)}
	lines = append(lines, pathLines(n)...)
	if ms := mentions(n.Mentions); ms != "" {
		lines = append(lines, "cc "+ms)
	}
	return lines
}

// criticalBody is the critical shape: what, which services, who was told, when.
func criticalBody(n Notification) []string {
	keys := make([]string, 0, len(n.Resources))
	for _, r := range n.Resources {
		keys = append(keys, clip(r.Key, budgetResource))
	}
	var owners []string
	for _, m := range n.Mentions {
		owners = append(owners, mention(m))
	}
	for _, r := range n.Resources {
		owners = append(owners, r.Owners...)
	}
	notified := joinBudget(dedupe(owners), ", ", budgetOwners+budgetMentions, "more")
	if notified == "" {
		notified = "nobody: no owner known"
	}
	services := joinBudget(keys, ", ", budgetAffected, "more")
	if services == "" {
		services = "none reported"
	}
	lines := []string{
		actionLine(n),
		"*Affected services:* " + services,
		"*Owners notified:* " + notified,
		"*Time:* " + formatTime(n.OccurredAt),
	}
	return append(lines, pathLines(n)...)
}

// pathLines are the lines that depend on the path (review deadline, gate) and on folding.
func pathLines(n Notification) []string {
	var lines []string
	switch mandate.Path(n.Path) {
	case mandate.PathFlagged:
		if n.ReviewBy != nil {
			lines = append(lines, "⏰ "+reviewBy(*n.ReviewBy, n.OccurredAt))
		}
	case mandate.PathGated:
		lines = append(lines, "⏳ "+clip(n.Actor, budgetActor)+" waits for a human: approve or deny")
	}
	if n.Folded > 0 {
		lines = append(lines, "*+"+plural(n.Folded, "more action", "more actions")+"* folded into this message")
	}
	return lines
}

// reviewBy is "Review by 15:30 UTC", with the date when the deadline is not on the action's
// day, since a bare clock time would then point at the wrong day.
func reviewBy(t, occurred time.Time) string {
	t = t.UTC()
	s := "Review by " + t.Format("15:04 MST")
	if t.Format(time.DateOnly) != occurred.UTC().Format(time.DateOnly) {
		s += " on " + t.Format(time.DateOnly)
	}
	return s
}

// affectedLines lists each resource with its owners and team: inline for one resource, as
// bullets for several. It stops at a budget and counts the rest, which Details lists.
func affectedLines(rs []Resource) string {
	if len(rs) == 0 {
		return "*Affected:* none reported"
	}
	if len(rs) == 1 {
		return "*Affected:* " + resourceLine(rs[0])
	}
	var b strings.Builder
	b.WriteString("*Affected:*")
	used := 0
	for i, r := range rs {
		line := "\n• " + resourceLine(r)
		l := utf8.RuneCountInString(line)
		if used+l > budgetAffected {
			b.WriteString("\n• … and " + plural(len(rs)-i, "more resource", "more resources") + " (see Details)")
			break
		}
		b.WriteString(line)
		used += l
	}
	return b.String()
}

// resourceLine is "auth-service — <@U0ALICE>, <@U0BOB> (team identity)".
func resourceLine(r Resource) string {
	s := clip(r.Key, budgetResource) + " — "
	if owners := joinBudget(r.Owners, ", ", budgetOwners, "more"); owners != "" {
		s += owners
	} else {
		// An ownerless resource is a gap Mandate exists to close; say so rather than hide it.
		s += "⚠ no owner known"
	}
	if r.Team != "" {
		s += " (team " + clip(r.Team, 80) + ")"
	}
	return s
}

// joinBudget joins items until the next would pass budget runes, then appends "+N more".
func joinBudget(items []string, sep string, budget int, more string) string {
	var b strings.Builder
	used := 0
	for i, it := range items {
		add := it
		if i > 0 {
			add = sep + it
		}
		l := utf8.RuneCountInString(add)
		if used+l > budget {
			b.WriteString(" +" + strconv.Itoa(len(items)-i) + " " + more)
			break
		}
		b.WriteString(add)
		used += l
	}
	return b.String()
}

func dedupe(items []string) []string {
	seen := make(map[string]bool, len(items))
	out := items[:0:0]
	for _, it := range items {
		if it == "" || seen[it] {
			continue
		}
		seen[it] = true
		out = append(out, it)
	}
	return out
}

// mentions renders user ids as "<@U1> <@U2>" within a budget.
func mentions(ids []string) string {
	ms := make([]string, 0, len(ids))
	for _, id := range ids {
		ms = append(ms, mention(id))
	}
	return joinBudget(dedupe(ms), " ", budgetMentions, "more")
}

// recoveryText shows the recovery path and, just as prominently, what it does not undo.
func recoveryText(r *Recovery) string {
	s := "↩ *Recovery:* " + code(orDash(r.Path), budgetRecovery)
	if len(r.Limits) > 0 {
		limits := make([]string, 0, len(r.Limits))
		for _, l := range r.Limits {
			limits = append(limits, clip(l, budgetReason))
		}
		s += "\n*Limits:* " + joinBudget(limits, " · ", budgetWhy-budgetRecovery, "more (see Details)")
	}
	return s
}

// whyText is the routing explanation: the rule that fired and every reason that fits.
func whyText(n Notification) string {
	s := "*Why:* "
	if n.Rule != "" {
		s += "rule " + code(n.Rule, 200)
	} else {
		s += "default routing"
	}
	if n.Urgency == string(mandate.UrgencyHigh) {
		s += " · high urgency"
	}
	reasons := make([]string, 0, len(n.Reasons))
	for _, r := range n.Reasons {
		reasons = append(reasons, clip(r, budgetReason))
	}
	if r := joinBudget(reasons, " · ", budgetWhy, "more reasons (see Details)"); r != "" {
		s += " · " + r
	}
	return fit(s, maxText)
}

// statusText is one line per outcome, oldest first, at most maxStatusLines of them.
func statusText(outcomes []Outcome) string {
	var lines []string
	shown := outcomes
	if len(shown) > maxStatusLines {
		hidden := len(shown) - maxStatusLines
		shown = shown[hidden:]
		lines = append(lines, "… "+plural(hidden, "earlier intervention", "earlier interventions"))
	}
	latestWins := contradicted(outcomes)
	for i, o := range shown {
		lines = append(lines, outcomeLine(o, latestWins && i == len(shown)-1))
	}
	return strings.Join(lines, "\n")
}

// opposites are the outcome kinds that undo each other. When the latest outcome undoes an
// earlier one, two people disagreed (or one changed their mind), and the message says which
// one counts.
var opposites = map[string][]string{
	OutcomeApproved:    {OutcomeDenied},
	OutcomeDenied:      {OutcomeApproved},
	OutcomePaused:      {OutcomeResumed},
	OutcomeResumed:     {OutcomePaused},
	OutcomeLooksOK:     {OutcomeFlagged},
	OutcomeNotRelevant: {OutcomeFlagged},
	OutcomeFlagged:     {OutcomeLooksOK, OutcomeNotRelevant},
}

// contradicted reports whether the latest outcome contradicts an earlier one.
func contradicted(outcomes []Outcome) bool {
	if len(outcomes) < 2 {
		return false
	}
	latest := outcomes[len(outcomes)-1]
	for _, o := range outcomes[:len(outcomes)-1] {
		for _, k := range opposites[latest.Kind] {
			if o.Kind == k {
				return true
			}
		}
	}
	return false
}

// outcomeWords are the emoji and words of a status line; the user follows.
var outcomeWords = map[string]string{
	OutcomePaused:       "⏸ Paused by",
	OutcomeResumed:      "▶ Resumed by",
	OutcomeAcknowledged: "👀 Acknowledged by",
	OutcomeLooksOK:      "✅ Looks OK to",
	OutcomeFlagged:      "🚩 Flagged by",
	OutcomeApproved:     "✔ Approved by",
	OutcomeDenied:       "✖ Denied by",
	OutcomeRecovery:     "↩ Recovery started by",
	OutcomeNotRelevant:  "🔕 Marked not relevant by",
	OutcomeQuestion:     "❓ Question from",
}

// outcomeLine is e.g. "⏸ Paused by <@U0ALICE> · 7 s after notification".
func outcomeLine(o Outcome, latestWins bool) string {
	words, ok := outcomeWords[o.Kind]
	if !ok {
		words = "• " + clip(strings.ReplaceAll(o.Kind, "_", " "), 40) + " by"
	}
	s := words + " " + mention(o.By) + " · " + duration(o.After) + " after notification"
	if latestWins {
		s += " · latest wins"
	}
	if o.Note != "" {
		s += " — " + clip(oneLine(o.Note), budgetNote)
	}
	return s
}

// oneLine folds newlines so a note cannot break the one-line-per-outcome layout.
func oneLine(s string) string {
	return strings.Join(strings.Fields(s), " ")
}

// paused reports whether to offer resume instead of pause. A pause or resume clicked on this
// message counts even if the caller rendered before the agent's state was re-read, so the
// button flips at once; otherwise the agent's state decides.
func paused(n Notification, outcomes []Outcome) bool {
	for i := len(outcomes) - 1; i >= 0; i-- {
		switch outcomes[i].Kind {
		case OutcomePaused:
			return true
		case OutcomeResumed:
			return n.AgentPaused
		}
	}
	return n.AgentPaused
}

// buttons builds the two actions blocks. Primary holds what changes the world (decide, stop,
// recover) and the quick answers; secondary holds what only informs. Both stay far below
// Slack's 25 elements per block.
func buttons(n Notification, outcomes []Outcome) []slack.Block {
	id := strconv.FormatInt(n.ID, 10)
	btn := func(actionID, text string) *slack.ButtonBlockElement {
		return slack.NewButtonBlockElement(actionID, id, plain(clipPlain(text, maxButtonText)))
	}
	name := clipPlain(n.Actor, 120)

	var primary []slack.BlockElement
	if n.Path == string(mandate.PathGated) {
		primary = append(primary,
			btn(ActionApprove, "✔ Approve").WithStyle(slack.StylePrimary),
			btn(ActionDeny, "✖ Deny").WithStyle(slack.StyleDanger))
	}
	if paused(n, outcomes) {
		primary = append(primary, btn(ActionResumeAgent, "▶ Resume agent").WithStyle(slack.StylePrimary).
			WithConfirm(confirm("Resume agent?", "Resume agent "+name+"? It will act again at once.", "Resume", slack.StylePrimary)))
	} else {
		primary = append(primary, btn(ActionPauseAgent, "⏸ Pause agent").WithStyle(slack.StyleDanger).
			WithConfirm(confirm("Pause agent?", "Pause agent "+name+"? Its next action will be halted.", "Pause", slack.StyleDanger)))
	}
	if n.Recovery != nil {
		// The confirm repeats the limits: recovering is itself an action, and owners should
		// know what it will not undo before they start it.
		text := "Start recovery: " + orDash(n.Recovery.Path) + "."
		if len(n.Recovery.Limits) > 0 {
			text += " Limits: " + strings.Join(n.Recovery.Limits, "; ") + "."
		}
		primary = append(primary, btn(ActionRecover, "↩ Recover").
			WithConfirm(confirm("Start recovery?", text, "Start", slack.StyleDanger)))
	}
	primary = append(primary,
		btn(ActionAcknowledge, "👀 Acknowledge"),
		btn(ActionLooksOK, "✅ Looks OK"),
		btn(ActionFlag, "🚩 Flag"))

	secondary := []slack.BlockElement{
		btn(ActionDetails, "Details"),
		btn(ActionAsk, "❓ Ask"),
		btn(ActionNotRelevant, "🔕 Not relevant"),
		btn(ActionOpenIncident, "🚨 Open incident"),
	}
	return []slack.Block{
		slack.NewActionBlock(BlockActions+":"+id, primary...),
		slack.NewActionBlock(BlockMoreActions+":"+id, secondary...),
	}
}

// confirm builds a confirmation dialog clipped to Slack's limits (title 100, text 300,
// buttons 30).
func confirm(title, text, ok string, style slack.Style) *slack.ConfirmationBlockObject {
	return slack.NewConfirmationBlockObject(
		plain(clipPlain(title, maxConfirmTitle)),
		plain(clipPlain(text, maxConfirmText)),
		plain(clipPlain(ok, maxConfirmButton)),
		plain("Cancel"),
	).WithStyle(style)
}

// ThreadNote is the text posted in a message's thread when someone intervenes, so that every
// intervention, including ones that contradict each other, is visible to the whole channel in
// order. actor is the name of whoever took the action (the agent). The text is mrkdwn; post it
// with escaping off so the mention works.
func ThreadNote(o Outcome, actor string) string {
	who := mention(o.By)
	name := clip(orDash(actor), budgetActor)
	var s string
	switch o.Kind {
	case OutcomePaused:
		s = "⏸ " + who + " paused " + name + " (its next action will be halted)"
	case OutcomeResumed:
		s = "▶ " + who + " resumed " + name
	case OutcomeAcknowledged:
		s = "👀 " + who + " acknowledged this"
	case OutcomeLooksOK:
		s = "✅ " + who + " says this looks OK"
	case OutcomeFlagged:
		s = "🚩 " + who + " flagged this for review"
	case OutcomeApproved:
		s = "✔ " + who + " approved; " + name + " may proceed"
	case OutcomeDenied:
		s = "✖ " + who + " denied; " + name + " will not proceed"
	case OutcomeRecovery:
		s = "↩ " + who + " started recovery"
	case OutcomeNotRelevant:
		s = "🔕 " + who + " marked this not relevant"
	case OutcomeQuestion:
		s = "❓ " + who + " asks"
	default:
		s = "• " + who + " " + clip(strings.ReplaceAll(o.Kind, "_", " "), 40)
	}
	s += " · " + duration(o.After) + " after notification"
	if o.Note != "" {
		// A question is the point of the note, so it keeps its line breaks and more room.
		if o.Kind == OutcomeQuestion {
			s += ":\n> " + strings.ReplaceAll(clip(o.Note, 2000), "\n", "\n> ")
		} else {
			s += " — " + clip(oneLine(o.Note), 500)
		}
	}
	return s
}
