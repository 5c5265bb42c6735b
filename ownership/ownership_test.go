package ownership_test

import (
	"context"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/mandatehq/mandate"
	"github.com/mandatehq/mandate/config"
	"github.com/mandatehq/mandate/github"
	"github.com/mandatehq/mandate/ownership"
	"github.com/mandatehq/mandate/pagerduty"
)

type fixture struct {
	cfg      *config.Config
	gh, pd   *fakeAPI
	resolver *ownership.Resolver
}

func newFixture(t *testing.T, store mandate.OwnershipStore, now func() time.Time) *fixture {
	t.Helper()
	cfg, err := config.Load("testdata/mandate.yaml")
	if err != nil {
		t.Fatal(err)
	}
	f := &fixture{cfg: cfg, gh: fakeGitHub(t), pd: fakePagerDuty(t)}
	gh, err := github.New("", f.gh.URL, nil)
	if err != nil {
		t.Fatal(err)
	}
	f.resolver = ownership.NewResolver(ownership.Options{
		Clients: ownership.Clients{GitHub: gh, PagerDuty: pagerduty.New("pd-token", f.pd.URL, nil)},
		Store:   store, Now: now, Logger: discardLogger(),
	})
	if err := f.resolver.SetConfig(context.Background(), cfg, "start"); err != nil {
		t.Fatal(err)
	}
	return f
}

func (f *fixture) explain(t *testing.T, key string) mandate.Ownership {
	t.Helper()
	o, err := f.resolver.Explain(key)
	if err != nil {
		t.Fatal(err)
	}
	return o
}

func TestChain(t *testing.T) {
	f := newFixture(t, nil, nil)
	cases := []struct {
		resource, layer, team, location string
		owners, people                  []string
		gaps                            int
	}{
		{resource: "service:payments-api", layer: "config", team: "payments", owners: []string{"alice", "payments"}, people: []string{"alice"}},
		{resource: "file:acme/api:src/ledger/book.go", layer: "config", team: "payments", owners: []string{"payments"}, people: []string{}},
		{resource: "file:acme/api:src/payments/charge.go", layer: "codeowners", team: "payments", location: "testdata/CODEOWNERS:3", owners: []string{"@acme/payments"}, people: []string{}},
		{resource: "file:acme/api:src/x.go", layer: "codeowners", team: "platform", location: "testdata/CODEOWNERS:2", owners: []string{"@acme/platform"}, people: []string{}},
		{resource: "file:acme/api:README.md", layer: "codeowners", location: "testdata/CODEOWNERS:4", owners: []string{"docs@acme.test"}, people: []string{}, gaps: 1},
		{resource: "file:acme/api:src/search/q.go", layer: "codeowners", location: "testdata/CODEOWNERS:5", owners: []string{"@ghost-handle", "@carold"}, people: []string{"carol"}, gaps: 1},
		{resource: "file:acme/web:app/main.ts", layer: "codeowners", team: "payments", location: ".github/CODEOWNERS:2", owners: []string{"@acme/payments"}, people: []string{}},
		{resource: "service:search-api", layer: "catalog", location: "testdata/catalog-info.yaml:2", owners: []string{"user:carol"}, people: []string{"carol"}},
		{resource: "file:acme/search:main.go", layer: "catalog", owners: []string{"user:carol"}, people: []string{"carol"}},
		{resource: "table:analytics.events", layer: "catalog", team: "data", owners: []string{"group:data"}, people: []string{}},
		{resource: "service:legacy-billing", layer: "catalog", owners: []string{"group:billing-old"}, people: []string{}, gaps: 1},
		{resource: "bucket:prod-logs", layer: "oncall", team: "data", owners: []string{"carol@acme.test"}, people: []string{"carol"}},
		{resource: "queue:jobs", layer: "none", owners: []string{}, people: []string{}, gaps: 1},
	}
	for _, c := range cases {
		t.Run(c.resource, func(t *testing.T) {
			o := f.explain(t, c.resource)
			if o.Resource != c.resource || o.Layer != c.layer || o.Team != c.team || !slices.Equal(o.Owners, c.owners) || !slices.Equal(o.People, c.people) || len(o.Gaps) != c.gaps {
				t.Errorf("got layer %q team %q owners %q people %q gaps %q\nwant layer %q team %q owners %q people %q and %d gaps\n%s",
					o.Layer, o.Team, o.Owners, o.People, o.Gaps, c.layer, c.team, c.owners, c.people, c.gaps, strings.Join(o.Explain, "\n"))
			}
			if c.location != "" && o.Location != c.location {
				t.Errorf("location %q, want %q", o.Location, c.location)
			}
			if len(o.Explain) != 5 && !(o.Layer == "none" && len(o.Explain) == 6) {
				t.Errorf("%d explain lines, want one per layer:\n%s", len(o.Explain), strings.Join(o.Explain, "\n"))
			}
		})
	}
	t.Run("FallbackIsNamedWhenNobodyIsReachable", func(t *testing.T) {
		if o := f.explain(t, "queue:jobs"); o.Fallback != "team:platform" {
			t.Errorf("fallback %q", o.Fallback)
		}
		if o := f.explain(t, "file:acme/api:README.md"); o.Fallback != "team:platform" {
			t.Errorf("owner mapping to nobody: fallback %q, want team:platform", o.Fallback)
		}
	})
	t.Run("EscalationPath", func(t *testing.T) {
		if o := f.explain(t, "table:analytics.events"); !slices.Equal(o.Escalation, []string{"carol"}) {
			t.Errorf("data's escalation %v, want carol on call (she is also the lead)", o.Escalation)
		}
		if o := f.explain(t, "service:payments-api"); !slices.Equal(o.Escalation, []string{"bob"}) {
			t.Errorf("payments' escalation %v, want the lead bob", o.Escalation)
		}
	})
	t.Run("EarlierLayersSayWhyNot", func(t *testing.T) {
		o := f.explain(t, "bucket:prod-logs")
		want := []string{"config: no service", "codeowners: applies to files only", "catalog: no catalog entity is named prod-logs", "oncall: decides", "contributors: applies to files only"}
		for i, w := range want {
			if !strings.HasPrefix(o.Explain[i], w) {
				t.Errorf("explain[%d] = %q, want prefix %q", i, o.Explain[i], w)
			}
		}
	})
	t.Run("UnsupportedCodeOwnersLineIsIgnored", func(t *testing.T) {
		// Line 7 "!/src/secret/" is negation, which GitHub does not support: ignored, so
		// the catch-all on line 2 applies.
		if o := f.explain(t, "file:acme/api:src/secret/key.go"); o.Location != "testdata/CODEOWNERS:2" {
			t.Errorf("location %q, want the * line", o.Location)
		}
	})
}

