package slackfake

import (
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
)

// The builders below produce the envelopes of SLACK.md §1.5, with every
// field slack-go needs: block_id on each action (without it slack-go files
// the action under AttachmentActions and block-action handlers never fire),
// response_url, trigger_id and accepts_response_payload.

// verificationToken stands in for the deprecated verification token Slack
// still puts in payloads; slack-go is told not to check it.
const verificationToken = "slackfake-verification"

func (s *Server) userObject(id string) map[string]any {
	name := s.userName(id)
	return map[string]any{"id": id, "username": name, "name": name, "team_id": s.opts.TeamID}
}

func (s *Server) teamObject() map[string]any {
	return map[string]any{"id": s.opts.TeamID, "domain": s.opts.TeamDomain}
}

// slashChannelName is the channel_name Slack gives a slash command.
func (s *Server) slashChannelName(id string) string {
	c, ok := s.channels[id]
	switch {
	case !ok:
		return ""
	case c.IsIM:
		return "directmessage"
	default:
		return c.Name
	}
}

// SlashCommandEnvelope builds the envelope for user typing command (e.g.
// "/mandate") with text in channel (id or name). If the bot acks with a
// text or blocks payload, the fake shows it as Slack does: to the user
// alone, or in the channel for response_type "in_channel".
func (s *Server) SlashCommandEnvelope(user, channel, command, text string) Envelope {
	s.mu.Lock()
	defer s.mu.Unlock()
	ch := s.channelID(channel)
	target := responseTarget{channel: ch, user: user}
	payload := map[string]any{
		"token": verificationToken, "team_id": s.opts.TeamID, "team_domain": s.opts.TeamDomain,
		"channel_id": ch, "channel_name": s.slashChannelName(ch),
		"user_id": user, "user_name": s.userName(user), "command": command, "text": text,
		"api_app_id": s.opts.AppID, "is_enterprise_install": "false",
		"response_url": s.newResponseURL(target), "trigger_id": s.newTrigger(user),
	}
	raw, _ := json.Marshal(payload)
	return Envelope{
		Type: "slash_commands", AcceptsResponsePayload: true, Payload: raw,
		User: user, Channel: ch, Summary: strings.TrimSpace(command + " " + text),
		onAck: func(p json.RawMessage) {
			var rb responseBody
			if len(p) == 0 || json.Unmarshal(p, &rb) != nil {
				return
			}
			if blocks, _ := parseBlocks(string(rb.Blocks)); rb.Text != "" || blocks != nil {
				s.applyResponse(target, rb, "ack")
			}
		},
	}
}

// element is an interactive element found in Block Kit JSON.
type element struct {
	obj     map[string]any
	blockID string
}

func (e element) str(k string) string {
	v, _ := e.obj[k].(string)
	return v
}

func (e element) label() string {
	if t, ok := e.obj["text"].(map[string]any); ok {
		v, _ := t["text"].(string)
		return v
	}
	return ""
}

// findElement finds the element with actionID in blocks (in the block with
// blockID, if given). A block without a block_id gets the stable
// "slackfake-N" (N its index), standing in for the id Slack would assign.
func findElement(blocks json.RawMessage, blockID, actionID string) (element, bool) {
	var list []map[string]any
	if json.Unmarshal(blocks, &list) != nil {
		return element{}, false
	}
	for i, b := range list {
		id, _ := b["block_id"].(string)
		if id == "" {
			id = "slackfake-" + strconv.Itoa(i)
		}
		if blockID != "" && id != blockID {
			continue
		}
		if obj := findActionID(b, actionID); obj != nil {
			return element{obj: obj, blockID: id}, true
		}
	}
	return element{}, false
}

func findActionID(v any, actionID string) map[string]any {
	switch t := v.(type) {
	case map[string]any:
		if id, _ := t["action_id"].(string); id == actionID {
			return t
		}
		for _, c := range t {
			if r := findActionID(c, actionID); r != nil {
				return r
			}
		}
	case []any:
		for _, c := range t {
			if r := findActionID(c, actionID); r != nil {
				return r
			}
		}
	}
	return nil
}

