package ingest

import (
	"context"
	"fmt"
	"net/http"
	"strconv"
	"sync"
	"time"

	"github.com/mandatehq/mandate"
	"github.com/mandatehq/mandate/ownership"
)

// Long-poll bounds for GET /v1/agents/{id}/state.
const (
	maxWait = 60 * time.Second
	// recheck bounds how stale a waiting long-poll can be if a notification is lost.
	recheck = 10 * time.Second
)

// stateHub wakes long-polls when an actor's state changes. Each waiter gets a channel that
// is closed on the next change of its actor.
type stateHub struct {
	mu      sync.Mutex
	waiters map[string]chan struct{}
	// waiting, when set (tests), hears the actor id each time a long-poll starts waiting.
	waiting func(id string)
}

func newStateHub() *stateHub { return &stateHub{waiters: map[string]chan struct{}{}} }

// wait returns a channel closed at the next change of actor id.
func (h *stateHub) wait(id string) <-chan struct{} {
	h.mu.Lock()
	defer h.mu.Unlock()
	ch, ok := h.waiters[id]
	if !ok {
		ch = make(chan struct{})
		h.waiters[id] = ch
	}
	return ch
}

func (h *stateHub) notify(id string) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if ch, ok := h.waiters[id]; ok {
		close(ch)
		delete(h.waiters, id)
	}
}

func (h *stateHub) notifyAll() {
	h.mu.Lock()
	defer h.mu.Unlock()
	for id, ch := range h.waiters {
		close(ch)
		delete(h.waiters, id)
	}
}

// agentState answers GET /v1/agents/{id}/state[?version=N&wait=30s]. Without version it
// answers at once. With version it answers as soon as the state's version differs from N,
// or with the unchanged state when wait runs out, so an agent hears of a pause in well
// under a second.
func (s *Server) agentState(w http.ResponseWriter, r *http.Request) {
	p, err := s.authenticate(r)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	id := r.PathValue("id")
	if !p.admin && p.agentID != id {
		s.writeError(w, r, mandate.Errorf(mandate.EFORBIDDEN, "an agent token can only read its own state"))
		return
	}
	q := r.URL.Query()
	var fe fieldErrors
	known := int64(-1)
	if v := q.Get("version"); v != "" {
		n, err := strconv.ParseInt(v, 10, 64)
		if err != nil || n < 0 {
			fe.add("version", "must be a non-negative integer, not %q", v)
		}
		known = n
	}
	wait := 30 * time.Second
	if v := q.Get("wait"); v != "" {
		d, err := time.ParseDuration(v)
		if err != nil || d < 0 || d > maxWait {
			fe.add("wait", "must be a duration from 0s to %s, such as 30s, not %q", maxWait, v)
		}
		wait = d
	}
	if len(fe) > 0 {
		s.writeError(w, r, &mandate.Error{Code: mandate.EINVALID, Message: "invalid query parameters", Fields: fe})
		return
	}
	s.longPoll(w, r, s.hub, id, wait, func(ctx context.Context) (any, bool, error) {
		actor, err := s.Actors.Actor(ctx, id)
		if err != nil {
			return nil, false, err
		}
		return struct {
			Agent string             `json:"agent"`
			State mandate.AgentState `json:"state"`
		}{id, actor.State}, known < 0 || actor.State.Version != known, nil
	})
}

// longPoll answers with what read returns as soon as read says it is done, or with the
// latest value once wait runs out. It re-reads whenever hub is notified for id, and every
// recheck in case a notification was lost while the listener reconnected.
func (s *Server) longPoll(w http.ResponseWriter, r *http.Request, hub *stateHub, id string, wait time.Duration,
	read func(ctx context.Context) (v any, done bool, err error)) {
	ctx, cancel := context.WithTimeout(r.Context(), wait)
	defer cancel()
	for {
		// Subscribe before reading, so a change between the read and the wait is not lost.
		changed := hub.wait(id)
		v, done, err := read(r.Context())
		if err != nil {
			s.writeError(w, r, err)
			return
		}
		if done || ctx.Err() != nil {
			writeJSON(w, http.StatusOK, v)
			return
		}
		if hub.waiting != nil {
			hub.waiting(id)
		}
		timer := time.NewTimer(recheck)
		select {
		case <-changed:
		case <-ctx.Done():
		case <-timer.C:
		}
		timer.Stop()
		if r.Context().Err() != nil {
			return // the client went away
		}
	}
}

