package handlers

import (
	"context"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"sync"

	"github.com/slack-go/slack"

	"github.com/mandatehq/mandate"
	"github.com/mandatehq/mandate/blocks"
	"github.com/mandatehq/mandate/notify"
)

// Incidents from Slack: `/mandate incident …`, the "Open incident" button on
// notifications, and the buttons of an incident channel's header (pause the causing
// agents, assign an owner, mitigated, resolved, confirm or dismiss a cause).

// Incidents is what these commands and buttons call; *incidents.Service implements it.
type Incidents interface {
	Open(ctx context.Context, req mandate.IncidentRequest) (*mandate.Incident, error)
	OpenOnce(ctx context.Context, req mandate.IncidentRequest) (*mandate.Incident, bool, error)
	Get(ctx context.Context, number int64) (*mandate.Incident, error)
	GetByChannel(ctx context.Context, channel string) (*mandate.Incident, error)
	List(ctx context.Context, f mandate.IncidentFilter) ([]*mandate.Incident, error)
	Timeline(ctx context.Context, number int64) (*mandate.Incident, []mandate.TimelineEntry, error)
	Transition(ctx context.Context, number int64, to mandate.IncidentState, by string) (*mandate.Incident, bool, error)
	Assign(ctx context.Context, number int64, person, by string) (*mandate.Incident, bool, error)
	DecideCause(ctx context.Context, number int64, actionID string, confirm bool, by string) (*mandate.Incident, bool, error)
	PauseCauses(ctx context.Context, number int64, by string) (paused, already []string, err error)
	SetSeverity(ctx context.Context, number int64, sev mandate.Severity, by string) (*mandate.Incident, bool, error)
	View(inc *mandate.Incident) blocks.Incident
}

// incidentServices holds each Handlers' Incidents, as learning.go does for postmortems:
// the feature stays in its own file.
var incidentServices sync.Map // *Handlers -> Incidents

// SetIncidents gives h the incident service; without one, incident commands and buttons
// answer that incidents are not set up.
func (h *Handlers) SetIncidents(s Incidents) { incidentServices.Store(h, s) }

func (h *Handlers) incidentService() (Incidents, bool) {
	v, ok := incidentServices.Load(h)
	if !ok {
		return nil, false
	}
	return v.(Incidents), true
}

const incidentsOff = "Incidents are not set up on this Mandate server."

// incidentNotLinked answers someone Mandate cannot name: every incident act is recorded
// with who did it.
const incidentNotLinked = "Your Slack account is not linked to a person in mandate.yaml (people[].slack), so Mandate cannot record who did this."

func init() {
	commands["incident"] = (*Handlers).incidentCommand
	buttons[blocks.ActionOpenIncident] = (*Handlers).openIncidentButton
	buttons[blocks.ActionPauseCauses] = (*Handlers).incidentButton
	buttons[blocks.ActionAssignOwner] = (*Handlers).incidentButton
	buttons[blocks.ActionMitigated] = (*Handlers).incidentButton
	buttons[blocks.ActionResolved] = (*Handlers).incidentButton
	buttons[blocks.ActionConfirmCause] = (*Handlers).causeButton
	buttons[blocks.ActionDismissCause] = (*Handlers).causeButton
	views[blocks.IncidentAssignCallback] = (*Handlers).submitAssign
}

// incidentUsage is the command's right form, for mistakes.
const incidentUsage = "Usage: `/mandate incident TITLE [--sev low|medium|high|critical] [--resource kind:name]…`, " +
	"`/mandate incident timeline [NUMBER]`, `/mandate incident sev [NUMBER] low|medium|high|critical` or `/mandate incident list`"

