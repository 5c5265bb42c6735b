package blocks

import (
	"bytes"
	"encoding/json"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/slack-go/slack"
)

// checkLimits checks a rendered golden value (see rendered) against Slack's limits by walking
// its JSON, so it sees exactly what Slack would receive whatever builder produced it. It also
// decodes the blocks with slack-go, whose decoding rejects malformed blocks since v0.34.
func checkLimits(t *testing.T, raw []byte) {
	t.Helper()
	var doc struct {
		Fallback string            `json:"fallback"`
		Text     string            `json:"text"`
		Blocks   []json.RawMessage `json:"blocks"`
		View     *struct {
			Type   string            `json:"type"`
			Blocks []json.RawMessage `json:"blocks"`
		} `json:"view"`
	}
	if err := json.Unmarshal(raw, &doc); err != nil {
		t.Fatal(err)
	}
	blocks, max := doc.Blocks, maxBlocks
	if doc.View != nil {
		blocks, max = doc.View.Blocks, maxViewBlocks
	}
	if len(blocks) > max {
		t.Errorf("%d blocks, limit %d", len(blocks), max)
	}
	if n := utf8.RuneCountInString(doc.Fallback); n > maxText {
		t.Errorf("fallback is %d chars", n)
	}
	if n := utf8.RuneCountInString(doc.Text); n > maxText {
		t.Errorf("text is %d chars", n)
	}
	ids := map[string]bool{}
	for i, b := range blocks {
		var v map[string]any
		if err := json.Unmarshal(b, &v); err != nil {
			t.Fatal(err)
		}
		where := fmt.Sprintf("block %d (%v)", i, v["type"])
		if id, _ := v["block_id"].(string); id != "" {
			if len(id) > 255 {
				t.Errorf("%s: block_id is %d chars", where, len(id))
			}
			if ids[id] {
				t.Errorf("%s: block_id %q is not unique", where, id)
			}
			ids[id] = true
		} else if v["type"] == "actions" {
			t.Errorf("%s: an actions block needs a block_id", where)
		}
		elems, _ := v["elements"].([]any)
		switch v["type"] {
		case "actions":
			if len(elems) == 0 || len(elems) > maxActionElems {
				t.Errorf("%s: %d elements", where, len(elems))
			}
		case "context":
			if len(elems) == 0 || len(elems) > 10 {
				t.Errorf("%s: %d elements", where, len(elems))
			}
		case "header":
			if n := utf8.RuneCountInString(textOf(v["text"])); n > maxHeaderText {
				t.Errorf("%s: header text is %d chars", where, n)
			}
		}
		walk(t, where, v)
	}
	var decoded slack.Blocks
	all, _ := json.Marshal(blocks)
	if err := decoded.UnmarshalJSON(all); err != nil {
		t.Errorf("slack-go cannot decode the blocks: %v", err)
	}
}

// walk checks every text object, button and confirm dialog under v.
func walk(t *testing.T, where string, v any) {
	t.Helper()
	switch v := v.(type) {
	case []any:
		for _, e := range v {
			walk(t, where, e)
		}
	case map[string]any:
		if typ, _ := v["type"].(string); typ == "plain_text" || typ == "mrkdwn" {
			text, _ := v["text"].(string)
			if n := utf8.RuneCountInString(text); n < 1 || n > maxText {
				t.Errorf("%s: %s text is %d chars", where, typ, n)
			}
			if typ == "mrkdwn" && strings.Contains(text, "<!") {
				t.Errorf("%s: unescaped special mention in %q", where, text)
			}
		}
		if v["type"] == "button" {
			id, _ := v["action_id"].(string)
			if id == "" || len(id) > 255 {
				t.Errorf("%s: action_id %q", where, id)
			}
			if n := utf8.RuneCountInString(textOf(v["text"])); n > maxButtonText {
				t.Errorf("%s: button %s text is %d chars", where, id, n)
			}
			if val, _ := v["value"].(string); len(val) > 2000 {
				t.Errorf("%s: button %s value is %d chars", where, id, len(val))
			}
			if c, ok := v["confirm"].(map[string]any); ok {
				for _, f := range []struct {
					field string
					limit int
				}{{"title", maxConfirmTitle}, {"text", maxConfirmText}, {"confirm", maxConfirmButton}, {"deny", maxConfirmButton}} {
					if n := utf8.RuneCountInString(textOf(c[f.field])); n < 1 || n > f.limit {
						t.Errorf("%s: %s confirm %s is %d chars, limit %d", where, id, f.field, n, f.limit)
					}
				}
			}
		}
		for _, e := range v {
			walk(t, where, e)
		}
	}
}

