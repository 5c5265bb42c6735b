package main

import (
	"context"
	"maps"
	"slices"
	"time"

	"github.com/mandatehq/mandate"
	"github.com/mandatehq/mandate/blocks"
	"github.com/mandatehq/mandate/config"
	"github.com/mandatehq/mandate/digests"
	"github.com/mandatehq/mandate/ownership"
	"github.com/mandatehq/mandate/postgres"
)

// statusOf gathers the /mandate status summary and App Home. incidents may be nil before
// the incident store exists.
func statusOf(ctx context.Context, cfg *config.Config, actions *postgres.ActionStore, owners *ownership.Resolver, incidents *postgres.IncidentStore) (blocks.Status, error) {
	now := time.Now()
	counts, err := actions.Status(ctx, now, now.Add(-7*24*time.Hour))
	if err != nil {
		return blocks.Status{}, err
	}
	st := blocks.Status{Agents: len(cfg.Agents), Paused: len(counts.Paused), ActionsLastHour: counts.ActionsLastHour, Now: now}
	slackOf := func(person string) string {
		if p, ok := cfg.Person(person); ok && p.Slack != "" {
			return p.Slack
		}
		return person
	}
	for _, p := range counts.Paused {
		st.PausedAgents = append(st.PausedAgents, blocks.PausedAgent{ID: p.ID, By: slackOf(p.By), Since: p.Since, Reason: p.Reason})
	}
	if incidents != nil {
		if st.Incidents, err = incidents.CountActive(ctx); err != nil {
			return blocks.Status{}, err
		}
	}
	// The same targets the weekly digest measures against.
	for _, kind := range slices.Sorted(maps.Keys(digests.TTITargets)) {
		target := digests.TTITargets[kind]
		if n := counts.Samples[kind]; n > 0 {
			st.TTI = append(st.TTI, blocks.TTIStat{Kind: kind, P95: counts.TTIP95[kind], Target: target, Samples: n})
		}
	}
	if cov, err := owners.Coverage(ctx); err == nil {
		st.CoveragePercent, st.Gaps = cov.Percent, len(cov.Gaps)
		if cov.Seen == 0 {
			st.CoveragePercent = 100
		}
	}
	recent, _, err := actions.List(ctx, mandate.ActionFilter{Limit: 10})
	if err == nil {
		for _, a := range recent {
			st.RecentActions = append(st.RecentActions, a.RecordedAt.UTC().Format("15:04")+" "+a.ActorID+" "+a.Type+": "+a.Summary)
		}
	}
	return st, nil
}
