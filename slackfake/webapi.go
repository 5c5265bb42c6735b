package slackfake

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"mime"
	"net/http"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"
)

// apiRequest is a Web API call in either of slack-go's encodings: a form
// (token in the body, or Bearer for GET methods) or JSON (token as Bearer).
type apiRequest struct {
	host   string
	token  string
	params map[string]string
	// fields holds the top-level fields of a JSON body; nil for forms.
	fields map[string]json.RawMessage
	body   json.RawMessage
}

func (r *apiRequest) get(k string) string { return r.params[k] }

func (r *apiRequest) has(k string) bool { _, ok := r.params[k]; return ok }

func parseAPIRequest(r *http.Request) (*apiRequest, error) {
	req := &apiRequest{host: r.Host, params: map[string]string{}}
	if tok, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer "); ok {
		req.token = tok
	}
	ct, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type"))
	if ct == "application/json" {
		body, err := io.ReadAll(io.LimitReader(r.Body, 4<<20))
		if err != nil {
			return req, err
		}
		req.body = body
		req.fields = map[string]json.RawMessage{}
		if len(bytes.TrimSpace(body)) > 0 {
			if err := json.Unmarshal(body, &req.fields); err != nil {
				return req, err
			}
		}
		for k, v := range req.fields {
			var str string
			if json.Unmarshal(v, &str) == nil {
				req.params[k] = str
			} else {
				req.params[k] = string(v)
			}
		}
		// The query string still counts, as it does on Slack.
		for k, v := range r.URL.Query() {
			if _, ok := req.params[k]; !ok && len(v) > 0 {
				req.params[k] = v[0]
			}
		}
	} else {
		if err := r.ParseForm(); err != nil {
			return req, err
		}
		for k, v := range r.Form {
			if len(v) > 0 {
				req.params[k] = v[0]
			}
		}
	}
	if tok, ok := req.params["token"]; ok {
		if tok != "" || req.token == "" {
			req.token = tok
		}
		delete(req.params, "token")
	}
	return req, nil
}

type apiMethod struct {
	appToken bool // needs the xapp- token instead of the bot token
	fn       func(*Server, *apiRequest) (map[string]any, string)
}

func route(method string) (apiMethod, bool) {
	bot := func(fn func(*Server, *apiRequest) (map[string]any, string)) apiMethod { return apiMethod{fn: fn} }
	switch method {
	case "auth.test":
		return bot((*Server).authTest), true
	case "apps.connections.open":
		return apiMethod{appToken: true, fn: (*Server).appsConnectionsOpen}, true
	case "chat.postMessage":
		return bot((*Server).chatPostMessage), true
	case "chat.update":
		return bot((*Server).chatUpdate), true
	case "chat.delete":
		return bot((*Server).chatDelete), true
	case "chat.postEphemeral":
		return bot((*Server).chatPostEphemeral), true
	case "chat.getPermalink":
		return bot((*Server).chatGetPermalink), true
	case "conversations.open":
		return bot((*Server).conversationsOpen), true
	case "conversations.create":
		return bot((*Server).conversationsCreate), true
	case "conversations.invite":
		return bot((*Server).conversationsInvite), true
	case "conversations.setTopic":
		return bot((*Server).conversationsSetTopic), true
	case "conversations.info":
		return bot((*Server).conversationsInfo), true
	case "conversations.history":
		return bot((*Server).conversationsHistory), true
	case "views.open":
		return bot((*Server).viewsOpen), true
	case "views.push":
		return bot((*Server).viewsOpen), true
	case "views.update":
		return bot((*Server).viewsUpdate), true
	case "views.publish":
		return bot((*Server).viewsPublish), true
	case "users.info":
		return bot((*Server).usersInfo), true
	case "users.lookupByEmail":
		return bot((*Server).usersLookupByEmail), true
	}
	return apiMethod{}, false
}

func (s *Server) checkToken(tok string, app bool) string {
	switch {
	case tok == "":
		return "not_authed"
	case app && tok == s.opts.AppToken, !app && tok == s.opts.BotToken:
		return ""
	case tok == s.opts.AppToken, tok == s.opts.BotToken:
		return "not_allowed_token_type"
	default:
		return "invalid_auth"
	}
}

