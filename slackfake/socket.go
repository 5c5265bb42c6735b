package slackfake

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"slices"
	"strconv"
	"time"

	"github.com/gorilla/websocket"
)

// wsConn is one Socket Mode connection. Its fields other than ws, gen and
// the channels are guarded by Server.mu.
type wsConn struct {
	ws  *websocket.Conn
	gen int

	out      [][]byte      // frames waiting for the writer goroutine
	signal   chan struct{} // wakes the writer
	done     chan struct{} // closed when the read loop has ended
	dead     bool          // no longer usable: dropped, closed or failed
	draining bool          // sent "disconnect": acks are still read, nothing new is sent
}

func (c *wsConn) deliverable() bool { return !c.dead && !c.draining }

// enqueue queues a frame for the writer goroutine. Callers hold s.mu.
func (c *wsConn) enqueue(frame []byte) {
	c.out = append(c.out, frame)
	select {
	case c.signal <- struct{}{}:
	default:
	}
}

// upgrader must accept any Origin: slack-go dials with
// "Origin: https://api.slack.com", which gorilla's default same-origin check
// rejects.
var upgrader = websocket.Upgrader{CheckOrigin: func(*http.Request) bool { return true }}

func (s *Server) handleLink(w http.ResponseWriter, r *http.Request) {
	ws, err := upgrader.Upgrade(w, r, nil)
	if err != nil {
		s.log.Warn("slackfake: websocket upgrade", "err", err)
		return
	}
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		_ = ws.Close()
		return
	}
	// Added under s.mu with closed unset, so it happens before Close waits.
	s.wg.Add(1)
	defer s.wg.Done()
	s.generation++
	c := &wsConn{ws: ws, gen: s.generation, signal: make(chan struct{}, 1), done: make(chan struct{})}
	s.conns = append(s.conns, c)
	live := 0
	for _, o := range s.conns {
		if !o.dead {
			live++
		}
	}
	hello, _ := json.Marshal(map[string]any{
		"type": "hello", "num_connections": live,
		"debug_info":      map[string]any{"host": "slackfake", "build_number": 1, "approximate_connection_time": 18060},
		"connection_info": map[string]any{"app_id": s.opts.AppID},
	})
	c.enqueue(hello)
	s.emit(Event{Kind: EventConnect, Generation: c.gen, Summary: "socket mode connection #" + strconv.Itoa(c.gen)})
	// Envelopes pushed while nobody was connected, and those a dead
	// connection never acked, go out now, oldest first.
	s.flushPending(c)
	s.mu.Unlock()
	s.log.Info("slackfake: socket mode client connected", "generation", c.gen)
	// Counting pongs lets a test see that the client answers pings (and so
	// will not time the connection out) without sleeping.
	ws.SetPongHandler(func(string) error {
		s.mu.Lock()
		s.pongs++
		s.broadcast()
		s.mu.Unlock()
		return nil
	})

	s.wg.Go(func() { s.writeLoop(c) })
	s.wg.Go(func() { s.pingLoop(c) })
	s.readLoop(c)
}

// flushPending sends every envelope that is not in flight on a live
// connection. Callers hold s.mu.
func (s *Server) flushPending(c *wsConn) {
	var ds []*Delivery
	for _, d := range s.pending {
		if d.conn == nil || d.conn.dead {
			ds = append(ds, d)
		}
	}
	slices.SortFunc(ds, func(a, b *Delivery) int { return a.seq - b.seq })
	for _, d := range ds {
		s.send(d, c)
	}
}

// send queues d's envelope frame on c. A delivery sent before goes out as a
// retry, with retry_attempt incremented as Slack does. Callers hold s.mu.
func (s *Server) send(d *Delivery, c *wsConn) {
	reason := ""
	if d.attempts > 0 {
		reason = "timeout"
	}
	frame, _ := json.Marshal(map[string]any{
		"envelope_id": d.ID, "type": d.Type, "accepts_response_payload": d.accepts,
		"retry_attempt": d.attempts, "retry_reason": reason, "payload": d.payload,
	})
	s.sent = append(s.sent, EnvelopeRecord{EnvelopeID: d.ID, Type: d.Type, RetryAttempt: d.attempts, Generation: c.gen, Payload: d.payload})
	s.emit(Event{Kind: EventEnvelope, Channel: d.channel, User: d.user, EnvelopeID: d.ID, EnvelopeType: d.Type,
		RetryAttempt: d.attempts, Payload: d.payload, Summary: d.summary, Generation: c.gen})
	d.attempts++
	d.conn = c
	c.enqueue(frame)
}

