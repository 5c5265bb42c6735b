package incidents

import (
	"cmp"
	"fmt"
	"maps"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/mandatehq/mandate"
	"github.com/mandatehq/mandate/blocks"
)

// PostmortemInput is everything a postmortem draft is written from. The draft is a pure
// function of it: the same input gives the same Markdown, so it is golden-file tested and
// can be rewritten whenever the facts change (an action item added or done).
type PostmortemInput struct {
	// Incident comes with its causes (and their actions), action items and patterns.
	Incident *mandate.Incident
	Timeline []mandate.TimelineEntry
	Involved []mandate.Involvement
	// Repeats is the earlier incident this one repeats (Incident.RepeatOf), with its
	// action items; nil when it repeats none.
	Repeats *mandate.Incident
	// Rules is routing feedback (false positives, misses) on the rules that decided the
	// causing actions.
	Rules []mandate.RuleStats
	// Misses are the "should have been notified" marks on the incident's causes (made
	// during its review, or through the API): who should have been told and was not.
	Misses []mandate.IncidentMiss
	// Now is when the draft is written.
	Now time.Time
}

// maxTimelineRows bounds the timeline table; the full timeline stays one request away.
const maxTimelineRows = 300

// Postmortem renders the Markdown draft: a header, then the sections Timeline, Affected
// systems, Who was involved (with TTI), Root cause candidates (a human verifies), Impact (to
// complete), What we'll change (suggested; a human approves) and Action items.
func Postmortem(in PostmortemInput) string {
	inc := in.Incident
	var b strings.Builder
	w := func(format string, args ...any) { fmt.Fprintf(&b, format, args...) }

	w("# %s: %s\n\n", inc.Ref(), mdLine(inc.Title))
	w("**Postmortem %s** · written by Mandate at %s from what it recorded. Publishing is a human act.\n\n",
		pmOr(inc.Postmortem, mandate.PostmortemDraft), pmStamp(in.Now))
	w("| | |\n|---|---|\n")
	w("| Severity | %s |\n", mdCell(string(inc.Severity)))
	w("| State | %s |\n", mdCell(string(inc.State)))
	w("| Opened | %s by %s (via %s) |\n", pmStamp(inc.OpenedAt), mdCell(pmOr(inc.OpenedBy, "unknown")), mdCell(pmOr(inc.Via, "unknown")))
	if inc.MitigatedAt != nil {
		w("| Mitigated | %s (%s after opening) |\n", pmStamp(*inc.MitigatedAt), blocks.Duration(inc.MitigatedAt.Sub(inc.OpenedAt)))
	}
	if inc.ResolvedAt != nil {
		w("| Resolved | %s (%s after opening) |\n", pmStamp(*inc.ResolvedAt), blocks.Duration(inc.ResolvedAt.Sub(inc.OpenedAt)))
	}
	w("| Commander | %s |\n", mdCell(pmOr(inc.Commander, "nobody was assigned")))
	if inc.ChannelName != "" {
		w("| Channel | #%s |\n", mdCell(inc.ChannelName))
	}
	if inc.RepeatOf != 0 {
		w("| Repeat of | INC-%d |\n", inc.RepeatOf)
	}

	w("\n## Timeline\n\n")
	timelineSection(&b, in.Timeline, inc.Number)
	w("\n## Affected systems\n\n")
	affectedSection(&b, inc)
	w("\n## Who was involved\n\n")
	involvedSection(&b, inc, in.Involved)
	w("\n## Root cause candidates\n\n")
	causesSection(&b, inc)
	w("\n## Impact\n\n")
	impactSection(&b, inc)
	w("\n## What we'll change\n\n")
	w("> 💡 Suggested by Mandate from this incident's patterns and routing feedback. **A human approves** each change; nothing here is applied by itself.\n\n")
	if s := SuggestChanges(in); len(s) > 0 {
		for _, line := range s {
			w("- [ ] %s\n", line)
		}
	} else {
		w("_No change suggested from patterns or routing feedback: add what the review decides._\n")
	}
	w("\n## Action items\n\n")
	itemsSection(&b, inc.Items, in.Now)
	return b.String()
}

func timelineSection(b *strings.Builder, entries []mandate.TimelineEntry, number int64) {
	if len(entries) == 0 {
		b.WriteString("_Nothing was recorded around this incident._\n")
		return
	}
	b.WriteString("| Time (UTC) | Kind | Who | What |\n|---|---|---|---|\n")
	shown := entries[:min(len(entries), maxTimelineRows)]
	for _, e := range shown {
		fmt.Fprintf(b, "| %s | %s | %s | %s |\n", e.At.UTC().Format("2006-01-02 15:04:05"), mdCell(e.Kind), mdCell(e.Who), mdCell(e.Text))
	}
	if more := len(entries) - len(shown); more > 0 {
		fmt.Fprintf(b, "\n_%d more entries: GET /v1/incidents/%d/timeline has them all._\n", more, number)
	}
}