// incidentCommand answers `/mandate incident …`.
func (h *Handlers) incidentCommand(ctx context.Context, cmd slack.SlashCommand, person string, args []string) any {
	svc, ok := h.incidentService()
	if !ok {
		return reply(incidentsOff)
	}
	if len(args) == 0 {
		return reply("Say what is wrong.\n" + incidentUsage)
	}
	switch strings.ToLower(args[0]) {
	case "timeline":
		return h.incidentTimeline(ctx, svc, cmd, args[1:])
	case "list":
		if len(args) > 1 {
			return reply("`list` takes nothing more.\n" + incidentUsage)
		}
		return h.incidentList(ctx, svc)
	case "sev", "severity":
		return h.incidentSeverity(ctx, svc, cmd, person, args[1:])
	}
	if person == "" {
		return reply(incidentNotLinked)
	}
	req, problem := parseIncident(args)
	if problem != "" {
		return reply(problem + "\n" + incidentUsage)
	}
	req.OpenedBy, req.Via = person, mandate.ViaSlack
	inc, err := svc.Open(ctx, req)
	if err != nil {
		return reply("Could not open the incident: " + fieldProblems(err))
	}
	return map[string]any{"response_type": "in_channel", "text": openedText(inc, cmd.UserID)}
}

// parseIncident reads `TITLE [--sev S] [--resource R]…`: words that are not flags make
// the title, wherever they are.
func parseIncident(args []string) (mandate.IncidentRequest, string) {
	req := mandate.IncidentRequest{Severity: mandate.SeverityMedium}
	var title []string
	for i := 0; i < len(args); i++ {
		a := args[i]
		name, value, inline := strings.Cut(a, "=")
		if !strings.HasPrefix(name, "--") {
			title = append(title, a)
			continue
		}
		if !inline {
			if i+1 >= len(args) {
				return req, fmt.Sprintf("`%s` needs a value.", name)
			}
			i++
			value = args[i]
		}
		switch name {
		case "--sev", "--severity":
			sev, err := mandate.ParseSeverity(strings.ToLower(value))
			if err != nil {
				return req, fmt.Sprintf("%q is not a severity: use low, medium, high or critical.", value)
			}
			req.Severity = sev
		case "--resource":
			r, ok := mandate.ParseResourceKey(value)
			if !ok {
				return req, fmt.Sprintf("%q is not a resource: write kind:name, e.g. service:payments-api.", value)
			}
			req.Resources = append(req.Resources, r)
		default:
			return req, fmt.Sprintf("Unknown option `%s`.", name)
		}
	}
	req.Title = strings.Trim(strings.Join(title, " "), `"“” `)
	if req.Title == "" {
		return req, "Give the incident a title: say what is wrong."
	}
	return req, ""
}

// fieldProblems renders a validation error's fields for a person.
func fieldProblems(err error) string {
	var parts []string
	if e, ok := err.(*mandate.Error); ok {
		for _, f := range e.Fields {
			parts = append(parts, f.Field+" "+f.Message)
		}
	}
	if len(parts) == 0 {
		return mandate.ErrorMessage(err)
	}
	return strings.Join(parts, "; ")
}

func openedText(inc *mandate.Incident, user string) string {
	s := fmt.Sprintf("🚨 <@%s> opened *%s* (%s): %s", user, inc.Ref(), inc.Severity, blocks.Escape(inc.Title))
	if n := len(inc.Causes); n > 0 && inc.Causes[0].Action != nil {
		s += fmt.Sprintf("\nLikely cause: %s %s: %s", inc.Causes[0].Action.ActorID, inc.Causes[0].Action.Type, blocks.Escape(inc.Causes[0].Action.Summary))
		if n > 1 {
			s += fmt.Sprintf(" (+%d more candidates)", n-1)
		}
	}
	s += "\nIts channel #" + channelNameHint(inc) + " is being set up with the owners and whoever is on call."
	return s
}

// channelNameHint is the channel's name, or the name it is about to get.
func channelNameHint(inc *mandate.Incident) string {
	if inc.ChannelName != "" {
		return inc.ChannelName
	}
	return "inc-" + strconv.FormatInt(inc.Number, 10) + "-…"
}

// incidentTimeline answers `/mandate incident timeline [NUMBER]`; in an incident's
// channel the number may be left out.
func (h *Handlers) incidentTimeline(ctx context.Context, svc Incidents, cmd slack.SlashCommand, args []string) any {
	if len(args) > 1 {
		return reply("Name at most one incident.\n" + incidentUsage)
	}
	number, problem := h.incidentNumber(ctx, svc, cmd, args, "timeline")
	if problem != "" {
		return reply(problem)
	}
	inc, entries, err := svc.Timeline(ctx, number)
	if err != nil {
		return reply("No timeline: " + mandate.ErrorMessage(err))
	}
	return reply(blocks.IncidentTimeline(svc.View(inc), entries))
}

