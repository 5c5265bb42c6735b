package slackfake

import (
	"encoding/json"
	"fmt"
	"slices"
	"strings"
)

// EventKind says what an Event reports.
type EventKind string

// The event kinds, in the words a transcript uses.
const (
	EventPost       EventKind = "post"        // a message was posted
	EventUpdate     EventKind = "update"      // a message was changed
	EventDelete     EventKind = "delete"      // a message was deleted
	EventEphemeral  EventKind = "ephemeral"   // an ephemeral message was shown
	EventViewOpen   EventKind = "view_open"   // a modal was opened or pushed
	EventViewUpdate EventKind = "view_update" // a modal was updated
	EventHome       EventKind = "home"        // a Home tab was published
	EventChannel    EventKind = "channel"     // a channel was created
	EventInvite     EventKind = "invite"      // users were invited to a channel
	EventTopic      EventKind = "topic"       // a channel topic was set
	EventEnvelope   EventKind = "envelope"    // an envelope was sent to the bot
	EventAck        EventKind = "ack"         // the bot acked an envelope
	EventConnect    EventKind = "connect"     // a Socket Mode client connected
	EventDisconnect EventKind = "disconnect"  // a Socket Mode connection ended
)

// Event is one entry of the transcript: what happened, in order.
type Event struct {
	Seq  int
	Kind EventKind
	// Channel and ChannelName ("#general", "@alice" for a DM) say where.
	Channel     string
	ChannelName string
	TS          string
	ThreadTS    string
	// User is who acted (the bot for posts, the user for envelopes) or, for
	// an ephemeral message, who sees it.
	User     string
	UserName string
	Text     string
	Blocks   json.RawMessage
	// Envelope fields, for envelope and ack events.
	EnvelopeID   string
	EnvelopeType string
	RetryAttempt int
	// Payload is the envelope's payload or the ack's payload.
	Payload json.RawMessage
	// Summary is a short human description ("pressed [Acknowledge]",
	// "/mandate who", "reason=refresh_requested").
	Summary    string
	Generation int
}

// String renders the event as transcript lines, blocks flattened with
// RenderText.
func (e Event) String() string {
	var b strings.Builder
	where := e.ChannelName
	if where == "" {
		where = e.Channel
	}
	who := e.UserName
	if who == "" {
		who = e.User
	}
	body := func() {
		lines := RenderText(e.Blocks)
		if len(lines) == 0 && e.Text != "" {
			lines = strings.Split(e.Text, "\n")
		}
		for _, l := range lines {
			b.WriteString("\n    ")
			b.WriteString(l)
		}
	}
	thread := ""
	if e.ThreadTS != "" {
		thread = " (thread " + e.ThreadTS + ")"
	}
	switch e.Kind {
	case EventPost:
		fmt.Fprintf(&b, "%s  %s%s [%s]:", where, who, thread, e.TS)
		body()
	case EventUpdate:
		fmt.Fprintf(&b, "%s  %s edited [%s]:", where, who, e.TS)
		body()
	case EventDelete:
		fmt.Fprintf(&b, "%s  message %s deleted", where, e.TS)
	case EventEphemeral:
		fmt.Fprintf(&b, "%s  (only visible to @%s)%s:", where, who, thread)
		body()
	case EventViewOpen, EventViewUpdate, EventHome:
		fmt.Fprintf(&b, "[%s for @%s] %s", e.Kind, who, e.Summary)
		body()
	case EventEnvelope:
		retry := ""
		if e.RetryAttempt > 0 {
			retry = fmt.Sprintf(" (retry %d)", e.RetryAttempt)
		}
		fmt.Fprintf(&b, "%s  @%s %s%s", where, who, e.Summary, retry)
	case EventAck:
		fmt.Fprintf(&b, "  ack %s", e.EnvelopeID)
		if len(e.Payload) > 0 && string(e.Payload) != "null" {
			fmt.Fprintf(&b, " %s", e.Payload)
		}
	default:
		fmt.Fprintf(&b, "[%s] %s", e.Kind, strings.TrimSpace(where+" "+e.Summary))
	}
	return b.String()
}

// OnEvent registers f to be called with every later event, in order, from a
// single goroutine (so f needs no locking of its own but must not block for
// long). `mandate demo` uses it to print the conversation as it happens. f
// must not call Close.
func (s *Server) OnEvent(f func(Event)) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.hooks = append(s.hooks, f)
}

// Events returns the transcript so far.
func (s *Server) Events() []Event {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.events)
}

// emit records an event and wakes waiters and the hook dispatcher. Callers
// hold s.mu, which is what orders events; hooks run later, outside the lock,
// so a hook may call back into the server.
func (s *Server) emit(e Event) {
	s.seq.event++
	e.Seq = s.seq.event
	if e.ChannelName == "" && e.Channel != "" {
		e.ChannelName = s.channelName(e.Channel)
	}
	if e.UserName == "" && e.User != "" {
		e.UserName = s.userName(e.User)
	}
	s.events = append(s.events, e)
	s.broadcast()
	select {
	case s.hookSignal <- struct{}{}:
	default:
	}
}

// dispatch feeds events to hooks in order until Close, then delivers what is
// left so a demo's transcript is complete.
func (s *Server) dispatch() {
	defer close(s.dispatched)
	next := 0
	for {
		var stop bool
		select {
		case <-s.stopHooks:
			stop = true
		default:
		}
		s.mu.Lock()
		batch := s.events[next:]
		next = len(s.events)
		hooks := slices.Clone(s.hooks)
		s.mu.Unlock()
		for _, e := range batch {
			for _, h := range hooks {
				h(e)
			}
		}
		if stop {
			return
		}
		select {
		case <-s.hookSignal:
		case <-s.stopHooks:
		}
	}
}
