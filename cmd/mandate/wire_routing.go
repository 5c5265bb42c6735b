package main

import (
	"context"
	"fmt"
	"time"

	"github.com/mandatehq/mandate"
	"github.com/mandatehq/mandate/config"
	"github.com/mandatehq/mandate/ingest"
	"github.com/mandatehq/mandate/postgres"
	"github.com/mandatehq/mandate/routing"
)

// buildRouting builds the state routers share, then the first router, and puts cfg in
// force with it.
func (s *server) buildRouting(ctx context.Context, cfg *config.Config) error {
	// The routing aggregates outlive config reloads; failures are warmed from Postgres so
	// a restart does not wipe agents' track records.
	s.tracker = routing.NewTracker()
	// Watches and snoozes set from Slack: loaded now, reloaded whenever any replica
	// changes them (NOTIFY), shared by every router.
	s.live = routing.NewLive()
	s.liveStore = postgres.NewLiveStore(s.db)
	s.reloadLive(ctx)
	failures, err := s.actions.RecentFailures(ctx, time.Now().Add(-cfg.Routing.Failures.Window.Duration))
	if err != nil {
		return fmt.Errorf("load recent failures: %w", err)
	}
	for _, f := range failures {
		s.tracker.ObserveResult(f.Actor, mandate.StatusFailed, f.At)
	}
	router, err := s.newRouter(cfg)
	if err != nil {
		return err
	}
	s.apply(cfg, router)
	return nil
}

// reloadLive loads the watches and snoozes in force now. On failure it keeps the ones
// loaded before and logs why.
func (s *server) reloadLive(ctx context.Context) {
	ws, ss, err := s.liveStore.Live(ctx, time.Now())
	if err == nil {
		err = s.live.Set(ws, ss)
	}
	if err != nil {
		s.log.Warn("cannot load watches and snoozes", "err", err)
		return
	}
	s.log.Info(liveReloadedMessage, "watches", len(ws), "snoozes", len(ss))
}

// newRouter builds cfg's router over the shared routing state.
func (s *server) newRouter(cfg *config.Config) (*routing.Router, error) {
	router, err := routing.New(cfg, s.owners, routing.Options{Tracker: s.tracker, Live: s.live, Incidents: s.incidentIndex, Patterns: s.matcher})
	if err != nil {
		return nil, fmt.Errorf("routing: %w", err)
	}
	return router, nil
}

// apply puts cfg in force with its router.
func (s *server) apply(cfg *config.Config, router *routing.Router) {
	s.current.set(cfg)
	s.api.SetPolicy(router, agentsOf(cfg))
	s.api.SetConfigInfo(ingest.ConfigInfo{Path: s.configPath, LoadedAt: time.Now().UTC(),
		Agents: len(cfg.Agents), Teams: len(cfg.Teams), Services: len(cfg.Services)})
}
