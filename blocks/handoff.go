package blocks

import (
	"fmt"
	"strings"
	"time"
)

// Handoff is what the person coming on call is told: which rotation they now hold, from
// whom, and everything still open for their teams.
type Handoff struct {
	// Person is the incoming person's Slack user id (or name).
	Person string
	// Teams are the names of the teams the rotation is on call for (escaped when rendered).
	Teams []string
	// Rotation names the rotation, e.g. "PagerDuty schedule PSCHED1" (escaped).
	Rotation string
	// From is who held the rotation before: a Slack user id, or a name (escaped); "" when
	// unknown.
	From string
	// Since is when the shift began (zero: open-ended); Now is when the message is
	// rendered; Zone is the incoming person's time zone, in which Since is shown.
	Since, Now time.Time
	Zone       *time.Location

	Incidents   []HandoffIncident
	Gates       []HandoffItem
	Escalations []HandoffItem
	Unanswered  []HandoffItem
	// The totals count each list's items, including any not passed for brevity; a total
	// smaller than its list's length counts as the length.
	IncidentsTotal, GatesTotal, EscalationsTotal, UnansweredTotal int
}

// HandoffIncident is an active incident.
type HandoffIncident struct {
	Title    string // escaped
	Severity string // low, medium, high, critical
	Channel  string // the incident's Slack channel id, if it has one
	Opened   time.Time
}

// HandoffItem is an action still waiting for someone.
type HandoffItem struct {
	Actor, Type, Summary string    // escaped
	Since                time.Time // when it started waiting
	Until                time.Time // a gate's expiry; zero otherwise
	Policy               string    // a running escalation's policy
	Step                 int       // escalation steps taken so far
}

// maxHandoffItems bounds each list: a handoff is read at a glance, the rest is counted.
const maxHandoffItems = 10

// HandoffText renders a handoff as mrkdwn for a direct message. Every list is shown, empty
// or not, so "no open gates" is said rather than left to be guessed.
func HandoffText(h Handoff) string {
	var b strings.Builder
	teams := make([]string, len(h.Teams))
	for i, t := range h.Teams {
		teams[i] = "*" + clip(t, 80) + "*"
	}
	fmt.Fprintf(&b, ":wave: %s, you are now on call", mention(h.Person))
	if len(teams) > 0 {
		fmt.Fprintf(&b, " for %s", strings.Join(teams, ", "))
	}
	if h.Rotation != "" {
		fmt.Fprintf(&b, " (%s)", clip(h.Rotation, 120))
	}
	if h.From != "" {
		fmt.Fprintf(&b, ", taking over from %s", mention(h.From))
	}
	b.WriteString(".")
	if !h.Since.IsZero() {
		zone := h.Zone
		if zone == nil {
			zone = time.UTC
		}
		fmt.Fprintf(&b, " Your shift began %s (%s).", h.Since.In(zone).Format("Mon 15:04"), zone.String())
	}
	total := func(n, listed int) int { return max(n, listed) }
	incidents := total(h.IncidentsTotal, len(h.Incidents))
	gates := total(h.GatesTotal, len(h.Gates))
	escalations := total(h.EscalationsTotal, len(h.Escalations))
	unanswered := total(h.UnansweredTotal, len(h.Unanswered))
	if incidents+gates+escalations+unanswered == 0 {
		b.WriteString("\nNothing is open: no active incidents, open gates, running escalations or unanswered critical notifications.")
		return fit(b.String(), maxText)
	}
	b.WriteString("\nHere is what is open right now:")

	section := func(title string, n int, lines []string) {
		if n == 0 {
			fmt.Fprintf(&b, "\n*%s*: none", title)
			return
		}
		fmt.Fprintf(&b, "\n*%s* (%d)", title, n)
		for _, l := range lines {
			b.WriteString("\n• " + l)
		}
		if more := n - len(lines); more > 0 {
			fmt.Fprintf(&b, "\n• … and %d more", more)
		}
	}
	var lines []string
	for i, in := range h.Incidents {
		if i == maxHandoffItems {
			break
		}
		l := fmt.Sprintf("%s — %s, opened %s ago", clip(in.Title, 150), clip(orDash(in.Severity), 20), duration(h.Now.Sub(in.Opened)))
		if in.Channel != "" {
			l += " in <#" + clip(in.Channel, 30) + ">"
		}
		lines = append(lines, l)
	}
	section("Active incidents", incidents, lines)

	items := func(list []HandoffItem, detail func(HandoffItem) string) []string {
		var out []string
		for i, it := range list {
			if i == maxHandoffItems {
				break
			}
			out = append(out, fmt.Sprintf("%s · %s · %s — %s", clip(it.Actor, 60), clip(it.Type, 40), clip(it.Summary, 150), detail(it)))
		}
		return out
	}
	section("Open gates", gates, items(h.Gates, func(it HandoffItem) string {
		return fmt.Sprintf("waiting %s for approve or deny, expires in %s", duration(h.Now.Sub(it.Since)), duration(it.Until.Sub(h.Now)))
	}))
	section("Running escalations", escalations, items(h.Escalations, func(it HandoffItem) string {
		taken := "no step taken yet"
		if it.Step > 0 {
			taken = plural(it.Step, "step", "steps") + " taken"
		}
		return fmt.Sprintf("nobody answered in %s; policy %s, %s", duration(h.Now.Sub(it.Since)), clip(it.Policy, 60), taken)
	}))
	section("Unanswered critical notifications", unanswered, items(h.Unanswered, func(it HandoffItem) string {
		return fmt.Sprintf("%s ago, nobody answered", duration(h.Now.Sub(it.Since)))
	}))
	return fit(b.String(), maxText)
}
