package blocks

import (
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/slack-go/slack"

	"github.com/mandatehq/mandate"
)

// How much of each list a digest shows; the rest is counted ("… 3 more").
const (
	digestMaxAgents    = 8
	digestMaxGaps      = 10
	digestMaxIncidents = 10
	digestMaxItems     = 15
	digestMaxRules     = 12
	digestMaxTeams     = 20
	digestMaxSugg      = 15
)

// sparks are the levels of a sparkline, lowest first.
var sparks = []rune("▁▂▃▄▅▆▇█")

// Sparkline draws one character per value, scaled to the largest: "▂▁▅█▃". Zero is the
// lowest bar and any non-zero value at least the second, so a quiet day never reads as an
// idle one. It is empty for no values.
func Sparkline(values []int) string {
	top := 0
	for _, v := range values {
		top = max(top, v)
	}
	var b strings.Builder
	for _, v := range values {
		switch {
		case v <= 0 || top == 0:
			b.WriteRune(sparks[0])
		default:
			// Linear from zero, rounded, so half the busiest day reads as half height.
			levels := len(sparks) - 1
			b.WriteRune(sparks[max(1, (2*v*levels+top)/(2*top))])
		}
	}
	return b.String()
}

// DigestTitle is the digest's headline: "Weekly digest · Payments" or, for the admins,
// "Weekly digest · all teams".
func DigestTitle(d *mandate.Digest) string {
	if d.Team == "" {
		return "Weekly digest · all teams"
	}
	return "Weekly digest · " + orDash(d.TeamName)
}

// DigestPeriod says which days a digest covers, in its time zone: "Mon 16 Nov 09:00 →
// Mon 23 Nov 09:00 CET".
func DigestPeriod(d *mandate.Digest) string {
	const f = "Mon 2 Jan 15:04"
	end := d.End.In(d.Start.Location())
	return d.Start.Format(f) + " → " + end.Format(f) + " " + end.Format("MST")
}

// DigestDays labels the per-day series: "Mon–Sun" for a week starting on a Monday.
func DigestDays(d *mandate.Digest) string {
	if len(d.Days) == 0 {
		return ""
	}
	return d.Days[0].Format("Mon") + "–" + d.Days[len(d.Days)-1].Format("Mon")
}

// PathLabel is a path's short name in digests: "monitored" for monitored_execute.
func PathLabel(path string) string { return strings.TrimSuffix(path, "_execute") }

// Percent formats a share as a whole percentage: "67 %".
func Percent(x float64) string { return strconv.FormatFloat(100*x, 'f', 0, 64) + " %" }

// TTIMark is ✅ when the p95 is within the target, ⚠ when above it, • without a target.
func TTIMark(t mandate.DigestTTI) string {
	switch {
	case t.Target <= 0:
		return "•"
	case t.Met():
		return "✅"
	}
	return "⚠"
}

// RuleMark is ⚠ for a rule flagged for false positives, ✅ for one with feedback and
// under the limit, • for one nobody gave feedback on.
func RuleMark(r mandate.DigestRule) string {
	switch {
	case r.Flagged:
		return "⚠"
	case r.Feedback > 0:
		return "✅"
	}
	return "•"
}

// Duration formats a span as the digests show it: "7 s", "4 m 42 s", "2 h 5 m".
func Duration(d time.Duration) string { return duration(d) }