// BlockActionEnvelope builds the envelope for user pressing the button
// actionID (in block blockID, with value) on the message at (channel, ts).
// The message must exist; an empty blockID is taken from the message's
// blocks. Buttons on ephemeral messages work too.
func (s *Server) BlockActionEnvelope(user, channel, ts, actionID, blockID, value string) (Envelope, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	ch := s.channelID(channel)
	m := s.findMessage(ch, ts)
	if m == nil || m.Deleted {
		return Envelope{}, fmt.Errorf("slackfake: no message %s in %s", ts, channel)
	}
	label := actionID
	if el, ok := findElement(m.Blocks, blockID, actionID); ok {
		if blockID == "" {
			blockID = el.blockID
		}
		if l := el.label(); l != "" {
			label = l
		}
	}
	if blockID == "" {
		return Envelope{}, fmt.Errorf("slackfake: no block_id for action %s in message %s", actionID, ts)
	}
	actionTS, _ := s.nextEventTS()
	container := map[string]any{"type": "message", "message_ts": m.TS, "channel_id": ch, "is_ephemeral": m.Ephemeral}
	if m.ThreadTS != "" {
		container["thread_ts"] = m.ThreadTS
	}
	payload := map[string]any{
		"type": "block_actions", "user": s.userObject(user), "api_app_id": s.opts.AppID, "token": verificationToken,
		"container": container, "trigger_id": s.newTrigger(user), "team": s.teamObject(),
		"enterprise": nil, "is_enterprise_install": false,
		"channel":      map[string]any{"id": ch, "name": s.slashChannelName(ch)},
		"response_url": s.newResponseURL(responseTarget{channel: ch, user: user, messageTS: m.TS}),
		"actions": []any{map[string]any{
			"action_id": actionID, "block_id": blockID, "value": value, "type": "button",
			"text":      map[string]any{"type": "plain_text", "text": label, "emoji": true},
			"action_ts": actionTS,
		}},
		"state": map[string]any{"values": map[string]any{}},
	}
	// Slack leaves the message out for ephemeral messages.
	if !m.Ephemeral {
		payload["message"] = s.messageJSON(m)
	}
	raw, _ := json.Marshal(payload)
	return Envelope{Type: "interactive", Payload: raw, User: user, Channel: ch,
		Summary: "pressed [" + label + "] on " + m.TS}, nil
}

// PressButton acts as user pressing a button on the message at (channel,
// ts), pushes the block_actions envelope and waits for the ack. It returns
// the ack's payload, or an error if the message does not exist or no ack
// arrives within Options.AckTimeout.
func (s *Server) PressButton(user, channel, ts, actionID, blockID, value string) (json.RawMessage, error) {
	env, err := s.BlockActionEnvelope(user, channel, ts, actionID, blockID, value)
	if err != nil {
		return nil, err
	}
	return s.pushAndWait(env)
}

// ClickButton presses the button actionID as it is now on msg (looked up
// again by channel and ts, so a button an update removed cannot be
// pressed), taking its block_id and value from the stored blocks.
func (s *Server) ClickButton(user string, msg Message, actionID string) (json.RawMessage, error) {
	s.mu.Lock()
	m := s.findMessage(msg.Channel, msg.TS)
	var (
		el element
		ok bool
	)
	if m != nil && !m.Deleted {
		el, ok = findElement(m.Blocks, "", actionID)
	}
	s.mu.Unlock()
	switch {
	case m == nil || m.Deleted:
		return nil, fmt.Errorf("slackfake: no message %s in %s", msg.TS, msg.Channel)
	case !ok || el.str("type") != "button":
		return nil, fmt.Errorf("slackfake: no button %q in message %s", actionID, msg.TS)
	}
	return s.PressButton(user, msg.Channel, msg.TS, actionID, el.blockID, el.str("value"))
}

// stateValue builds a view_submission state entry in the shape Slack uses
// for the element type: selects carry selected_option, pickers
// selected_user/selected_date, inputs value. Multi-value elements take a
// comma-separated value.
func stateValue(el element, typ, value string) map[string]any {
	out := map[string]any{"type": typ}
	multi := func() []string { return splitList(value) }
	switch typ {
	case "static_select", "external_select", "radio_buttons":
		out["selected_option"] = option(el, value)
	case "multi_static_select", "multi_external_select", "checkboxes":
		opts := []any{}
		for _, v := range multi() {
			opts = append(opts, option(el, v))
		}
		out["selected_options"] = opts
	case "users_select":
		out["selected_user"] = value
	case "multi_users_select":
		out["selected_users"] = multi()
	case "conversations_select":
		out["selected_conversation"] = value
	case "multi_conversations_select":
		out["selected_conversations"] = multi()
	case "channels_select":
		out["selected_channel"] = value
	case "multi_channels_select":
		out["selected_channels"] = multi()
	case "datepicker":
		out["selected_date"] = value
	case "timepicker":
		out["selected_time"] = value
	case "datetimepicker":
		n, _ := strconv.ParseInt(value, 10, 64)
		out["selected_date_time"] = n
	default:
		out["value"] = value
	}
	return out
}

