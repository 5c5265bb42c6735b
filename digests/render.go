package digests

import (
	"fmt"
	"html"
	"strconv"
	"strings"
	"time"

	"github.com/mandatehq/mandate"
	"github.com/mandatehq/mandate/blocks"
)

// A digest for email and the terminal is the same outline as its Slack message (see
// blocks.Digest), rendered as plain text or as simple HTML. Lists are not cut short here:
// an email has room for the whole week.

// part is one section of the outline: a heading and its lines.
type part struct {
	heading string
	lines   []string
}

// Subject is the digest's email subject: its title and period.
func Subject(d *mandate.Digest) string {
	return blocks.DigestTitle(d) + " · " + d.Start.Format("2 Jan") + "–" + d.End.In(d.Start.Location()).Format("2 Jan 2006")
}

// Text renders the digest as plain text.
func Text(d *mandate.Digest) string {
	var b strings.Builder
	b.WriteString(blocks.DigestTitle(d) + "\n" + blocks.DigestPeriod(d) + "\n")
	for _, p := range outline(d) {
		b.WriteString("\n" + strings.ToUpper(p.heading) + "\n")
		for _, l := range p.lines {
			b.WriteString("  " + l + "\n")
		}
	}
	return b.String()
}

// HTML renders the digest as a simple HTML document for email; every piece of text is
// escaped.
func HTML(d *mandate.Digest) string {
	var b strings.Builder
	b.WriteString("<!DOCTYPE html>\n<html><body style=\"font-family: sans-serif\">\n")
	b.WriteString("<h2>" + html.EscapeString(blocks.DigestTitle(d)) + "</h2>\n<p>" + html.EscapeString(blocks.DigestPeriod(d)) + "</p>\n")
	for _, p := range outline(d) {
		b.WriteString("<h3>" + html.EscapeString(p.heading) + "</h3>\n<ul>\n")
		for _, l := range p.lines {
			b.WriteString("<li>" + html.EscapeString(l) + "</li>\n")
		}
		b.WriteString("</ul>\n")
	}
	b.WriteString("</body></html>\n")
	return b.String()
}

func outline(d *mandate.Digest) []part {
	parts := []part{actionsPart(d), notificationsPart(d), ttiPart(d), rulesPart(d), ownershipPart(d), escalationsPart(d),
		incidentsPart(d), itemsPart(d)}
	if d.Team == "" {
		parts = append(parts, teamsPart(d))
	}
	return append(parts, suggestionsPart(d))
}

func counts(cs []mandate.DigestCount, label func(string) string) string {
	var out []string
	for _, c := range cs {
		out = append(out, label(c.Name)+" "+strconv.Itoa(c.Count))
	}
	return strings.Join(out, " · ")
}

func same(s string) string { return s }

// plural is "1 action" or "3 actions".
func plural(n int, one string) string {
	if n == 1 {
		return "1 " + one
	}
	return strconv.Itoa(n) + " " + one + "s"
}

func actionsPart(d *mandate.Digest) part {
	a := d.Actions
	p := part{heading: "Actions: " + strconv.Itoa(a.Total)}
	if a.Total == 0 {
		p.lines = []string{"No actions recorded."}
		return p
	}
	p.lines = []string{
		blocks.Sparkline(a.PerDay) + " " + blocks.DigestDays(d) + " (" + joinInts(a.PerDay) + ")",
		"By agent: " + counts(a.ByAgent, same),
		"By path: " + counts(a.ByPath, blocks.PathLabel),
	}
	return p
}

func joinInts(xs []int) string {
	s := make([]string, len(xs))
	for i, x := range xs {
		s[i] = strconv.Itoa(x)
	}
	return strings.Join(s, " ")
}

func notificationsPart(d *mandate.Digest) part {
	n := d.Notifications
	p := part{heading: "Notifications: " + strconv.Itoa(n.Total)}
	if n.Total == 0 {
		p.lines = []string{"Nobody was notified."}
		return p
	}
	p.lines = []string{
		strconv.Itoa(n.Delivered) + " delivered",
		blocks.Sparkline(n.PerDay) + " " + blocks.DigestDays(d) + " (" + joinInts(n.PerDay) + ")",
	}
	if n.NeedAnswer == 0 {
		p.lines = append(p.lines, "None needed an answer.")
	} else {
		p.lines = append(p.lines, fmt.Sprintf("Answered: %d of %d that needed an answer (%s)", n.Answered, n.NeedAnswer, blocks.Percent(n.ResponseRate())))
	}
	return p
}