func (s *Server) handleAPI(w http.ResponseWriter, r *http.Request) {
	method := strings.TrimPrefix(r.URL.Path, "/api/")
	req, perr := parseAPIRequest(r)

	s.mu.Lock()
	s.seq.call++
	call := Call{Seq: s.seq.call, Method: method, HTTPMethod: r.Method, Token: req.token, Params: req.params, Body: req.body}
	var (
		resp  map[string]any
		code  string
		fault *Fault
	)
	if fault = s.takeFault(method); fault == nil || fault.Applied {
		m, ok := route(method)
		switch {
		case perr != nil:
			code = "invalid_form_data"
			if req.fields != nil {
				code = "invalid_json"
			}
		case !ok:
			code = "unknown_method"
		default:
			if code = s.checkToken(req.token, m.appToken); code == "" {
				resp, code = m.fn(s, req)
			}
		}
	}
	status := http.StatusOK
	if fault != nil {
		status, code = fault.answer()
	}
	// Record before answering, so a test that inspects Calls right after its
	// client returns sees the call.
	call.Status, call.Error = status, code
	s.calls = append(s.calls, call)
	s.broadcast()
	s.mu.Unlock()
	s.log.Debug("slackfake: call", "method", method, "status", status, "error", code)

	switch {
	case fault != nil:
		writeFault(w, fault)
	case code != "":
		writeJSON(w, status, map[string]any{"ok": false, "error": code})
	default:
		if resp == nil {
			resp = map[string]any{}
		}
		resp["ok"] = true
		writeJSON(w, status, resp)
	}
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	b, err := json.Marshal(v)
	if err != nil {
		status, b = http.StatusInternalServerError, []byte(`{"ok":false,"error":"fatal_error"}`)
	}
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.WriteHeader(status)
	_, _ = w.Write(b)
}

// ---- auth and Socket Mode ----

func (s *Server) authTest(*apiRequest) (map[string]any, string) {
	return map[string]any{
		"url": s.url + "/", "team": s.opts.TeamDomain, "user": s.opts.BotName,
		"team_id": s.opts.TeamID, "user_id": s.opts.BotUserID, "bot_id": s.opts.BotID,
		"is_enterprise_install": false,
	}, ""
}

func (s *Server) appsConnectionsOpen(r *apiRequest) (map[string]any, string) {
	s.seq.ticket++
	// r.Host is the address the client used, so the URL works whatever
	// interface the server listens on.
	return map[string]any{"url": "ws://" + r.host + "/link/?ticket=" + strconv.Itoa(s.seq.ticket)}, ""
}

// ---- messages ----

func (s *Server) resolveChannel(ref string) (*Channel, string) {
	if ref == "" {
		return nil, "channel_not_found"
	}
	if c, ok := s.channels[ref]; ok {
		return c, ""
	}
	// Posting to a user id goes to the DM the bot opened with that user.
	if id, ok := s.dms[ref]; ok {
		return s.channels[id], ""
	}
	if c := s.channelByName(ref); c != nil {
		return c, ""
	}
	return nil, "channel_not_found"
}

// parseBlocks validates a blocks parameter. It returns nil for an empty
// list, which is how slack-go clears blocks.
func parseBlocks(raw string) (json.RawMessage, bool) {
	raw = strings.TrimSpace(raw)
	if raw == "" || raw == "null" {
		return nil, true
	}
	var list []map[string]json.RawMessage
	if err := json.Unmarshal([]byte(raw), &list); err != nil {
		return nil, false
	}
	for _, b := range list {
		var typ string
		if json.Unmarshal(b["type"], &typ) != nil || typ == "" {
			return nil, false
		}
	}
	if len(list) == 0 {
		return nil, true
	}
	var buf bytes.Buffer
	if err := json.Compact(&buf, []byte(raw)); err != nil {
		return nil, false
	}
	return buf.Bytes(), true
}

