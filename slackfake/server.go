package slackfake

import (
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"strconv"
	"sync"
	"time"
)

// ErrClosed is returned by waits and pushes once the server has been closed.
var ErrClosed = errors.New("slackfake: server closed")

// ErrNotConnected is returned by Disconnect and DropConn when no Socket Mode
// client is connected.
var ErrNotConnected = errors.New("slackfake: no socket mode connection")

// Options configures a Server. The zero value is usable: every field has a
// default.
type Options struct {
	// BotToken is the xoxb- token every Web API method except
	// apps.connections.open accepts. Default "xoxb-slackfake".
	BotToken string
	// AppToken is the xapp- token apps.connections.open accepts.
	// Default "xapp-slackfake".
	AppToken string
	// TeamID is the workspace id put in payloads. Default "T0FAKE".
	TeamID string
	// TeamDomain is the workspace domain put in payloads. Default "fake".
	TeamDomain string
	// AppID is the app id put in payloads. Default "A0FAKE".
	AppID string
	// BotUserID is the bot's user id (auth.test user_id, author of posts).
	// Default "UBOT".
	BotUserID string
	// BotID is the bot id (auth.test bot_id). Default "B0FAKE".
	BotID string
	// BotName is the bot's user name in auth.test and transcripts.
	// Default "mandate".
	BotName string
	// PingInterval is how often the websocket sends ping control frames.
	// slack-go reconnects when it sees no ping for 30 s, so the default is 5 s.
	PingInterval time.Duration
	// AckTimeout bounds how long the user-acting helpers (PressButton, …)
	// wait for the bot's ack. Slack gives a bot about 3 s, the default.
	AckTimeout time.Duration
	// Logger receives debug logs of every call and connection. Default: discard.
	Logger *slog.Logger
}