// writeLoop is the only writer of data frames on c: gorilla allows one
// concurrent writer, and queueing keeps a slow client from blocking callers
// that hold s.mu.
func (s *Server) writeLoop(c *wsConn) {
	for {
		select {
		case <-c.signal:
		case <-c.done:
			return
		}
		for {
			s.mu.Lock()
			if len(c.out) == 0 || c.dead {
				s.mu.Unlock()
				break
			}
			frame := c.out[0]
			c.out = c.out[1:]
			s.mu.Unlock()
			_ = c.ws.SetWriteDeadline(time.Now().Add(10 * time.Second))
			if err := c.ws.WriteMessage(websocket.TextMessage, frame); err != nil {
				s.log.Debug("slackfake: websocket write", "generation", c.gen, "err", err)
				_ = c.ws.Close()
				return
			}
		}
	}
}

// pingLoop sends ping control frames: slack-go reconnects when it has seen
// no ping for its ping interval (30 s by default). WriteControl may run
// concurrently with WriteMessage.
func (s *Server) pingLoop(c *wsConn) {
	t := time.NewTicker(s.opts.PingInterval)
	defer t.Stop()
	for n := 1; ; n++ {
		select {
		case <-t.C:
			if err := c.ws.WriteControl(websocket.PingMessage, []byte("ping-"+strconv.Itoa(n)), time.Now().Add(5*time.Second)); err != nil {
				return
			}
		case <-c.done:
			return
		}
	}
}

// readLoop reads acks until the connection ends.
func (s *Server) readLoop(c *wsConn) {
	for {
		_, data, err := c.ws.ReadMessage()
		if err != nil {
			break
		}
		var ack struct {
			EnvelopeID string          `json:"envelope_id"`
			Payload    json.RawMessage `json:"payload"`
		}
		if json.Unmarshal(data, &ack) != nil || ack.EnvelopeID == "" {
			s.log.Warn("slackfake: unreadable frame from client", "frame", string(data))
			continue
		}
		s.mu.Lock()
		s.handleAck(c, ack.EnvelopeID, ack.Payload)
		s.mu.Unlock()
	}
	s.mu.Lock()
	s.connDead(c, "closed")
	close(c.done)
	s.mu.Unlock()
	_ = c.ws.Close()
}

// connDead retires c and resends what it left un-acked on another live
// connection, or keeps it for the next one. Callers hold s.mu.
func (s *Server) connDead(c *wsConn, why string) {
	if c.dead {
		return
	}
	c.dead = true
	c.out = nil
	s.emit(Event{Kind: EventDisconnect, Generation: c.gen, Summary: "socket mode connection #" + strconv.Itoa(c.gen) + " " + why})
	s.log.Info("slackfake: socket mode connection ended", "generation", c.gen, "why", why)
	if s.closed {
		return
	}
	if other := s.liveConn(); other != nil {
		s.flushPending(other)
	}
}

// liveConn returns the newest connection envelopes may be sent on.
func (s *Server) liveConn() *wsConn {
	for i := len(s.conns) - 1; i >= 0; i-- {
		if c := s.conns[i]; c.deliverable() {
			return c
		}
	}
	return nil
}

func (s *Server) handleAck(c *wsConn, id string, payload json.RawMessage) {
	if string(payload) == "null" {
		payload = nil
	}
	s.acks = append(s.acks, Ack{EnvelopeID: id, Payload: payload, Generation: c.gen})
	d, ok := s.pending[id]
	if !ok {
		// A duplicate ack (of a retried envelope) or one for a cancelled
		// envelope: recorded, nothing more.
		s.emit(Event{Kind: EventAck, EnvelopeID: id, Payload: payload, Generation: c.gen})
		return
	}
	delete(s.pending, id)
	d.ack = payload
	d.acked = true
	s.emit(Event{Kind: EventAck, Channel: d.channel, User: d.user, EnvelopeID: id, EnvelopeType: d.Type, Payload: payload, Generation: c.gen})
	// Effects of the ack (a slash command's reply, a modal closing) happen
	// before Wait returns, so a test can inspect them right away.
	if d.onAck != nil {
		d.onAck(payload)
	}
	close(d.done)
}

// Envelope is a Socket Mode envelope to push to the bot. The envelope id and
// retry fields are filled in when it is sent.
type Envelope struct {
	// Type is "events_api", "interactive" or "slash_commands".
	Type                   string
	AcceptsResponsePayload bool
	Payload                json.RawMessage
	// User, Channel and Summary describe the envelope in the transcript.
	User    string
	Channel string
	Summary string

	onAck func(json.RawMessage) // run under s.mu when acked
}

// Delivery tracks one pushed envelope until the bot acks it.
type Delivery struct {
	// ID is the envelope id, "env-N".
	ID   string
	Type string

	s       *Server
	seq     int
	payload json.RawMessage
	accepts bool
	user    string
	channel string
	summary string
	onAck   func(json.RawMessage)
	done    chan struct{}

	// Guarded by s.mu.
	conn      *wsConn // connection it was last sent on; nil if never sent
	attempts  int
	acked     bool
	cancelled bool
	ack       json.RawMessage
}