func ttiPart(d *mandate.Digest) part {
	p := part{heading: "Time to intervention (p50 / p95 vs target)"}
	if len(d.TTI) == 0 {
		p.lines = []string{"No responses."}
	}
	for _, t := range d.TTI {
		vs := ""
		if t.Target > 0 {
			vs = " vs " + blocks.Duration(t.Target)
		}
		p.lines = append(p.lines, fmt.Sprintf("%s %s: %s / %s%s (%d)", blocks.TTIMark(t), t.Kind, blocks.Duration(t.P50), blocks.Duration(t.P95), vs, t.Samples))
	}
	return p
}

func rulesPart(d *mandate.Digest) part {
	p := part{heading: "Routing rules (not relevant · missed)"}
	if len(d.Rules) == 0 {
		p.lines = []string{"No notifications, no feedback."}
	}
	for _, r := range d.Rules {
		fp := "no feedback"
		if r.Feedback > 0 {
			fp = fmt.Sprintf("%s not relevant (%d of %d)", blocks.Percent(r.FPRate), r.NotRelevant, r.Feedback)
		}
		fn := "none missed"
		if r.Missed > 0 {
			fn = fmt.Sprintf("%d missed (%s)", r.Missed, blocks.Percent(r.FNRate))
		}
		p.lines = append(p.lines, fmt.Sprintf("%s %s: %s · %s · %s", blocks.RuleMark(r), r.Rule, fp, fn, plural(r.Notifications, "notification")))
	}
	return p
}

func ownershipPart(d *mandate.Digest) part {
	o := d.Ownership
	p := part{heading: "Ownership"}
	if o.UnownedActions == 0 {
		p.lines = []string{"✅ Every action touched only resources with an owner."}
		return p
	}
	p.lines = []string{"⚠ " + plural(o.UnownedActions, "action") + " touched resources nobody owns:"}
	for _, g := range o.Gaps {
		p.lines = append(p.lines, fmt.Sprintf("%s (%d)", g.Name, g.Count))
	}
	return p
}

func escalationsPart(d *mandate.Digest) part {
	e := d.Escalations
	p := part{heading: "Escalations"}
	if e.Escalated == 0 && e.NoResponse == 0 {
		p.lines = []string{"None: every answer came from the first people told."}
		return p
	}
	p.lines = []string{
		fmt.Sprintf("%d escalated past the first people told (%s)", e.Escalated, plural(e.Steps, "step")),
		fmt.Sprintf("%d answered · %d no response · %d still waiting", e.Answered, e.NoResponse, e.Running),
	}
	return p
}

func incidentsPart(d *mandate.Digest) part {
	i := d.Incidents
	p := part{heading: fmt.Sprintf("Incidents: %d opened, %s", i.Opened, plural(i.Repeats, "repeat"))}
	if len(i.List) == 0 {
		p.lines = []string{"No incidents."}
	}
	for _, inc := range i.List {
		l := fmt.Sprintf("INC-%d %s — %s, %s", inc.Number, inc.Title, inc.Severity, inc.State)
		if inc.RepeatOf != 0 {
			l += fmt.Sprintf(" · repeat of INC-%d", inc.RepeatOf)
		}
		p.lines = append(p.lines, l)
	}
	return p
}

func itemsPart(d *mandate.Digest) part {
	p := part{heading: "Overdue action items"}
	if len(d.Overdue) == 0 {
		p.lines = []string{"✅ None."}
	}
	for _, it := range d.Overdue {
		p.lines = append(p.lines, fmt.Sprintf("INC-%d: %s — %s, due %s", it.Incident, it.Title, it.Owner, it.Due.Format(time.DateOnly)))
	}
	return p
}

func teamsPart(d *mandate.Digest) part {
	p := part{heading: "Teams"}
	if len(d.Teams) == 0 {
		p.lines = []string{"No teams configured."}
	}
	for _, t := range d.Teams {
		answered := "nothing needed an answer"
		if t.NeedAnswer > 0 {
			answered = fmt.Sprintf("%d of %d answered", t.Answered, t.NeedAnswer)
		}
		p.lines = append(p.lines, fmt.Sprintf("%s: %s · %s · %d unowned · %s · %d overdue",
			t.Team, plural(t.Actions, "action"), answered, t.Unowned, plural(t.Incidents, "incident"), t.Overdue))
	}
	return p
}

func suggestionsPart(d *mandate.Digest) part {
	p := part{heading: "Suggested changes"}
	if len(d.Suggestions) == 0 {
		p.lines = []string{"None this week."}
	}
	for _, s := range d.Suggestions {
		p.lines = append(p.lines, s.Text)
	}
	return p
}