func (s *Server) messageJSON(m *Message) map[string]any {
	out := map[string]any{"type": "message", "user": m.User, "text": m.Text, "ts": m.TS, "team": s.opts.TeamID}
	if m.User == s.opts.BotUserID {
		out["bot_id"] = s.opts.BotID
		out["app_id"] = s.opts.AppID
	}
	if m.ThreadTS != "" {
		out["thread_ts"] = m.ThreadTS
	}
	if len(m.Blocks) > 0 {
		out["blocks"] = m.Blocks
	}
	if len(m.Metadata) > 0 {
		out["metadata"] = m.Metadata
	}
	return out
}

// post stores a message from the bot and reports it. Callers hold s.mu.
func (s *Server) post(channel, threadTS, text string, blocks json.RawMessage, via string) *Message {
	m := &Message{
		Channel: channel, TS: s.nextTS(), ThreadTS: threadTS, User: s.opts.BotUserID,
		Text: text, Blocks: blocks,
		History: []Revision{{Text: text, Blocks: blocks, Via: via}},
	}
	s.messages[msgKey{channel, m.TS}] = m
	s.msgOrder = append(s.msgOrder, m)
	s.emit(Event{Kind: EventPost, Channel: channel, TS: m.TS, ThreadTS: threadTS, User: m.User, Text: text, Blocks: blocks})
	return m
}

func (s *Server) postEphemeral(channel, user, threadTS, text string, blocks json.RawMessage, via string) *Message {
	m := &Message{
		Channel: channel, TS: s.nextTS(), ThreadTS: threadTS, User: s.opts.BotUserID,
		Text: text, Blocks: blocks, Ephemeral: true, Recipient: user,
		History: []Revision{{Text: text, Blocks: blocks, Via: via}},
	}
	s.ephemerals = append(s.ephemerals, m)
	s.emit(Event{Kind: EventEphemeral, Channel: channel, TS: m.TS, ThreadTS: threadTS, User: user, Text: text, Blocks: blocks})
	return m
}

func (s *Server) revise(m *Message, text string, blocks json.RawMessage, via string) {
	m.Text, m.Blocks = text, blocks
	m.History = append(m.History, Revision{Text: text, Blocks: blocks, Via: via})
	s.emit(Event{Kind: EventUpdate, Channel: m.Channel, TS: m.TS, ThreadTS: m.ThreadTS, User: m.User, Text: text, Blocks: blocks})
}

func (s *Server) chatPostMessage(r *apiRequest) (map[string]any, string) {
	ch, code := s.resolveChannel(r.get("channel"))
	if code != "" {
		return nil, code
	}
	blocks, ok := parseBlocks(r.get("blocks"))
	if !ok {
		return nil, "invalid_blocks"
	}
	text := r.get("text")
	if text == "" && blocks == nil && r.get("attachments") == "" {
		return nil, "no_text"
	}
	thread := r.get("thread_ts")
	if thread != "" {
		parent, ok := s.messages[msgKey{ch.ID, thread}]
		if !ok || parent.Deleted {
			return nil, "thread_not_found"
		}
		if parent.ThreadTS != "" { // a reply to a reply joins the parent's thread
			thread = parent.ThreadTS
		}
	}
	m := s.post(ch.ID, thread, text, blocks, "chat.postMessage")
	if md := r.get("metadata"); md != "" && json.Valid([]byte(md)) {
		m.Metadata = json.RawMessage(md)
	}
	return map[string]any{"channel": ch.ID, "ts": m.TS, "message": s.messageJSON(m)}, ""
}

func (s *Server) chatUpdate(r *apiRequest) (map[string]any, string) {
	ch, code := s.resolveChannel(r.get("channel"))
	if code != "" {
		return nil, code
	}
	m, ok := s.messages[msgKey{ch.ID, r.get("ts")}]
	if !ok || m.Deleted {
		return nil, "message_not_found"
	}
	if m.User != s.opts.BotUserID {
		return nil, "cant_update_message"
	}
	if !r.has("text") && !r.has("blocks") && !r.has("attachments") {
		return nil, "no_text"
	}
	// Fields left out keep their value, so a text-only update keeps the
	// blocks; "blocks=[]" clears them.
	text, blocks := m.Text, m.Blocks
	if r.has("text") {
		text = r.get("text")
	}
	if r.has("blocks") {
		if blocks, ok = parseBlocks(r.get("blocks")); !ok {
			return nil, "invalid_blocks"
		}
	}
	s.revise(m, text, blocks, "chat.update")
	return map[string]any{"channel": ch.ID, "ts": m.TS, "text": m.Text, "message": s.messageJSON(m)}, ""
}