func textOf(v any) string {
	m, _ := v.(map[string]any)
	s, _ := m["text"].(string)
	return s
}

// buttonsOf returns the buttons of all actions blocks, in order.
func buttonsOf(bs []slack.Block) []*slack.ButtonBlockElement {
	var out []*slack.ButtonBlockElement
	for _, b := range bs {
		if a, ok := b.(*slack.ActionBlock); ok {
			for _, e := range a.Elements.ElementSet {
				if btn, ok := e.(*slack.ButtonBlockElement); ok {
					out = append(out, btn)
				}
			}
		}
	}
	return out
}

func findBlock(t *testing.T, bs []slack.Block, id string) slack.Block {
	t.Helper()
	for _, b := range bs {
		if b.ID() == id {
			return b
		}
	}
	t.Fatalf("no block %q", id)
	return nil
}

func actionIDs(bs []slack.Block) []string {
	var ids []string
	for _, b := range buttonsOf(bs) {
		ids = append(ids, b.ActionID)
	}
	return ids
}

func TestActionIDsPerPath(t *testing.T) {
	rec := &Recovery{Path: "git revert HEAD"}
	base := []string{"acknowledge", "looks_ok", "flag", "details", "ask", "not_relevant", "open_incident"}
	cases := []struct {
		name     string
		path     string
		recovery *Recovery
		paused   bool
		outcomes []Outcome
		want     []string
	}{
		{name: "monitored", path: "monitored_execute", want: append([]string{"pause_agent"}, base...)},
		{name: "flagged", path: "flagged_execute", want: append([]string{"pause_agent"}, base...)},
		{name: "auto", path: "auto_execute", want: append([]string{"pause_agent"}, base...)},
		{name: "gated", path: "gated_execute", want: append([]string{"approve", "deny", "pause_agent"}, base...)},
		{name: "recovery", path: "monitored_execute", recovery: rec, want: append([]string{"pause_agent", "recover"}, base...)},
		{name: "gated recovery", path: "gated_execute", recovery: rec, want: append([]string{"approve", "deny", "pause_agent", "recover"}, base...)},
		{name: "paused", path: "monitored_execute", paused: true, want: append([]string{"resume_agent"}, base...)},
		{name: "paused gated", path: "gated_execute", paused: true, want: append([]string{"approve", "deny", "resume_agent"}, base...)},
		{name: "pause clicked", path: "monitored_execute", outcomes: []Outcome{{Kind: OutcomePaused, By: "U1"}},
			want: append([]string{"resume_agent"}, base...)},
		{name: "pause then resume", path: "monitored_execute", outcomes: []Outcome{{Kind: OutcomePaused, By: "U1"}, {Kind: OutcomeResumed, By: "U2"}},
			want: append([]string{"pause_agent"}, base...)},
		{name: "resumed here, paused elsewhere since", path: "monitored_execute", paused: true, outcomes: []Outcome{{Kind: OutcomeResumed, By: "U2"}},
			want: append([]string{"resume_agent"}, base...)},
		{name: "other outcomes keep pause", path: "monitored_execute", outcomes: []Outcome{{Kind: OutcomeLooksOK, By: "U1"}},
			want: append([]string{"pause_agent"}, base...)},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			n := monitored()
			n.Path, n.Recovery, n.AgentPaused = c.path, c.recovery, c.paused
			for _, urgency := range []string{"info", "normal", "high", "critical"} {
				n.Urgency = urgency
				_, bs := Message(n, c.outcomes)
				if got := actionIDs(bs); !slices.Equal(got, c.want) {
					t.Errorf("%s: action_ids = %v, want %v", urgency, got, c.want)
				}
			}
		})
	}
}

