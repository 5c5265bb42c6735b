package handlers

import (
	"context"
	"fmt"
	"slices"
	"strings"

	"github.com/slack-go/slack"

	"github.com/mandatehq/mandate"
	"github.com/mandatehq/mandate/blocks"
)

// reply is an immediate answer to a slash command, sent in the ack.
func reply(text string) map[string]any {
	return map[string]any{"response_type": "ephemeral", "text": text}
}

// usage is each subcommand's right form, for mistakes.
var usage = map[string]string{
	"status":  "/mandate status",
	"pause":   "/mandate pause AGENT [reason]",
	"resume":  "/mandate resume AGENT",
	"who":     "/mandate who RESOURCE   (kind:name, e.g. service:payments-api, or file:REPO:PATH)",
	"recent":  "/mandate recent [AGENT|RESOURCE]",
	"watch":   "/mandate watch PATTERN",
	"unwatch": "/mandate unwatch PATTERN",
	"snooze":  "/mandate snooze RESOURCE|RULE DURATION",
	"help":    "/mandate help",
}

// SlashCommand answers /mandate … in the ack.
func (h *Handlers) SlashCommand(ctx context.Context, cmd slack.SlashCommand) any {
	fields := strings.Fields(cmd.Text)
	if len(fields) == 0 {
		return reply(blocks.HelpText())
	}
	sub, args := strings.ToLower(fields[0]), fields[1:]
	wrong := func(why string) any {
		return reply(fmt.Sprintf("%s\nUsage: `%s`", why, usage[sub]))
	}
	person := h.personBySlack(cmd.UserID)
	by := person
	if by == "" {
		by = "slack:" + cmd.UserID
	}
	switch sub {
	case "help":
		return reply(blocks.HelpText())
	case "status":
		st, err := h.Status(ctx)
		if err != nil {
			return reply("Status is unavailable right now: " + mandate.ErrorMessage(err))
		}
		return map[string]any{"response_type": "ephemeral", "text": blocks.StatusText(st)}
	case "pause", "resume":
		if len(args) == 0 {
			return wrong("Name the agent.")
		}
		if sub == "resume" && len(args) > 1 {
			return wrong("`resume` takes only the agent.")
		}
		agent := args[0]
		if _, ok := h.Config().Agent(agent); !ok {
			return wrong(fmt.Sprintf("There is no agent %q in mandate.yaml.", agent))
		}
		if person == "" {
			return reply("Your Slack account is not linked to a person in mandate.yaml (people[].slack), so Mandate cannot record who acted.")
		}
		if sub == "resume" && !h.mayResume(person, agent) {
			h.Deliveries.Intervene(ctx, mandate.Intervention{Kind: "resumed", SlackUser: cmd.UserID, PersonID: person, Allowed: false, At: h.Now()})
			return reply(fmt.Sprintf("Only %s's team or an org admin may resume it.", agent))
		}
		reason := strings.Join(args[1:], " ")
		state, changed, err := h.Actors.SetPaused(ctx, agent, sub == "pause", by, reason)
		if err != nil {
			return reply("Could not " + sub + " " + agent + ": " + mandate.ErrorMessage(err))
		}
		kind := map[string]string{"pause": "paused", "resume": "resumed"}[sub]
		h.Deliveries.Intervene(ctx, mandate.Intervention{Kind: kind, SlackUser: cmd.UserID, PersonID: person, Allowed: true, Note: reason, At: h.Now()})
		switch {
		case !changed && state.Paused:
			return reply(fmt.Sprintf("%s was already paused (by %s).", agent, state.PausedBy))
		case !changed:
			return reply(fmt.Sprintf("%s was not paused.", agent))
		case state.Paused:
			return map[string]any{"response_type": "in_channel", "text": fmt.Sprintf("⏸ <@%s> paused %s%s. Its next action will be halted.", cmd.UserID, agent, because(reason))}
		}
		return map[string]any{"response_type": "in_channel", "text": fmt.Sprintf("▶ <@%s> resumed %s.", cmd.UserID, agent)}
	case "who":
		if len(args) != 1 {
			return wrong("Name one resource.")
		}
		o, err := h.Owners.Explain(args[0])
		if err != nil {
			return wrong(mandate.ErrorMessage(err))
		}
		return reply(whoText(o))
	case "recent":
		if len(args) > 1 {
			return wrong("Name at most one agent or resource.")
		}
		f := mandate.ActionFilter{Limit: 10}
		if len(args) == 1 {
			if _, ok := mandate.ParseResourceKey(args[0]); ok && strings.Contains(args[0], ":") {
				f.Resource = args[0]
			} else {
				f.Actor = args[0]
			}
		}
		actions, _, err := h.Actions.List(ctx, f)
		if err != nil {
			return reply("The activity stream is unavailable right now: " + mandate.ErrorMessage(err))
		}
		if len(actions) == 0 {
			return reply("No actions recorded.")
		}
		var b strings.Builder
		for _, a := range actions {
			fmt.Fprintf(&b, "• %s %s %s: %s [%s, %s]\n", a.RecordedAt.UTC().Format("15:04:05"), a.ActorID, a.Type, a.Summary, a.Decision.Path, a.Status)
		}
		return reply(b.String())
	case "watch", "unwatch", "snooze":
		return reply(fmt.Sprintf("`/mandate %s` is not available yet: add watches under routing.watches in mandate.yaml for now.", sub))
	}
	return reply(fmt.Sprintf("Unknown command %q.\n%s", sub, blocks.HelpText()))
}

func because(reason string) string {
	if reason == "" {
		return ""
	}
	return ": " + reason
}

// mayResume: an org admin, or a member or lead of the agent's team.
func (h *Handlers) mayResume(person, agent string) bool {
	cfg := h.Config()
	if slices.Contains(cfg.Org.Admins, person) {
		return true
	}
	a, ok := cfg.Agent(agent)
	if !ok {
		return false
	}
	t, ok := cfg.Team(a.Team)
	return ok && (t.Lead == person || slices.Contains(t.Members, person))
}

func whoText(o mandate.Ownership) string {
	var b strings.Builder
	owners := "nobody"
	if len(o.Owners) > 0 {
		owners = strings.Join(o.Owners, ", ")
	}
	fmt.Fprintf(&b, "*%s* is owned by %s (%s: %s", o.Resource, owners, o.Layer, o.Rule)
	if o.Location != "" {
		fmt.Fprintf(&b, ", %s", o.Location)
	}
	b.WriteString(")\n")
	if o.Fallback != "" {
		fmt.Fprintf(&b, "Nobody reachable owns it: %s is told.\n", o.Fallback)
	}
	for _, line := range o.Explain {
		fmt.Fprintf(&b, "• %s\n", line)
	}
	return b.String()
}
