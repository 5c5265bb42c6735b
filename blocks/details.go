package blocks

import (
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/slack-go/slack"
)

// The "Ask a question" modal's ids: the view submission handler reads the question from
// View.State.Values[AskBlockID][AskInputID] and the notification id from PrivateMetadata.
const (
	AskCallbackID = "ask_question"
	AskBlockID    = "q"
	AskInputID    = "q_input"
	// AskMaxLength is the longest question accepted; Slack enforces it in the input.
	AskMaxLength = 2000
)

// AskModal is the modal the ask button opens. The notification id travels in
// private_metadata, so the submission can be tied to its message without any lookup state.
//
// The modal remembers the message it was opened from (channel and ts), because the
// question goes to that message's thread and a button can be pressed before the post's
// answer is recorded on the notification.
func AskModal(notificationID int64, summary, channel, ts string) slack.ModalViewRequest {
	about := "*About:* " + clip(orDash(summary), maxText-len("*About:* "))
	return slack.ModalViewRequest{
		Type:            slack.VTModal,
		CallbackID:      AskCallbackID,
		PrivateMetadata: AskMetadata{NotificationID: notificationID, Channel: channel, TS: ts}.String(),
		Title:           plain("Ask a question"),
		Submit:          plain("Send"),
		Close:           plain("Cancel"),
		Blocks: slack.Blocks{BlockSet: []slack.Block{
			section("about", about),
			slack.NewInputBlock(AskBlockID, plain("Your question"), nil,
				slack.NewPlainTextInputBlockElement(plain("What changed, and why?"), AskInputID).
					WithMultiline(true).WithMaxLength(AskMaxLength)),
		}},
	}
}

// Details is the ephemeral answer to the details button: everything Message had to shorten
// (every reason, every resource with its owners, the full summary) plus the rule and ids
// people quote when they ask about a notification. Long lists are split over several
// sections; past Slack's 50 blocks the rest is counted, not shown.
func Details(n Notification) []slack.Block {
	id := strconv.FormatInt(n.ID, 10)
	head := []string{
		"*" + titleLine(n, true) + "*",
		"*Notification:* " + id + " · *Action:* " + code(orDash(n.ActionID), 300),
		"*Path:* " + clip(orDash(n.Path), 60) + " · *Urgency:* " + clip(orDash(n.Urgency), 40),
		"*Actor:* " + clip(orDash(n.Actor), budgetActor) + " (" + clip(orDash(n.ActorType), 40) + ") · *Type:* " + clip(orDash(n.ActionType), 100),
		"*Environment:* " + clip(orDash(n.Environment), budgetEnv) + " · *Time:* " + formatTime(n.OccurredAt),
	}
	if n.Rule != "" {
		head = append(head, "*Rule:* "+code(n.Rule, 300))
	} else {
		head = append(head, "*Rule:* default routing")
	}
	head = append(head, pathLines(n)...)
	blocks := []slack.Block{section("details:"+id, strings.Join(head, "\n"))}
	blocks = append(blocks, section("details_summary:"+id, "*Summary:*\n"+clip(orDash(n.Summary), maxText-len("*Summary:*\n"))))

	reasons := make([]string, 0, len(n.Reasons))
	for _, r := range n.Reasons {
		reasons = append(reasons, "• "+clip(r, 1000))
	}
	if len(reasons) == 0 {
		reasons = append(reasons, "• none recorded")
	}
	blocks = append(blocks, listSections("details_reasons:"+id, "*Reasons ("+strconv.Itoa(len(n.Reasons))+"):*", reasons)...)

	resources := make([]string, 0, len(n.Resources))
	for _, r := range n.Resources {
		resources = append(resources, "• "+resourceDetail(r))
	}
	if len(resources) == 0 {
		resources = append(resources, "• none reported")
	}
	blocks = append(blocks, listSections("details_resources:"+id, "*Resources ("+strconv.Itoa(len(n.Resources))+"):*", resources)...)

	if n.Recovery != nil {
		blocks = append(blocks, section("details_recovery:"+id, recoveryDetail(n.Recovery)))
	}
	return capBlocks(blocks, maxBlocks, "details_more:"+id)
}

// resourceDetail lists every owner of a resource, clipped only to fit one section.
func resourceDetail(r Resource) string {
	s := code(r.Key, 300)
	if r.Team != "" {
		s += " · team " + clip(r.Team, 80)
	}
	if len(r.Owners) == 0 {
		return s + " · ⚠ no owner known"
	}
	return s + " · owners: " + joinBudget(r.Owners, ", ", 2500, "more")
}