func TestButtonsCarryNotificationID(t *testing.T) {
	for _, n := range []Notification{monitored(), flagged(), gated(), criticalN(), withRecovery(), folded()} {
		for _, id := range []int64{n.ID, 0, -1, 9007199254740993} {
			n.ID = id
			_, bs := Message(n, allKinds)
			btns := buttonsOf(bs)
			if len(btns) == 0 {
				t.Fatal("no buttons")
			}
			for _, b := range btns {
				if b.Value != strconv.FormatInt(id, 10) {
					t.Errorf("%s: value %q, want %d", b.ActionID, b.Value, id)
				}
			}
			for _, b := range bs {
				if a, ok := b.(*slack.ActionBlock); ok && !strings.HasSuffix(a.BlockID, ":"+strconv.FormatInt(id, 10)) {
					t.Errorf("block_id %q does not name notification %d", a.BlockID, id)
				}
			}
		}
	}
}

func TestPauseConfirm(t *testing.T) {
	_, bs := Message(monitored(), nil)
	for _, b := range buttonsOf(bs) {
		if b.ActionID != ActionPauseAgent {
			continue
		}
		if b.Style != slack.StyleDanger || b.Confirm == nil {
			t.Fatalf("pause button: style %q, confirm %v", b.Style, b.Confirm)
		}
		if got, want := b.Confirm.Text.Text, "Pause agent code-reviewer? Its next action will be halted."; got != want {
			t.Errorf("confirm text = %q, want %q", got, want)
		}
		return
	}
	t.Fatal("no pause button")
}

// huge is a notification with every free-text field far over Slack's limits.
func huge() Notification {
	n := gated()
	n.Summary = strings.Repeat("a<b>&c ", 10000/7+1)[:10000]
	n.Actor = strings.Repeat("agent-", 100)
	n.Environment = strings.Repeat("prod", 200)
	n.Rule = strings.Repeat("r", 1000)
	n.ActionType = strings.Repeat("custom_", 50)
	n.Folded = 1234
	n.Recovery = &Recovery{Path: strings.Repeat("undo ", 1000)}
	for i := range 200 {
		n.Reasons = append(n.Reasons, fmt.Sprintf("reason %d: %s", i, strings.Repeat("why ", 200)))
		n.Recovery.Limits = append(n.Recovery.Limits, fmt.Sprintf("limit %d %s", i, strings.Repeat("<!channel> ", 50)))
		r := Resource{Key: fmt.Sprintf("service:%03d-%s", i, strings.Repeat("x", 300)), Team: strings.Repeat("t", 200)}
		for j := range 30 {
			r.Owners = append(r.Owners, fmt.Sprintf("<@U%04d%02d>", i, j))
		}
		n.Resources = append(n.Resources, r)
		n.Mentions = append(n.Mentions, fmt.Sprintf("U%04d", i))
	}
	return n
}

