package blocks

import (
	"encoding/json"
	"html"
	"strconv"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/slack-go/slack"
)

func postmortemCard() PostmortemCard {
	return PostmortemCard{
		Incident: 12, Title: "Payments API 500s after deploy", State: "draft", Causes: 2,
		Link: "/v1/incidents/12/postmortem.md", At: t0,
	}
}

func cardItems() []ActionItem {
	return []ActionItem{
		{ID: 21, Title: "Canary deploys for payments-api", Owner: "U0BOB", Due: time.Date(2026, 3, 9, 0, 0, 0, 0, time.UTC)},
		{ID: 22, Title: "Alert on 5xx <!channel>", Owner: "alice", Due: time.Date(2026, 3, 1, 0, 0, 0, 0, time.UTC), Overdue: true},
		{ID: 23, Title: "Backup check", Owner: "U0CAROL", Due: time.Date(2026, 3, 2, 0, 0, 0, 0, time.UTC), Done: true, DoneBy: "U0CAROL"},
	}
}

func card(c PostmortemCard) rendered {
	fb, bs := Postmortem(c)
	return rendered{Fallback: fb, Blocks: bs}
}

func TestPostmortemGolden(t *testing.T) {
	draft := postmortemCard()
	published := postmortemCard()
	published.State, published.PublishedBy, published.Items = "published", "U0BOB", cardItems()
	published.Missed = 2
	closed := published
	closed.State = "closed"
	cases := map[string]any{
		"postmortem_draft":     card(draft),
		"postmortem_published": card(published),
		"postmortem_closed":    card(closed),
		"action_item_modal":    rendered{View: ActionItemModal(12, "Payments API 500s after deploy", ItemModalMetadata(12, "C0INC12", "1700000000.000100"))},
		"missed_modal":         rendered{View: MissedModal(missedForm(), ItemModalMetadata(12, "C0INC12", "1700000000.000100"))},
	}
	fb, bs := ItemNag(12, "Payments API 500s after deploy", cardItems()[1], t0)
	cases["item_nag"] = rendered{Fallback: fb, Blocks: bs}
	done := cardItems()[1]
	done.Done, done.DoneBy = true, "U0ALICE"
	fb, bs = ItemNag(12, "Payments API 500s after deploy", done, t0)
	cases["item_nag_done"] = rendered{Fallback: fb, Blocks: bs}
	for name, v := range cases {
		t.Run(name, func(t *testing.T) { checkGolden(t, name, v) })
	}
}

// pmButtonIDs lists the action ids of a message's buttons, accessories included.
func pmButtonIDs(t *testing.T, bs []slack.Block) []string {
	t.Helper()
	raw, err := json.Marshal(bs)
	if err != nil {
		t.Fatal(err)
	}
	var list []struct {
		Elements []struct {
			ActionID string `json:"action_id"`
		} `json:"elements"`
		Accessory *struct {
			ActionID string `json:"action_id"`
			Value    string `json:"value"`
		} `json:"accessory"`
	}
	if err := json.Unmarshal(raw, &list); err != nil {
		t.Fatal(err)
	}
	var ids []string
	for _, b := range list {
		for _, e := range b.Elements {
			if e.ActionID != "" {
				ids = append(ids, e.ActionID)
			}
		}
		if b.Accessory != nil {
			ids = append(ids, b.Accessory.ActionID+"="+b.Accessory.Value)
		}
	}
	return ids
}

func TestPostmortemCardButtonsFollowTheState(t *testing.T) {
	c := postmortemCard()
	c.Items = cardItems()
	for state, want := range map[string]string{
		"draft":     "action_item_done=item:21,action_item_done=item:22,add_action_item,missed_notification,publish_postmortem,close_postmortem",
		"published": "action_item_done=item:21,action_item_done=item:22,add_action_item,missed_notification,close_postmortem",
		"closed":    "",
	} {
		c.State = state
		_, bs := Postmortem(c)
		if got := strings.Join(pmButtonIDs(t, bs), ","); got != want {
			t.Errorf("%s: buttons %s, want %s", state, got, want)
		}
	}
	raw, _ := json.Marshal(func() []slack.Block { _, bs := Postmortem(c); return bs }())
	if strings.Contains(string(raw), "<!channel>") {
		t.Error("an item title pinged the channel")
	}
}

func TestPostmortemCardStaysInsideSlackLimits(t *testing.T) {
	c := postmortemCard()
	c.Title = strings.Repeat("t", 5000)
	for i := range 80 {
		c.Items = append(c.Items, ActionItem{ID: int64(i + 1), Title: strings.Repeat("x", 400), Owner: "U0BOB", Due: t0})
	}
	_, bs := Postmortem(c)
	if len(bs) > maxBlocks {
		t.Errorf("%d blocks, Slack allows %d", len(bs), maxBlocks)
	}
	if n := len(pmButtonIDs(t, bs)); n != maxCardItems+4 {
		t.Errorf("%d buttons, want %d item buttons and 4 for the postmortem", n, maxCardItems)
	}
}