func affectedSection(b *strings.Builder, inc *mandate.Incident) {
	type res struct{ key, why string }
	var list []res
	seen := map[string]bool{}
	for _, r := range inc.Resources {
		if k := r.Key(); !seen[k] {
			seen[k] = true
			list = append(list, res{k, "named by the incident"})
		}
	}
	for i, c := range causesByRank(inc) {
		if c.Action == nil {
			continue
		}
		for _, r := range c.Action.Resources {
			if k := r.Key(); !seen[k] {
				seen[k] = true
				list = append(list, res{k, fmt.Sprintf("touched by cause %d (%s %s)", i+1, c.Action.ActorID, c.Action.Type)})
			}
		}
	}
	if len(list) == 0 {
		b.WriteString("_No resource is recorded: name the systems affected._\n")
	}
	for _, r := range list {
		fmt.Fprintf(b, "- %s — %s\n", mdCode(r.key), r.why)
	}
	teams := affectedTeams(inc)
	switch {
	case len(teams) == 0:
		b.WriteString("\nTeams: none known.\n")
	case len(teams) == 1:
		fmt.Fprintf(b, "\nTeam: %s.\n", mdLine(teams[0]))
	default:
		fmt.Fprintf(b, "\nTeams: %s (multi-team: each team reviews its portion).\n", mdLine(strings.Join(teams, ", ")))
	}
}

func involvedSection(b *strings.Builder, inc *mandate.Incident, involved []mandate.Involvement) {
	fmt.Fprintf(b, "Opened by %s (via %s); commander: %s.\n\n", mdLine(pmOr(inc.OpenedBy, "unknown")), mdLine(pmOr(inc.Via, "unknown")),
		mdLine(pmOr(inc.Commander, "nobody was assigned")))
	if len(involved) == 0 {
		b.WriteString("_Nobody was notified about the causing actions, and nobody intervened on them._\n")
		return
	}
	b.WriteString("| Who | How | When (UTC) | Response | TTI |\n|---|---|---|---|---|\n")
	var ttis []time.Duration
	notified, unanswered := 0, 0
	for _, v := range involved {
		how, response, tti := v.Kind, pmOr(v.Response, "—"), "—"
		switch v.Kind {
		case mandate.InvolvedNotified:
			notified++
			how = "notified"
			if v.Target != "" && v.Target != mandate.TargetPerson {
				how += " (" + string(v.Target) + ")"
			}
			if v.Response == "" {
				unanswered++
				response = "no response"
			} else if v.TTIMillis != nil {
				d := time.Duration(*v.TTIMillis) * time.Millisecond
				ttis = append(ttis, d)
				tti = blocks.Duration(d)
			}
		case mandate.InvolvedResponded:
			how = "responded"
			if v.TTIMillis != nil {
				tti = blocks.Duration(time.Duration(*v.TTIMillis)*time.Millisecond) + " after notification"
			}
		case mandate.InvolvedEscalated:
			how = "escalated to"
		}
		fmt.Fprintf(b, "| %s | %s | %s | %s | %s |\n", mdCell(v.Who), mdCell(how), v.At.UTC().Format("15:04:05"), mdCell(response), tti)
	}
	fmt.Fprintf(b, "\n%s, %d answered", pmPlural(notified, "notification", "notifications"), notified-unanswered)
	if len(ttis) > 0 {
		slices.Sort(ttis)
		fmt.Fprintf(b, " (median TTI %s, slowest %s)", blocks.Duration(ttis[(len(ttis)-1)/2]), blocks.Duration(ttis[len(ttis)-1]))
	}
	if unanswered > 0 {
		fmt.Fprintf(b, "; %d got no response", unanswered)
	}
	b.WriteString(".\n")
}