func TestLongInputStaysWithinLimits(t *testing.T) {
	var outcomes []Outcome
	for i := range 100 {
		outcomes = append(outcomes, Outcome{Kind: allKinds[i%len(allKinds)].Kind, By: "U0ALICE", After: time.Duration(i) * time.Minute, Note: strings.Repeat("note <!here> ", 500)})
	}
	for _, urgency := range []string{"normal", "critical"} {
		n := huge()
		n.Urgency = urgency
		t.Run(urgency, func(t *testing.T) {
			fb, bs := Message(n, outcomes)
			checkLimits(t, encode(t, rendered{Fallback: fb, Blocks: bs}))
			for _, b := range bs {
				for _, obj := range textObjects(b) {
					if err := obj.Validate(); err != nil {
						t.Errorf("%T: %v", b, err)
					}
				}
			}
			summary := findBlock(t, bs, "summary:77").(*slack.SectionBlock)
			if !strings.Contains(summary.Text.Text, "…") {
				t.Error("the summary section does not show the cut")
			}
		})
	}
	t.Run("details", func(t *testing.T) {
		checkLimits(t, encode(t, rendered{Blocks: Details(huge())}))
	})
	t.Run("modal", func(t *testing.T) {
		checkLimits(t, encode(t, rendered{View: AskModal(1, huge().Summary, "C0123456789", "1700000000.000100")}))
	})
	t.Run("status", func(t *testing.T) {
		s := status(true)
		for i := range 500 {
			s.PausedAgents = append(s.PausedAgents, PausedAgent{ID: fmt.Sprintf("agent-%d", i), By: "U0ERIN", Since: t0, Reason: strings.Repeat("because ", 100)})
			s.RecentActions = append(s.RecentActions, strings.Repeat("did things ", 100))
			s.TTI = append(s.TTI, TTIStat{Kind: strings.Repeat("k", 100), P95: time.Hour, Target: time.Minute, Samples: 3})
		}
		checkLimits(t, encode(t, rendered{Text: StatusText(s), View: Home(s)}))
	})
	t.Run("ephemeral", func(t *testing.T) {
		checkLimits(t, encode(t, rendered{Blocks: Ephemeral(strings.Repeat("no. ", 2000))}))
	})
	t.Run("thread note", func(t *testing.T) {
		if n := utf8.RuneCountInString(ThreadNote(Outcome{Kind: OutcomeQuestion, By: "U1", Note: strings.Repeat("why? ", 5000)}, huge().Actor)); n > 4000 {
			t.Errorf("thread note is %d chars", n)
		}
	})
}

// textObjects returns the text objects of the block kinds Message builds, to run slack-go's
// own Validate on them.
func textObjects(b slack.Block) []*slack.TextBlockObject {
	switch b := b.(type) {
	case *slack.SectionBlock:
		return append([]*slack.TextBlockObject{b.Text}, b.Fields...)
	case *slack.HeaderBlock:
		return []*slack.TextBlockObject{b.Text}
	case *slack.ContextBlock:
		var out []*slack.TextBlockObject
		for _, e := range b.ContextElements.Elements {
			if tb, ok := e.(*slack.TextBlockObject); ok {
				out = append(out, tb)
			}
		}
		return out
	}
	return nil
}

func TestDeterministic(t *testing.T) {
	render := func() []byte {
		var buf bytes.Buffer
		for _, n := range []Notification{monitored(), flagged(), gated(), criticalN(), withRecovery(), folded(), huge()} {
			fb, bs := Message(n, allKinds)
			buf.Write(encode(t, rendered{Fallback: fb, Blocks: bs}))
			buf.Write(encode(t, Details(n)))
		}
		buf.Write(encode(t, Home(status(true))))
		buf.WriteString(StatusText(status(true)))
		return buf.Bytes()
	}
	first := render()
	for range 20 {
		if !bytes.Equal(render(), first) {
			t.Fatal("the same input rendered differently")
		}
	}
}

func TestUntrustedTextIsEscaped(t *testing.T) {
	n := monitored()
	n.Actor = "<!channel>"
	n.Summary = "ping <!here> and <@U0EVIL> & <https://evil.example|click>"
	n.Reasons = []string{"<!everyone>"}
	n.Resources[0].Key = "<#C0GENERAL>"
	_, bs := Message(n, []Outcome{{Kind: OutcomeFlagged, By: "<!channel>", Note: "<!here>"}})
	raw := string(encode(t, bs))
	for _, bad := range []string{"<!", "<@U0EVIL>", "<https", "<#C0"} {
		if strings.Contains(raw, bad) {
			t.Errorf("%q reached the message unescaped", bad)
		}
	}
	if !strings.Contains(raw, "&lt;!here&gt; and &lt;@U0EVIL&gt; &amp; &lt;https") {
		t.Errorf("summary not escaped as expected:\n%s", raw)
	}
	if got := ThreadNote(Outcome{Kind: OutcomeQuestion, By: "U0BOB", Note: "<!channel> why?"}, "<@U0EVIL>"); strings.Contains(got, "<!") || strings.Contains(got, "<@U0EVIL>") {
		t.Errorf("thread note not escaped: %q", got)
	}
}