func (s *Server) chatDelete(r *apiRequest) (map[string]any, string) {
	ch, code := s.resolveChannel(r.get("channel"))
	if code != "" {
		return nil, code
	}
	m, ok := s.messages[msgKey{ch.ID, r.get("ts")}]
	if !ok || m.Deleted {
		return nil, "message_not_found"
	}
	if m.User != s.opts.BotUserID {
		return nil, "cant_delete_message"
	}
	m.Deleted = true
	s.emit(Event{Kind: EventDelete, Channel: ch.ID, TS: m.TS, User: m.User})
	return map[string]any{"channel": ch.ID, "ts": m.TS}, ""
}

func (s *Server) chatPostEphemeral(r *apiRequest) (map[string]any, string) {
	ch, code := s.resolveChannel(r.get("channel"))
	if code != "" {
		return nil, code
	}
	user := r.get("user")
	if !s.validUser(user) {
		return nil, "user_not_found"
	}
	blocks, ok := parseBlocks(r.get("blocks"))
	if !ok {
		return nil, "invalid_blocks"
	}
	text := r.get("text")
	if text == "" && blocks == nil && r.get("attachments") == "" {
		return nil, "no_text"
	}
	m := s.postEphemeral(ch.ID, user, r.get("thread_ts"), text, blocks, "chat.postEphemeral")
	return map[string]any{"message_ts": m.TS}, ""
}

func (s *Server) chatGetPermalink(r *apiRequest) (map[string]any, string) {
	ch, code := s.resolveChannel(r.get("channel"))
	if code != "" {
		return nil, code
	}
	m, ok := s.messages[msgKey{ch.ID, r.get("message_ts")}]
	if !ok || m.Deleted {
		return nil, "message_not_found"
	}
	link := s.url + "/archives/" + ch.ID + "/p" + strings.Replace(m.TS, ".", "", 1)
	if m.ThreadTS != "" {
		link += "?thread_ts=" + m.ThreadTS + "&cid=" + ch.ID
	}
	return map[string]any{"channel": ch.ID, "permalink": link}, ""
}

// ---- conversations ----

// validUser accepts seeded users and anything shaped like a user id, so a
// bot may DM users a test never seeded, while names ("alice", "@alice")
// passed by mistake are rejected as Slack would.
func (s *Server) validUser(id string) bool {
	if _, ok := s.users[id]; ok {
		return true
	}
	if len(id) < 2 || (id[0] != 'U' && id[0] != 'W') {
		return false
	}
	for _, c := range id[1:] {
		if (c < 'A' || c > 'Z') && (c < '0' || c > '9') {
			return false
		}
	}
	return true
}

func splitList(v string) []string {
	var out []string
	for _, p := range strings.Split(v, ",") {
		if p = strings.TrimSpace(p); p != "" {
			out = append(out, p)
		}
	}
	return out
}

func (s *Server) channelJSON(c *Channel) map[string]any {
	out := map[string]any{
		"id": c.ID, "name": c.Name, "created": 1700000000, "creator": c.Creator,
		"is_channel": !c.IsIM && !c.IsMPIM && !c.IsPrivate,
		"is_group":   c.IsPrivate && !c.IsMPIM,
		"is_im":      c.IsIM, "is_mpim": c.IsMPIM, "is_private": c.IsPrivate || c.IsIM || c.IsMPIM,
		"is_member":   contains(c.Members, s.opts.BotUserID),
		"num_members": len(c.Members),
		"topic":       map[string]any{"value": c.Topic, "creator": "", "last_set": 0},
		"purpose":     map[string]any{"value": "", "creator": "", "last_set": 0},
	}
	if c.IsIM {
		out["user"] = c.User
	}
	return out
}

func (s *Server) addChannel(c *Channel) {
	s.channels[c.ID] = c
	s.chanOrder = append(s.chanOrder, c.ID)
	s.broadcast()
}

// freeID returns prefix+counter, skipping ids a test seeded by hand.
func (s *Server) freeID(prefix string, counter *int) string {
	for {
		*counter++
		if id := seqID(prefix, *counter); s.channels[id] == nil {
			return id
		}
	}
}

