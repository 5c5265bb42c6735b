package routing_test

import (
	"slices"
	"testing"
	"time"

	"github.com/mandatehq/mandate"
	"github.com/mandatehq/mandate/config"
	"github.com/mandatehq/mandate/ownership"
	"github.com/mandatehq/mandate/routing"
)

type fixed struct{ s *ownership.Snapshot }

func (f fixed) Snapshot() *ownership.Snapshot { return f.s }

func TestRouteNotifiesOwnersTeamsGraceAndFallback(t *testing.T) {
	cfg, err := config.Parse("test.yaml", []byte(`org: {timezone: UTC, fallback: {team: platform}}
people: [{id: alice}, {id: bob}, {id: erin}]
teams:
  - {id: payments, members: [bob]}
  - {id: platform, members: [erin, alice]}
services:
  - {name: payments-service, kind: service, match: ["payments-*"], team: payments, owners: [bob]}
`))
	if err != nil {
		t.Fatal(err)
	}
	now := time.Date(2026, 11, 25, 12, 0, 0, 0, time.UTC)
	snap, err := ownership.Build(cfg, ownership.Sources{Departures: []mandate.TeamDeparture{
		{Person: "alice", Team: "payments", At: now.Add(-48 * time.Hour)},
	}}, now)
	if err != nil {
		t.Fatal(err)
	}
	r := routing.New(cfg, fixed{snap})
	d := r.Route(&mandate.Action{Type: "deploy", Resources: []mandate.Resource{
		{Kind: "service", Name: "payments-api"}, {Kind: "queue", Name: "jobs"}, {Kind: "service", Name: "payments-worker"},
	}}, &mandate.Actor{ID: "deployer", Team: "platform"})
	if d.Path != mandate.PathMonitored || d.Urgency != mandate.UrgencyNormal || d.Rule == "" || len(d.Reasons) == 0 {
		t.Errorf("decision %+v", d)
	}
	var got []string
	for _, tg := range d.Targets {
		got = append(got, string(tg.Kind)+":"+tg.ID)
		if tg.Reason == "" {
			t.Errorf("target %s has no reason", tg.ID)
		}
	}
	want := []string{"team:payments", "person:bob", "person:alice", "team:platform"}
	if !slices.Equal(got, want) {
		t.Errorf("targets %v, want %v (owners once each, alice in grace, the fallback for the queue)", got, want)
	}
}
