package slackfake

import (
	"context"
	"fmt"
	"maps"
	"slices"
	"strings"
)

// Snapshots copy slices so a caller holding a value never races with later
// updates (History is only ever appended to, but Members is rewritten).

func (m *Message) snapshot() Message {
	c := *m
	c.History = slices.Clone(m.History)
	return c
}

func (c *Channel) snapshot() Channel {
	v := *c
	v.Members = slices.Clone(c.Members)
	return v
}

func (v *View) snapshot() View {
	c := *v
	c.History = slices.Clone(v.History)
	c.Errors = maps.Clone(v.Errors)
	return c
}

// Users returns the seeded users (and the bot) in the order they were added.
func (s *Server) Users() []User {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]User, 0, len(s.userOrder))
	for _, id := range s.userOrder {
		out = append(out, *s.users[id])
	}
	return out
}

// Channels returns every conversation (channels, DMs, group DMs) in creation
// order.
func (s *Server) Channels() []Channel {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]Channel, 0, len(s.chanOrder))
	for _, id := range s.chanOrder {
		out = append(out, s.channels[id].snapshot())
	}
	return out
}

// Channel returns a conversation by id, or by name with or without "#".
func (s *Server) Channel(ref string) (Channel, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if c, ok := s.channels[ref]; ok {
		return c.snapshot(), true
	}
	if c := s.channelByName(ref); c != nil {
		return c.snapshot(), true
	}
	return Channel{}, false
}

func (s *Server) channelByName(name string) *Channel {
	name = strings.TrimPrefix(name, "#")
	if name == "" {
		return nil
	}
	for _, id := range s.chanOrder {
		if c := s.channels[id]; !c.IsIM && !c.IsMPIM && c.Name == name {
			return c
		}
	}
	return nil
}

// DM returns the id of the DM channel opened with user, if any.
func (s *Server) DM(user string) (string, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	id, ok := s.dms[user]
	return id, ok
}

// WaitDM blocks until a DM channel is opened with user and returns its id.
func (s *Server) WaitDM(ctx context.Context, user string) (string, error) {
	var id string
	err := s.waitFor(ctx, "DM with "+user, func() bool {
		var ok bool
		id, ok = s.dms[user]
		return ok
	})
	return id, err
}

// Messages returns the messages posted in channel (id or name), thread
// replies included, in ts order. Deleted messages are kept, marked Deleted.
// An empty channel returns every message.
func (s *Server) Messages(channel string) []Message {
	s.mu.Lock()
	defer s.mu.Unlock()
	id := s.channelID(channel)
	var out []Message
	for _, m := range s.msgOrder {
		if channel == "" || m.Channel == id {
			out = append(out, m.snapshot())
		}
	}
	return out
}

// channelID resolves a channel name to its id, leaving ids alone.
func (s *Server) channelID(ref string) string {
	if _, ok := s.channels[ref]; ok {
		return ref
	}
	if c := s.channelByName(ref); c != nil {
		return c.ID
	}
	return ref
}

// Message returns the posted or ephemeral message at (channel, ts).
func (s *Server) Message(channel, ts string) (Message, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	m := s.findMessage(s.channelID(channel), ts)
	if m == nil {
		return Message{}, false
	}
	return m.snapshot(), true
}

func (s *Server) findMessage(channel, ts string) *Message {
	if m, ok := s.messages[msgKey{channel, ts}]; ok {
		return m
	}
	for _, m := range s.ephemerals {
		if m.Channel == channel && m.TS == ts {
			return m
		}
	}
	return nil
}

// Thread returns the replies to the message at (channel, ts), oldest first.
func (s *Server) Thread(channel, ts string) []Message {
	s.mu.Lock()
	defer s.mu.Unlock()
	id := s.channelID(channel)
	var out []Message
	for _, m := range s.msgOrder {
		if m.Channel == id && m.ThreadTS == ts {
			out = append(out, m.snapshot())
		}
	}
	return out
}

// Ephemerals returns the ephemeral messages shown in channel (every channel
// when empty), oldest first.
func (s *Server) Ephemerals(channel string) []Message {
	s.mu.Lock()
	defer s.mu.Unlock()
	id := s.channelID(channel)
	var out []Message
	for _, m := range s.ephemerals {
		if channel == "" || m.Channel == id {
			out = append(out, m.snapshot())
		}
	}
	return out
}

// Views returns every modal opened, in the order opened, with their current
// content.
func (s *Server) Views() []View {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]View, 0, len(s.viewOrder))
	for _, v := range s.viewOrder {
		out = append(out, v.snapshot())
	}
	return out
}

// HomeView returns the Home tab last published for user.
func (s *Server) HomeView(user string) (View, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	v, ok := s.homes[user]
	if !ok {
		return View{}, false
	}
	return v.snapshot(), true
}

// ResponsePosts returns every response_url post, oldest first.
func (s *Server) ResponsePosts() []ResponsePost {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.posts)
}