func (s *Server) conversationsOpen(r *apiRequest) (map[string]any, string) {
	users := splitList(r.get("users"))
	if len(users) == 0 {
		if ref := r.get("channel"); ref != "" {
			ch, code := s.resolveChannel(ref)
			if code != "" {
				return nil, code
			}
			return map[string]any{"channel": s.channelJSON(ch), "no_op": true, "already_open": true}, ""
		}
		return nil, "users_list_not_supplied"
	}
	for _, u := range users {
		if !s.validUser(u) {
			return nil, "user_not_found"
		}
	}
	var (
		id      string
		existed bool
	)
	if len(users) == 1 {
		u := users[0]
		if id, existed = s.dms[u]; !existed {
			id = s.freeID("D", &s.seq.dm)
			s.dms[u] = id
			s.addChannel(&Channel{ID: id, IsIM: true, User: u, Members: []string{s.opts.BotUserID, u}})
		}
	} else {
		sorted := slices.Clone(users)
		sort.Strings(sorted)
		key := strings.Join(sorted, ",")
		if id, existed = s.mpims[key]; !existed {
			id = s.freeID("G", &s.seq.dm)
			s.mpims[key] = id
			s.addChannel(&Channel{ID: id, Name: "mpdm-" + strings.Join(sorted, "--"), IsMPIM: true,
				Members: append([]string{s.opts.BotUserID}, sorted...)})
		}
	}
	return map[string]any{"channel": s.channelJSON(s.channels[id]), "no_op": existed, "already_open": existed}, ""
}

func validChannelName(name string) string {
	switch {
	case name == "":
		return "invalid_name_required"
	case len(name) > 80:
		return "invalid_name_maxlength"
	}
	for _, c := range name {
		if (c < 'a' || c > 'z') && (c < '0' || c > '9') && c != '-' && c != '_' {
			return "invalid_name_specials"
		}
	}
	return ""
}

func parseBool(v string) bool {
	b, _ := strconv.ParseBool(v)
	return b
}

func (s *Server) conversationsCreate(r *apiRequest) (map[string]any, string) {
	name := r.get("name")
	if code := validChannelName(name); code != "" {
		return nil, code
	}
	if s.channelByName(name) != nil {
		return nil, "name_taken"
	}
	c := &Channel{ID: s.freeID("C", &s.seq.channel), Name: name, IsPrivate: parseBool(r.get("is_private")),
		Creator: s.opts.BotUserID, Members: []string{s.opts.BotUserID}}
	s.addChannel(c)
	s.emit(Event{Kind: EventChannel, Channel: c.ID, User: s.opts.BotUserID, Summary: "created #" + name})
	return map[string]any{"channel": s.channelJSON(c)}, ""
}

func (s *Server) conversationsInvite(r *apiRequest) (map[string]any, string) {
	ch, code := s.resolveChannel(r.get("channel"))
	if code != "" {
		return nil, code
	}
	if ch.IsIM || ch.IsMPIM {
		return nil, "method_not_supported_for_channel_type"
	}
	users := splitList(r.get("users"))
	if len(users) == 0 {
		return nil, "no_user"
	}
	var added []string
	for _, u := range users {
		switch {
		case u == s.opts.BotUserID:
			return nil, "cant_invite_self"
		case !s.validUser(u):
			return nil, "user_not_found"
		case !contains(ch.Members, u) && !contains(added, u):
			added = append(added, u)
		}
	}
	if len(added) == 0 {
		return nil, "already_in_channel"
	}
	ch.Members = append(slices.Clone(ch.Members), added...)
	names := make([]string, len(added))
	for i, u := range added {
		names[i] = "@" + s.userName(u)
	}
	s.emit(Event{Kind: EventInvite, Channel: ch.ID, User: s.opts.BotUserID, Summary: "invited " + strings.Join(names, ", ")})
	return map[string]any{"channel": s.channelJSON(ch)}, ""
}