func TestClip(t *testing.T) {
	cases := []struct {
		in   string
		max  int
		want string
	}{
		{"short", 10, "short"},
		{"exactly10!", 10, "exactly10!"},
		{"eleven chars", 10, "eleven ch…"},
		{"a&b", 10, "a&amp;b"},
		{"abc&def", 7, "abc…"}, // never half an entity
		{"abcd&ef", 9, "abcd…"},
		{"abcd&efgh", 10, "abcd&amp;…"},
		{"ééééééé", 4, "ééé…"},
	}
	for _, c := range cases {
		if got := clip(c.in, c.max); got != c.want {
			t.Errorf("clip(%q, %d) = %q, want %q", c.in, c.max, got, c.want)
		}
		if n := utf8.RuneCountInString(clip(c.in, c.max)); n > c.max {
			t.Errorf("clip(%q, %d) is %d runes", c.in, c.max, n)
		}
	}
}

func TestDuration(t *testing.T) {
	cases := map[time.Duration]string{
		-time.Second:                          "0 s",
		0:                                     "0 s",
		7 * time.Second:                       "7 s",
		59*time.Second + 999*time.Millisecond: "59 s",
		2 * time.Minute:                       "2 m",
		2*time.Minute + 59*time.Second:        "2 m 59 s",
		90 * time.Second:                      "1 m 30 s",
		10*time.Minute + 59*time.Second:       "10 m",
		time.Hour:                             "1 h",
		time.Hour + 5*time.Minute:             "1 h 5 m",
		26 * time.Hour:                        "1 d 2 h",
		48 * time.Hour:                        "2 d",
	}
	for d, want := range cases {
		if got := duration(d); got != want {
			t.Errorf("duration(%v) = %q, want %q", d, got, want)
		}
	}
}

func TestOutcomeLines(t *testing.T) {
	cases := []struct {
		name     string
		outcomes []Outcome
		want     string
	}{
		{"paused", []Outcome{{Kind: OutcomePaused, By: "U0ALICE", After: 7 * time.Second}},
			"⏸ Paused by <@U0ALICE> · 7 s after notification"},
		{"looks ok", []Outcome{{Kind: OutcomeLooksOK, By: "U0BOB", After: 2 * time.Minute}},
			"✅ Looks OK to <@U0BOB> · 2 m after notification"},
		{"approve after deny", []Outcome{{Kind: OutcomeDenied, By: "U0A", After: time.Minute}, {Kind: OutcomeApproved, By: "U0B", After: 2 * time.Minute}},
			"✖ Denied by <@U0A> · 1 m after notification\n✔ Approved by <@U0B> · 2 m after notification · latest wins"},
		{"deny after approve", []Outcome{{Kind: OutcomeApproved, By: "U0A"}, {Kind: OutcomeAcknowledged, By: "U0C"}, {Kind: OutcomeDenied, By: "U0B"}},
			"✔ Approved by <@U0A> · 0 s after notification\n👀 Acknowledged by <@U0C> · 0 s after notification\n✖ Denied by <@U0B> · 0 s after notification · latest wins"},
		{"no contradiction", []Outcome{{Kind: OutcomeAcknowledged, By: "U0A"}, {Kind: OutcomeLooksOK, By: "U0B"}},
			"👀 Acknowledged by <@U0A> · 0 s after notification\n✅ Looks OK to <@U0B> · 0 s after notification"},
		{"flag after looks ok", []Outcome{{Kind: OutcomeLooksOK, By: "U0A"}, {Kind: OutcomeFlagged, By: "U0B", After: time.Hour + 5*time.Minute}},
			"✅ Looks OK to <@U0A> · 0 s after notification\n🚩 Flagged by <@U0B> · 1 h 5 m after notification · latest wins"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			n := gated()
			_, bs := Message(n, c.outcomes)
			s, ok := bs[0].(*slack.SectionBlock)
			if !ok || s.BlockID != "status:77" {
				t.Fatalf("first block is %T %+v, want the status section", bs[0], bs[0])
			}
			if s.Text.Text != c.want {
				t.Errorf("status =\n%s\nwant\n%s", s.Text.Text, c.want)
			}
		})
	}
	t.Run("many outcomes are counted", func(t *testing.T) {
		var os []Outcome
		for range 15 {
			os = append(os, Outcome{Kind: OutcomeAcknowledged, By: "U0A"})
		}
		_, bs := Message(monitored(), os)
		text := bs[0].(*slack.SectionBlock).Text.Text
		if !strings.HasPrefix(text, "… 5 earlier interventions\n") || strings.Count(text, "\n") != maxStatusLines {
			t.Errorf("status =\n%s", text)
		}
	})
}