func recoveryDetail(r *Recovery) string {
	lines := []string{"*Recovery:* " + code(orDash(r.Path), budgetRecovery)}
	for _, l := range r.Limits {
		lines = append(lines, "• "+clip(l, 500))
	}
	return fit(strings.Join(lines, "\n"), maxText)
}

// section is a mrkdwn section with a block id; fit is the last guard on its length, so no
// caller can hand Slack more than it accepts.
func section(blockID, text string) *slack.SectionBlock {
	return slack.NewSectionBlock(mrkdwn(fit(text, maxText)), nil, nil, slack.SectionBlockOptionBlockID(blockID))
}

// listSections packs lines under a heading into as few sections as fit maxText each; the
// block ids are "<prefix>", "<prefix>:2", … so they stay unique and stable. Each line must
// already be shorter than a section.
func listSections(prefix, heading string, lines []string) []slack.Block {
	var out []slack.Block
	cur := heading
	flush := func() {
		id := prefix
		if len(out) > 0 {
			id += ":" + strconv.Itoa(len(out)+1)
		}
		out = append(out, section(id, cur))
	}
	for _, l := range lines {
		if utf8.RuneCountInString(cur)+1+utf8.RuneCountInString(l) > maxText {
			flush()
			cur = l
			continue
		}
		cur += "\n" + l
	}
	flush()
	return out
}

// capBlocks keeps at most max blocks; when it must drop some, the last kept block says how
// many were left out, so a reader knows the list is incomplete.
func capBlocks(blocks []slack.Block, max int, blockID string) []slack.Block {
	if len(blocks) <= max {
		return blocks
	}
	dropped := len(blocks) - (max - 1)
	return append(blocks[:max-1:max-1], slack.NewContextBlock(blockID,
		mrkdwn("… "+plural(dropped, "more section", "more sections")+" not shown (Slack allows "+strconv.Itoa(max)+" blocks)")))
}

// Ephemeral wraps a short reply (a refusal, an error, a confirmation) in one section. text is
// mrkdwn, so it can carry mentions; pass anything untrusted through Escape first.
func Ephemeral(text string) []slack.Block {
	if strings.TrimSpace(text) == "" {
		text = "—" // Slack rejects an empty text object
	}
	return []slack.Block{slack.NewSectionBlock(mrkdwn(fit(text, maxText)), nil, nil)}
}

// HelpText is the answer to `/mandate help`.
func HelpText() string {
	return strings.Join([]string{
		"*Mandate* tells owners what agents do and lets them step in. Commands:",
		"• `/mandate status` — agents, pauses, incidents, ownership coverage and response times",
		"• `/mandate pause AGENT [reason]` — halt the agent: its next action is refused",
		"• `/mandate resume AGENT` — let a paused agent act again",
		"• `/mandate who RESOURCE` — who owns a resource, and which rule says so",
		"• `/mandate recent [AGENT|RESOURCE]` — the latest actions, by an agent or on a resource",
		"• `/mandate watch PATTERN` — be told about actions on resources matching the pattern",
		"• `/mandate unwatch PATTERN` — stop watching a pattern",
		"• `/mandate snooze RESOURCE|RULE DURATION` — mute notifications for a resource or rule for a while",
		"• `/mandate incident TITLE [--sev S] [--resource kind:name]…` — open an incident: a channel with the owners and on-call, likely causes, PagerDuty for high/critical",
		"• `/mandate incident timeline [NUMBER]` — what happened around an incident, in order (the number may be left out in its channel)",
		"• `/mandate incident list` — open incidents",
		"• `/mandate incident sev [NUMBER] low|medium|high|critical` — change an incident's severity: raising it to high or critical pages PagerDuty (the number may be left out in its channel)",
		"• `/mandate digest [TEAM|admin]` — preview the weekly digest: your team's, a team's, or the admins'",
		"• `/mandate help` — this list",
	}, "\n")
}

// AskMetadata is what the ask modal carries in private_metadata: the notification and
// the message the button was on.
type AskMetadata struct {
	NotificationID int64
	Channel, TS    string
}

// String encodes m as "ID|CHANNEL|TS".
func (m AskMetadata) String() string {
	return strconv.FormatInt(m.NotificationID, 10) + "|" + m.Channel + "|" + m.TS
}

// ParseAskMetadata decodes private_metadata written by AskModal; a bare notification id
// (from modals opened before the message was recorded with it) is accepted too.
func ParseAskMetadata(s string) (AskMetadata, bool) {
	id, rest, _ := strings.Cut(s, "|")
	n, err := strconv.ParseInt(id, 10, 64)
	if err != nil || n <= 0 {
		return AskMetadata{}, false
	}
	m := AskMetadata{NotificationID: n}
	m.Channel, m.TS, _ = strings.Cut(rest, "|")
	return m, true
}