// Digest renders a digest as a Slack message: the fallback text and the blocks. It is
// read top to bottom as a weekly review: what agents did, how people answered, how well
// routing chose, where ownership is missing, what went wrong, what is owed, and what to
// change. Sections with nothing to say say so in one line, so a quiet week reads quiet.
func Digest(d *mandate.Digest) (fallback string, blocks []slack.Block) {
	title := DigestTitle(d)
	blocks = []slack.Block{
		slack.NewHeaderBlock(plain(clipPlain("📊 "+title, maxHeaderText)), slack.HeaderBlockOptionBlockID("digest_header")),
		slack.NewContextBlock("digest_period", mrkdwn(clip(DigestPeriod(d), maxText))),
		section("digest_actions", digestActions(d)),
		section("digest_notifications", digestNotifications(d)),
	}
	blocks = append(blocks, listSections("digest_tti", "*Time to intervention* (p50 / p95 vs target)", digestTTILines(d))...)
	blocks = append(blocks, listSections("digest_rules", "*Routing rules* (not relevant · missed)", digestRuleLines(d))...)
	blocks = append(blocks, listSections("digest_ownership", "*Ownership*", digestOwnershipLines(d))...)
	blocks = append(blocks, section("digest_escalations", "*Escalations*\n"+digestEscalations(d)))
	blocks = append(blocks, listSections("digest_incidents", digestIncidentsHeading(d), digestIncidentLines(d))...)
	blocks = append(blocks, listSections("digest_items", "*Overdue action items*", digestItemLines(d))...)
	if d.Team == "" {
		blocks = append(blocks, listSections("digest_teams", "*Teams*", digestTeamLines(d))...)
	}
	blocks = append(blocks, slack.NewDividerBlock())
	blocks = append(blocks, listSections("digest_suggestions", "*Suggested changes*", digestSuggestionLines(d))...)
	blocks = append(blocks, slack.NewContextBlock("digest_footer", mrkdwn("TTI targets are p95 per response kind. Preview any time with `/mandate digest`.")))
	fallback = title + ": " + plural(d.Actions.Total, "action", "actions") + ", " +
		plural(d.Notifications.Total, "notification", "notifications") + ", " + plural(d.Incidents.Opened, "incident", "incidents")
	return fallback, capBlocks(blocks, maxBlocks, "digest_more")
}

func digestActions(d *mandate.Digest) string {
	a := d.Actions
	lines := []string{"*Actions* · " + strconv.Itoa(a.Total)}
	if a.Total == 0 {
		return lines[0] + "\nNo actions recorded."
	}
	lines = append(lines, "`"+Sparkline(a.PerDay)+"` "+DigestDays(d))
	var agents []string
	for i, c := range a.ByAgent {
		if i == digestMaxAgents {
			agents = append(agents, fmt.Sprintf("… %d more", len(a.ByAgent)-i))
			break
		}
		agents = append(agents, clip(c.Name, budgetActor)+" "+strconv.Itoa(c.Count))
	}
	lines = append(lines, "By agent: "+strings.Join(agents, " · "))
	var paths []string
	for _, c := range a.ByPath {
		paths = append(paths, clip(PathLabel(c.Name), 40)+" "+strconv.Itoa(c.Count))
	}
	return strings.Join(append(lines, "By path: "+strings.Join(paths, " · ")), "\n")
}

func digestNotifications(d *mandate.Digest) string {
	n := d.Notifications
	head := "*Notifications* · " + strconv.Itoa(n.Total)
	if n.Total == 0 {
		return head + "\nNobody was notified."
	}
	lines := []string{head + " (" + strconv.Itoa(n.Delivered) + " delivered)", "`" + Sparkline(n.PerDay) + "` " + DigestDays(d)}
	if n.NeedAnswer == 0 {
		lines = append(lines, "None needed an answer.")
	} else {
		lines = append(lines, fmt.Sprintf("Answered: %d of %d that needed an answer (%s)", n.Answered, n.NeedAnswer, Percent(n.ResponseRate())))
	}
	return strings.Join(lines, "\n")
}

func digestTTILines(d *mandate.Digest) []string {
	if len(d.TTI) == 0 {
		return []string{"No responses."}
	}
	var lines []string
	for _, t := range d.TTI {
		vs := ""
		if t.Target > 0 {
			vs = " vs " + duration(t.Target)
		}
		lines = append(lines, TTIMark(t)+" "+clip(orDash(t.Kind), 60)+": "+duration(t.P50)+" / "+duration(t.P95)+vs+" ("+strconv.Itoa(t.Samples)+")")
	}
	return lines
}

func digestRuleLines(d *mandate.Digest) []string {
	if len(d.Rules) == 0 {
		return []string{"No notifications, no feedback."}
	}
	var lines []string
	for i, r := range d.Rules {
		if i == digestMaxRules {
			lines = append(lines, fmt.Sprintf("… %d more rules", len(d.Rules)-i))
			break
		}
		fp := "no feedback"
		if r.Feedback > 0 {
			fp = fmt.Sprintf("%s (%d of %d)", Percent(r.FPRate), r.NotRelevant, r.Feedback)
		}
		fn := "none missed"
		if r.Missed > 0 {
			fn = fmt.Sprintf("%d missed (%s)", r.Missed, Percent(r.FNRate))
		}
		lines = append(lines, RuleMark(r)+" "+code(orDash(r.Rule), 100)+": "+fp+" · "+fn+" · "+plural(r.Notifications, "notification", "notifications"))
	}
	return lines
}