func TestTitleLine(t *testing.T) {
	cases := []struct {
		path, urgency, actorType, actionType string
		resources                            int
		want                                 string
	}{
		{"monitored_execute", "normal", "agent", "code_change", 1, `🔵 [monitored] Agent "bot" modified r0`},
		{"flagged_execute", "high", "agent", "deploy", 1, `🟡 [flagged] Agent "bot" deployed to r0`},
		{"gated_execute", "high", "human", "db_migration", 2, `🟠 [gated] Human "bot" wrote to r0 and 1 more resource`},
		{"monitored_execute", "critical", "system", "payment_charge", 3, `🔴 [critical] System "bot" charged through r0 and 2 more resources`},
		{"gated_execute", "critical", "agent", "email_send", 1, `🔴 [critical] Agent "bot" sent email via r0`},
		{"monitored_execute", "info", "agent", "delete", 1, `🔵 [monitored] Agent "bot" deleted from r0`},
		{"monitored_execute", "info", "agent", "s3_delete", 1, `🔵 [monitored] Agent "bot" deleted from r0`},
		{"monitored_execute", "info", "agent", "db_write", 1, `🔵 [monitored] Agent "bot" wrote to r0`},
		{"monitored_execute", "info", "agent", "config_change", 1, `🔵 [monitored] Agent "bot" config_change r0`},
		{"auto_execute", "info", "", "deploy", 0, `⚪ [auto] Actor "bot" deployed to prod`},
	}
	for _, c := range cases {
		n := Notification{Path: c.path, Urgency: c.urgency, Actor: "bot", ActorType: c.actorType, ActionType: c.actionType, Environment: "prod"}
		for i := range c.resources {
			n.Resources = append(n.Resources, Resource{Key: "r" + strconv.Itoa(i)})
		}
		if got := titleLine(n, true); got != c.want {
			t.Errorf("titleLine = %s, want %s", got, c.want)
		}
		if fb, _ := Message(n, nil); fb != c.want {
			t.Errorf("fallback = %s, want %s", fb, c.want)
		}
	}
}

func TestStatusText(t *testing.T) {
	if got, want := StatusText(Status{Agents: 12, ActionsLastHour: 47, CoveragePercent: 98, Gaps: 2, Now: t0}),
		"✅ All systems nominal · 12 agents active | 0 paused · 47 actions in last hour | 0 incidents · 98% ownership coverage | 2 gaps"; got != want {
		t.Errorf("healthy:\n got %s\nwant %s", got, want)
	}
	got := StatusText(status(true))
	for _, want := range []string{
		"⚠ Degraded · 11 agents active | 1 paused",
		"97.4% ownership coverage",
		"⏸ deployer paused by <@U0ERIN> 12 m ago: deploys failing health checks",
		"✅ pause: p95 42 s vs target 1 m (31 samples)",
		"⚠ acknowledge: p95 7 m 30 s vs target 5 m (120 samples)",
		"– approve: no samples vs target 10 m",
	} {
		if !strings.Contains(got, want) {
			t.Errorf("degraded status lacks %q:\n%s", want, got)
		}
	}
	slow := Status{Agents: 3, TTI: []TTIStat{{Kind: "pause", P95: 2 * time.Minute, Target: time.Minute, Samples: 4}}}
	if got := StatusText(slow); !strings.HasPrefix(got, "⚠ Degraded") {
		t.Errorf("a response kind over target should degrade the status: %s", got)
	}
	if got := coverage(99.96); got != "99.9%" {
		t.Errorf("coverage(99.96) = %s; it must never round up to a full 100%%", got)
	}
}

