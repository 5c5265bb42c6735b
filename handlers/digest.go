package handlers

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/slack-go/slack"

	"github.com/mandatehq/mandate"
	"github.com/mandatehq/mandate/blocks"
	"github.com/mandatehq/mandate/config"
)

// `/mandate digest [TEAM]`: a preview of the weekly digest, for the seven days before
// now, shown only to whoever asked. Nothing is posted or recorded.

// DigestPreviewer computes a digest without sending it: the team's, or the admins' when
// team is ""; *digests.Builder implements it.
type DigestPreviewer interface {
	Preview(ctx context.Context, team string, now time.Time) (*mandate.Digest, error)
}

// digestPreviewers holds each Handlers' previewer, as incidents.go does for incidents:
// the feature stays in its own file.
var digestPreviewers sync.Map // *Handlers -> DigestPreviewer

// SetDigests gives h the digest previewer; without one, /mandate digest answers that
// digests are not set up.
func (h *Handlers) SetDigests(p DigestPreviewer) { digestPreviewers.Store(h, p) }

func init() {
	commands["digest"] = (*Handlers).digestCommand
}

const digestUsage = "Usage: `/mandate digest [TEAM]` for a team's last seven days (yours by default), or `/mandate digest admin` for the admins' digest."

// maxAckBytes keeps an ack under Slack's 20 KB limit for Socket Mode responses, which
// drops larger ones silently.
const maxAckBytes = 19_000

// digestCommand answers `/mandate digest [TEAM|admin]`.
func (h *Handlers) digestCommand(ctx context.Context, cmd slack.SlashCommand, person string, args []string) any {
	v, ok := digestPreviewers.Load(h)
	if !ok {
		return reply("Digests are not set up on this Mandate server.")
	}
	if len(args) > 1 {
		return reply("Name at most one team.\n" + digestUsage)
	}
	cfg := h.Config()
	isAdmin := person != "" && slices.Contains(cfg.Org.Admins, person)
	team := ""
	switch {
	case len(args) == 1 && slices.Contains([]string{"admin", "admins", "all"}, strings.ToLower(args[0])):
		if !isAdmin {
			return reply("Only org admins (org.admins in mandate.yaml) see the admins' digest. Name a team instead.\n" + digestUsage)
		}
	case len(args) == 1:
		t, ok := findTeam(cfg, args[0])
		if !ok {
			return reply(fmt.Sprintf("There is no team %q in mandate.yaml. Teams: %s.\n%s", args[0], teamIDs(cfg), digestUsage))
		}
		team = t.ID
	default:
		if t, ok := teamOf(cfg, person); ok {
			team = t.ID
		} else if !isAdmin {
			return reply("You are not in any team in mandate.yaml: name one. Teams: " + teamIDs(cfg) + ".\n" + digestUsage)
		}
	}
	d, err := v.(DigestPreviewer).Preview(ctx, team, h.Now())
	if err != nil {
		h.Log.Warn("digest preview failed", "team", team, "err", err)
		return reply("The digest is unavailable right now: " + mandate.ErrorMessage(err))
	}
	fallback, bs := blocks.Digest(d)
	bs = append(bs, slack.NewContextBlock("digest_preview", slack.NewTextBlockObject(slack.MarkdownType,
		"Preview of the last seven days; only you see it. The scheduled digest covers the week before it goes out.", false, false)))
	ack := map[string]any{"response_type": "ephemeral", "text": fallback, "blocks": bs}
	if raw, err := json.Marshal(ack); err != nil || len(raw) > maxAckBytes {
		cli := "mandate digest --admin --dry-run"
		if team != "" {
			cli = "mandate digest --team " + team + " --dry-run"
		}
		return reply(fallback + "\nThe full digest is too long to show here; run `" + cli + "` to read it.")
	}
	return ack
}

// findTeam finds a team by id, or by name ignoring case.
func findTeam(cfg *config.Config, name string) (*config.Team, bool) {
	if t, ok := cfg.Team(name); ok {
		return t, true
	}
	for i := range cfg.Teams {
		if strings.EqualFold(cfg.Teams[i].ID, name) || (cfg.Teams[i].Name != "" && strings.EqualFold(cfg.Teams[i].Name, name)) {
			return &cfg.Teams[i], true
		}
	}
	return nil, false
}

// teamOf is the first team the person is a member or the lead of.
func teamOf(cfg *config.Config, person string) (*config.Team, bool) {
	if person == "" {
		return nil, false
	}
	for i := range cfg.Teams {
		if t := &cfg.Teams[i]; t.Lead == person || slices.Contains(t.Members, person) {
			return t, true
		}
	}
	return nil, false
}

func teamIDs(cfg *config.Config) string {
	ids := make([]string, len(cfg.Teams))
	for i, t := range cfg.Teams {
		ids[i] = t.ID
	}
	if len(ids) == 0 {
		return "none"
	}
	return strings.Join(ids, ", ")
}
