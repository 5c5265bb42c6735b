package ingest

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"mime"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/mandatehq/mandate"
)

// readBody reads a JSON request body: it must be declared as JSON and be at most MaxBody.
// An empty body is allowed only when optional.
func readBody(r *http.Request, w http.ResponseWriter, optional bool) ([]byte, error) {
	ct := r.Header.Get("Content-Type")
	if ct == "" && optional && r.ContentLength <= 0 {
		return nil, nil
	}
	if mt, _, err := mime.ParseMediaType(ct); err != nil || mt != "application/json" {
		return nil, mandate.Errorf(mandate.EUNSUPPORTED, "Content-Type must be application/json, not %q", ct)
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, MaxBody))
	var tooBig *http.MaxBytesError
	if errors.As(err, &tooBig) {
		return nil, mandate.Errorf(mandate.ETOOLARGE, "request body is over %d bytes", MaxBody)
	}
	if err != nil {
		return nil, mandate.Errorf(mandate.EMALFORMED, "reading request body: %v", err)
	}
	return body, nil
}

// readJSON reads a required JSON request body (see readBody) and decodes it strictly into
// v (see decodeStrict).
func readJSON(r *http.Request, w http.ResponseWriter, v any) error {
	body, err := readBody(r, w, false)
	if err != nil {
		return err
	}
	return decodeStrict(body, v)
}

// postAction records one action: POST /v1/actions.
func (s *Server) postAction(w http.ResponseWriter, r *http.Request) {
	p, err := s.authenticate(r)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	body, err := readBody(r, w, false)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	req, a, sha, err := decodeAction(body, s.Now())
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	pol := s.policy.Load()
	if pol == nil {
		s.writeError(w, r, mandate.Errorf(mandate.EUNAVAILABLE, "no configuration loaded yet"))
		return
	}
	actor, err := s.actorFor(r.Context(), pol, p, req)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	a.ActorID = actor.ID
	a.Decision = pol.router.Route(a, actor, mandate.RouteOptions{At: s.Now()})
	a.Teams = teamsOf(actor, a.Decision)
	answer, replayed, err := s.Actions.Record(r.Context(), a, sha)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	status := http.StatusCreated
	if replayed {
		status = http.StatusOK
		w.Header().Set("Idempotent-Replayed", "true")
	} else {
		s.actionsTotal.WithLabelValues(metricType(a.Type), string(a.Decision.Path)).Inc()
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	w.Write(answer)
}

// knownTypes bounds the action type label of mandate_actions_total: agents may invent
// types, and each new label value is a new time series.
var knownTypes = map[string]bool{"deploy": true, "code_change": true, "db_write": true, "db_migration": true,
	"email_send": true, "payment_charge": true, "s3_delete": true, "read": true, "list": true, "get": true,
	"search": true, "config_change": true, "delete": true, "scale": true, "rollback": true}

func metricType(t string) string {
	if knownTypes[t] {
		return t
	}
	return "other"
}

// actorFor works out who performed the action. An agent token acts as its agent; the
// admin token must name the actor, which is recorded on first sight.
// Its run state is not filled in: the store reads it in the transaction that records the
// action.
func (s *Server) actorFor(ctx context.Context, pol *policy, p principal, req *actionRequest) (*mandate.Actor, error) {
	if !p.admin {
		if req.Actor != "" && req.Actor != p.agentID {
			return nil, &mandate.Error{Code: mandate.EFORBIDDEN, Message: "an agent token can only report its own actions",
				Fields: []mandate.FieldError{{Field: "actor", Message: "only the admin token may act for another actor"}}}
		}
		if a, ok := pol.agents[p.agentID]; ok {
			return &a, nil
		}
		a, err := s.Actors.Actor(ctx, p.agentID)
		if mandate.ErrorCode(err) == mandate.ENOTFOUND {
			return nil, mandate.Errorf(mandate.EUNAUTHORIZED, "agent %q is no longer declared in config", p.agentID)
		}
		return a, err
	}
	if req.Actor == "" {
		return nil, &mandate.Error{Code: mandate.EINVALID, Message: "the action has invalid fields",
			Fields: []mandate.FieldError{{Field: "actor", Message: "is required with the admin token: who performed the action"}}}
	}
	typ := mandate.ActorType(req.ActorType)
	if typ == "" {
		typ = mandate.ActorHuman
	}
	a, err := s.Actors.Actor(ctx, req.Actor)
	if mandate.ErrorCode(err) == mandate.ENOTFOUND && typ != mandate.ActorAgent {
		if err := s.Actors.EnsureActor(ctx, req.Actor, typ); err != nil {
			return nil, err
		}
		return s.Actors.Actor(ctx, req.Actor)
	}
	return a, err
}

// teamsOf lists the teams an action concerns: the actor's and every targeted team's. The
// activity stream filters on them.
func teamsOf(actor *mandate.Actor, d mandate.Decision) []string {
	var teams []string
	if actor.Team != "" {
		teams = append(teams, actor.Team)
	}
	for _, t := range d.Targets {
		if t.Kind == mandate.TargetTeam && !slices.Contains(teams, t.ID) {
			teams = append(teams, t.ID)
		}
	}
	return teams
}

// getAction returns one action: GET /v1/actions/{id}. Agents see only their own.
func (s *Server) getAction(w http.ResponseWriter, r *http.Request) {
	p, err := s.authenticate(r)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	a, err := s.Actions.Get(r.Context(), r.PathValue("id"))
	if err == nil && !p.admin && a.ActorID != p.agentID {
		err = mandate.Errorf(mandate.ENOTFOUND, "no action %q", r.PathValue("id"))
	}
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, a)
}