func (s *Server) conversationsSetTopic(r *apiRequest) (map[string]any, string) {
	ch, code := s.resolveChannel(r.get("channel"))
	if code != "" {
		return nil, code
	}
	topic := r.get("topic")
	if len([]rune(topic)) > 250 {
		return nil, "too_long"
	}
	ch.Topic = topic
	s.emit(Event{Kind: EventTopic, Channel: ch.ID, User: s.opts.BotUserID, Text: topic, Summary: "topic: " + topic})
	return map[string]any{"channel": s.channelJSON(ch)}, ""
}

func (s *Server) conversationsInfo(r *apiRequest) (map[string]any, string) {
	ch, code := s.resolveChannel(r.get("channel"))
	if code != "" {
		return nil, code
	}
	return map[string]any{"channel": s.channelJSON(ch)}, ""
}

// conversationsHistory lists a channel's top-level messages, newest first, at most limit
// (default 100). Metadata is included as Slack does with include_all_metadata.
func (s *Server) conversationsHistory(r *apiRequest) (map[string]any, string) {
	ch, code := s.resolveChannel(r.get("channel"))
	if code != "" {
		return nil, code
	}
	limit := 100
	if v := r.get("limit"); v != "" {
		fmt.Sscan(v, &limit)
	}
	var msgs []map[string]any
	for i := len(s.msgOrder) - 1; i >= 0 && len(msgs) < limit; i-- {
		m := s.msgOrder[i]
		if m.Channel != ch.ID || m.ThreadTS != "" || m.Deleted {
			continue
		}
		msgs = append(msgs, s.messageJSON(m))
	}
	if msgs == nil {
		msgs = []map[string]any{}
	}
	return map[string]any{"messages": msgs, "has_more": false}, ""
}

// ---- views ----

func (r *apiRequest) fieldString(k string) string {
	var v string
	if raw, ok := r.fields[k]; ok {
		_ = json.Unmarshal(raw, &v)
	}
	return v
}

// viewObject parses the "view" field, which must be an object of the given
// type.
func viewObject(r *apiRequest, typ string) (map[string]json.RawMessage, string) {
	raw, ok := r.fields["view"]
	if !ok {
		// Form-encoded callers send the view as a JSON string.
		if v := r.get("view"); v != "" {
			raw = json.RawMessage(v)
		}
	}
	var obj map[string]json.RawMessage
	if len(raw) == 0 || json.Unmarshal(raw, &obj) != nil || obj == nil {
		return nil, "invalid_arguments"
	}
	var t string
	_ = json.Unmarshal(obj["type"], &t)
	if t != typ {
		return nil, "invalid_arguments"
	}
	if b, ok := obj["blocks"]; ok && string(b) != "null" {
		if _, ok := parseBlocks(string(b)); !ok {
			return nil, "invalid_blocks"
		}
	}
	return obj, ""
}

func (s *Server) setViewContent(v *View, obj map[string]json.RawMessage) {
	str := func(k string) string {
		var out string
		_ = json.Unmarshal(obj[k], &out)
		return out
	}
	raw, _ := json.Marshal(obj)
	v.JSON = raw
	v.History = append(v.History, raw)
	v.CallbackID, v.PrivateMetadata, v.ExternalID = str("callback_id"), str("private_metadata"), str("external_id")
	var title struct{ Text string }
	_ = json.Unmarshal(obj["title"], &title)
	v.Title = title.Text
	v.Blocks = nil
	if b := obj["blocks"]; len(b) > 0 && string(b) != "null" {
		v.Blocks = b
	}
	s.seq.hash++
	v.Hash = "hash-" + strconv.Itoa(s.seq.hash)
	s.broadcast()
}

// viewJSON echoes the app's view with the fields Slack adds.
func (s *Server) viewJSON(v *View) map[string]any {
	var obj map[string]any
	_ = json.Unmarshal(v.JSON, &obj)
	if obj == nil {
		obj = map[string]any{}
	}
	obj["id"], obj["team_id"], obj["hash"] = v.ID, s.opts.TeamID, v.Hash
	obj["app_id"], obj["bot_id"], obj["root_view_id"] = s.opts.AppID, s.opts.BotID, v.ID
	obj["app_installed_team_id"] = s.opts.TeamID
	if _, ok := obj["state"]; !ok {
		obj["state"] = map[string]any{"values": map[string]any{}}
	}
	return obj
}