// incidentNumber reads the incident a subcommand names (NUMBER or INC-NUMBER), or with
// no argument the incident whose channel the command was typed in. problem, when not
// empty, is the answer to give instead.
func (h *Handlers) incidentNumber(ctx context.Context, svc Incidents, cmd slack.SlashCommand, args []string, sub string) (number int64, problem string) {
	if len(args) == 0 {
		inc, err := svc.GetByChannel(ctx, cmd.ChannelID)
		if err != nil {
			return 0, "This is not an incident channel: name the incident, e.g. `/mandate incident " + sub + " 42`."
		}
		return inc.Number, ""
	}
	n, err := strconv.ParseInt(strings.TrimPrefix(strings.ToUpper(args[0]), "INC-"), 10, 64)
	if err != nil || n <= 0 {
		return 0, fmt.Sprintf("%q is not an incident number.\n%s", args[0], incidentUsage)
	}
	return n, ""
}

// incidentSeverity answers `/mandate incident sev [NUMBER] SEVERITY`: the same people
// who may mark the incident mitigated or resolved may change its severity. In the
// incident's channel the number may be left out.
func (h *Handlers) incidentSeverity(ctx context.Context, svc Incidents, cmd slack.SlashCommand, person string, args []string) any {
	if len(args) == 0 || len(args) > 2 {
		return reply("Give the new severity, and the incident unless you are in its channel.\n" + incidentUsage)
	}
	word := args[len(args)-1]
	sev, err := mandate.ParseSeverity(strings.ToLower(word))
	if err != nil {
		return reply(fmt.Sprintf("%q is not a severity: use low, medium, high or critical.\n%s", word, incidentUsage))
	}
	number, problem := h.incidentNumber(ctx, svc, cmd, args[:len(args)-1], "sev")
	if problem != "" {
		return reply(problem)
	}
	if person == "" {
		return reply(incidentNotLinked)
	}
	inc, err := svc.Get(ctx, number)
	if err != nil {
		return reply("Cannot change the severity: " + mandate.ErrorMessage(err))
	}
	if !h.mayRespond(person, inc) {
		h.Log.Warn("incident severity refused", "slack_user", cmd.UserID, "person", person, "incident", inc.Ref())
		return reply(fmt.Sprintf("Only the owners of %s's resources, their team leads, whoever is on call, its commander or an org admin may change its severity.", inc.Ref()))
	}
	was := inc.Severity
	inc, changed, err := svc.SetSeverity(ctx, number, sev, person)
	switch {
	case err != nil:
		return reply("Cannot change the severity: " + mandate.ErrorMessage(err))
	case !changed:
		return reply(fmt.Sprintf("%s is %s already.", inc.Ref(), sev))
	}
	where := ""
	if inc.Channel != "" && inc.Channel != cmd.ChannelID {
		where = " Its channel <#" + inc.Channel + "> has been told."
	}
	return reply(fmt.Sprintf("%s is now %s (was %s).%s", inc.Ref(), sev, was, where))
}

func (h *Handlers) incidentList(ctx context.Context, svc Incidents) any {
	list, err := svc.List(ctx, mandate.IncidentFilter{Active: true, Limit: 20})
	if err != nil {
		return reply("Incidents are unavailable right now: " + mandate.ErrorMessage(err))
	}
	if len(list) == 0 {
		return reply("No open incidents.")
	}
	var b strings.Builder
	b.WriteString("*Open incidents*\n")
	for _, inc := range list {
		fmt.Fprintf(&b, "• *%s* (%s, %s) %s", inc.Ref(), inc.Severity, inc.State, blocks.Escape(inc.Title))
		if inc.Channel != "" {
			fmt.Fprintf(&b, " <#%s>", inc.Channel)
		}
		b.WriteString("\n")
	}
	return reply(b.String())
}

