package slackfake_test

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/slack-go/slack"

	"github.com/mandatehq/mandate/slackfake"
)

func TestRenderText(t *testing.T) {
	md := func(s string) *slack.TextBlockObject {
		return slack.NewTextBlockObject(slack.MarkdownType, s, false, false)
	}
	blocks := []slack.Block{
		slack.NewHeaderBlock(pt("INC-42: db down")),
		slack.NewSectionBlock(md("*Severity:* critical\nsecond line"), []*slack.TextBlockObject{md("*Owner*"), md("<@U1>")},
			slack.NewAccessory(slack.NewButtonBlockElement("open", "x", pt("Open")))),
		slack.NewContextBlock("ctx", md("Opened by <@U1>"), md("7 s ago")),
		slack.NewDividerBlock(),
		slack.NewActionBlock("acts",
			slack.NewButtonBlockElement("ack", "inc-42", pt("Acknowledge")),
			slack.NewOptionsSelectBlockElement(slack.OptTypeStatic, pt("Snooze"), "snooze", slack.NewOptionBlockObject("1h", pt("1 hour"), nil))),
		slack.NewInputBlock("q", pt("Question"), nil, slack.NewPlainTextInputBlockElement(pt("What changed?"), "q_input")),
		slack.NewImageBlock("https://example.com/x.png", "graph", "", nil),
	}
	raw, err := json.Marshal(blocks)
	if err != nil {
		t.Fatal(err)
	}
	raw = append(raw[:len(raw)-1], []byte(`,{"type":"rich_text","elements":[{"type":"rich_text_section","elements":[{"type":"text","text":"hi "},{"type":"user","user_id":"U1"}]}]},{"type":"video"}]`)...)
	got := slackfake.RenderText(raw)
	want := []string{
		"INC-42: db down",
		"*Severity:* critical",
		"second line  [Open]",
		"*Owner*",
		"<@U1>",
		"Opened by <@U1> · 7 s ago",
		"---",
		"[Acknowledge] [Snooze ▾]",
		"Question: [What changed?]",
		"[image: graph]",
		"hi <@U1>",
		"[video]",
	}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("RenderText =\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	if got := slackfake.RenderText(json.RawMessage(`not json`)); got != nil {
		t.Errorf("invalid JSON renders %q", got)
	}
}
