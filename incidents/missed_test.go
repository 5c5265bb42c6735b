package incidents

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/mandatehq/mandate"
)

// TestMarkMissed: who may review, what the form offers, every bad mark refused with its
// field named and nothing recorded, the same mark twice refused, and the marks in the
// rewritten postmortem's "What we'll change" and on the card.
func TestMarkMissed(t *testing.T) {
	e := newLearnEnv(t)
	ctx := context.Background()
	deploy := e.failedDeploy(t, "payments-api")
	e.advance(time.Minute)
	inc := e.resolvedIncident(t, "payments-down", "C0INC1", deploy)
	e.l.OnResolved(ctx, inc)

	for person, want := range map[string]bool{"alice": true, "bob": true, "erin": true, "carol": false, "dan": false, "": false} {
		if got := e.l.MayReview(person, inc); got != want {
			t.Errorf("MayReview(%q) = %v, want %v", person, got, want)
		}
	}
	if _, err := e.l.MissedForm(ctx, inc.Number, "carol"); mandate.ErrorCode(err) != mandate.EFORBIDDEN ||
		!strings.Contains(err.Error(), "only members of INC-1's teams (payments), its commander (bob) or an org admin") {
		t.Errorf("the form for carol: %v", err)
	}
	form, err := e.l.MissedForm(ctx, inc.Number, "alice")
	if err != nil {
		t.Fatal(err)
	}
	if len(form.Causes) != 1 || form.Causes[0].ActionID != deploy.ID || form.Causes[0].Summary != deploy.Summary || len(form.Teams) != 3 || form.Teams[1].ID != "platform" {
		t.Errorf("form %+v", form)
	}

	for _, c := range []struct {
		name, action, who, note, by string
		code, field                 string
	}{
		{"NotACause", "00000000-0000-4000-8000-000000000000", "dan", "", "alice", mandate.EINVALID, "action"},
		{"NoAction", "", "dan", "", "alice", mandate.EINVALID, "action"},
		{"UnknownPerson", deploy.ID, "ghost", "", "alice", mandate.EINVALID, "who"},
		{"UnknownTeam", deploy.ID, "team:ghosts", "", "alice", mandate.EINVALID, "who"},
		{"NoOne", deploy.ID, "", "", "alice", mandate.EINVALID, "who"},
		{"LongNote", deploy.ID, "dan", strings.Repeat("x", 2001), "alice", mandate.EINVALID, "note"},
		{"ControlInNote", deploy.ID, "dan", "a\x00b", "alice", mandate.EINVALID, "note"},
		{"NotAllowed", deploy.ID, "dan", "", "carol", mandate.EFORBIDDEN, ""},
		{"Nobody", deploy.ID, "dan", "", "", mandate.EFORBIDDEN, ""},
	} {
		t.Run(c.name, func(t *testing.T) {
			_, err := e.l.MarkMissed(ctx, inc.Number, c.action, c.who, c.note, c.by)
			if mandate.ErrorCode(err) != c.code {
				t.Fatalf("code %q (%v), want %q", mandate.ErrorCode(err), err, c.code)
			}
			if c.field != "" {
				if fe, ok := err.(*mandate.Error); !ok || len(fe.Fields) != 1 || fe.Fields[0].Field != c.field {
					t.Errorf("%v: want one error on %s", err, c.field)
				}
			}
		})
	}
	if misses, err := e.l.Feedback.IncidentMisses(ctx, inc.Number); err != nil || len(misses) != 0 {
		t.Fatalf("refused marks were recorded: %+v, %v", misses, err)
	}

	first, err := e.l.MarkMissed(ctx, inc.Number, deploy.ID, "team:platform", "  they run the database  ", "alice")
	if err != nil {
		t.Fatal(err)
	}
	e.l.MissedMarked(ctx, first, deploy.ID, "team:platform", "  they run the database  ", "alice")
	_, err = e.l.MarkMissed(ctx, inc.Number, strings.ToUpper(deploy.ID), "team:platform", "again", "erin")
	if fe, ok := err.(*mandate.Error); !ok || fe.Code != mandate.ECONFLICT || len(fe.Fields) != 1 || fe.Fields[0].Field != "who" ||
		!strings.Contains(fe.Fields[0].Message, "team platform is marked already") {
		t.Errorf("the same mark again: %v", err)
	}
	second, err := e.l.MarkMissed(ctx, inc.Number, deploy.ID, "dan", "", "erin")
	if err != nil {
		t.Fatal(err)
	}
	e.l.MissedMarked(ctx, second, deploy.ID, "dan", "", "erin")

	var lines []string
	for _, m := range e.fake.Messages("C0INC1") {
		if strings.HasPrefix(m.Text, "🔕") {
			lines = append(lines, m.Text)
		}
	}
	want := []string{
		"🔕 <@U0ALICE> marked that team *Platform* should have been told about deployer's deploy (" + deploy.Summary + "): “they run the database”. The postmortem suggests the change.",
		"🔕 <@U0ERIN> marked that <@U0DAN> should have been told about deployer's deploy (" + deploy.Summary + "). The postmortem suggests the change.",
	}
	if strings.Join(lines, "\n") != strings.Join(want, "\n") {
		t.Errorf("channel lines:\n%s\nwant:\n%s", strings.Join(lines, "\n"), strings.Join(want, "\n"))
	}
	md, err := e.l.Markdown(ctx, inc.Number)
	if err != nil {
		t.Fatal(err)
	}
	suggestion := "- [ ] Marked during review: team platform, dan should have been told about deployer's deploy on `service:payments-api` and were not: " +
		"make them owners of `service:payments-api` (a services entry in mandate.yaml, or a CODEOWNERS line), or targets of rule `builtin:default`."
	if !strings.Contains(md, suggestion) {
		t.Errorf("the draft lacks the suggestion:\n%s", md)
	}
	if card, err := e.l.Card(ctx, inc.Number); err != nil || card.Missed != 2 {
		t.Errorf("card: %d marks, %v", card.Missed, err)
	}

	// Once its cause is dismissed, the marks no longer shape this postmortem, and there is
	// nothing left to mark.
	if _, err := e.incs.DecideCause(ctx, inc.Number, deploy.ID, mandate.CauseDismissed, "bob", e.clock()); err != nil {
		t.Fatal(err)
	}
	if _, err := e.l.redraft(ctx, inc.Number, false); err != nil {
		t.Fatal(err)
	}
	if md, _ := e.l.Markdown(ctx, inc.Number); strings.Contains(md, "Marked during review") {
		t.Error("a dismissed cause's marks are still suggested")
	}
	if _, err := e.l.MissedForm(ctx, inc.Number, "alice"); mandate.ErrorCode(err) != mandate.ECONFLICT {
		t.Errorf("the form without causes: %v", err)
	}
}