// openIncidentButton opens an incident from a notification: its action's resources, the
// action itself as the first candidate cause.
func (h *Handlers) openIncidentButton(ctx context.Context, cb slack.InteractionCallback, act *slack.BlockAction) {
	svc, ok := h.incidentService()
	if !ok {
		h.ephemeral(ctx, cb, incidentsOff)
		return
	}
	id, ok := notify.NotificationIDFromValue(act.Value)
	if !ok {
		h.ephemeral(ctx, cb, "That button carries no notification; it may come from an older message.")
		return
	}
	n, err := h.Deliveries.Get(ctx, id)
	if err != nil {
		h.ephemeral(ctx, cb, fmt.Sprintf("Notification %d is not known to Mandate.", id))
		return
	}
	person := h.personBySlack(cb.User.ID)
	if person == "" {
		h.ephemeral(ctx, cb, incidentNotLinked)
		return
	}
	a := n.Action
	sev := mandate.SeverityMedium
	if a.Decision.Urgency == mandate.UrgencyCritical || a.Result != nil && a.Result.Status == mandate.StatusFailed {
		sev = mandate.SeverityHigh
	}
	title := a.ActorID + " " + a.Type + ": " + a.Summary
	if r := []rune(title); len(r) > 200 {
		title = string(r[:199]) + "…"
	}
	// The action is the trigger, so a second press (or a rule that fired on it) finds the
	// incident instead of opening another.
	inc, created, err := svc.OpenOnce(ctx, mandate.IncidentRequest{Title: title, Severity: sev, Resources: a.Resources, Causes: []string{a.ID},
		OpenedBy: person, Via: mandate.ViaSlack, Trigger: a.ID})
	if err != nil {
		h.ephemeral(ctx, cb, "Could not open the incident: "+fieldProblems(err))
		return
	}
	if !created {
		where := ""
		if inc.Channel != "" {
			where = " in <#" + inc.Channel + ">"
		}
		h.ephemeral(ctx, cb, fmt.Sprintf("%s was opened from this action already (%s)%s.", inc.Ref(), inc.State, where))
		return
	}
	channel, ts := n.Channel, n.TS
	if channel == "" || ts == "" {
		channel, ts = cb.Container.ChannelID, cb.Container.MessageTs
	}
	if channel != "" && ts != "" {
		if _, _, err := h.API.PostMessageContext(ctx, channel, slack.MsgOptionTS(ts),
			slack.MsgOptionText(openedText(inc, cb.User.ID), false)); err != nil {
			h.Log.Warn("cannot post in the thread", "err", err)
		}
	}
}

// incidentButton handles the header's buttons: pause_causes, assign_owner, mitigated and
// resolved, which only responders may press.
func (h *Handlers) incidentButton(ctx context.Context, cb slack.InteractionCallback, act *slack.BlockAction) {
	svc, inc, person, ok := h.pressedIncident(ctx, cb, act)
	if !ok {
		return
	}
	if !h.mayRespond(person, inc) {
		h.Log.Warn("incident button refused", "button", act.ActionID, "slack_user", cb.User.ID, "person", person, "incident", inc.Ref())
		h.ephemeral(ctx, cb, fmt.Sprintf("Only the owners of %s's resources, their team leads, whoever is on call, its commander or an org admin may %s.",
			inc.Ref(), strings.ReplaceAll(act.ActionID, "_", " ")))
		return
	}
	switch act.ActionID {
	case blocks.ActionPauseCauses:
		paused, already, err := svc.PauseCauses(ctx, inc.Number, person)
		switch {
		case err != nil:
			h.ephemeral(ctx, cb, "Could not pause the causing agents: "+mandate.ErrorMessage(err))
		case len(paused) == 0:
			h.ephemeral(ctx, cb, "Every causing agent was paused already: "+strings.Join(already, ", ")+".")
		}
	case blocks.ActionAssignOwner:
		if _, err := h.API.OpenViewContext(ctx, cb.TriggerID, blocks.AssignModal(inc.Number, inc.Title)); err != nil {
			h.Log.Warn("cannot open the assign modal", "err", err)
		}
	case blocks.ActionMitigated, blocks.ActionResolved:
		to := mandate.IncidentMitigated
		if act.ActionID == blocks.ActionResolved {
			to = mandate.IncidentResolved
		}
		_, changed, err := svc.Transition(ctx, inc.Number, to, person)
		switch {
		case err != nil:
			h.ephemeral(ctx, cb, "Could not mark "+inc.Ref()+" "+string(to)+": "+mandate.ErrorMessage(err))
		case !changed:
			h.ephemeral(ctx, cb, inc.Ref()+" is "+string(to)+" already.")
		}
	}
}