func (o Options) withDefaults() Options {
	def := func(s *string, v string) {
		if *s == "" {
			*s = v
		}
	}
	def(&o.BotToken, "xoxb-slackfake")
	def(&o.AppToken, "xapp-slackfake")
	def(&o.TeamID, "T0FAKE")
	def(&o.TeamDomain, "fake")
	def(&o.AppID, "A0FAKE")
	def(&o.BotUserID, "UBOT")
	def(&o.BotID, "B0FAKE")
	def(&o.BotName, "mandate")
	if o.PingInterval <= 0 {
		o.PingInterval = 5 * time.Second
	}
	if o.AckTimeout <= 0 {
		o.AckTimeout = 3 * time.Second
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	return o
}

// User is a seeded workspace member, as returned by users.info.
type User struct {
	ID       string
	Name     string
	RealName string
	Email    string
	TZ       string
	IsBot    bool
}

// Channel is a conversation: a public or private channel, a DM ("D…") or a
// group DM ("G…").
type Channel struct {
	ID        string
	Name      string
	IsPrivate bool
	IsIM      bool
	IsMPIM    bool
	// User is the other party of a DM.
	User    string
	Members []string
	Topic   string
	Creator string
}

// Revision is one version of a message's content.
type Revision struct {
	Text   string
	Blocks json.RawMessage
	// Via names what produced the version: "chat.postMessage",
	// "chat.postEphemeral", "chat.update", "response_url" or "ack".
	Via string
}

// Message is a posted (or ephemeral) message as the fake stores it. Values
// returned to callers are snapshots: later updates do not change them.
type Message struct {
	Channel string
	TS      string
	// ThreadTS is the parent's ts for a thread reply, "" otherwise.
	ThreadTS string
	// User is the author (the bot's user id for everything the bot posts).
	User     string
	Text     string
	Blocks   json.RawMessage
	Metadata json.RawMessage
	// Ephemeral is set for chat.postEphemeral messages and ephemeral
	// response_url / slash command answers; Recipient is who sees it.
	Ephemeral bool
	Recipient string
	Deleted   bool
	// History holds every version, oldest first; History[0] is the original
	// post and the last entry equals Text/Blocks.
	History []Revision
}

// Updates returns how many times the message was changed after posting.
func (m Message) Updates() int { return max(0, len(m.History)-1) }

// View is a modal opened with views.open/views.push or a Home tab published
// with views.publish.
type View struct {
	ID              string
	Type            string // "modal" or "home"
	User            string
	CallbackID      string
	PrivateMetadata string
	ExternalID      string
	Hash            string
	Title           string
	TriggerID       string
	// JSON is the view object as the app last sent it.
	JSON   json.RawMessage
	Blocks json.RawMessage
	// History holds every version of JSON, oldest first.
	History []json.RawMessage
	// Closed is set when a view_submission was acked without errors.
	Closed bool
	// Errors holds the errors of the last view_submission acked with
	// response_action "errors" (block_id → message).
	Errors map[string]string
}

// ResponsePost is one POST to a response_url.
type ResponsePost struct {
	URL             string
	Text            string
	Blocks          json.RawMessage
	ResponseType    string
	ReplaceOriginal bool
	DeleteOriginal  bool
	ThreadTS        string
	// Body is the JSON the app sent.
	Body json.RawMessage
	// Channel, User and MessageTS describe what the URL was issued for: the
	// channel and user of the slash command or action, and the message whose
	// button was pressed.
	Channel   string
	User      string
	MessageTS string
	// ResultTS is the ts of the message the post created or changed.
	ResultTS string
}

// Call is one recorded Web API call (including response_url posts, recorded
// with Method "response_url").
type Call struct {
	Seq        int
	Method     string
	HTTPMethod string
	Token      string
	// Params holds form fields, or for JSON calls the top-level fields, strings
	// as they are and anything else as JSON text. The token is not repeated.
	Params map[string]string
	// Body is the raw body of a JSON call.
	Body json.RawMessage
	// Status and Error are what the fake answered.
	Status int
	Error  string
}

// EnvelopeRecord is one envelope frame written to a websocket.
type EnvelopeRecord struct {
	EnvelopeID   string
	Type         string
	RetryAttempt int
	Generation   int
	Payload      json.RawMessage
}

// Ack is one ack frame read from a websocket.
type Ack struct {
	EnvelopeID string
	Payload    json.RawMessage
	Generation int
}

type msgKey struct{ channel, ts string }

// responseTarget is what a response_url was issued for.
type responseTarget struct {
	channel, user, messageTS string
}

// Server is the fake Slack. Create it with New, then Start or Serve it.
type Server struct {
	opts Options
	log  *slog.Logger

	mu       sync.Mutex
	changed  chan struct{} // closed and replaced on every state change
	closed   bool
	closedCh chan struct{}
	started  bool
	url      string
	hs       *http.Server
	wg       sync.WaitGroup

	seq struct {
		ts, ets, channel, dm, view, trigger, response, envelope, ticket, call, event, eventID, hash int
	}

	users      map[string]*User
	userOrder  []string
	channels   map[string]*Channel
	chanOrder  []string
	dms        map[string]string // user id → DM channel id
	mpims      map[string]string // sorted user ids → G channel id
	messages   map[msgKey]*Message
	msgOrder   []*Message
	ephemerals []*Message
	views      map[string]*View
	viewOrder  []*View
	homes      map[string]*View
	triggers   map[string]string // trigger id → user
	responses  map[string]responseTarget
	posts      []ResponsePost
	calls      []Call
	faults     map[string][]*faultState

	// Socket Mode.
	generation int
	pongs      int
	conns      []*wsConn
	pending    map[string]*Delivery
	sent       []EnvelopeRecord
	acks       []Ack

	// Transcript.
	events     []Event
	hooks      []func(Event)
	hookSignal chan struct{}
	stopHooks  chan struct{} // closed by Close once no more events can come
	dispatched chan struct{}
}

// New returns an unstarted server.
func New(opts Options) *Server {
	opts = opts.withDefaults()
	s := &Server{
		opts:       opts,
		log:        opts.Logger,
		changed:    make(chan struct{}),
		closedCh:   make(chan struct{}),
		users:      map[string]*User{},
		channels:   map[string]*Channel{},
		dms:        map[string]string{},
		mpims:      map[string]string{},
		messages:   map[msgKey]*Message{},
		views:      map[string]*View{},
		homes:      map[string]*View{},
		triggers:   map[string]string{},
		responses:  map[string]responseTarget{},
		faults:     map[string][]*faultState{},
		pending:    map[string]*Delivery{},
		hookSignal: make(chan struct{}, 1),
		stopHooks:  make(chan struct{}),
		dispatched: make(chan struct{}),
	}
	s.users[opts.BotUserID] = &User{ID: opts.BotUserID, Name: opts.BotName, RealName: opts.BotName, IsBot: true}
	s.userOrder = append(s.userOrder, opts.BotUserID)
	return s
}

// Start serves on a random 127.0.0.1 port, like httptest.NewServer, and
// panics if it cannot listen.
func (s *Server) Start() {
	if err := s.Serve("127.0.0.1:0"); err != nil {
		panic(err)
	}
}

// Serve listens on addr (e.g. "127.0.0.1:8090", for `mandate slackfake`) and
// serves in the background until Close. It returns once the listener is
// bound, so URL is valid as soon as it returns nil.
func (s *Server) Serve(addr string) error {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return fmt.Errorf("slackfake: listen %s: %w", addr, err)
	}
	host, port, _ := net.SplitHostPort(ln.Addr().String())
	if ip := net.ParseIP(host); ip == nil || ip.IsUnspecified() {
		host = "127.0.0.1"
	}
	s.mu.Lock()
	if s.started || s.closed {
		s.mu.Unlock()
		_ = ln.Close()
		return errors.New("slackfake: server already started or closed")
	}
	s.started = true
	s.url = "http://" + net.JoinHostPort(host, port)
	s.hs = &http.Server{Handler: s.handler(), ReadHeaderTimeout: 10 * time.Second}
	s.mu.Unlock()

	go s.dispatch()
	s.wg.Go(func() {
		if err := s.hs.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			s.log.Error("slackfake: serve", "err", err)
		}
	})
	s.log.Info("slackfake: serving", "url", s.url)
	return nil
}