func TestValues(t *testing.T) {
	if id, ok := ParseItemValue(ItemValue(42)); !ok || id != 42 {
		t.Errorf("item value round trip: %d %v", id, ok)
	}
	for _, bad := range []string{"", "item:", "item:x", "item:-1", "incident:4"} {
		if _, ok := ParseItemValue(bad); ok {
			t.Errorf("%q parsed as an item", bad)
		}
	}
	n, ch, ts, ok := ParseItemModalMetadata(ItemModalMetadata(7, "C1", "1.2"))
	if !ok || n != 7 || ch != "C1" || ts != "1.2" {
		t.Errorf("metadata round trip: %d %q %q %v", n, ch, ts, ok)
	}
	if n, ch, ts, ok := ParseItemModalMetadata(ItemModalMetadata(7, "", "")); !ok || n != 7 || ch != "" || ts != "" {
		t.Errorf("metadata without a card: %d %q %q %v", n, ch, ts, ok)
	}
	if _, _, _, ok := ParseItemModalMetadata("garbage"); ok {
		t.Error("garbage metadata parsed")
	}
}

func TestMarkdownMessages(t *testing.T) {
	var b strings.Builder
	b.WriteString("# Title & <stuff>\n\n```go\ncode\n```\n")
	for i := range 400 {
		b.WriteString("| " + strconv.Itoa(i) + " | some table row with text & more |\n")
	}
	b.WriteString(strings.Repeat("é&", 5000) + "\n") // one line longer than a message
	b.WriteString("last line\n")
	md := b.String()
	msgs := MarkdownMessages(md)
	if len(msgs) < 5 {
		t.Fatalf("%d messages for %d characters", len(msgs), len(md))
	}
	var back []string
	for i, m := range msgs {
		if n := utf8.RuneCountInString(m); n > maxSnippet {
			t.Errorf("message %d has %d characters, more than %d", i, n, maxSnippet)
		}
		body, ok := strings.CutPrefix(m, "```\n")
		body, ok2 := strings.CutSuffix(body, "\n```")
		if !ok || !ok2 || strings.Contains(body, "```") {
			t.Fatalf("message %d is not one code block: %.80q", i, m)
		}
		if strings.ContainsAny(strings.ReplaceAll(strings.ReplaceAll(strings.ReplaceAll(body, "&amp;", ""), "&lt;", ""), "&gt;", ""), "<>&") {
			t.Errorf("message %d has unescaped control characters", i)
		}
		back = append(back, html.UnescapeString(body))
	}
	// Joined again (the long line was cut into pieces, each on its own line), the text
	// is the document with fences neutralised.
	joined := strings.Join(back, "\n")
	want := strings.TrimRight(strings.ReplaceAll(md, "```", "ˋˋˋ"), "\n")
	if strings.ReplaceAll(joined, "\n", "") != strings.ReplaceAll(want, "\n", "") {
		t.Error("the messages do not add up to the document")
	}
	if got := MarkdownMessages(""); len(got) != 0 {
		t.Errorf("an empty document gives %d messages", len(got))
	}
}

func missedForm() MissedForm {
	return MissedForm{Incident: 12, Title: "Payments API 500s after deploy",
		Causes: []MissedCause{
			{ActionID: "0b6f3c1e-0000-4000-8000-000000000001", Actor: "deployer", ActionType: "deploy", Summary: "Deploy payments-api v1.42 <!channel>"},
			{ActionID: "0b6f3c1e-0000-4000-8000-000000000002", Actor: "migrator", ActionType: "migrate", Summary: strings.Repeat("a long summary ", 20)},
		},
		Teams: []MissedTeam{{ID: "payments", Name: "Payments"}, {ID: "platform"}},
	}
}

// TestMissedModal: the causes and teams become options Slack accepts (option text of at
// most 75 characters, at most 100 options), the likeliest cause is chosen already, and
// without teams there is no team select (Slack refuses a select without options).
func TestMissedModal(t *testing.T) {
	f := missedForm()
	for i := range 120 {
		f.Teams = append(f.Teams, MissedTeam{ID: "team" + strconv.Itoa(i), Name: strings.Repeat("n", 100)})
	}
	m := MissedModal(f, "incident:12")
	raw, err := json.Marshal(m)
	if err != nil {
		t.Fatal(err)
	}
	var view struct {
		Blocks []struct {
			BlockID string `json:"block_id"`
			Element struct {
				Options []struct {
					Text struct {
						Text string `json:"text"`
					} `json:"text"`
					Value string `json:"value"`
				} `json:"options"`
				Initial *struct {
					Value string `json:"value"`
				} `json:"initial_option"`
			} `json:"element"`
		} `json:"blocks"`
	}
	if err := json.Unmarshal(raw, &view); err != nil {
		t.Fatal(err)
	}
	options := map[string]int{}
	for _, b := range view.Blocks {
		options[b.BlockID] = len(b.Element.Options)
		for _, o := range b.Element.Options {
			if n := utf8.RuneCountInString(o.Text.Text); n > maxOptionText {
				t.Errorf("%s: option %q has %d characters", b.BlockID, o.Text.Text, n)
			}
		}
		if b.BlockID == MissedCauseBlock && (b.Element.Initial == nil || b.Element.Initial.Value != f.Causes[0].ActionID) {
			t.Errorf("the likeliest cause is not chosen: %+v", b.Element.Initial)
		}
	}
	if options[MissedCauseBlock] != 2 || options[MissedTeamBlock] != maxOptions {
		t.Errorf("options per block: %v", options)
	}
	f.Teams = nil
	raw, _ = json.Marshal(MissedModal(f, "incident:12"))
	if strings.Contains(string(raw), MissedTeamBlock) {
		t.Error("a team select without teams")
	}
}