func (s *Server) viewsOpen(r *apiRequest) (map[string]any, string) {
	trig := r.fieldString("trigger_id")
	if trig == "" {
		trig = r.get("trigger_id")
	}
	if trig == "" {
		return nil, "invalid_arguments"
	}
	user, ok := s.triggers[trig]
	if !ok {
		return nil, "invalid_trigger_id"
	}
	obj, code := viewObject(r, "modal")
	if code != "" {
		return nil, code
	}
	s.seq.view++
	v := &View{ID: seqID("V", s.seq.view), Type: "modal", User: user, TriggerID: trig}
	s.setViewContent(v, obj)
	s.views[v.ID] = v
	s.viewOrder = append(s.viewOrder, v)
	s.emit(Event{Kind: EventViewOpen, User: user, Text: v.Title, Blocks: v.Blocks, Summary: v.CallbackID + " " + v.ID + " " + strconv.Quote(v.Title)})
	return map[string]any{"view": s.viewJSON(v)}, ""
}

func (s *Server) viewsUpdate(r *apiRequest) (map[string]any, string) {
	id, ext := r.fieldString("view_id"), r.fieldString("external_id")
	if id == "" && ext == "" {
		id, ext = r.get("view_id"), r.get("external_id")
	}
	var v *View
	if id != "" {
		v = s.views[id]
		for _, h := range s.homes {
			if h.ID == id {
				v = h
			}
		}
	} else if ext != "" {
		for _, c := range s.viewOrder {
			if c.ExternalID == ext {
				v = c
			}
		}
	}
	if v == nil {
		return nil, "not_found"
	}
	if h := r.fieldString("hash"); h != "" && h != v.Hash {
		return nil, "hash_conflict"
	}
	obj, code := viewObject(r, v.Type)
	if code != "" {
		return nil, code
	}
	s.setViewContent(v, obj)
	s.emit(Event{Kind: EventViewUpdate, User: v.User, Text: v.Title, Blocks: v.Blocks, Summary: v.CallbackID + " " + v.ID + " " + strconv.Quote(v.Title)})
	return map[string]any{"view": s.viewJSON(v)}, ""
}

func (s *Server) viewsPublish(r *apiRequest) (map[string]any, string) {
	user := r.fieldString("user_id")
	if user == "" {
		user = r.get("user_id")
	}
	if !s.validUser(user) {
		return nil, "user_not_found"
	}
	obj, code := viewObject(r, "home")
	if code != "" {
		return nil, code
	}
	v, ok := s.homes[user]
	if ok {
		if h := r.fieldString("hash"); h != "" && h != v.Hash {
			return nil, "hash_conflict"
		}
	} else {
		s.seq.view++
		v = &View{ID: seqID("V", s.seq.view), Type: "home", User: user}
		s.homes[user] = v
	}
	s.setViewContent(v, obj)
	s.emit(Event{Kind: EventHome, User: user, Blocks: v.Blocks, Summary: v.ID})
	return map[string]any{"view": s.viewJSON(v)}, ""
}

// ---- users ----

func (s *Server) userJSON(u *User) map[string]any {
	tzLabel, offset := u.TZ, 0
	if loc, err := time.LoadLocation(u.TZ); err == nil && u.TZ != "" {
		tzLabel, offset = time.Now().In(loc).Zone()
	}
	return map[string]any{
		"id": u.ID, "team_id": s.opts.TeamID, "name": u.Name, "real_name": u.RealName, "deleted": false,
		"tz": u.TZ, "tz_label": tzLabel, "tz_offset": offset, "is_bot": u.IsBot,
		"profile": map[string]any{"email": u.Email, "real_name": u.RealName, "display_name": u.Name},
	}
}

func (s *Server) usersInfo(r *apiRequest) (map[string]any, string) {
	u, ok := s.users[r.get("user")]
	if !ok {
		return nil, "user_not_found"
	}
	return map[string]any{"user": s.userJSON(u)}, ""
}

func (s *Server) usersLookupByEmail(r *apiRequest) (map[string]any, string) {
	email := strings.ToLower(strings.TrimSpace(r.get("email")))
	for _, id := range s.userOrder {
		if u := s.users[id]; email != "" && strings.ToLower(u.Email) == email {
			return map[string]any{"user": s.userJSON(u)}, ""
		}
	}
	return nil, "users_not_found"
}