// causeButton confirms or dismisses a candidate cause; any linked person may give a
// verdict (the timeline says who did).
func (h *Handlers) causeButton(ctx context.Context, cb slack.InteractionCallback, act *slack.BlockAction) {
	svc, inc, person, ok := h.pressedIncident(ctx, cb, act)
	if !ok {
		return
	}
	_, actionID, _ := blocks.ParseIncidentValue(act.Value)
	confirm := act.ActionID == blocks.ActionConfirmCause
	if _, _, err := svc.DecideCause(ctx, inc.Number, actionID, confirm, person); err != nil {
		h.ephemeral(ctx, cb, "Could not record your verdict: "+mandate.ErrorMessage(err))
	}
}

// pressedIncident reads the incident a header button is about and who pressed it.
func (h *Handlers) pressedIncident(ctx context.Context, cb slack.InteractionCallback, act *slack.BlockAction) (Incidents, *mandate.Incident, string, bool) {
	svc, ok := h.incidentService()
	if !ok {
		h.ephemeral(ctx, cb, incidentsOff)
		return nil, nil, "", false
	}
	number, _, ok := blocks.ParseIncidentValue(act.Value)
	if !ok {
		h.ephemeral(ctx, cb, "That button names no incident; it may come from an older message.")
		return nil, nil, "", false
	}
	person := h.personBySlack(cb.User.ID)
	if person == "" {
		h.ephemeral(ctx, cb, incidentNotLinked)
		return nil, nil, "", false
	}
	inc, err := svc.Get(ctx, number)
	if err != nil {
		h.ephemeral(ctx, cb, fmt.Sprintf("INC-%d is not known to Mandate: %s", number, mandate.ErrorMessage(err)))
		return nil, nil, "", false
	}
	return svc, inc, person, true
}

// mayRespond: the incident's commander, org admins, and for any affected resource (the
// incident's own and its causes' blast radius) its owners, their team leads and whoever
// is on call, as for deciding a gate.
func (h *Handlers) mayRespond(person string, inc *mandate.Incident) bool {
	if person == "" {
		return false
	}
	if person == inc.Commander {
		return true
	}
	affected := &mandate.Action{Resources: slices.Clone(inc.Resources)}
	for _, c := range inc.CausingActions() {
		if c.Action != nil {
			affected.Resources = append(affected.Resources, c.Action.Resources...)
		}
	}
	return h.mayDecide(person, affected)
}

// submitAssign handles the assign modal: the chosen Slack user must be a person of
// mandate.yaml, and the submitter a responder.
func (h *Handlers) submitAssign(ctx context.Context, cb slack.InteractionCallback) any {
	svc, ok := h.incidentService()
	if !ok {
		return slack.NewErrorsViewSubmissionResponse(map[string]string{blocks.IncidentAssignBlock: incidentsOff})
	}
	number, _, ok := blocks.ParseIncidentValue(cb.View.PrivateMetadata)
	if !ok {
		return slack.NewErrorsViewSubmissionResponse(map[string]string{blocks.IncidentAssignBlock: "This form lost its incident; press Assign owner again."})
	}
	user := cb.View.State.Values[blocks.IncidentAssignBlock][blocks.IncidentAssignInput].SelectedUser
	commander := h.personBySlack(user)
	if commander == "" {
		return slack.NewErrorsViewSubmissionResponse(map[string]string{blocks.IncidentAssignBlock: "Choose someone listed in mandate.yaml (people[].slack)."})
	}
	by := h.personBySlack(cb.User.ID)
	inc, err := svc.Get(ctx, number)
	if err != nil {
		return slack.NewErrorsViewSubmissionResponse(map[string]string{blocks.IncidentAssignBlock: mandate.ErrorMessage(err)})
	}
	if !h.mayRespond(by, inc) {
		return slack.NewErrorsViewSubmissionResponse(map[string]string{blocks.IncidentAssignBlock: "Only the owners of the affected resources, their team leads, whoever is on call, the commander or an org admin may assign an owner."})
	}
	// The ack must leave within 3 s; inviting and updating the channel can take longer.
	go func() {
		ctx := context.WithoutCancel(ctx)
		if _, _, err := svc.Assign(ctx, number, commander, by); err != nil {
			h.Log.Warn("cannot assign the incident commander", "incident", number, "err", err)
		}
	}()
	return nil
}