func TestContributorsAreFetchedInTheBackground(t *testing.T) {
	f := newFixture(t, nil, nil)
	key := "file:acme/tools:scripts/deploy.sh"
	o := f.explain(t, key)
	if o.Layer != "none" || !strings.Contains(o.Explain[4], "queued") {
		t.Fatalf("before a refresh: layer %q, %q; want none and queued", o.Layer, o.Explain[4])
	}
	calls := f.gh.calls.Load()
	if err := f.resolver.Refresh(context.Background()); err != nil {
		t.Fatal(err)
	}
	if f.gh.calls.Load() == calls {
		t.Fatal("refresh did not ask GitHub for the queued path")
	}
	o = f.explain(t, key)
	if o.Layer != "contributors" || !slices.Equal(o.Owners, []string{"@dweiss", "contractor@else.test"}) || !slices.Equal(o.People, []string{"dan"}) || len(o.Gaps) != 1 {
		t.Errorf("after a refresh: layer %q owners %q people %q gaps %q", o.Layer, o.Owners, o.People, o.Gaps)
	}
}

func TestFailingSourcesDegradeAndKeepLastGoodCopy(t *testing.T) {
	f := newFixture(t, nil, nil)
	web := "file:acme/web:app/main.ts"
	if o := f.explain(t, web); o.Layer != "codeowners" {
		t.Fatalf("with GitHub up: %q", o.Layer)
	}
	for _, status := range []int32{500, 401} {
		f.gh.status.Store(status)
		f.pd.status.Store(status)
		if err := f.resolver.Refresh(context.Background()); err != nil {
			t.Fatal(err)
		}
		o := f.explain(t, web)
		if o.Layer != "codeowners" {
			t.Errorf("GitHub %d: layer %q; want the last good CODEOWNERS kept", status, o.Layer)
		}
		if o := f.explain(t, "bucket:prod-logs"); o.Layer != "oncall" {
			t.Errorf("PagerDuty %d: layer %q; want the last good on-call kept", status, o.Layer)
		}
		_, sources := f.resolver.Health()
		if h := sources["codeowners:acme/web"]; h.Error == "" || h.Age == "" {
			t.Errorf("GitHub %d: health %+v, want the error and the copy's age", status, h)
		}
		if h := sources["pagerduty:data"]; h.Error == "" {
			t.Errorf("PagerDuty %d: health %+v, want the error", status, h)
		}
	}

	t.Run("NeverReadSourceFallsThrough", func(t *testing.T) {
		g := &fixture{}
		cfg, _ := config.Load("testdata/mandate.yaml")
		gh := fakeGitHub(t)
		gh.status.Store(500)
		pd := fakePagerDuty(t)
		pd.status.Store(401)
		ghc, _ := github.New("", gh.URL, nil)
		g.resolver = ownership.NewResolver(ownership.Options{Logger: discardLogger(),
			Clients: ownership.Clients{GitHub: ghc, PagerDuty: pagerduty.New("bad", pd.URL, nil)}})
		if err := g.resolver.SetConfig(context.Background(), cfg, "start"); err != nil {
			t.Fatal(err)
		}
		o := g.explain(t, web)
		if o.Layer != "none" || !strings.Contains(o.Explain[1], "unavailable") {
			t.Errorf("layer %q, codeowners line %q; want the next layer and the reason", o.Layer, o.Explain[1])
		}
		o = g.explain(t, "bucket:prod-logs")
		if o.Layer != "none" || !strings.Contains(o.Explain[3], "PagerDuty is unavailable") {
			t.Errorf("layer %q, oncall line %q", o.Layer, o.Explain[3])
		}
	})
}

func TestExplainRejectsBadKeys(t *testing.T) {
	f := newFixture(t, nil, nil)
	for _, k := range []string{"", "nokind", "file:acme/api", ":x"} {
		if _, err := f.resolver.Explain(k); mandate.ErrorCode(err) != mandate.EINVALID {
			t.Errorf("%q: %v, want invalid", k, err)
		}
	}
}
