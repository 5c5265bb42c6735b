package main

import (
	"context"
	"fmt"
	"strconv"
	"time"

	"github.com/mandatehq/mandate/incidents"
	"github.com/mandatehq/mandate/postgres"
)

// buildIncidents builds the incident service and registers its jobs. Incidents are opened
// from Slack, the API and the auto-open rules. Their channels, pages and resolutions are
// durable jobs; routing counts them from an in-memory index. The service gets its store
// once the queue exists (connectQueue).
func (s *server) buildIncidents() {
	s.incidentIndex = incidents.NewIndex()
	s.incidentSvc = &incidents.Service{Actors: s.actors, Owners: s.owners, Config: s.current.get, PagerDuty: s.pd,
		Index: s.incidentIndex, Now: time.Now, Log: s.log}
	if s.slack != nil {
		s.incidentSvc.Slack = s.slack.api
	}
	s.jobs[postgres.JobIncidentChannel] = s.incidentSvc.OpenChannel
	s.jobs[postgres.JobIncidentPage] = s.incidentSvc.Page
	s.jobs[postgres.JobIncidentResolved] = s.incidentSvc.Resolved
}

// buildLearning builds what incidents teach: postmortem drafts, action items (and their
// daily nag), and the patterns routing warns about. The matcher serves routing from
// memory; it is loaded now, after each resolution, and whenever another replica announces
// a change (startListeners).
func (s *server) buildLearning(ctx context.Context) error {
	store := postgres.NewLearningStore(s.db)
	s.matcher = &incidents.Matcher{Source: store}
	if err := s.matcher.Load(ctx); err != nil {
		return fmt.Errorf("load incident patterns: %w", err)
	}
	learner := &incidents.Learner{Store: store, Incidents: s.incidentStore, Feedback: postgres.NewRoutingStore(s.db),
		Matcher: s.matcher, Config: s.current.get, Log: s.log}
	s.learner = learner
	if s.slack != nil {
		learner.Slack = s.slack.api
		s.slack.handlers.SetLearning(learner)
		s.scheduler.Nag = func(ctx context.Context, now time.Time) error { _, err := learner.Nag(ctx, now); return err }
	}
	s.incidentSvc.OnResolved = learner.OnResolved
	s.incidentSvc.OnSeverity = learner.SeverityChanged
	// Pattern hits are statistics: matched in memory after the action's commit and written
	// by one background writer, off the ingest path.
	s.hits = incidents.NewHitRecorder(s.matcher, store, s.log)
	return nil
}

// followIncidents keeps routing's incident signals current until ctx ends: every
// incident opened within routing.incident_window, kept current from every replica's
// changes (NOTIFY), reloaded in full when the listener (re)connects and hourly so old
// incidents drop out.
func (s *server) followIncidents(ctx context.Context) {
	load := func() { s.loadIncidents(ctx) }
	load()
	go s.db.Listen(ctx, postgres.IncidentChannel, func(payload string) { s.refreshIncident(ctx, payload) }, load, nil)
	go func() {
		tick := time.NewTicker(time.Hour)
		defer tick.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-tick.C:
				load()
			}
		}
	}()
}

// loadIncidents loads into routing's index every incident opened within the current
// config's routing.incident_window.
func (s *server) loadIncidents(ctx context.Context) {
	since := time.Now().Add(-s.current.get().Routing.IncidentWindow.Duration)
	if err := s.incidentIndex.Load(ctx, s.incidentStore, since); err != nil {
		s.log.Warn("cannot load incidents for routing", "err", err)
	}
}

// refreshIncident reloads into routing's index the incident a NOTIFY payload names.
func (s *server) refreshIncident(ctx context.Context, payload string) {
	n, err := strconv.ParseInt(payload, 10, 64)
	if err == nil {
		err = s.incidentIndex.Refresh(ctx, s.incidentStore, n)
	}
	if err != nil {
		s.log.Warn("cannot refresh an incident for routing", "incident", payload, "err", err)
	}
}
