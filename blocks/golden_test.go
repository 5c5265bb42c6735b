package blocks

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/slack-go/slack"

	"github.com/mandatehq/mandate/internal/golden"
)

// t0 is the fixed time every fixture happens at; nothing here reads the clock.
var t0 = time.Date(2026, 3, 2, 14, 5, 0, 0, time.UTC)

// rendered is what a golden file holds: the fallback text or plain text, and the blocks or
// the view, as Slack would receive them.
type rendered struct {
	Fallback string        `json:"fallback,omitempty"`
	Text     string        `json:"text,omitempty"`
	Blocks   []slack.Block `json:"blocks,omitempty"`
	View     any           `json:"view,omitempty"`
}

// encode pretty-prints v without HTML escaping, so "<@U0ALICE>" reads as it is in the files.
func encode(t testing.TB, v any) []byte {
	t.Helper()
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	enc.SetIndent("", "  ")
	if err := enc.Encode(v); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// checkGolden compares v with testdata/<name>.golden.json, or rewrites the file with -update.
func checkGolden(t *testing.T, name string, v any) {
	t.Helper()
	golden.Check(t, name+".golden.json", encode(t, v))
}

// monitored is the standard fixture: an agent changed code of one owned service.
func monitored() Notification {
	return Notification{
		ID:          42,
		ActionID:    "act_01HZX3K9",
		Path:        "monitored_execute",
		Urgency:     "normal",
		Actor:       "code-reviewer",
		ActorType:   "agent",
		ActionType:  "code_change",
		Summary:     "Refactor session token validation in the auth middleware",
		Environment: "production",
		Resources: []Resource{
			{Key: "auth-service", Owners: []string{"<@U0ALICE>", "<@U0BOB>"}, Team: "identity"},
		},
		Reasons:    []string{"auth-service is owned by team identity (CODEOWNERS)", "production change by an agent"},
		Rule:       "default-monitored",
		OccurredAt: t0,
	}
}

func flagged() Notification {
	n := monitored()
	n.Path = "flagged_execute"
	n.Urgency = "high"
	n.ActionType = "db_write"
	n.Summary = "Backfilled 12,400 rows in sessions.expires_at"
	n.Resources = []Resource{{Key: "table:sessions", Owners: []string{"<@U0CAROL>"}, Team: "identity"}}
	n.Reasons = []string{"agent trust is new", "table:sessions is marked sensitive"}
	n.Rule = "new-agent-writes"
	review := t0.Add(90 * time.Minute)
	n.ReviewBy = &review
	return n
}

func gated() Notification {
	n := monitored()
	n.ID = 77
	n.Path = "gated_execute"
	n.Urgency = "high"
	n.Actor = "deployer"
	n.ActionType = "deploy"
	n.Summary = "Deploy payments-api v2.14.0 (schema change included)"
	n.Resources = []Resource{{Key: "payments-api", Owners: []string{"<@U0ERIN>"}, Team: "payments"}}
	n.Reasons = []string{"irreversible: includes a database migration", "payments-api is tier 0"}
	n.Rule = "gate-irreversible-prod"
	return n
}

func criticalN() Notification {
	n := monitored()
	n.ID = 99
	n.Urgency = "critical"
	n.Actor = "cleanup-bot"
	n.ActionType = "s3_delete"
	n.Summary = "Deleted 3,112 objects under s3://billing-exports/2025/"
	n.Resources = []Resource{
		{Key: "bucket:billing-exports", Owners: []string{"<@U0ERIN>", "<@U0FRANK>"}, Team: "payments"},
		{Key: "service:invoice-worker", Owners: []string{"<@U0FRANK>"}, Team: "payments"},
	}
	n.Reasons = []string{"irreversible delete in production", "bucket holds customer invoices"}
	n.Rule = "critical-irreversible"
	n.Mentions = []string{"U0ERIN", "U0FRANK"}
	return n
}

func withRecovery() Notification {
	n := gated()
	n.Path = "monitored_execute"
	n.Urgency = "normal"
	n.Summary = "Deploy payments-api v2.14.0"
	n.Rule = "default-monitored"
	n.Recovery = &Recovery{
		Path:   "kubectl rollout undo deploy/payments-api",
		Limits: []string{"only the last 10 revisions", "does not revert DB migrations"},
	}
	return n
}

func folded() Notification {
	n := monitored()
	n.Folded = 3
	n.Mentions = []string{"U0ALICE", "U0BOB"}
	return n
}

// allKinds lists every outcome kind with a plausible intervention.
var allKinds = []Outcome{
	{Kind: OutcomePaused, By: "U0ALICE", After: 7 * time.Second, Note: "touching prod auth during freeze"},
	{Kind: OutcomeResumed, By: "U0BOB", After: 4 * time.Minute},
	{Kind: OutcomeAcknowledged, By: "U0BOB", After: 45 * time.Second},
	{Kind: OutcomeLooksOK, By: "U0ALICE", After: 2 * time.Minute},
	{Kind: OutcomeFlagged, By: "U0CAROL", After: 65 * time.Minute, Note: "needs a second reviewer"},
	{Kind: OutcomeApproved, By: "U0ERIN", After: 3 * time.Minute},
	{Kind: OutcomeDenied, By: "U0ERIN", After: 90 * time.Second, Note: "not during the billing run"},
	{Kind: OutcomeRecovery, By: "U0FRANK", After: 12 * time.Minute},
	{Kind: OutcomeNotRelevant, By: "U0DAVE", After: 30 * time.Second},
	{Kind: OutcomeQuestion, By: "U0BOB", After: 5 * time.Minute, Note: "Why does this touch the session table?"},
}

func message(n Notification, outcomes []Outcome) rendered {
	fb, bs := Message(n, outcomes)
	return rendered{Fallback: fb, Blocks: bs}
}

func status(degraded bool) Status {
	s := Status{
		Agents: 12, ActionsLastHour: 47, CoveragePercent: 98, Gaps: 2,
		TTI: []TTIStat{
			{Kind: "pause", P95: 42 * time.Second, Target: 60 * time.Second, Samples: 31},
			{Kind: "acknowledge", P95: 3 * time.Minute, Target: 5 * time.Minute, Samples: 120},
			{Kind: "approve", Target: 10 * time.Minute},
		},
		RecentActions: []string{
			`code-reviewer modified auth-service (monitored)`,
			`deployer deployed to payments-api (gated, approved by erin)`,
			`cleanup-bot deleted from bucket:billing-exports (critical)`,
		},
		Now: t0,
	}
	if degraded {
		s.Agents, s.Paused, s.Incidents, s.CoveragePercent = 11, 1, 1, 97.46
		s.PausedAgents = []PausedAgent{
			{ID: "deployer", By: "U0ERIN", Since: t0.Add(-12 * time.Minute), Reason: "deploys failing health checks"},
		}
		s.TTI[1].P95 = 7*time.Minute + 30*time.Second
	}
	return s
}

func TestGolden(t *testing.T) {
	cases := map[string]func() any{
		"monitored":    func() any { return message(monitored(), nil) },
		"flagged":      func() any { return message(flagged(), nil) },
		"gated":        func() any { return message(gated(), nil) },
		"critical":     func() any { return message(criticalN(), nil) },
		"recovery":     func() any { return message(withRecovery(), nil) },
		"folded":       func() any { return message(folded(), nil) },
		"agent_paused": func() any { n := monitored(); n.AgentPaused = true; return message(n, nil) },
		"ask_modal": func() any {
			return rendered{View: AskModal(42, monitored().Summary, "C0PAYMENTS", "1700000000.000100")}
		},
		"details":       func() any { return rendered{Blocks: Details(withRecovery())} },
		"status_ok":     func() any { s := status(false); return rendered{Text: StatusText(s)} },
		"status_bad":    func() any { s := status(true); return rendered{Text: StatusText(s)} },
		"home":          func() any { return rendered{View: Home(status(true))} },
		"home_healthy":  func() any { return rendered{View: Home(status(false))} },
		"help":          func() any { return rendered{Text: HelpText()} },
		"ephemeral":     func() any { return rendered{Blocks: Ephemeral("deployer is not paused.")} },
		"critical_gate": func() any { n := criticalN(); n.Path = "gated_execute"; return message(n, nil) },
		"pause_then_resume": func() any {
			return message(monitored(), []Outcome{
				{Kind: OutcomePaused, By: "U0ALICE", After: 7 * time.Second},
				{Kind: OutcomeResumed, By: "U0BOB", After: 65 * time.Minute, Note: "false alarm, refactor is reviewed"},
			})
		},
		"approve_after_deny": func() any {
			return message(gated(), []Outcome{
				{Kind: OutcomeDenied, By: "U0ALICE", After: 40 * time.Second},
				{Kind: OutcomeApproved, By: "U0ERIN", After: 2 * time.Minute},
			})
		},
		"thread_notes": func() any {
			var notes []string
			for _, o := range allKinds {
				notes = append(notes, ThreadNote(o, "deployer"))
			}
			return rendered{Text: strings.Join(notes, "\n\n")}
		},
	}
	for _, o := range allKinds {
		n := monitored()
		if o.Kind == OutcomeApproved || o.Kind == OutcomeDenied {
			n = gated()
		}
		if o.Kind == OutcomeRecovery {
			n = withRecovery()
		}
		cases["outcome_"+o.Kind] = func() any { return message(n, []Outcome{o}) }
	}
	for name, render := range cases {
		t.Run(name, func(t *testing.T) {
			v := render()
			checkLimits(t, encode(t, v))
			checkGolden(t, name, v)
		})
	}
}
