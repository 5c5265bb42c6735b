package blocks

import (
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/slack-go/slack"

	"github.com/mandatehq/mandate"
)

// Incident button action_ids (a public contract, like the notification buttons) and the
// assign modal's ids. Incident buttons carry "incident:<number>" as their value, cause
// buttons "incident:<number>:<action id>"; open_incident, on a notification, carries the
// notification id like its neighbours.
const (
	ActionPauseCauses  = "pause_causes"
	ActionAssignOwner  = "assign_owner"
	ActionMitigated    = "mitigated"
	ActionResolved     = "resolved"
	ActionConfirmCause = "confirm_cause"
	ActionDismissCause = "dismiss_cause"
	ActionOpenIncident = "open_incident"

	IncidentAssignCallback = "incident_assign"
	IncidentAssignBlock    = "commander"
	IncidentAssignInput    = "commander_select"
)

// Block id prefixes of the incident header; the full id is "<prefix>:<number>" (with a
// ":<index>" for repeated blocks).
const (
	BlockIncidentTitle   = "inc_title"
	BlockIncidentSummary = "inc_summary"
	BlockIncidentTeam    = "inc_team"
	BlockIncidentCause   = "inc_cause"
	BlockIncidentCauseOp = "inc_cause_actions"
	BlockIncidentActions = "inc_actions"
	BlockIncidentFooter  = "inc_footer"
)

// maxCausesShown keeps the header readable and far inside Slack's 50 blocks: each cause
// takes a section and an actions block.
const maxCausesShown = 5

// maxTeamsShown bounds the blast-radius sections.
const maxTeamsShown = 10

// Incident is an incident as its channel shows it. The caller fills it from the
// incident, its causes and the config in force.
type Incident struct {
	Number   int64
	Title    string
	Severity string // low, medium, high, critical
	State    string // open, mitigated, resolved, closed
	// Commander and OpenedBy are Slack user ids (mentioned) or names (escaped).
	Commander string
	OpenedBy  string
	Via       string // slack, api or rule
	OpenedAt  time.Time
	// MitigatedAt and ResolvedAt are set once the incident got there.
	MitigatedAt *time.Time
	ResolvedAt  *time.Time
	Causes      []IncidentCause
	// Teams is the blast radius per owning team: each team sees its portion.
	Teams     []IncidentTeam
	MultiTeam bool
	// Paged reports that PagerDuty was paged.
	Paged bool
}

// IncidentCause is one candidate causing action, likeliest first.
type IncidentCause struct {
	ActionID   string
	Actor      string
	ActionType string
	Summary    string
	Reason     string
	State      string // candidate, confirmed, dismissed
}

// IncidentTeam is the part of an incident one team owns.
type IncidentTeam struct {
	// Team is the team's name; "" for resources nobody owns.
	Team string
	// Resources are the team's affected resources with their owners (rendered mentions).
	Resources []Resource
}

// IncidentValue is the value of an incident's buttons.
func IncidentValue(number int64) string { return "incident:" + strconv.FormatInt(number, 10) }

// CauseValue is the value of a cause's confirm and dismiss buttons.
func CauseValue(number int64, actionID string) string {
	return IncidentValue(number) + ":" + actionID
}

// ParseIncidentValue reads a value made by IncidentValue or CauseValue.
func ParseIncidentValue(v string) (number int64, actionID string, ok bool) {
	rest, found := strings.CutPrefix(v, "incident:")
	if !found {
		return 0, "", false
	}
	num, actionID, _ := strings.Cut(rest, ":")
	n, err := strconv.ParseInt(num, 10, 64)
	if err != nil || n <= 0 {
		return 0, "", false
	}
	return n, actionID, true
}

// severityEmoji marks severities so the header reads at a glance.
var severityEmoji = map[string]string{"low": "🟢", "medium": "🟡", "high": "🟠", "critical": "🔴"}

func incidentRef(n int64) string { return "INC-" + strconv.FormatInt(n, 10) }

// IncidentHeader renders the header message of an incident's channel: what happened and
// how bad, where it stands, who commands, the blast radius per team, the likely causes
// (each with Confirm and Dismiss), and the responders' buttons while it is active.
func IncidentHeader(v Incident) (fallback string, blocks []slack.Block) {
	id := strconv.FormatInt(v.Number, 10)
	ref := incidentRef(v.Number)
	emoji := severityEmoji[v.Severity]
	if emoji == "" {
		emoji = "🚨"
	}
	title := emoji + " " + ref + " · " + clipPlain(v.Severity, 20) + " · " + clipPlain(orDash(v.Title), 200)
	blocks = append(blocks, slack.NewHeaderBlock(plain(clipPlain(title, maxHeaderText)), slack.HeaderBlockOptionBlockID(BlockIncidentTitle+":"+id)))
	blocks = append(blocks, section(BlockIncidentSummary+":"+id, incidentSummary(v)))

	teams := v.Teams
	if len(teams) > maxTeamsShown {
		teams = teams[:maxTeamsShown]
	}
	for i, t := range teams {
		blocks = append(blocks, section(BlockIncidentTeam+":"+id+":"+strconv.Itoa(i+1), teamText(t)))
	}
	if extra := len(v.Teams) - len(teams); extra > 0 {
		blocks = append(blocks, slack.NewContextBlock(BlockIncidentTeam+":"+id+":more", mrkdwn("… and "+plural(extra, "more team", "more teams"))))
	}

	blocks = append(blocks, causeBlocks(v, id)...)
	if v.State == string(mandate.IncidentOpen) || v.State == string(mandate.IncidentMitigated) {
		blocks = append(blocks, incidentButtons(v, id))
	}
	blocks = append(blocks, slack.NewContextBlock(BlockIncidentFooter+":"+id, mrkdwn(footerText(v))))
	fallback = emoji + " " + ref + " (" + clip(v.Severity, 20) + ", " + clip(v.State, 20) + "): " + clip(orDash(v.Title), 300)
	return fallback, capBlocks(blocks, maxBlocks, BlockIncidentFooter+":"+id+":cut")
}