// Push sends env to the bot: now if a client is connected, otherwise on the
// next connection. Until it is acked it is re-sent, as a retry, whenever the
// connection it went out on ends, so no envelope is lost across reconnects.
func (s *Server) Push(env Envelope) *Delivery {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.seq.envelope++
	d := &Delivery{
		ID: "env-" + strconv.Itoa(s.seq.envelope), Type: env.Type, s: s, seq: s.seq.envelope,
		payload: env.Payload, accepts: env.AcceptsResponsePayload, user: env.User, channel: env.Channel,
		summary: env.Summary, onAck: env.onAck, done: make(chan struct{}),
	}
	if s.closed {
		d.cancelled = true
		return d
	}
	s.pending[d.ID] = d
	if c := s.liveConn(); c != nil {
		s.send(d, c)
	}
	s.broadcast()
	return d
}

// Wait blocks until the bot acks the envelope and returns the ack's payload
// (nil for an empty ack).
func (d *Delivery) Wait(ctx context.Context) (json.RawMessage, error) {
	select {
	case <-d.done:
		d.s.mu.Lock()
		defer d.s.mu.Unlock()
		return d.ack, nil
	case <-ctx.Done():
		return nil, fmt.Errorf("slackfake: no ack for %s envelope %s: %w", d.Type, d.ID, ctx.Err())
	case <-d.s.closedCh:
		return nil, fmt.Errorf("slackfake: no ack for %s envelope %s: %w", d.Type, d.ID, ErrClosed)
	}
}

// Attempts returns how many times the envelope has been sent.
func (d *Delivery) Attempts() int {
	d.s.mu.Lock()
	defer d.s.mu.Unlock()
	return d.attempts
}

// Cancel stops re-sending the envelope; an ack that still arrives is
// recorded but not delivered to Wait.
func (d *Delivery) Cancel() {
	d.s.mu.Lock()
	defer d.s.mu.Unlock()
	if !d.acked {
		d.cancelled = true
		delete(d.s.pending, d.ID)
	}
}

// pushAndWait pushes env and waits up to AckTimeout for the ack, as Slack
// waits about 3 s before showing the user an error. On timeout the envelope
// is cancelled so it cannot surprise a later step of the test.
func (s *Server) pushAndWait(env Envelope) (json.RawMessage, error) {
	d := s.Push(env)
	ctx, cancel := context.WithTimeout(context.Background(), s.opts.AckTimeout)
	defer cancel()
	ack, err := d.Wait(ctx)
	if err != nil {
		d.Cancel()
	}
	return ack, err
}

// Disconnect asks the newest client connection to reconnect, with the
// message Slack sends before it retires a connection. slack-go answers by
// calling apps.connections.open again and dialling a new connection.
// Envelopes pushed from now on wait for that new connection.
func (s *Server) Disconnect() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	c := s.liveConn()
	if c == nil {
		return ErrNotConnected
	}
	frame, _ := json.Marshal(map[string]any{"type": "disconnect", "reason": "refresh_requested", "debug_info": map[string]any{"host": "slackfake"}})
	c.enqueue(frame)
	c.draining = true
	s.emit(Event{Kind: EventDisconnect, Generation: c.gen, Summary: "socket mode connection #" + strconv.Itoa(c.gen) + " asked to reconnect"})
	return nil
}

// DropConn closes the newest client connection's TCP connection abruptly,
// without a close frame, as a network failure would. Envelopes it had not
// had acked are re-sent, with retry_attempt incremented, on the client's next
// connection.
func (s *Server) DropConn() error {
	s.mu.Lock()
	c := s.liveConn()
	if c == nil {
		s.mu.Unlock()
		return ErrNotConnected
	}
	s.connDead(c, "dropped")
	s.mu.Unlock()
	return c.ws.NetConn().Close()
}

// Generation returns how many Socket Mode connections have been accepted.
func (s *Server) Generation() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.generation
}

// Pongs returns how many pong frames clients have sent in answer to the
// server's pings.
func (s *Server) Pongs() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.pongs
}

// WaitPongs blocks until clients have answered at least n pings.
func (s *Server) WaitPongs(ctx context.Context, n int) error {
	return s.waitFor(ctx, strconv.Itoa(n)+" pongs", func() bool { return s.pongs >= n })
}

// Connected reports whether a client connection can take envelopes.
func (s *Server) Connected() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.liveConn() != nil
}

// WaitConnected blocks until connection number generation (1 for the first)
// or a later one is live, e.g. WaitConnected(ctx, 2) after Disconnect.
func (s *Server) WaitConnected(ctx context.Context, generation int) error {
	return s.waitFor(ctx, "socket mode connection #"+strconv.Itoa(generation), func() bool {
		c := s.liveConn()
		return c != nil && c.gen >= generation
	})
}
