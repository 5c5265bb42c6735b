package incidents

import (
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/mandatehq/mandate"
	"github.com/mandatehq/mandate/glob"
)

func TestResourceGlob(t *testing.T) {
	cases := []struct {
		name string
		keys []string
		want string // "" when no glob should be derived
	}{
		{"SingleService", []string{"service:payments-api"}, "service:payments-*"},
		{"TwoServicesCommonPrefix", []string{"service:payments-api", "service:payments-worker"}, "service:payments-*"},
		{"PrefixCutBackToSeparator", []string{"service:payments-api", "service:payments-apx"}, "service:payments-*"},
		{"OneNameContainsTheOther", []string{"service:payments-api", "service:payments-api-v2"}, "service:payments-*"},
		{"LongestCommonStem", []string{"service:payments-api-eu", "service:payments-api-us"}, "service:payments-api-*"},
		{"NoCommonStem", []string{"service:payments-api", "service:billing-api"}, ""},
		{"DifferentKinds", []string{"service:payments-api", "table:payments-api"}, ""},
		{"NoSeparator", []string{"service:api"}, ""},
		{"StemTooShort", []string{"service:a-b"}, ""},
		{"StemEmpty", []string{"service:-api"}, ""},
		{"TwoLetterStem", []string{"service:db-primary"}, "service:db-*"},
		{"TableDot", []string{"table:billing.invoices"}, "table:billing.*"},
		{"TablesUnderscore", []string{"table:user_sessions", "table:user_tokens"}, "table:user_*"},
		{"FileDirectory", []string{"file:acme/api:src/billing/charge.go"}, "file:acme/api:src/billing/*"},
		{"FilesSameDirectory", []string{"file:acme/api:src/billing/a.go", "file:acme/api:src/billing/b.go"}, "file:acme/api:src/billing/*"},
		{"FilesAcrossDirectories", []string{"file:acme/api:src/billing/a.go", "file:acme/api:src/payments/b.go"}, "file:acme/api:src/**"},
		{"FileAtRepositoryRoot", []string{"file:acme/api:README.md"}, ""},
		{"FilesAtRootAndBelow", []string{"file:acme/api:README.md", "file:acme/api:src/x.go"}, ""},
		{"FilesInTwoRepositories", []string{"file:acme/api:src/a.go", "file:acme/web:src/a.go"}, ""},
		{"FileDotsDoNotCount", []string{"file:acme/api:src/a.test.go"}, "file:acme/api:src/*"},
		{"EndpointPaths", []string{"endpoint:/api/v1/charges", "endpoint:/api/v1/refunds"}, "endpoint:/api/v1/*"},
		{"GlobMetacharactersEscaped", []string{"service:pay[1]-api"}, `service:pay\[1]-*`},
		{"NoKind", []string{"payments-api"}, ""},
		{"Nothing", nil, ""},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			got, ok := resourceGlob(c.keys)
			if ok != (c.want != "") || got != c.want {
				t.Fatalf("resourceGlob(%q) = %q, %v; want %q", c.keys, got, ok, c.want)
			}
			if !ok {
				return
			}
			_, name, _ := strings.Cut(got, ":")
			if strings.Trim(name, "*") == "" {
				t.Errorf("%q is a bare wildcard", got)
			}
			g := glob.MustCompile(got)
			for _, k := range c.keys {
				if !g.Match(k) {
					t.Errorf("%q does not match its own resource %q", got, k)
				}
			}
		})
	}
}