// listActions returns the activity stream: GET /v1/actions.
func (s *Server) listActions(w http.ResponseWriter, r *http.Request) {
	if _, err := s.authenticate(r); err != nil {
		s.writeError(w, r, err)
		return
	}
	q := r.URL.Query()
	f := mandate.ActionFilter{Actor: q.Get("actor"), Resource: q.Get("resource"), Team: q.Get("team"), Type: q.Get("type")}
	var fe fieldErrors
	fe.params(q, "actor", "resource", "team", "type", "since", "cursor", "limit")
	if f.Resource != "" {
		if _, ok := mandate.ParseResourceKey(f.Resource); !ok {
			fe.add("resource", "must be kind:name or file:repo:path, not %q", f.Resource)
		}
	}
	f.Since = fe.since(q.Get("since"), s.Now)
	if v := q.Get("cursor"); v != "" {
		n, err := strconv.ParseInt(v, 10, 64)
		if err != nil || n <= 0 {
			fe.add("cursor", "must be the next_cursor of a previous page, not %q", v)
		}
		f.Before = n
	}
	f.Limit = fe.limit(q.Get("limit"))
	if len(fe) > 0 {
		s.writeError(w, r, &mandate.Error{Code: mandate.EINVALID, Message: "invalid query parameters", Fields: fe})
		return
	}
	actions, next, err := s.Actions.List(r.Context(), f)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	page := struct {
		Actions    []*mandate.Action `json:"actions"`
		NextCursor string            `json:"next_cursor,omitempty"`
	}{Actions: actions}
	if page.Actions == nil {
		page.Actions = []*mandate.Action{}
	}
	if next > 0 {
		page.NextCursor = strconv.FormatInt(next, 10)
	}
	writeJSON(w, http.StatusOK, page)
}

// resultRequest is the body of POST /v1/actions/{id}/result.
type resultRequest struct {
	Status      string          `json:"status"`
	Error       string          `json:"error,omitempty"`
	FailureMode string          `json:"failure_mode,omitempty"`
	DurationMS  *int64          `json:"duration_ms,omitempty"`
	Result      json.RawMessage `json:"result,omitempty"`
}