func TestAskModal(t *testing.T) {
	v := AskModal(42, "summary", "C1", "1.2")
	if m, ok := ParseAskMetadata(v.PrivateMetadata); !ok || m != (AskMetadata{42, "C1", "1.2"}) {
		t.Errorf("private metadata %q", v.PrivateMetadata)
	}
	if m, ok := ParseAskMetadata("42"); !ok || m != (AskMetadata{NotificationID: 42}) {
		t.Errorf("a bare id: %+v %v", m, ok)
	}
	if _, ok := ParseAskMetadata("x|C1|1.2"); ok {
		t.Error("a bad id was accepted")
	}
	if v.CallbackID != "ask_question" || v.Type != slack.VTModal ||
		v.Title.Text != "Ask a question" || v.Submit.Text != "Send" {
		t.Fatalf("modal = %+v", v)
	}
	var input *slack.InputBlock
	for _, b := range v.Blocks.BlockSet {
		if ib, ok := b.(*slack.InputBlock); ok {
			input = ib
		}
	}
	if input == nil || input.BlockID != "q" {
		t.Fatalf("no input block q: %+v", v.Blocks.BlockSet)
	}
	el := input.Element.(*slack.PlainTextInputBlockElement)
	if el.ActionID != "q_input" || !el.Multiline || el.MaxLength != 2000 {
		t.Errorf("input element = %+v", el)
	}
}

func TestDetailsListsEverything(t *testing.T) {
	n := criticalN()
	for i := range 40 {
		n.Reasons = append(n.Reasons, fmt.Sprintf("extra reason %d", i))
	}
	raw := string(encode(t, Details(n)))
	for _, want := range append(append([]string{}, n.Reasons...), "bucket:billing-exports", "service:invoice-worker", "<@U0FRANK>", "critical-irreversible", "act_01HZX3K9", "99") {
		if !strings.Contains(raw, want) {
			t.Errorf("details lack %q", want)
		}
	}
}

func TestHelpText(t *testing.T) {
	help := HelpText()
	for _, cmd := range []string{"status", "pause AGENT [reason]", "resume AGENT", "who RESOURCE", "recent [AGENT|RESOURCE]",
		"watch PATTERN", "unwatch PATTERN", "snooze RESOURCE|RULE DURATION", "help"} {
		if !strings.Contains(help, "`/mandate "+cmd+"`") {
			t.Errorf("help lacks %q", cmd)
		}
	}
}

func TestReviewBy(t *testing.T) {
	sameDay, nextDay := t0.Add(90*time.Minute), t0.Add(20*time.Hour)
	if got, want := reviewBy(sameDay, t0), "Review by 15:35 UTC"; got != want {
		t.Errorf("same day: %q, want %q", got, want)
	}
	// A deadline on another day names the day; a bare "10:05 UTC" would point at today.
	if got, want := reviewBy(nextDay, t0), "Review by 10:05 UTC on 2026-03-03"; got != want {
		t.Errorf("next day: %q, want %q", got, want)
	}
	// Non-UTC input still reads in UTC.
	ny := time.FixedZone("EST", -5*3600)
	if got, want := reviewBy(sameDay.In(ny), t0.In(ny)), "Review by 15:35 UTC"; got != want {
		t.Errorf("zoned: %q, want %q", got, want)
	}
}
