package handlers

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/slack-go/slack"

	"github.com/mandatehq/mandate"
	"github.com/mandatehq/mandate/blocks"
	"github.com/mandatehq/mandate/config"
	"github.com/mandatehq/mandate/glob"
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
	case "watch", "unwatch":
		if len(args) != 1 {
			return wrong("Name one resource pattern.")
		}
		pattern := args[0]
		if !strings.Contains(pattern, ":") {
			return wrong(fmt.Sprintf("%q is not a resource pattern: write kind:name, e.g. service:payments-* or table:billing.*", pattern))
		}
		if _, err := glob.Compile(pattern); err != nil {
			return wrong(fmt.Sprintf("%q is not a valid pattern.", pattern))
		}
		if person == "" {
			return reply("Your Slack account is not linked to a person in mandate.yaml (people[].slack), so there is nobody to tell.")
		}
		if sub == "watch" {
			added, err := h.Live.Watch(ctx, person, pattern)
			switch {
			case err != nil:
				return reply("Could not save the watch: " + mandate.ErrorMessage(err))
			case !added:
				return reply(fmt.Sprintf("You already watch %s.", pattern))
			}
			return reply(fmt.Sprintf("👀 You will be told about every action on %s (except read-only ones).", pattern))
		}
		removed, err := h.Live.Unwatch(ctx, person, pattern)
		switch {
		case err != nil:
			return reply("Could not remove the watch: " + mandate.ErrorMessage(err))
		case !removed:
			return reply(fmt.Sprintf("You were not watching %s.", pattern))
		}
		return reply(fmt.Sprintf("You no longer watch %s.", pattern))
	case "snooze":
		if len(args) != 2 {
			return wrong("Name what to snooze and for how long.")
		}
		d, err := config.ParseDuration(args[1])
		if err != nil || d <= 0 || d > 7*24*time.Hour {
			return wrong(fmt.Sprintf("%q is not a duration from 1m to 7d (e.g. 30m, 4h, 1d).", args[1]))
		}
		kind, target := "rule", args[0]
		if strings.Contains(target, ":") && !strings.HasPrefix(target, "builtin:") {
			kind = "resource"
			if _, err := glob.Compile(target); err != nil {
				return wrong(fmt.Sprintf("%q is not a valid pattern.", target))
			}
		} else if !h.ruleExists(target) {
			return wrong(fmt.Sprintf("%q is neither a resource pattern (kind:name) nor a routing rule.", target))
		}
		until := h.Now().Add(d)
		if err := h.Live.Snooze(ctx, kind, target, until, by); err != nil {
			return reply("Could not snooze: " + mandate.ErrorMessage(err))
		}
		return map[string]any{"response_type": "in_channel", "text": fmt.Sprintf("🔕 <@%s> snoozed %s %s until %s UTC. Gated actions still reach their owners.",
			cmd.UserID, kind, target, until.UTC().Format("2006-01-02 15:04"))}
	}
	if f, ok := commands[sub]; ok {
		return f(h, ctx, cmd, person, args)
	}
	return reply(fmt.Sprintf("Unknown command %q.\n%s", sub, blocks.HelpText()))
}

// ruleExists: a rule of the config in force, or a built-in one.
func (h *Handlers) ruleExists(name string) bool {
	if strings.HasPrefix(name, "builtin:") {
		return slices.Contains([]string{"builtin:default", "builtin:read-only", "builtin:irreversible-critical-production"}, name)
	}
	return slices.ContainsFunc(h.Config().Routing.Rules, func(r config.Rule) bool { return r.Name == name })
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