// incidentSummary is the state line, the people and, for several teams, the marker.
func incidentSummary(v Incident) string {
	state := "*State:* " + clip(orDash(v.State), 20)
	switch {
	case v.ResolvedAt != nil:
		state += " at " + formatTime(*v.ResolvedAt) + " (" + duration(v.ResolvedAt.Sub(v.OpenedAt)) + " after opening)"
	case v.MitigatedAt != nil:
		state += " at " + formatTime(*v.MitigatedAt)
	}
	commander := "_unassigned: press Assign owner_"
	if v.Commander != "" {
		commander = mention(v.Commander)
	}
	lines := []string{
		"*Severity:* " + clip(orDash(v.Severity), 20) + " · " + state,
		"*Commander:* " + commander,
		"*Opened:* " + formatTime(v.OpenedAt) + " by " + mention(v.OpenedBy) + " via " + clip(orDash(v.Via), 20),
	}
	if v.MultiTeam {
		names := make([]string, 0, len(v.Teams))
		for _, t := range v.Teams {
			if t.Team != "" {
				names = append(names, clip(t.Team, 80))
			}
		}
		lines = append(lines, "🌐 *Multi-team incident:* "+joinBudget(names, ", ", 600, "more"))
	}
	return strings.Join(lines, "\n")
}

// teamText is one team's portion of the blast radius.
func teamText(t IncidentTeam) string {
	name := "*No owning team*"
	if t.Team != "" {
		name = "*Team " + clip(t.Team, 80) + "*"
	}
	lines := []string{name}
	used := 0
	for i, r := range t.Resources {
		line := "• " + clip(r.Key, budgetResource)
		if owners := joinBudget(r.Owners, ", ", budgetOwners, "more"); owners != "" {
			line += " — " + owners
		}
		if used+utf8.RuneCountInString(line) > 2500 {
			lines = append(lines, "• … and "+plural(len(t.Resources)-i, "more resource", "more resources"))
			break
		}
		used += utf8.RuneCountInString(line)
		lines = append(lines, line)
	}
	return strings.Join(lines, "\n")
}

var causeMarks = map[string]string{
	string(mandate.CauseConfirmed): "✅ confirmed",
	string(mandate.CauseDismissed): "✖ dismissed",
	string(mandate.CauseCandidate): "❔ candidate",
}

// causeBlocks lists the likely causes, each with the verdict buttons it still needs.
func causeBlocks(v Incident, id string) []slack.Block {
	if len(v.Causes) == 0 {
		return []slack.Block{section(BlockIncidentCause+":"+id, "*Likely causes:* none found among the actions on these resources before the incident opened.")}
	}
	blocks := []slack.Block{section(BlockIncidentCause+":"+id, "*Likely causes* (ranked by attribution; a human verifies):")}
	shown := v.Causes
	if len(shown) > maxCausesShown {
		shown = shown[:maxCausesShown]
	}
	for i, c := range shown {
		n := strconv.Itoa(i + 1)
		what := clip(orDash(c.Actor), budgetActor) + " " + clip(orDash(c.ActionType), 60) + ": " + clip(orDash(c.Summary), 500)
		if c.State == string(mandate.CauseDismissed) {
			what = "~" + what + "~"
		}
		mark := causeMarks[c.State]
		if mark == "" {
			mark = clip(c.State, 20)
		}
		text := n + ". " + what + "\n   " + mark + " · " + clip(orDash(c.Reason), budgetReason) + " · " + code(c.ActionID, 60)
		blocks = append(blocks, section(BlockIncidentCause+":"+id+":"+n, text))
		var els []slack.BlockElement
		value := CauseValue(v.Number, c.ActionID)
		if c.State != string(mandate.CauseConfirmed) {
			els = append(els, slack.NewButtonBlockElement(ActionConfirmCause, value, plain("✅ Confirm cause")).WithStyle(slack.StylePrimary))
		}
		if c.State != string(mandate.CauseDismissed) {
			els = append(els, slack.NewButtonBlockElement(ActionDismissCause, value, plain("✖ Dismiss")))
		}
		blocks = append(blocks, slack.NewActionBlock(BlockIncidentCauseOp+":"+id+":"+n, els...))
	}
	if extra := len(v.Causes) - len(shown); extra > 0 {
		blocks = append(blocks, slack.NewContextBlock(BlockIncidentCause+":"+id+":more",
			mrkdwn("… and "+plural(extra, "more candidate", "more candidates")+": `/mandate incident timeline "+id+"`")))
	}
	return blocks
}

