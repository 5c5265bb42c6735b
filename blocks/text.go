package blocks

import (
	"fmt"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/slack-go/slack"
)

// Slack's limits (docs.slack.dev/reference/block-kit). Slack rejects a whole message when one
// of them is exceeded, so the renderers keep well inside them rather than trusting input.
const (
	maxText          = 3000 // any text object in a section or context
	maxBlocks        = 50   // blocks per message
	maxViewBlocks    = 100  // blocks per modal or Home tab
	maxButtonText    = 75
	maxConfirmTitle  = 100
	maxConfirmText   = 300
	maxConfirmButton = 30
	maxHeaderText    = 150
	maxActionElems   = 25 // elements per actions block
)

// ellipsis marks clipped text. It is one rune, so clipping to n runes leaves room for it.
const ellipsis = "…"

// mrkdwn and plain build text objects. mrkdwn text must already be escaped.
func mrkdwn(s string) *slack.TextBlockObject {
	return slack.NewTextBlockObject(slack.MarkdownType, s, false, false)
}

func plain(s string) *slack.TextBlockObject {
	return slack.NewTextBlockObject(slack.PlainTextType, s, true, false)
}

// Escape escapes the three characters Slack's mrkdwn treats as control characters, so that
// untrusted text cannot form mentions ("<@U…>", "<!channel>") or links. Callers composing
// mrkdwn for Ephemeral use it for any text they did not write.
func Escape(s string) string {
	if !strings.ContainsAny(s, "&<>") {
		return s
	}
	return strings.NewReplacer("&", "&amp;", "<", "&lt;", ">", "&gt;").Replace(s)
}

// clip escapes s for mrkdwn and clips the result to at most max runes, ending in "…" when
// cut. It cuts between escaped characters, never inside an entity such as "&amp;", because
// Slack would show half an entity as garbage.
func clip(s string, max int) string {
	return clipWith(s, max, true)
}

// clipPlain clips plain text (no escaping: plain_text is never parsed for mentions).
func clipPlain(s string, max int) string {
	return clipWith(s, max, false)
}

func clipWith(s string, max int, escape bool) string {
	piece := func(r rune) string {
		if escape {
			switch r {
			case '&':
				return "&amp;"
			case '<':
				return "&lt;"
			case '>':
				return "&gt;"
			}
		}
		return string(r)
	}
	full := s
	if escape {
		full = Escape(s)
	}
	if utf8.RuneCountInString(full) <= max {
		return full
	}
	var b strings.Builder
	n := 0
	for _, r := range s {
		p := piece(r)
		l := utf8.RuneCountInString(p)
		if n+l > max-1 {
			break
		}
		b.WriteString(p)
		n += l
	}
	return b.String() + ellipsis
}

// fit is the last guard on a composed mrkdwn text: when the parts together still exceed max
// runes it drops whole trailing lines (so no mention or entity is cut in half) and marks the
// cut. The renderers budget their parts so that this rarely fires.
func fit(s string, max int) string {
	if utf8.RuneCountInString(s) <= max {
		return s
	}
	lines := strings.Split(s, "\n")
	n := 0
	for i, line := range lines {
		l := utf8.RuneCountInString(line) + 1 // the newline
		if n+l > max-1 {
			if i == 0 {
				// One line longer than max: clip it; only a caller bug gets here.
				return string([]rune(line)[:max-1]) + ellipsis
			}
			return strings.Join(lines[:i], "\n") + "\n" + ellipsis
		}
		n += l
	}
	return s
}

// mention renders a Slack user id as a mention. Anything that does not look like a user id
// (a name, "escalation") is shown as escaped text instead, so a bad id cannot inject mrkdwn.
func mention(id string) string {
	if id == "" {
		return "someone"
	}
	if isUserID(id) {
		return "<@" + id + ">"
	}
	return clip(id, 80)
}

// isUserID reports whether s looks like a Slack user id: U or W, then capitals and digits.
func isUserID(s string) bool {
	if len(s) < 2 || len(s) > 32 || (s[0] != 'U' && s[0] != 'W') {
		return false
	}
	for _, c := range s[1:] {
		if (c < 'A' || c > 'Z') && (c < '0' || c > '9') {
			return false
		}
	}
	return true
}

// code renders escaped text in a code span, unless it holds a backtick, which would end the
// span early.
func code(s string, max int) string {
	if strings.Contains(s, "`") {
		return clip(s, max)
	}
	return "`" + clip(s, max-2) + "`"
}

// duration formats a span as people read it in chat: "7 s", "1 m 30 s", "2 m", "1 h 5 m",
// "2 d 3 h". Seconds are kept below ten minutes, where they still matter (a p95 of 90 s must
// not read as the same "1 m" as its 60 s target), and dropped above, where nobody needs
// "1 h 5 m 12 s" to judge a response time. Zero parts are left out.
func duration(d time.Duration) string {
	if d < 0 {
		d = 0
	}
	switch {
	case d < time.Minute:
		return fmt.Sprintf("%d s", int64(d/time.Second))
	case d < 10*time.Minute:
		m, sec := int64(d/time.Minute), int64(d%time.Minute/time.Second)
		if sec == 0 {
			return fmt.Sprintf("%d m", m)
		}
		return fmt.Sprintf("%d m %d s", m, sec)
	case d < time.Hour:
		return fmt.Sprintf("%d m", int64(d/time.Minute))
	case d < 24*time.Hour:
		h, m := int64(d/time.Hour), int64(d%time.Hour/time.Minute)
		if m == 0 {
			return fmt.Sprintf("%d h", h)
		}
		return fmt.Sprintf("%d h %d m", h, m)
	default:
		days, h := int64(d/(24*time.Hour)), int64(d%(24*time.Hour)/time.Hour)
		if h == 0 {
			return fmt.Sprintf("%d d", days)
		}
		return fmt.Sprintf("%d d %d h", days, h)
	}
}

// plural returns "1 action" or "3 actions".
func plural(n int, one, many string) string {
	if n == 1 {
		return "1 " + one
	}
	return fmt.Sprintf("%d %s", n, many)
}

// timeFormat is how message times read; always in UTC so everyone in a channel sees the same
// clock, whatever their location.
const timeFormat = "2006-01-02 15:04 MST"

func formatTime(t time.Time) string { return t.UTC().Format(timeFormat) }