func causesSection(b *strings.Builder, inc *mandate.Incident) {
	b.WriteString("> ⚠ Found by attribution (actions on the incident's resources shortly before it opened, ranked by time and sensitivity). **A human verifies** each one before this postmortem is published.\n\n")
	causes := causesByRank(inc)
	if len(causes) == 0 {
		b.WriteString("_Attribution found no candidate: name the cause._\n")
	}
	for i, c := range causes {
		state := "Candidate"
		if c.State == mandate.CauseConfirmed {
			state = "**Confirmed**"
			if c.DecidedBy != "" {
				state += " by " + mdLine(c.DecidedBy)
			}
		}
		a := c.Action
		if a == nil {
			fmt.Fprintf(b, "%d. %s — action %s: %s\n", i+1, state, mdCode(c.ActionID), mdLine(c.Reason))
			continue
		}
		fmt.Fprintf(b, "%d. %s — %s **%s** on %s at %s: %s\n", i+1, state, mdCode(a.ActorID), mdLine(a.Type), resourceCodes(a.Resources),
			pmStamp(a.OccurredAt), mdLine(a.Summary))
		fmt.Fprintf(b, "   - Why a candidate: %s (score %.2f)\n", mdLine(pmOr(c.Reason, "ranked by attribution")), c.Score)
		fmt.Fprintf(b, "   - Routed %s (%s, rule %s)\n", mdLine(string(a.Decision.Path)), mdLine(string(a.Decision.Urgency)), mdCode(pmOr(a.Decision.Rule, "default")))
		if r := a.Result; r != nil {
			line := "   - Result: " + mdLine(string(r.Status))
			if r.FailureMode != "" {
				line += " (" + mdCode(r.FailureMode) + ")"
			}
			if r.Error != "" {
				line += ": " + mdLine(pmClip(r.Error, 300))
			}
			b.WriteString(line + "\n")
		} else {
			b.WriteString("   - Result: not reported\n")
		}
	}
	if n := countCauses(inc, mandate.CauseDismissed); n > 0 {
		fmt.Fprintf(b, "\n%s dismissed by responders (not listed).\n", pmPlural(n, "candidate was", "candidates were"))
	}
}

func impactSection(b *strings.Builder, inc *mandate.Incident) {
	b.WriteString("> ✍ **To complete:** who and what was affected (customers, requests, data), for how long, and what it cost. Mandate filled in only what it saw.\n\n")
	fmt.Fprintf(b, "- Severity: %s", mdLine(string(inc.Severity)))
	if inc.ResolvedAt != nil {
		fmt.Fprintf(b, "; %s from opening to resolution", blocks.Duration(inc.ResolvedAt.Sub(inc.OpenedAt)))
		if inc.MitigatedAt != nil {
			fmt.Fprintf(b, " (mitigated after %s)", blocks.Duration(inc.MitigatedAt.Sub(inc.OpenedAt)))
		}
	}
	b.WriteString(".\n")
	fmt.Fprintf(b, "- Resources named by the incident: %d; teams affected: %d.\n", len(inc.Resources), len(affectedTeams(inc)))
	statuses := map[string]int{}
	var modes []string
	for _, c := range inc.CausingActions() {
		if c.Action == nil {
			continue
		}
		status := "not reported"
		if r := c.Action.Result; r != nil {
			status = string(r.Status)
			if r.FailureMode != "" && !slices.Contains(modes, r.FailureMode) {
				modes = append(modes, r.FailureMode)
			}
		}
		statuses[status]++
	}
	if len(statuses) > 0 {
		var parts []string
		for _, s := range slices.Sorted(maps.Keys(statuses)) {
			parts = append(parts, fmt.Sprintf("%d %s", statuses[s], s))
		}
		line := "- Causing actions: " + strings.Join(parts, ", ")
		if len(modes) > 0 {
			codes := make([]string, len(modes))
			for i, m := range modes {
				codes[i] = mdCode(m)
			}
			line += "; failure modes: " + strings.Join(codes, ", ")
		}
		b.WriteString(line + ".\n")
	}
	b.WriteString("- Customers affected: _to complete_\n- Data affected: _to complete_\n- Cost and SLO budget spent: _to complete_\n")
}

func itemsSection(b *strings.Builder, items []mandate.ActionItem, now time.Time) {
	if len(items) == 0 {
		b.WriteString("_None yet._ A postmortem is published and closed only with at least one action item that has an owner and a due date.\n")
		return
	}
	b.WriteString("| # | Item | Owner | Due | State |\n|---|---|---|---|---|\n")
	for _, it := range items {
		state := string(it.State)
		switch {
		case it.State == mandate.ItemDone && it.DoneAt != nil:
			state = fmt.Sprintf("done by %s on %s", it.DoneBy, it.DoneAt.UTC().Format(time.DateOnly))
		case it.Overdue(now):
			state = "**overdue**"
		}
		fmt.Fprintf(b, "| %d | %s | %s | %s | %s |\n", it.ID, mdCell(it.Title), mdCell(it.Owner), it.Due.Format(time.DateOnly), mdCell(state))
	}
}

