package main

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/mandatehq/mandate"
	"github.com/mandatehq/mandate/postgres"
	"github.com/mandatehq/mandate/postgres/pgtest"
	"github.com/mandatehq/mandate/slackfake"
)

const digestOrg = `
org: {timezone: Europe/Berlin, fallback: {team: platform}, admins: [erin]}
people:
  - {id: alice, slack: U0ALICE, email: alice@acme.test}
  - {id: bob, slack: U0BOB}
  - {id: erin, slack: U0ERIN}
teams:
  - {id: payments, name: Payments, slack_channel: C0PAY, members: [alice, bob]}
  - {id: platform, name: Platform, members: [erin]}
digests: {email: true}
`

// seededDigestEnv is a migrated database holding pgtest.SeedDigestWeek, and a config.
func seededDigestEnv(t *testing.T) map[string]string {
	t.Helper()
	_, url := pgtest.DigestWeekDB(t)
	path := filepath.Join(t.TempDir(), "mandate.yaml")
	if err := os.WriteFile(path, []byte(digestOrg), 0o644); err != nil {
		t.Fatal(err)
	}
	return map[string]string{"DATABASE_URL": url, "MANDATE_CONFIG": path}
}

// TestDigestDryRun: the dry run prints every section of the week asked for, as text or
// JSON, and sends nothing.
func TestDigestDryRun(t *testing.T) {
	vars := seededDigestEnv(t)
	code, out, errOut := runCLI(t, vars, "digest", "--team", "payments", "--dry-run", "--week-of", "2026-11-16")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errOut)
	}
	// Monday 00:00 to Monday 00:00 in Berlin: A8 (Monday 08:59) is in, A6 (the next
	// Monday 08:00) out.
	for _, want := range []string{
		"Weekly digest · Payments\nMon 16 Nov 00:00 → Mon 23 Nov 00:00 CET\n",
		"\nACTIONS: 7\n", "By agent: deployer 4 · migrator 3\n",
		"\nNOTIFICATIONS: ", "\nTIME TO INTERVENTION (P50 / P95 VS TARGET)\n", "\nROUTING RULES (NOT RELEVANT · MISSED)\n",
		"\nOWNERSHIP\n  ⚠ 1 action touched resources nobody owns:\n  bucket:tmp-exports (1)\n",
		"\nESCALATIONS\n", "\nINCIDENTS: 2 OPENED, 1 REPEAT\n", "\nOVERDUE ACTION ITEMS\n", "\nSUGGESTED CHANGES\n",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("dry run lacks %q:\n%s", want, out)
		}
	}
	code, out, errOut = runCLI(t, vars, "digest", "--admin", "--dry-run", "--json", "--week-of", "2026-11-16")
	if code != 0 {
		t.Fatalf("admin JSON: exit %d: %s", code, errOut)
	}
	var d mandate.Digest
	if err := json.Unmarshal([]byte(out), &d); err != nil {
		t.Fatalf("not a digest: %v\n%s", err, out)
	}
	if d.Team != "" || len(d.Teams) != 2 || d.Teams[0].Team != "Payments" || len(d.Days) != 7 || d.Actions.Total != 8 {
		t.Errorf("admins' digest: team %q, %d teams, %d days, %d actions", d.Team, len(d.Teams), len(d.Days), d.Actions.Total)
	}
	// The last seven days (the seed is in 2026, long before or after now): a digest all
	// the same, by the team's name.
	if code, out, _ := runCLI(t, vars, "digest", "--team", "payments", "--dry-run"); code != 0 || !strings.Contains(out, "Weekly digest · Payments") {
		t.Errorf("last seven days: exit %d\n%s", code, out)
	}
}

func TestDigestUsage(t *testing.T) {
	vars := seededDigestEnv(t)
	for _, c := range []struct {
		args []string
		code int
		want string
	}{
		{[]string{"digest", "--dry-run"}, 2, "name exactly one of --team TEAM or --admin"},
		{[]string{"digest", "--team", "payments", "--admin", "--dry-run"}, 2, "name exactly one of --team TEAM or --admin"},
		{[]string{"digest", "--team", "payments", "--json"}, 2, "--json only prints: add --dry-run"},
		{[]string{"digest", "--team", "payments", "--dry-run", "--week-of", "16/11/2026"}, 2, `--week-of "16/11/2026" is not a date`},
		{[]string{"digest", "--team", "nope", "--dry-run"}, 1, `no team "nope"`},
		{[]string{"digest", "--team", "payments", "extra"}, 2, `unexpected argument "extra"`},
		// Not a dry run, and neither Slack nor email configured.
		{[]string{"digest", "--team", "payments"}, 1, "nowhere to send the digest"},
	} {
		code, _, errOut := runCLI(t, vars, c.args...)
		if code != c.code || !strings.Contains(errOut, c.want) {
			t.Errorf("%v: exit %d, %q; want exit %d with %q", c.args, code, errOut, c.code, c.want)
		}
	}
}

// TestDigestSendNow: without --dry-run the digest is posted once for its period and
// recorded as a manual send.
func TestDigestSendNow(t *testing.T) {
	vars := seededDigestEnv(t)
	fake := slackfake.New(slackfake.Options{})
	fake.Start()
	defer fake.Close()
	fake.AddChannel("C0PAY", "payments")
	vars["SLACK_BOT_TOKEN"] = fake.BotToken()
	vars["MANDATE_SLACK_API_URL"] = fake.URL() + "/api"
	args := []string{"digest", "--team", "Payments", "--week-of", "2026-11-16"}
	code, out, errOut := runCLI(t, vars, args...)
	if code != 0 || !strings.Contains(out, "sent the digest for 2026-11-16 00:00 – 2026-11-23 00:00 CET to slack:C0PAY") {
		t.Fatalf("send: exit %d, %q, %q", code, out, errOut)
	}
	if msgs := fake.Messages("C0PAY"); len(msgs) != 1 || !strings.Contains(string(msgs[0].Blocks), "Weekly digest · Payments") {
		t.Fatalf("channel holds %d messages", len(msgs))
	}
	if code, _, errOut := runCLI(t, vars, args...); code != 1 || !strings.Contains(errOut, "was sent already") {
		t.Errorf("second send: exit %d, %q", code, errOut)
	}
	if n := len(fake.Messages("C0PAY")); n != 1 {
		t.Errorf("channel holds %d digests after a second send, want 1", n)
	}
	db, err := postgres.Open(context.Background(), vars["DATABASE_URL"])
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	start := time.Date(2026, 11, 16, 0, 0, 0, 0, pgtest.Berlin)
	st, err := postgres.NewDigestStore(db).Run(context.Background(), mandate.DigestRun{Kind: mandate.RunTeamDigest, Team: "payments", Start: start})
	if err != nil || !st.Manual || st.Finished == nil || !strings.HasPrefix(st.ClaimedBy, "cli:") {
		t.Errorf("run %+v, %v: want finished, manual, claimed by the CLI", st, err)
	}
}