// postResult records how an action ended: POST /v1/actions/{id}/result.
func (s *Server) postResult(w http.ResponseWriter, r *http.Request) {
	p, err := s.authenticate(r)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	var req resultRequest
	if err := readJSON(r, w, &req); err != nil {
		s.writeError(w, r, err)
		return
	}
	var fe fieldErrors
	status := mandate.ActionStatus(req.Status)
	if status != mandate.StatusSucceeded && status != mandate.StatusFailed {
		fe.add("status", "must be succeeded or failed, not %q", req.Status)
	}
	fe.text("error", req.Error, 10000, false)
	if req.FailureMode != "" && !typePattern.MatchString(req.FailureMode) {
		fe.add("failure_mode", "must be lower case letters, digits and _ . - (at most 64), not %q", req.FailureMode)
	}
	var duration int64
	if req.DurationMS != nil {
		if duration = *req.DurationMS; duration < 0 {
			fe.add("duration_ms", "must not be negative")
		}
	}
	if len(req.Result) > 0 && !json.Valid(req.Result) {
		fe.add("result", "must be JSON")
	}
	if len(fe) > 0 {
		s.writeError(w, r, &mandate.Error{Code: mandate.EINVALID, Message: "the result has invalid fields", Fields: fe})
		return
	}
	owner := p.agentID // empty for the admin, who may report for anyone
	a, err := s.Actions.ReportResult(r.Context(), owner, r.PathValue("id"), mandate.ActionResult{
		Status: status, Error: req.Error, FailureMode: req.FailureMode, DurationMS: duration, Result: req.Result})
	if err == nil {
		err = s.incidentRules(r.Context(), a)
	}
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	if pol := s.policy.Load(); pol != nil {
		if obs, ok := pol.router.(mandate.ResultObserver); ok {
			obs.ObserveResult(a.ActorID, status, s.Now())
		}
		if ap, ok := pol.router.(autoPauser); ok && status == mandate.StatusFailed {
			if reason, pause := ap.AutoPause(a.ActorID, s.Now()); pause {
				if _, changed, err := s.Actors.SetPaused(r.Context(), a.ActorID, true, "mandate", reason); err != nil {
					s.log.Error("auto-pause failed", "actor", a.ActorID, "err", err)
				} else if changed {
					s.log.Warn("agent auto-paused", "actor", a.ActorID, "reason", reason)
				}
			}
		}
	}
	writeJSON(w, http.StatusOK, a)
}

// autoPauser is a router that may ask to pause an agent that keeps failing.
type autoPauser interface {
	AutoPause(actor string, now time.Time) (string, bool)
}

// decodeStrict decodes a small JSON body, refusing unknown fields.
func decodeStrict(body []byte, v any) error {
	dec := json.NewDecoder(strings.NewReader(string(body)))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return decodeError(err)
	}
	if _, err := dec.Token(); err != io.EOF {
		return mandate.Errorf(mandate.EMALFORMED, "request body must hold exactly one JSON object")
	}
	return nil
}

// pauseRequest is the optional body of pause and resume.
type pauseRequest struct {
	Reason string `json:"reason,omitempty"`
	By     string `json:"by,omitempty"` // who asked, e.g. a person id; "admin" when empty
}

func (s *Server) pauseAgent(w http.ResponseWriter, r *http.Request)  { s.setPaused(w, r, true) }
func (s *Server) resumeAgent(w http.ResponseWriter, r *http.Request) { s.setPaused(w, r, false) }

// setPaused pauses or resumes an agent: POST /v1/agents/{id}/pause|resume (admin token).
func (s *Server) setPaused(w http.ResponseWriter, r *http.Request, paused bool) {
	p, err := s.authenticate(r)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	if !p.admin {
		s.writeError(w, r, mandate.Errorf(mandate.EFORBIDDEN, "pausing and resuming agents needs the admin token"))
		return
	}
	body, err := readBody(r, w, true)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	var req pauseRequest
	if len(body) > 0 {
		if err := decodeStrict(body, &req); err != nil {
			s.writeError(w, r, err)
			return
		}
	}
	var fe fieldErrors
	fe.text("reason", req.Reason, maxSummary, false)
	if req.By != "" && !idPattern.MatchString(req.By) {
		fe.add("by", "must be an id of letters, digits and _ . @ - (at most 128), not %q", req.By)
	}
	if len(fe) > 0 {
		s.writeError(w, r, &mandate.Error{Code: mandate.EINVALID, Message: "invalid fields", Fields: fe})
		return
	}
	if req.By == "" {
		req.By = "admin"
	}
	id := r.PathValue("id")
	state, changed, err := s.Actors.SetPaused(r.Context(), id, paused, req.By, strings.TrimSpace(req.Reason))
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, struct {
		Agent   string             `json:"agent"`
		Changed bool               `json:"changed"`
		State   mandate.AgentState `json:"state"`
	}{id, changed, state})
}