func digestOwnershipLines(d *mandate.Digest) []string {
	o := d.Ownership
	if o.UnownedActions == 0 {
		return []string{"✅ Every action touched only resources with an owner."}
	}
	lines := []string{"⚠ " + plural(o.UnownedActions, "action", "actions") + " touched resources nobody owns:"}
	for i, g := range o.Gaps {
		if i == digestMaxGaps {
			lines = append(lines, fmt.Sprintf("… %d more resources", len(o.Gaps)-i))
			break
		}
		lines = append(lines, "• "+code(g.Name, 200)+" ("+strconv.Itoa(g.Count)+")")
	}
	return lines
}

func digestEscalations(d *mandate.Digest) string {
	e := d.Escalations
	if e.Escalated == 0 && e.NoResponse == 0 {
		return "None: every answer came from the first people told."
	}
	parts := []string{plural(e.Escalated, "escalated", "escalated") + " past the first people told (" + plural(e.Steps, "step", "steps") + ")",
		strconv.Itoa(e.Answered) + " answered"}
	if e.NoResponse > 0 {
		parts = append(parts, "⚠ "+strconv.Itoa(e.NoResponse)+" no response")
	} else {
		parts = append(parts, "0 no response")
	}
	if e.Running > 0 {
		parts = append(parts, strconv.Itoa(e.Running)+" still waiting")
	}
	return strings.Join(parts, " · ")
}

func digestIncidentsHeading(d *mandate.Digest) string {
	i := d.Incidents
	h := "*Incidents* · " + strconv.Itoa(i.Opened) + " opened"
	if i.Repeats > 0 {
		h += ", " + plural(i.Repeats, "repeat", "repeats")
	}
	return h
}

func digestIncidentLines(d *mandate.Digest) []string {
	if len(d.Incidents.List) == 0 {
		return []string{"No incidents."}
	}
	var lines []string
	for i, inc := range d.Incidents.List {
		if i == digestMaxIncidents {
			lines = append(lines, fmt.Sprintf("… %d more incidents", len(d.Incidents.List)-i))
			break
		}
		l := "• *" + incidentRef(inc.Number) + "* " + clip(orDash(inc.Title), 150) + " — " + string(inc.Severity) + ", " + string(inc.State)
		if inc.RepeatOf != 0 {
			l += " · 🔁 repeat of " + incidentRef(inc.RepeatOf)
		}
		lines = append(lines, l)
	}
	return lines
}

func digestItemLines(d *mandate.Digest) []string {
	if len(d.Overdue) == 0 {
		return []string{"✅ None."}
	}
	var lines []string
	for i, it := range d.Overdue {
		if i == digestMaxItems {
			lines = append(lines, fmt.Sprintf("… %d more items", len(d.Overdue)-i))
			break
		}
		owner := clip(orDash(it.Owner), 80)
		if it.OwnerRef != "" {
			owner = mention(it.OwnerRef)
		}
		lines = append(lines, "• "+incidentRef(it.Incident)+": "+clip(orDash(it.Title), 150)+" — "+owner+", due "+it.Due.Format(time.DateOnly))
	}
	return lines
}

func digestTeamLines(d *mandate.Digest) []string {
	if len(d.Teams) == 0 {
		return []string{"No teams configured."}
	}
	var lines []string
	for i, t := range d.Teams {
		if i == digestMaxTeams {
			lines = append(lines, fmt.Sprintf("… %d more teams", len(d.Teams)-i))
			break
		}
		answered := "nothing needed an answer"
		if t.NeedAnswer > 0 {
			answered = fmt.Sprintf("%d of %d answered", t.Answered, t.NeedAnswer)
		}
		lines = append(lines, "• *"+clip(t.Team, 80)+"*: "+plural(t.Actions, "action", "actions")+" · "+answered+" · "+
			strconv.Itoa(t.Unowned)+" unowned · "+plural(t.Incidents, "incident", "incidents")+" · "+strconv.Itoa(t.Overdue)+" overdue")
	}
	return lines
}

func digestSuggestionLines(d *mandate.Digest) []string {
	if len(d.Suggestions) == 0 {
		return []string{"None this week."}
	}
	var lines []string
	for i, s := range d.Suggestions {
		if i == digestMaxSugg {
			lines = append(lines, fmt.Sprintf("… %d more suggestions", len(d.Suggestions)-i))
			break
		}
		lines = append(lines, "• "+clip(s.Text, 600))
	}
	return lines
}
