package slackfake

import (
	"encoding/json"
	"strings"
)

// RenderText flattens Block Kit JSON (a blocks array) into readable lines
// for transcripts and test assertions: headers and sections as their text,
// fields one per line, context elements joined with " · ", dividers as
// "---", buttons as "[Label]", selects as "[Placeholder ▾]", inputs as
// "Label: [element]". Unknown blocks render as "[type]"; invalid JSON
// renders as nothing.
func RenderText(blocks json.RawMessage) []string {
	var list []map[string]any
	if len(blocks) == 0 || json.Unmarshal(blocks, &list) != nil {
		return nil
	}
	var out []string
	add := func(s string) {
		for _, l := range strings.Split(s, "\n") {
			if l = strings.TrimRight(l, " "); l != "" {
				out = append(out, l)
			}
		}
	}
	for _, b := range list {
		typ, _ := b["type"].(string)
		switch typ {
		case "header", "markdown":
			if typ == "markdown" {
				add(str(b["text"]))
			} else {
				add(textOf(b["text"]))
			}
		case "section":
			text := textOf(b["text"])
			if acc, ok := b["accessory"].(map[string]any); ok {
				if r := renderElement(acc); r != "" {
					text = strings.TrimSpace(text + "  " + r)
				}
			}
			add(text)
			if fields, ok := b["fields"].([]any); ok {
				for _, f := range fields {
					add(textOf(f))
				}
			}
		case "context":
			var parts []string
			for _, e := range list0(b["elements"]) {
				if em, ok := e.(map[string]any); ok && em["type"] == "image" {
					if alt := str(em["alt_text"]); alt != "" {
						parts = append(parts, "("+alt+")")
					}
					continue
				}
				if t := textOf(e); t != "" {
					parts = append(parts, t)
				}
			}
			add(strings.Join(parts, " · "))
		case "divider":
			out = append(out, "---")
		case "actions":
			var parts []string
			for _, e := range list0(b["elements"]) {
				if em, ok := e.(map[string]any); ok {
					if r := renderElement(em); r != "" {
						parts = append(parts, r)
					}
				}
			}
			add(strings.Join(parts, " "))
		case "input":
			el, _ := b["element"].(map[string]any)
			add(strings.TrimSpace(textOf(b["label"]) + ": " + renderElement(el)))
		case "image":
			add("[image: " + str(b["alt_text"]) + "]")
		case "rich_text":
			add(richText(b["elements"]))
		default:
			out = append(out, "["+typ+"]")
		}
	}
	return out
}

func str(v any) string {
	s, _ := v.(string)
	return s
}

func list0(v any) []any {
	l, _ := v.([]any)
	return l
}

// textOf returns the text of a text object ({"type":"mrkdwn","text":…}).
func textOf(v any) string {
	m, ok := v.(map[string]any)
	if !ok {
		return ""
	}
	return str(m["text"])
}

func renderElement(el map[string]any) string {
	if el == nil {
		return ""
	}
	typ := str(el["type"])
	switch typ {
	case "button":
		return "[" + textOf(el["text"]) + "]"
	case "overflow":
		return "[…]"
	case "image":
		return "[image: " + str(el["alt_text"]) + "]"
	case "plain_text_input", "email_text_input", "url_text_input", "number_input", "rich_text_input":
		if p := textOf(el["placeholder"]); p != "" {
			return "[" + p + "]"
		}
		return "[____]"
	case "datepicker", "timepicker", "datetimepicker":
		if p := textOf(el["placeholder"]); p != "" {
			return "[" + p + "]"
		}
		return "[" + typ + "]"
	case "checkboxes", "radio_buttons":
		var opts []string
		for _, o := range list0(el["options"]) {
			if om, ok := o.(map[string]any); ok {
				opts = append(opts, "( ) "+textOf(om["text"]))
			}
		}
		return strings.Join(opts, " ")
	}
	if strings.HasSuffix(typ, "_select") {
		p := textOf(el["placeholder"])
		if io, ok := el["initial_option"].(map[string]any); ok {
			p = textOf(io["text"])
		}
		if p == "" {
			p = typ
		}
		return "[" + p + " ▾]"
	}
	return "[" + typ + "]"
}

// richText concatenates rich_text elements: sections and lists become lines.
func richText(v any) string {
	var b strings.Builder
	var walk func(v any)
	walk = func(v any) {
		switch t := v.(type) {
		case []any:
			for _, c := range t {
				walk(c)
			}
		case map[string]any:
			switch str(t["type"]) {
			case "text":
				b.WriteString(str(t["text"]))
			case "link":
				if s := str(t["text"]); s != "" {
					b.WriteString(s)
				} else {
					b.WriteString(str(t["url"]))
				}
			case "user":
				b.WriteString("<@" + str(t["user_id"]) + ">")
			case "channel":
				b.WriteString("<#" + str(t["channel_id"]) + ">")
			case "emoji":
				b.WriteString(":" + str(t["name"]) + ":")
			case "rich_text_section", "rich_text_preformatted", "rich_text_quote":
				walk(t["elements"])
				b.WriteString("\n")
			case "rich_text_list":
				for _, item := range list0(t["elements"]) {
					b.WriteString("• ")
					if im, ok := item.(map[string]any); ok {
						walk(im["elements"])
					}
					b.WriteString("\n")
				}
			default:
				walk(t["elements"])
			}
		}
	}
	walk(v)
	return b.String()
}