func TestFailureSignature(t *testing.T) {
	failed := func(mode, msg string) *mandate.ActionResult {
		return &mandate.ActionResult{Status: mandate.StatusFailed, FailureMode: mode, Error: msg}
	}
	cases := []struct {
		name string
		r    *mandate.ActionResult
		want string
	}{
		{"NoResult", nil, ""},
		{"Succeeded", &mandate.ActionResult{Status: mandate.StatusSucceeded, Error: "warning: slow"}, ""},
		{"FailureModeWins", failed("Data_Loss ", "deleted 1200 rows"), "data_loss"},
		{"NumbersStripped", failed("", "Timeout after 30s on 10.0.3.7:5432"), "timeout after <n>s on <n>.<n>.<n>.<n>:<n>"},
		{"UUIDStripped", failed("", "job 0190d3c4-7b1a-7cc2-9a51-1f0e2d3c4b5a failed"), "job <uuid> failed"},
		{"HexStripped", failed("", "commit 9f86d081884c7d65 broke it at 0x7ffd"), "commit <hex> broke it at <hex>"},
		{"LongNumberIsANumber", failed("", "order 1234567890 not found"), "order <n> not found"},
		{"HexLookingWordsKept", failed("", "deadbeefcafe facade"), "deadbeefcafe facade"},
		{"SpacesCollapsed", failed("", "  lock   timeout\n on  table  "), "lock timeout on table"},
		{"NothingSaid", failed("", ""), ""},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			if got := failureSignature(c.r); got != c.want {
				t.Errorf("got %q, want %q", got, c.want)
			}
		})
	}
	a := failureSignature(failed("", "timeout after 30s on 10.0.3.7"))
	b := failureSignature(failed("", "Timeout after 45s on 10.0.3.9"))
	if a != b {
		t.Errorf("the same failure has two signatures: %q and %q", a, b)
	}
	long := failureSignature(failed("", strings.Repeat("x", 500)))
	if n := len([]rune(long)); n != maxSignature {
		t.Errorf("a long error gives a %d-rune signature, want %d", n, maxSignature)
	}
}

var t0 = time.Date(2026, 3, 2, 14, 0, 0, 0, time.UTC)

func action(id, actor, typ string, result *mandate.ActionResult, keys ...string) *mandate.Action {
	a := &mandate.Action{ID: id, ActorID: actor, Type: typ, Summary: typ + " by " + actor, Result: result, OccurredAt: t0,
		Decision: mandate.Decision{Path: mandate.PathMonitored, Urgency: mandate.UrgencyNormal, Rule: "builtin:default"}}
	for _, k := range keys {
		r, ok := mandate.ParseResourceKey(k)
		if !ok {
			panic("bad key " + k)
		}
		a.Resources = append(a.Resources, r)
	}
	return a
}

func TestExtractPatterns(t *testing.T) {
	failed := &mandate.ActionResult{Status: mandate.StatusFailed, FailureMode: "data_loss"}
	deployAPI := action("a1", "deployer", "deploy", failed, "service:payments-api")
	deployWorker := action("a2", "deployer", "deploy", nil, "service:payments-worker")
	migrate := action("a3", "migrator", "db_migration", &mandate.ActionResult{Status: mandate.StatusFailed, Error: "lock timeout after 30s"}, "table:billing.invoices")
	bystander := action("a4", "docs-bot", "write", nil, "bucket:docs-site")
	cause := func(a *mandate.Action, rank int, st mandate.CauseState) mandate.IncidentCause {
		return mandate.IncidentCause{ActionID: a.ID, Rank: rank, State: st, Action: a}
	}
	str := func(ps []mandate.IncidentPattern) []string {
		var out []string
		for _, p := range ps {
			if p.Incident != 7 {
				t.Errorf("pattern %+v is not the incident's", p)
			}
			out = append(out, string(p.Kind)+" "+p.ActionType+" "+p.ResourcePattern+p.FailureMode)
		}
		return out
	}
	cases := []struct {
		name   string
		causes []mandate.IncidentCause
		want   []string
	}{
		{"ConfirmedOnly", []mandate.IncidentCause{
			cause(deployAPI, 1, mandate.CauseConfirmed), cause(deployWorker, 2, mandate.CauseConfirmed),
			cause(migrate, 3, mandate.CauseCandidate), cause(bystander, 4, mandate.CauseDismissed)},
			[]string{
				"exact deploy service:payments-api", "exact deploy service:payments-worker",
				"resource deploy service:payments-*",
				"failure_mode deploy data_loss",
			}},
		{"CandidatesWhenNoneConfirmed", []mandate.IncidentCause{
			cause(migrate, 1, mandate.CauseCandidate), cause(deployAPI, 2, mandate.CauseCandidate), cause(bystander, 3, mandate.CauseDismissed)},
			[]string{
				"exact db_migration table:billing.invoices", "exact deploy service:payments-api",
				"resource db_migration table:billing.*", "resource deploy service:payments-*",
				"failure_mode db_migration lock timeout after <n>s", "failure_mode deploy data_loss",
			}},
		{"OnlyTheLikeliestCandidates", []mandate.IncidentCause{
			cause(bystander, 4, mandate.CauseCandidate), cause(deployWorker, 1, mandate.CauseCandidate),
			cause(migrate, 2, mandate.CauseCandidate), cause(deployAPI, 3, mandate.CauseCandidate)},
			[]string{
				"exact db_migration table:billing.invoices", "exact deploy service:payments-api", "exact deploy service:payments-worker",
				"resource db_migration table:billing.*", "resource deploy service:payments-*",
				"failure_mode db_migration lock timeout after <n>s", "failure_mode deploy data_loss",
			}},
		{"AllDismissed", []mandate.IncidentCause{cause(deployAPI, 1, mandate.CauseDismissed)}, nil},
		{"NoCauses", nil, nil},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			got := str(ExtractPatterns(&mandate.Incident{Number: 7, Causes: c.causes}))
			if !slices.Equal(got, c.want) {
				t.Errorf("got\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(c.want, "\n"))
			}
		})
	}
}