// SuggestChanges proposes what to change, for a human to approve: finish the promises of
// the incident this one repeats, guard what the new patterns describe, reach the people
// nobody told or who did not answer, and fix rules that routing feedback says misfire.
func SuggestChanges(in PostmortemInput) []string {
	inc := in.Incident
	var out []string
	if r := in.Repeats; r != nil {
		var open []string
		for _, it := range r.Items {
			if it.State != mandate.ItemDone {
				open = append(open, fmt.Sprintf("%q (%s)", it.Title, it.Owner))
			}
		}
		if len(open) > 0 {
			out = append(out, fmt.Sprintf("This repeats %s (%s) while its action items are open: finish %s first.",
				r.Ref(), mdLine(r.Title), mdLine(strings.Join(open, ", "))))
		} else {
			out = append(out, fmt.Sprintf("This repeats %s (%s) although its action items are done: check that they addressed the cause.",
				r.Ref(), mdLine(r.Title)))
		}
	}

	// Guards for what the patterns describe: one suggestion per action type, naming the
	// broadest resource patterns (exact keys a resource pattern covers add nothing).
	byType := map[string][]string{}
	var failures []mandate.IncidentPattern
	for _, p := range inc.Patterns {
		switch p.Kind {
		case mandate.PatternResource:
			byType[p.ActionType] = append(byType[p.ActionType], p.ResourcePattern)
		case mandate.PatternFailureMode:
			failures = append(failures, p)
		}
	}
	for _, p := range inc.Patterns {
		if p.Kind == mandate.PatternExact && len(byType[p.ActionType]) == 0 {
			byType[p.ActionType] = append(byType[p.ActionType], p.ResourcePattern)
		}
	}
	for _, typ := range slices.Sorted(maps.Keys(byType)) {
		res := byType[typ]
		quoted := make([]string, len(res))
		for i, r := range res {
			quoted[i] = fmt.Sprintf("%q", r)
		}
		out = append(out, fmt.Sprintf("Guard %s on %s: Mandate now warns when a matching action comes; make it wait for or flag to the owners with a routing rule, e.g. `when: {types: [%s], resources: [%s]}` → `then: {path: flagged_execute}`.",
			mdCode(typ), mdLine(strings.Join(res, ", ")), typ, strings.Join(quoted, ", ")))
	}
	for _, p := range failures {
		out = append(out, fmt.Sprintf("Make %s fail safe when it fails with %s (recognised from now on as this incident's failure mode).",
			mdCode(p.ActionType), mdCode(p.FailureMode)))
	}

	// People: causing actions nobody was told about, and notifications nobody answered.
	told := map[string]bool{}
	var silent []string
	for _, v := range in.Involved {
		if v.Kind != mandate.InvolvedNotified {
			continue
		}
		told[v.ActionID] = true
		if v.Response == "" && !slices.Contains(silent, v.Who) {
			silent = append(silent, v.Who)
		}
	}
	rules := map[string]bool{}
	for _, c := range inc.CausingActions() {
		a := c.Action
		if a == nil {
			continue
		}
		rules[a.Decision.Rule] = true
		if !told[a.ID] {
			why := "rule " + mdCode(pmOr(a.Decision.Rule, "default"))
			if a.Decision.Path == mandate.PathAuto {
				why += ", auto_execute"
			}
			out = append(out, fmt.Sprintf("Nobody was told about %s's %s on %s (%s): route such actions to their owners, or give %s an owner.",
				mdLine(a.ActorID), mdLine(a.Type), resourceCodes(a.Resources), why, resourceCodes(a.Resources)))
		}
	}
	if len(silent) > 0 {
		out = append(out, fmt.Sprintf("Notifications to %s about the causing actions got no response: check their escalation policy and on-call coverage.",
			mdLine(strings.Join(silent, ", "))))
	}
	out = append(out, missedChanges(inc, in.Misses)...)

	// Routing feedback on the rules that decided the causing actions.
	stats := slices.Clone(in.Rules)
	sort.SliceStable(stats, func(i, j int) bool { return stats[i].Rule < stats[j].Rule })
	for _, st := range stats {
		if !rules[st.Rule] {
			continue
		}
		if st.NeedsReview {
			out = append(out, fmt.Sprintf("Rule %s: %d%% of the feedback on its notifications says not relevant (%d of %d): tighten it, or its warnings will be ignored.",
				mdCode(st.Rule), int(st.FalsePositiveRate*100+0.5), st.NotRelevant, st.Feedback))
		}
		if st.Missed > 0 {
			out = append(out, fmt.Sprintf("Rule %s: %s: add the missing targets.", mdCode(st.Rule),
				pmPlural(st.Missed, `"should have been notified" mark`, `"should have been notified" marks`)))
		}
	}
	return out
}