// ---- response_url ----

// flexBool accepts true, "true" and friends: Slack's own clients send both.
type flexBool bool

func (b *flexBool) UnmarshalJSON(data []byte) error {
	var v any
	if err := json.Unmarshal(data, &v); err != nil {
		return err
	}
	switch t := v.(type) {
	case bool:
		*b = flexBool(t)
	case string:
		*b = flexBool(parseBool(t))
	}
	return nil
}

type responseBody struct {
	Text            string          `json:"text"`
	Blocks          json.RawMessage `json:"blocks"`
	ResponseType    string          `json:"response_type"`
	ReplaceOriginal flexBool        `json:"replace_original"`
	DeleteOriginal  flexBool        `json:"delete_original"`
	ThreadTS        string          `json:"thread_ts"`
}

// applyResponse shows a response_url post (or a slash command's ack
// payload) as Slack would: replace or delete the message the action came
// from, post in the channel, or show the user an ephemeral message. It
// returns the ts of the message it created or changed.
func (s *Server) applyResponse(t responseTarget, b responseBody, via string) string {
	blocks, _ := parseBlocks(string(b.Blocks))
	if t.messageTS != "" && (b.DeleteOriginal || b.ReplaceOriginal) {
		m := s.findMessage(t.channel, t.messageTS)
		if m == nil {
			return ""
		}
		if b.DeleteOriginal {
			m.Deleted = true
			s.emit(Event{Kind: EventDelete, Channel: m.Channel, TS: m.TS, User: m.User})
		} else {
			s.revise(m, b.Text, blocks, via)
		}
		return m.TS
	}
	if b.ResponseType == "in_channel" {
		return s.post(t.channel, b.ThreadTS, b.Text, blocks, via).TS
	}
	return s.postEphemeral(t.channel, t.user, b.ThreadTS, b.Text, blocks, via).TS
}

func (s *Server) handleResponseURL(w http.ResponseWriter, r *http.Request) {
	n := strings.TrimPrefix(r.URL.Path, "/response/")
	body, err := io.ReadAll(io.LimitReader(r.Body, 4<<20))

	s.mu.Lock()
	s.seq.call++
	call := Call{Seq: s.seq.call, Method: "response_url", HTTPMethod: r.Method, Body: body, Params: map[string]string{}}
	status, code := http.StatusOK, ""
	fault := s.takeFault("response_url")
	if fault == nil {
		target, ok := s.responses[n]
		var rb responseBody
		switch {
		case err != nil || r.Method != http.MethodPost:
			status, code = http.StatusBadRequest, "invalid_request"
		case !ok:
			status, code = http.StatusNotFound, "expired_url"
		case json.Unmarshal(body, &rb) != nil:
			status, code = http.StatusBadRequest, "invalid_payload"
		default:
			if blocks, ok := parseBlocks(string(rb.Blocks)); !ok {
				status, code = http.StatusBadRequest, "invalid_blocks"
			} else {
				ts := s.applyResponse(target, rb, "response_url")
				s.posts = append(s.posts, ResponsePost{
					URL: s.url + r.URL.Path, Text: rb.Text, Blocks: blocks, ResponseType: rb.ResponseType,
					ReplaceOriginal: bool(rb.ReplaceOriginal), DeleteOriginal: bool(rb.DeleteOriginal), ThreadTS: rb.ThreadTS,
					Body: body, Channel: target.channel, User: target.user, MessageTS: target.messageTS, ResultTS: ts,
				})
			}
		}
	}
	if fault != nil {
		status, code = fault.answer()
	}
	call.Status, call.Error = status, code
	s.calls = append(s.calls, call)
	s.broadcast()
	s.mu.Unlock()

	switch {
	case fault != nil:
		writeFault(w, fault)
	case code != "":
		writeJSON(w, status, map[string]any{"ok": false, "error": code})
	default:
		// slack-go picks its parser by Content-Type; JSON {"ok":true} is
		// what Slack sends today.
		writeJSON(w, status, map[string]any{"ok": true})
	}
}
