package routing_test

import (
	"testing"

	"github.com/mandatehq/mandate"
	"github.com/mandatehq/mandate/routing"
)

// TestPatternHitsWarnAndRaiseUrgency: a hit names the incident by number with its
// postmortem and items; open items raise the urgency once however many hits there are;
// overdue promises are reasons of their own.
func TestPatternHitsWarnAndRaiseUrgency(t *testing.T) {
	hit := routing.PatternHit{Incident: "INC-12", Number: 12, Summary: `"Payments down": the same deploy on service:payments-api`,
		Link: "/v1/incidents/12/postmortem.md", Items: "0 of 1 done"}
	route := func(hits ...routing.PatternHit) mandate.Decision {
		e := newEnv(t, routing.Options{Patterns: patterns(hits)})
		return e.router.Route(act("deploy", "staging", mandate.Reversible, "queue:jobs"), trusted, mandate.RouteOptions{At: noonLA, DryRun: true})
	}
	base := route()
	if base.Urgency == mandate.UrgencyCritical {
		t.Fatal("the fixture is critical already: a raise could not be seen")
	}
	done := route(hit)
	if done.Urgency != base.Urgency {
		t.Errorf("a hit whose items are all done changed the urgency: %s, want %s", done.Urgency, base.Urgency)
	}
	if want := `⚠ This looks similar to incident #12 ("Payments down": the same deploy on service:payments-api); postmortem: /v1/incidents/12/postmortem.md; its action items: 0 of 1 done`; !hasReason(done, want) {
		t.Errorf("reasons %q lack %q", done.Reasons, want)
	}

	open := hit
	open.OpenItems = true
	open.Overdue = []string{`"Add a canary" (bob), overdue since 2026-11-20`}
	other := routing.PatternHit{Incident: "INC-9", Number: 9, Summary: "older", OpenItems: true}
	d := route(open, other)
	if want := base.Urgency.Raise(); d.Urgency != want {
		t.Errorf("open items: urgency %s, want %s (raised once from %s)", d.Urgency, want, base.Urgency)
	}
	if !hasReason(d, "urgency raised to "+string(base.Urgency.Raise())) {
		t.Errorf("the raise is not explained: %q", d.Reasons)
	}
	if !hasReason(d, `⚠ you said you'd fix this: "Add a canary" (bob), overdue since 2026-11-20`) {
		t.Errorf("the overdue promise is not a reason: %q", d.Reasons)
	}
	if !hasReason(d, "⚠ This looks similar to incident #9 (older)") {
		t.Errorf("the second hit is missing: %q", d.Reasons)
	}
}