// backlogAge is how long a queued notification may wait before status says degraded.
const backlogAge = time.Minute

// statusReport is the body of /readyz and /v1/status.
type statusReport struct {
	Status               string           `json:"status"` // ready, degraded or unavailable
	Degraded             []string         `json:"degraded,omitempty"`
	Database             string           `json:"database"`
	Schema               string           `json:"schema,omitempty"`
	Slack                string           `json:"slack"`
	PendingNotifications *int64           `json:"pending_notifications,omitempty"`
	Config               *ConfigInfo      `json:"config,omitempty"`
	Ownership            *ownershipReport `json:"ownership,omitempty"`
}

// ownershipReport is the ownership snapshot's health: a failing source keeps its last good
// copy, and its age shows here.
type ownershipReport struct {
	SnapshotAge string                            `json:"snapshot_age"`
	Sources     map[string]ownership.SourceHealth `json:"sources,omitempty"`
}

// report checks the dependencies. ready is false when the database cannot be reached or
// its schema is behind this binary.
func (s *Server) report(ctx context.Context, detail bool) (statusReport, bool) {
	ctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	rep := statusReport{Status: "ready", Database: "ok", Slack: s.SlackStatus(), Config: s.configInfo.Load()}
	if s.Ownership != nil {
		if built, sources := s.Ownership.Health(); !built.IsZero() {
			rep.Ownership = &ownershipReport{SnapshotAge: s.Now().Sub(built).Round(time.Second).String(), Sources: sources}
		}
	}
	if err := s.Health.Ping(ctx); err != nil {
		rep.Status, rep.Database = "unavailable", "unreachable: "+mandate.ErrorMessage(err)
		return rep, false
	}
	cur, latest, err := s.Health.SchemaStatus(ctx)
	switch {
	case err != nil:
		rep.Status, rep.Schema = "unavailable", "unknown: "+mandate.ErrorMessage(err)
		return rep, false
	case cur < latest:
		rep.Status, rep.Schema = "unavailable", "migration "+strconv.Itoa(int(cur))+" of "+strconv.Itoa(int(latest))+": run mandate migrate"
		return rep, false
	default:
		rep.Schema = "migration " + strconv.Itoa(int(cur)) + " of " + strconv.Itoa(int(latest))
	}
	if detail {
		if n, err := s.Actions.PendingNotifications(ctx); err == nil {
			rep.PendingNotifications = &n
		}
	}
	// Degraded, still ready: the notifier is falling behind, or Slack is not connected
	// while configured. Ingest keeps working; admins should look.
	if n, err := s.Actions.DeliveryBacklog(ctx, backlogAge); err == nil && n > 0 {
		rep.Degraded = append(rep.Degraded, fmt.Sprintf("%d notification(s) waiting over %s for delivery", n, backlogAge))
	}
	if st := rep.Slack; st != "not configured" && st != "connected" {
		rep.Degraded = append(rep.Degraded, "slack "+st)
	}
	if s.Degraded != nil {
		rep.Degraded = append(rep.Degraded, s.Degraded(ctx)...)
	}
	if len(rep.Degraded) > 0 {
		rep.Status = "degraded"
	}
	return rep, true
}

func (s *Server) healthz(w http.ResponseWriter, r *http.Request) {
	writeJSON(w, http.StatusOK, map[string]string{"status": "ok"})
}

func (s *Server) readyz(w http.ResponseWriter, r *http.Request) {
	rep, ok := s.report(r.Context(), false)
	status := http.StatusOK
	if !ok {
		status = http.StatusServiceUnavailable
		w.Header().Set("Retry-After", "1")
	}
	writeJSON(w, status, rep)
}

// status answers GET /v1/status for any valid token: readiness plus Slack, the pending
// notification queue and the configuration in force.
func (s *Server) status(w http.ResponseWriter, r *http.Request) {
	if _, err := s.authenticate(r); err != nil {
		s.writeError(w, r, err)
		return
	}
	rep, _ := s.report(r.Context(), true)
	writeJSON(w, http.StatusOK, rep)
}