// Calls returns the recorded calls to method, or every call when method is
// empty, oldest first.
func (s *Server) Calls(method string) []Call {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.callsLocked(method)
}

func (s *Server) callsLocked(method string) []Call {
	var out []Call
	for _, c := range s.calls {
		if method == "" || c.Method == method {
			out = append(out, c)
		}
	}
	return out
}

// Envelopes returns every envelope frame written to a websocket (retries
// included), oldest first.
func (s *Server) Envelopes() []EnvelopeRecord {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.sent)
}

// Acks returns every ack read from a websocket, oldest first.
func (s *Server) Acks() []Ack {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.acks)
}

// waitFor blocks until check, run under s.mu, returns true. It re-checks on
// every state change instead of polling, so it returns as soon as possible
// and never sleeps.
func (s *Server) waitFor(ctx context.Context, what string, check func() bool) error {
	s.mu.Lock()
	for {
		if check() {
			s.mu.Unlock()
			return nil
		}
		if s.closed {
			s.mu.Unlock()
			return fmt.Errorf("slackfake: waiting for %s: %w", what, ErrClosed)
		}
		ch := s.changed
		s.mu.Unlock()
		select {
		case <-ch:
		case <-ctx.Done():
			return fmt.Errorf("slackfake: waiting for %s: %w", what, ctx.Err())
		}
		s.mu.Lock()
	}
}

// WaitMessage blocks until a posted message (any channel, thread replies
// included, in posting order) matches, judged on its current content, and
// returns it. A nil match accepts any message. Give ctx a deadline.
func (s *Server) WaitMessage(ctx context.Context, match func(Message) bool) (Message, error) {
	var found Message
	err := s.waitFor(ctx, "message", func() bool {
		for _, m := range s.msgOrder {
			if snap := m.snapshot(); match == nil || match(snap) {
				found = snap
				return true
			}
		}
		return false
	})
	return found, err
}

// WaitUpdate blocks until the message at (channel, ts) has a version made
// after the original post (by chat.update, a response_url replace or an
// ack) that matches, and returns the message as it was at the first such
// version: History is cut there and Text/Blocks are that version's. Looking
// at every version, not just the latest, means a quick second update cannot
// hide the one a test waits for. A nil match accepts any update.
func (s *Server) WaitUpdate(ctx context.Context, channel, ts string, match func(Message) bool) (Message, error) {
	var found Message
	err := s.waitFor(ctx, "update of "+channel+"/"+ts, func() bool {
		m := s.findMessage(s.channelID(channel), ts)
		if m == nil {
			return false
		}
		for i := 1; i < len(m.History); i++ {
			snap := m.snapshot()
			snap.History = snap.History[:i+1]
			snap.Text, snap.Blocks = m.History[i].Text, m.History[i].Blocks
			if match == nil || match(snap) {
				found = snap
				return true
			}
		}
		return false
	})
	return found, err
}

// WaitEphemeral blocks until an ephemeral message matches and returns it.
func (s *Server) WaitEphemeral(ctx context.Context, match func(Message) bool) (Message, error) {
	var found Message
	err := s.waitFor(ctx, "ephemeral message", func() bool {
		for _, m := range s.ephemerals {
			if snap := m.snapshot(); match == nil || match(snap) {
				found = snap
				return true
			}
		}
		return false
	})
	return found, err
}

// WaitResponse blocks until a response_url post matches and returns it.
func (s *Server) WaitResponse(ctx context.Context, match func(ResponsePost) bool) (ResponsePost, error) {
	var found ResponsePost
	err := s.waitFor(ctx, "response_url post", func() bool {
		for _, p := range s.posts {
			if match == nil || match(p) {
				found = p
				return true
			}
		}
		return false
	})
	return found, err
}

// WaitView blocks until an opened modal, in its current state, matches.
func (s *Server) WaitView(ctx context.Context, match func(View) bool) (View, error) {
	var found View
	err := s.waitFor(ctx, "view", func() bool {
		for _, v := range s.viewOrder {
			if snap := v.snapshot(); match == nil || match(snap) {
				found = snap
				return true
			}
		}
		return false
	})
	return found, err
}

// WaitHome blocks until user's published Home tab matches.
func (s *Server) WaitHome(ctx context.Context, user string, match func(View) bool) (View, error) {
	var found View
	err := s.waitFor(ctx, "home view of "+user, func() bool {
		v, ok := s.homes[user]
		if !ok {
			return false
		}
		snap := v.snapshot()
		if match == nil || match(snap) {
			found = snap
			return true
		}
		return false
	})
	return found, err
}

// WaitCalls blocks until method has been called at least n times and
// returns those calls.
func (s *Server) WaitCalls(ctx context.Context, method string, n int) ([]Call, error) {
	var found []Call
	err := s.waitFor(ctx, fmt.Sprintf("%d %s calls", n, method), func() bool {
		found = s.callsLocked(method)
		return len(found) >= n
	})
	return found, err
}