func (s *Server) handler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("/api/", s.handleAPI)
	mux.HandleFunc("/link/", s.handleLink)
	mux.HandleFunc("/response/", s.handleResponseURL)
	return mux
}

// URL returns the base URL, e.g. "http://127.0.0.1:41234". Give slack-go
// URL()+"/api/".
func (s *Server) URL() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.url
}

// BotToken returns the bot token the server accepts.
func (s *Server) BotToken() string { return s.opts.BotToken }

// AppToken returns the app-level token the server accepts.
func (s *Server) AppToken() string { return s.opts.AppToken }

// BotUserID returns the bot's user id.
func (s *Server) BotUserID() string { return s.opts.BotUserID }

// Close stops the server, closes every websocket, wakes every waiter with
// ErrClosed and waits until OnEvent hooks have seen every event. Hooks must
// not call Close.
func (s *Server) Close() {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return
	}
	s.closed = true
	close(s.closedCh)
	conns := append([]*wsConn(nil), s.conns...)
	started := s.started
	s.broadcast()
	s.mu.Unlock()

	if started {
		// http.Server.Close does not touch hijacked (websocket) connections.
		_ = s.hs.Close()
	}
	for _, c := range conns {
		_ = c.ws.Close()
	}
	s.wg.Wait()
	close(s.stopHooks)
	if started {
		<-s.dispatched
	}
}

// broadcast wakes every waiter. Callers hold s.mu.
func (s *Server) broadcast() {
	close(s.changed)
	s.changed = make(chan struct{})
}

// nextTS returns the next message timestamp. Timestamps are monotonic and
// unique, unlike slacktest's whole seconds, so two posts never collide.
func (s *Server) nextTS() string {
	s.seq.ts++
	return fmt.Sprintf("%d.%06d", 1700000000+s.seq.ts/1000000, s.seq.ts%1000000)
}

// nextEventTS returns timestamps for actions and events from a separate
// counter, so message timestamps stay consecutive.
func (s *Server) nextEventTS() (string, int64) {
	s.seq.ets++
	return fmt.Sprintf("%d.%06d", 1750000000+s.seq.ets/1000000, s.seq.ets%1000000), int64(1750000000 + s.seq.ets)
}

func seqID(prefix string, n int) string { return prefix + fmt.Sprintf("%06d", n) }

// AddUser seeds a workspace member, for users.info and users.lookupByEmail.
func (s *Server) AddUser(id, name, email, tz string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, ok := s.users[id]; !ok {
		s.userOrder = append(s.userOrder, id)
	}
	s.users[id] = &User{ID: id, Name: name, RealName: name, Email: email, TZ: tz}
	s.broadcast()
}

// AddChannel seeds a public channel with the given members. The bot is
// always a member, as if it had been invited.
func (s *Server) AddChannel(id, name string, members ...string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, ok := s.channels[id]; !ok {
		s.chanOrder = append(s.chanOrder, id)
	}
	ms := []string{s.opts.BotUserID}
	for _, m := range members {
		if !contains(ms, m) {
			ms = append(ms, m)
		}
	}
	s.channels[id] = &Channel{ID: id, Name: name, Members: ms}
	s.broadcast()
}

// NewTrigger issues a trigger id for user, as Slack does with every
// interaction. views.open only accepts issued triggers; tests that call
// views.open directly use this.
func (s *Server) NewTrigger(user string) string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.newTrigger(user)
}

func (s *Server) newTrigger(user string) string {
	s.seq.trigger++
	id := "trig-" + strconv.Itoa(s.seq.trigger)
	s.triggers[id] = user
	return id
}

func (s *Server) newResponseURL(t responseTarget) string {
	s.seq.response++
	n := strconv.Itoa(s.seq.response)
	s.responses[n] = t
	return s.url + "/response/" + n
}

func contains(xs []string, x string) bool {
	for _, v := range xs {
		if v == x {
			return true
		}
	}
	return false
}

func (s *Server) userName(id string) string {
	if u, ok := s.users[id]; ok && u.Name != "" {
		return u.Name
	}
	return id
}

func (s *Server) channelName(id string) string {
	if c, ok := s.channels[id]; ok {
		switch {
		case c.IsIM:
			return "@" + s.userName(c.User)
		case c.Name != "":
			return "#" + c.Name
		}
	}
	return id
}