// option returns the element's option with value, or a made-up one.
func option(el element, value string) any {
	var lists []any
	if o, ok := el.obj["options"].([]any); ok {
		lists = append(lists, o...)
	}
	if groups, ok := el.obj["option_groups"].([]any); ok {
		for _, g := range groups {
			if gm, ok := g.(map[string]any); ok {
				if o, ok := gm["options"].([]any); ok {
					lists = append(lists, o...)
				}
			}
		}
	}
	for _, o := range lists {
		if om, ok := o.(map[string]any); ok && om["value"] == value {
			return om
		}
	}
	return map[string]any{"text": map[string]any{"type": "plain_text", "text": value}, "value": value}
}

// ViewSubmissionEnvelope builds the envelope for user submitting the modal
// with callbackID. values maps block_id → action_id → value. If the bot
// opened such a modal for user (the latest one still open is used), the
// envelope carries its id, blocks and private_metadata, and each value takes
// the shape of its element's type; privateMetadata, when not empty, replaces
// the stored one. The ack is applied as Slack would: no response_action or
// "clear" closes the modal, "update" replaces it, "push" opens another,
// "errors" keeps it open with View.Errors set.
func (s *Server) ViewSubmissionEnvelope(user, callbackID, privateMetadata string, values map[string]map[string]string) Envelope {
	s.mu.Lock()
	defer s.mu.Unlock()
	var v *View
	for _, c := range s.viewOrder {
		if c.CallbackID == callbackID && c.User == user && !c.Closed {
			v = c
		}
	}
	var view map[string]any
	var blocks json.RawMessage
	if v != nil {
		view = s.viewJSON(v)
		blocks = v.Blocks
	} else {
		s.seq.view++
		view = map[string]any{"id": seqID("V", s.seq.view), "team_id": s.opts.TeamID, "type": "modal",
			"callback_id": callbackID, "private_metadata": "", "app_id": s.opts.AppID, "bot_id": s.opts.BotID}
	}
	if privateMetadata != "" {
		view["private_metadata"] = privateMetadata
	}
	state := map[string]any{}
	for blockID, actions := range values {
		entries := map[string]any{}
		for actionID, value := range actions {
			el, _ := findElement(blocks, blockID, actionID)
			typ := el.str("type")
			if typ == "" {
				typ = "plain_text_input"
			}
			entries[actionID] = stateValue(el, typ, value)
		}
		state[blockID] = entries
	}
	view["state"] = map[string]any{"values": state}
	payload := map[string]any{
		"type": "view_submission", "team": s.teamObject(), "user": s.userObject(user),
		"api_app_id": s.opts.AppID, "token": verificationToken, "trigger_id": s.newTrigger(user),
		"view": view, "response_urls": []any{}, "enterprise": nil, "is_enterprise_install": false,
	}
	raw, _ := json.Marshal(payload)
	return Envelope{Type: "interactive", AcceptsResponsePayload: true, Payload: raw, User: user,
		Summary: "submitted " + callbackID,
		onAck: func(p json.RawMessage) {
			if v != nil {
				s.applyViewAck(v, p)
			}
		}}
}

// applyViewAck applies a view_submission ack. Callers hold s.mu.
func (s *Server) applyViewAck(v *View, p json.RawMessage) {
	var ack struct {
		ResponseAction string                     `json:"response_action"`
		Errors         map[string]string          `json:"errors"`
		View           map[string]json.RawMessage `json:"view"`
	}
	if len(p) > 0 {
		_ = json.Unmarshal(p, &ack)
	}
	switch ack.ResponseAction {
	case "errors":
		v.Errors = ack.Errors
		s.broadcast()
	case "update":
		v.Errors = nil
		if ack.View != nil {
			s.setViewContent(v, ack.View)
			s.emit(Event{Kind: EventViewUpdate, User: v.User, Text: v.Title, Blocks: v.Blocks, Summary: v.CallbackID + " " + v.ID + " " + strconv.Quote(v.Title)})
		}
	case "push":
		if ack.View != nil {
			s.seq.view++
			nv := &View{ID: seqID("V", s.seq.view), Type: "modal", User: v.User}
			s.setViewContent(nv, ack.View)
			s.views[nv.ID] = nv
			s.viewOrder = append(s.viewOrder, nv)
			s.emit(Event{Kind: EventViewOpen, User: nv.User, Text: nv.Title, Blocks: nv.Blocks, Summary: nv.CallbackID + " " + nv.ID + " " + strconv.Quote(nv.Title)})
		}
	default: // "", "clear": the modal (with "clear", the whole stack) closes
		for _, c := range s.viewOrder {
			if c == v || (ack.ResponseAction == "clear" && c.User == v.User) {
				c.Closed, c.Errors = true, nil
			}
		}
		s.broadcast()
	}
}