// matcherFixture: INC-3 (an exact and a resource pattern, one item overdue, one done) and
// INC-5 (a failure mode and a resource pattern on the same services, items all done).
func matcherFixture(t *testing.T, now time.Time) *Matcher {
	t.Helper()
	done := t0
	m := &Matcher{Now: func() time.Time { return now }}
	err := m.Set([]mandate.Incident{
		{Number: 5, Title: "Payments down again", Patterns: []mandate.IncidentPattern{
			{ID: 51, Incident: 5, Kind: mandate.PatternResource, ActionType: "deploy", ResourcePattern: "service:payments-*"},
			{ID: 52, Incident: 5, Kind: mandate.PatternFailureMode, ActionType: "deploy", FailureMode: "data_loss"},
		}, Items: []mandate.ActionItem{{ID: 9, Incident: 5, Title: "Rollback runbook", Owner: "bob", State: mandate.ItemDone, DoneAt: &done}}},
		{Number: 3, Title: "Payments down", Patterns: []mandate.IncidentPattern{
			{ID: 31, Incident: 3, Kind: mandate.PatternExact, ActionType: "deploy", ResourcePattern: "service:payments-api"},
			{ID: 32, Incident: 3, Kind: mandate.PatternResource, ActionType: "deploy", ResourcePattern: "service:payments-*"},
		}, Items: []mandate.ActionItem{
			{ID: 1, Incident: 3, Title: "Canary deploys", Owner: "bob", State: mandate.ItemOpen, Due: time.Date(2026, 2, 20, 0, 0, 0, 0, time.UTC)},
			{ID: 2, Incident: 3, Title: "Alert on 5xx", Owner: "alice", State: mandate.ItemOpen, Due: time.Date(2026, 3, 20, 0, 0, 0, 0, time.UTC)},
			{ID: 4, Incident: 3, Title: "Runbook", Owner: "alice", State: mandate.ItemDone, DoneAt: &done},
		}},
	})
	if err != nil {
		t.Fatal(err)
	}
	return m
}