// missedChanges turns "should have been notified" marks into one suggestion per causing
// action, naming everyone missed: they should own its resources, or be a target of the
// rule that routed it. Marks on actions that are no longer causes (dismissed since) are
// left out.
func missedChanges(inc *mandate.Incident, misses []mandate.IncidentMiss) []string {
	var order []string
	who := map[string][]string{}
	for _, m := range misses {
		if _, seen := who[m.ActionID]; !seen {
			order = append(order, m.ActionID)
		}
		if name := missedName(m.Who); !slices.Contains(who[m.ActionID], name) {
			who[m.ActionID] = append(who[m.ActionID], name)
		}
	}
	var out []string
	for _, id := range order {
		var a *mandate.Action
		for _, c := range inc.Causes {
			if c.ActionID == id && c.State != mandate.CauseDismissed {
				a = c.Action
			}
		}
		if a == nil {
			continue
		}
		names, were := who[id], "was"
		if len(names) > 1 {
			were = "were"
		}
		out = append(out, fmt.Sprintf("Marked during review: %s should have been told about %s's %s on %s and %s not: make them owners of %s (a services entry in mandate.yaml, or a CODEOWNERS line), or targets of rule %s.",
			mdLine(strings.Join(names, ", ")), mdLine(a.ActorID), mdLine(a.Type), resourceCodes(a.Resources), were,
			resourceCodes(a.Resources), mdCode(pmOr(a.Decision.Rule, "default"))))
	}
	return out
}

// teamPrefix marks a team in a miss's who ("team:payments"), as in a target's key; a
// bare id is a person.
const teamPrefix = string(mandate.TargetTeam) + ":"

// missedName is who a miss names, as a person reads it: "team payments" for "team:payments".
func missedName(who string) string {
	if team, ok := strings.CutPrefix(who, teamPrefix); ok {
		return "team " + team
	}
	return who
}

// affectedTeams are the incident's teams and those of the causes nobody dismissed.
func affectedTeams(inc *mandate.Incident) []string {
	teams := slices.Clone(inc.Teams)
	for _, c := range inc.Causes {
		if c.Action != nil && c.State != mandate.CauseDismissed {
			for _, t := range c.Action.Teams {
				if !slices.Contains(teams, t) {
					teams = append(teams, t)
				}
			}
		}
	}
	return teams
}

// causesByRank lists the causes responders did not dismiss, likeliest first.
func causesByRank(inc *mandate.Incident) []mandate.IncidentCause {
	var out []mandate.IncidentCause
	for _, c := range inc.Causes {
		if c.State != mandate.CauseDismissed {
			out = append(out, c)
		}
	}
	slices.SortStableFunc(out, func(a, b mandate.IncidentCause) int {
		// Confirmed causes first, then by rank.
		ca, cb := a.State == mandate.CauseConfirmed, b.State == mandate.CauseConfirmed
		if ca != cb {
			if ca {
				return -1
			}
			return 1
		}
		return cmp.Compare(a.Rank, b.Rank)
	})
	return out
}

func countCauses(inc *mandate.Incident, state mandate.CauseState) int {
	n := 0
	for _, c := range inc.Causes {
		if c.State == state {
			n++
		}
	}
	return n
}

func resourceCodes(rs []mandate.Resource) string {
	if len(rs) == 0 {
		return "no resource"
	}
	parts := make([]string, len(rs))
	for i, r := range rs {
		parts[i] = mdCode(r.Key())
	}
	return strings.Join(parts, ", ")
}

// pmStamp is a time as the postmortem shows it: UTC to the minute.
func pmStamp(t time.Time) string { return t.UTC().Format("2006-01-02 15:04 UTC") }

// mdLine makes untrusted text one line of Markdown.
func mdLine(s string) string {
	return strings.Join(strings.Fields(s), " ")
}

// mdCell makes untrusted text safe in a Markdown table cell.
func mdCell(s string) string {
	s = strings.ReplaceAll(mdLine(s), "|", `\|`)
	if s == "" {
		return "—"
	}
	return s
}

// mdCode puts text in a code span, unless it holds a backtick, which would end it early.
func mdCode(s string) string {
	s = mdLine(s)
	if strings.Contains(s, "`") {
		return s
	}
	return "`" + s + "`"
}

func pmOr(s, otherwise string) string {
	if s == "" {
		return otherwise
	}
	return s
}

func pmPlural(n int, one, many string) string {
	if n == 1 {
		return "1 " + one
	}
	return fmt.Sprintf("%d %s", n, many)
}