// SubmitView acts as user submitting a modal (see ViewSubmissionEnvelope),
// pushes the envelope and waits for the ack, whose payload (e.g.
// {"response_action":"errors",…}) it returns.
func (s *Server) SubmitView(user, callbackID, privateMetadata string, values map[string]map[string]string) (json.RawMessage, error) {
	return s.pushAndWait(s.ViewSubmissionEnvelope(user, callbackID, privateMetadata, values))
}

// SlashCommand acts as user typing command with text in channel, pushes the
// envelope and waits for the ack, whose payload it returns.
func (s *Server) SlashCommand(user, channel, command, text string) (json.RawMessage, error) {
	return s.pushAndWait(s.SlashCommandEnvelope(user, channel, command, text))
}

// EventEnvelope wraps an inner event (e.g. {"type":"app_mention",…}) in an
// events_api envelope with a fresh event_id, as Slack's Events API does.
func (s *Server) EventEnvelope(inner json.RawMessage) (Envelope, error) {
	var obj map[string]any
	if err := json.Unmarshal(inner, &obj); err != nil {
		return Envelope{}, fmt.Errorf("slackfake: event: %w", err)
	}
	if t, _ := obj["type"].(string); t == "" {
		return Envelope{}, errors.New(`slackfake: event has no "type"`)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.eventEnvelope(obj), nil
}

func (s *Server) eventEnvelope(inner map[string]any) Envelope {
	s.seq.eventID++
	_, eventTime := s.nextEventTS()
	payload := map[string]any{
		"token": verificationToken, "team_id": s.opts.TeamID, "api_app_id": s.opts.AppID,
		"type": "event_callback", "event_id": fmt.Sprintf("Ev%08d", s.seq.eventID), "event_time": eventTime,
		"event": inner,
		"authorizations": []any{map[string]any{"enterprise_id": nil, "team_id": s.opts.TeamID,
			"user_id": s.opts.BotUserID, "is_bot": true, "is_enterprise_install": false}},
		"is_ext_shared_channel": false,
	}
	raw, _ := json.Marshal(payload)
	typ, _ := inner["type"].(string)
	user, _ := inner["user"].(string)
	channel, _ := inner["channel"].(string)
	summary := typ
	if text, _ := inner["text"].(string); text != "" {
		summary += ": " + text
	}
	return Envelope{Type: "events_api", Payload: raw, User: user, Channel: channel, Summary: summary}
}

// SendEvent pushes an events_api envelope around inner and waits for the ack.
func (s *Server) SendEvent(inner json.RawMessage) (json.RawMessage, error) {
	env, err := s.EventEnvelope(inner)
	if err != nil {
		return nil, err
	}
	return s.pushAndWait(env)
}

// ensureDM returns the DM channel between the bot and user, creating it:
// an app's DM with a user exists whether or not conversations.open was
// called. Callers hold s.mu.
func (s *Server) ensureDM(user string) string {
	if id, ok := s.dms[user]; ok {
		return id
	}
	id := s.freeID("D", &s.seq.dm)
	s.dms[user] = id
	s.addChannel(&Channel{ID: id, IsIM: true, User: user, Members: []string{s.opts.BotUserID, user}})
	return id
}

// AppHomeOpenedEnvelope builds the app_home_opened event Slack sends when
// user opens the app's Home tab, carrying the published view if any.
func (s *Server) AppHomeOpenedEnvelope(user string) Envelope {
	s.mu.Lock()
	defer s.mu.Unlock()
	ets, _ := s.nextEventTS()
	inner := map[string]any{"type": "app_home_opened", "user": user, "channel": s.ensureDM(user), "tab": "home", "event_ts": ets}
	if v, ok := s.homes[user]; ok {
		inner["view"] = s.viewJSON(v)
	}
	env := s.eventEnvelope(inner)
	env.Summary = "opened the Home tab"
	return env
}

// OpenHome acts as user opening the app's Home tab and waits for the ack.
func (s *Server) OpenHome(user string) (json.RawMessage, error) {
	return s.pushAndWait(s.AppHomeOpenedEnvelope(user))
}