func TestMatcher(t *testing.T) {
	m := matcherFixture(t, t0)
	if m.Size() != 4 {
		t.Fatalf("%d patterns compiled, want 4", m.Size())
	}

	t.Run("ExactBeatsResourceAndNewestFirst", func(t *testing.T) {
		hits := m.Match(action("x", "deployer", "deploy", nil, "service:payments-api"))
		if len(hits) != 2 || hits[0].Incident != "INC-5" || hits[1].Incident != "INC-3" {
			t.Fatalf("hits %+v, want INC-5 then INC-3", hits)
		}
		h5, h3 := hits[0], hits[1]
		if h3.Number != 3 || !strings.Contains(h3.Summary, "the same deploy on service:payments-api") || h3.Link != "/v1/incidents/3/postmortem.md" {
			t.Errorf("INC-3 hit %+v", h3)
		}
		if !strings.Contains(h5.Summary, "deploy on service:payments-api, like service:payments-*") {
			t.Errorf("INC-5 hit %+v", h5)
		}
		if h3.Items != "1 of 3 done" || !h3.OpenItems {
			t.Errorf("INC-3 items %q open %v", h3.Items, h3.OpenItems)
		}
		if want := []string{`"Canary deploys" (bob), overdue since 2026-02-21`}; !slices.Equal(h3.Overdue, want) {
			t.Errorf("overdue %q, want %q", h3.Overdue, want)
		}
		if h5.Items != "1 of 1 done" || h5.OpenItems || len(h5.Overdue) != 0 {
			t.Errorf("INC-5 items %q open %v overdue %q", h5.Items, h5.OpenItems, h5.Overdue)
		}
	})
	t.Run("ResourcePatternOnASimilarService", func(t *testing.T) {
		hits := m.Match(action("x", "deployer", "deploy", nil, "service:payments-worker"))
		if len(hits) != 2 || !strings.Contains(hits[1].Summary, "like service:payments-*") {
			t.Errorf("hits %+v", hits)
		}
	})
	t.Run("OtherTypeOrResourceMisses", func(t *testing.T) {
		for _, a := range []*mandate.Action{
			action("x", "deployer", "restart", nil, "service:payments-api"),
			action("x", "deployer", "deploy", nil, "service:billing-api"),
			action("x", "deployer", "deploy", nil, "table:payments-api"),
		} {
			if hits := m.Match(a); len(hits) != 0 {
				t.Errorf("%s on %s matched %+v", a.Type, a.Resources[0].Key(), hits)
			}
		}
	})
	t.Run("FailureModeNeedsAResult", func(t *testing.T) {
		a := action("x", "deployer", "deploy", nil, "bucket:exports")
		if hits := m.Match(a); len(hits) != 0 {
			t.Errorf("an action that has not run matched %+v", hits)
		}
		a.Result = &mandate.ActionResult{Status: mandate.StatusFailed, FailureMode: "data_loss"}
		found := m.find(a)
		if len(found) != 1 || found[0].inc.Number != 5 || !slices.Equal(found[0].patterns, []int64{52}) {
			t.Errorf("failed the same way: %+v", found)
		}
	})
	t.Run("EveryMatchingPatternIsAHit", func(t *testing.T) {
		found := m.find(action("x", "deployer", "deploy", &mandate.ActionResult{Status: mandate.StatusFailed, FailureMode: "data_loss"}, "service:payments-api"))
		var ids []int64
		for _, s := range found {
			ids = append(ids, s.patterns...)
		}
		slices.Sort(ids)
		if want := []int64{31, 32, 51, 52}; !slices.Equal(ids, want) {
			t.Errorf("pattern hits %v, want %v", ids, want)
		}
	})
	t.Run("OverdueIsMeasuredAtNow", func(t *testing.T) {
		later := matcherFixture(t, time.Date(2026, 3, 25, 0, 0, 0, 0, time.UTC))
		hits := later.Match(action("x", "deployer", "deploy", nil, "service:payments-api"))
		if len(hits[1].Overdue) != 2 {
			t.Errorf("both open items of INC-3 are overdue by then: %q", hits[1].Overdue)
		}
	})
	t.Run("EmptyMatcherMatchesNothing", func(t *testing.T) {
		if hits := (&Matcher{}).Match(action("x", "deployer", "deploy", nil, "service:payments-api")); hits != nil {
			t.Errorf("hits %+v", hits)
		}
	})
	t.Run("BadGlobKeepsTheSnapshot", func(t *testing.T) {
		err := m.Set([]mandate.Incident{{Number: 9, Patterns: []mandate.IncidentPattern{{ID: 1, Kind: mandate.PatternResource, ActionType: "deploy", ResourcePattern: "service:[z-a]*"}}}})
		if err == nil {
			t.Fatal("a pattern with an invalid class compiled")
		}
		if m.Size() != 4 {
			t.Errorf("a failed Set replaced the snapshot: %d patterns", m.Size())
		}
	})
	t.Run("HitsAreBounded", func(t *testing.T) {
		var incs []mandate.Incident
		for i := int64(1); i <= 10; i++ {
			incs = append(incs, mandate.Incident{Number: i, Patterns: []mandate.IncidentPattern{{ID: i, Kind: mandate.PatternExact, ActionType: "deploy", ResourcePattern: "service:x"}}})
		}
		var many Matcher
		if err := many.Set(incs); err != nil {
			t.Fatal(err)
		}
		hits := many.Match(action("x", "deployer", "deploy", nil, "service:x"))
		if len(hits) != maxHits || hits[0].Number != 10 {
			t.Errorf("%d hits, first %+v; want the %d newest", len(hits), hits[0], maxHits)
		}
		if hits[0].Items != "none were recorded" || hits[0].OpenItems {
			t.Errorf("an incident without items: %q open %v", hits[0].Items, hits[0].OpenItems)
		}
	})
}