// incidentButtons are what responders do about the incident.
func incidentButtons(v Incident, id string) slack.Block {
	value := IncidentValue(v.Number)
	ref := incidentRef(v.Number)
	btn := func(actionID, text string) *slack.ButtonBlockElement {
		return slack.NewButtonBlockElement(actionID, value, plain(text))
	}
	els := []slack.BlockElement{
		btn(ActionPauseCauses, "⏸ Pause all causing agents").WithStyle(slack.StyleDanger).
			WithConfirm(confirm("Pause causing agents?", "Pause every agent behind "+ref+"'s causes (confirmed ones, or every candidate while none is)? Their next actions will be halted.", "Pause", slack.StyleDanger)),
		btn(ActionAssignOwner, "👤 Assign owner"),
	}
	if v.State == string(mandate.IncidentOpen) {
		els = append(els, btn(ActionMitigated, "🩹 Mitigated"))
	}
	els = append(els, btn(ActionResolved, "✅ Resolved").WithStyle(slack.StylePrimary).
		WithConfirm(confirm("Resolve "+ref+"?", "Mark "+ref+" resolved? The postmortem draft is started from its timeline.", "Resolve", slack.StylePrimary)))
	return slack.NewActionBlock(BlockIncidentActions+":"+id, els...)
}

func footerText(v Incident) string {
	parts := []string{"Timeline: `/mandate incident timeline " + strconv.FormatInt(v.Number, 10) + "`"}
	if v.Paged {
		parts = append(parts, "PagerDuty paged")
	}
	return strings.Join(parts, " · ")
}

// IncidentTopic is the channel's topic: the incident at a glance (Slack allows 250
// characters).
func IncidentTopic(v Incident) string {
	s := incidentRef(v.Number) + " [" + v.Severity + ", " + v.State + "] "
	if v.Commander != "" {
		s += "commander " + mention(v.Commander) + " · "
	}
	return s + clipPlain(orDash(v.Title), 250-utf8.RuneCountInString(s)-60)
}

// IncidentTimeline renders an incident's timeline as text for `/mandate incident
// timeline`: one line per entry, in order, within what a slash command's answer can
// carry; what does not fit is counted and left to the API.
func IncidentTimeline(v Incident, entries []mandate.TimelineEntry) string {
	const budget = 3500
	head := "*" + incidentRef(v.Number) + " · " + clip(orDash(v.Title), 200) + "* (" + clip(v.Severity, 20) + ", " + clip(v.State, 20) + ")"
	if len(entries) == 0 {
		return head + "\nNothing recorded around it yet."
	}
	lines := []string{head}
	used := utf8.RuneCountInString(head)
	day := ""
	for i, e := range entries {
		var line string
		if d := e.At.UTC().Format(time.DateOnly); d != day {
			day = d
			line = "_" + d + " (UTC)_\n"
		}
		line += "• `" + e.At.UTC().Format("15:04:05") + "` " + timelineEmoji[e.Kind] + " " + clip(oneLine(e.Text), 300)
		if e.Who != "" && e.Kind == mandate.TimelineIncident {
			line += " — " + mention(e.Who)
		}
		if used+utf8.RuneCountInString(line)+1 > budget {
			lines = append(lines, "… and "+plural(len(entries)-i, "more entry", "more entries")+
				": GET /v1/incidents/"+strconv.FormatInt(v.Number, 10)+"/timeline has them all")
			break
		}
		used += utf8.RuneCountInString(line) + 1
		lines = append(lines, line)
	}
	return strings.Join(lines, "\n")
}

var timelineEmoji = map[string]string{
	mandate.TimelineAction:       "▶",
	mandate.TimelineResult:       "◀",
	mandate.TimelineNotification: "🔔",
	mandate.TimelineIntervention: "✋",
	mandate.TimelineEscalation:   "📣",
	mandate.TimelineGate:         "🚧",
	mandate.TimelineIncident:     "🚨",
}

// AssignModal asks who commands the incident.
func AssignModal(number int64, title string) slack.ModalViewRequest {
	about := "*" + incidentRef(number) + ":* " + clip(orDash(title), 2000)
	sel := slack.NewOptionsSelectBlockElement(slack.OptTypeUser, plain("Choose a person"), IncidentAssignInput)
	return slack.ModalViewRequest{
		Type:            slack.VTModal,
		CallbackID:      IncidentAssignCallback,
		PrivateMetadata: IncidentValue(number),
		Title:           plain("Assign owner"),
		Submit:          plain("Assign"),
		Close:           plain("Cancel"),
		Blocks: slack.Blocks{BlockSet: []slack.Block{
			section("about", about),
			slack.NewInputBlock(IncidentAssignBlock, plain("Incident commander"), nil, sel),
		}},
	}
}