// BenchmarkMatch: routing asks the matcher on every action (and the hit recorder again
// after commit). 1,000 earlier incidents, each with an exact and a resource pattern for
// "deploy", against a deploy touching three resources none of them names.
func BenchmarkMatch(b *testing.B) {
	incs := make([]mandate.Incident, 1000)
	for i := range incs {
		svc := fmt.Sprintf("service:team%d-api", i)
		incs[i] = mandate.Incident{Number: int64(i + 1), Title: "down", Patterns: []mandate.IncidentPattern{
			{ID: int64(2 * i), Incident: int64(i + 1), Kind: mandate.PatternExact, ActionType: "deploy", ResourcePattern: svc},
			{ID: int64(2*i + 1), Incident: int64(i + 1), Kind: mandate.PatternResource, ActionType: "deploy", ResourcePattern: fmt.Sprintf("service:team%d-*", i)},
		}}
	}
	m := &Matcher{}
	if err := m.Set(incs); err != nil {
		b.Fatal(err)
	}
	a := action("x", "deployer", "deploy", nil, "service:checkout-api", "config:k8s/ingress", "table:billing.ledger")
	b.ReportAllocs()
	for b.Loop() {
		if hits := m.Match(a); hits != nil {
			b.Fatal("matched")
		}
	}
}

// TestMatcherIndexFindsEveryShape: the index by literal prefix still finds patterns whose
// wildcard comes first or in the middle, and exact and failure-mode patterns by lookup.
func TestMatcherIndexFindsEveryShape(t *testing.T) {
	failed := &mandate.ActionResult{Status: mandate.StatusFailed, FailureMode: "data_loss"}
	m := &Matcher{}
	if err := m.Set([]mandate.Incident{
		{Number: 1, Patterns: []mandate.IncidentPattern{{ID: 1, Kind: mandate.PatternResource, ActionType: "deploy", ResourcePattern: "service:*-api"}}},
		{Number: 2, Patterns: []mandate.IncidentPattern{{ID: 2, Kind: mandate.PatternResource, ActionType: "deploy", ResourcePattern: "file:acme/api:src/[a-c]*/**"}}},
		{Number: 3, Patterns: []mandate.IncidentPattern{{ID: 3, Kind: mandate.PatternExact, ActionType: "deploy", ResourcePattern: "table:billing.ledger"}}},
		{Number: 4, Patterns: []mandate.IncidentPattern{{ID: 4, Kind: mandate.PatternFailureMode, ActionType: "deploy", FailureMode: "data_loss"}}},
		{Number: 5, Patterns: []mandate.IncidentPattern{{ID: 5, Kind: mandate.PatternExact, ActionType: "migrate", ResourcePattern: "service:checkout-api"}}},
	}); err != nil {
		t.Fatal(err)
	}
	var got []int64
	for _, s := range m.find(action("x", "deployer", "deploy", failed, "service:checkout-api", "file:acme/api:src/billing/x.go", "table:billing.ledger")) {
		got = append(got, s.inc.Number)
	}
	if want := []int64{4, 3, 2, 1}; !slices.Equal(got, want) {
		t.Errorf("matched incidents %v, want %v", got, want)
	}
	if hits := m.Match(action("y", "deployer", "deploy", nil, "service:checkout-web", "file:acme/api:src/x/y.go")); hits != nil {
		t.Errorf("unexpected hits %+v", hits)
	}
}
