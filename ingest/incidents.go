package ingest

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"

	"github.com/mandatehq/mandate"
)

// Incidents opens and reads incidents, and runs the opt-in auto-open rules on reported
// results; *incidents.Service implements it.
type Incidents interface {
	Open(ctx context.Context, req mandate.IncidentRequest) (*mandate.Incident, error)
	Get(ctx context.Context, number int64) (*mandate.Incident, error)
	List(ctx context.Context, f mandate.IncidentFilter) ([]*mandate.Incident, error)
	Timeline(ctx context.Context, number int64) (*mandate.Incident, []mandate.TimelineEntry, error)
	ActionResult(ctx context.Context, a *mandate.Action) error
}

// routeIncidents registers the incident endpoints.
func (s *Server) routeIncidents(mux *http.ServeMux) {
	s.route(mux, "POST /v1/incidents", s.postIncident)
	s.route(mux, "GET /v1/incidents", s.listIncidents)
	s.route(mux, "GET /v1/incidents/{number}", s.getIncident)
	s.route(mux, "GET /v1/incidents/{number}/timeline", s.incidentTimeline)
	s.route(mux, "GET /v1/incidents/{number}/postmortem.md", s.incidentPostmortem)
}

// incidentRequest is the body of POST /v1/incidents.
type incidentRequest struct {
	Title          string             `json:"title"`
	Severity       string             `json:"severity"`
	Resources      []mandate.Resource `json:"resources"`
	CauseActionIDs []string           `json:"cause_action_ids,omitempty"`
	// By, with the admin token, names who opens it (a person id); agents open as
	// themselves.
	By string `json:"by,omitempty"`
}

// postIncident opens an incident: POST /v1/incidents (admin or agent token). It answers
// 201 with the incident, its ranked causes and the teams involved; the Slack channel and
// the page follow in the background.
func (s *Server) postIncident(w http.ResponseWriter, r *http.Request) {
	p, ok := s.incidentsFor(w, r)
	if !ok {
		return
	}
	var req incidentRequest
	if err := readJSON(r, w, &req); err != nil {
		s.writeError(w, r, err)
		return
	}
	var fe fieldErrors
	fe.text("title", req.Title, 200, true)
	if req.Severity == "" {
		fe.add("severity", "is required: low, medium, high or critical")
	} else if !mandate.Severity(req.Severity).Valid() {
		fe.add("severity", "must be one of low, medium, high, critical, not %q", req.Severity)
	}
	switch {
	case len(req.Resources) == 0 && len(req.CauseActionIDs) == 0:
		fe.add("resources", "is required: the affected resources as [{kind, name}] (or name cause_action_ids)")
	case len(req.Resources) > 50:
		fe.add("resources", "must name at most 50 resources, not %d", len(req.Resources))
	}
	if len(req.Resources) <= 50 {
		for i, res := range req.Resources {
			validateResource(&fe, fmt.Sprintf("resources[%d]", i), res)
		}
	}
	for i, id := range req.CauseActionIDs {
		if strings.TrimSpace(id) == "" {
			fe.add(fmt.Sprintf("cause_action_ids[%d]", i), "must be an action id")
		}
	}
	by := p.agentID
	switch {
	case p.admin && req.By == "":
		by = "admin"
	case p.admin && !idPattern.MatchString(req.By):
		fe.add("by", "must be an id of letters, digits and _ . @ - (at most 128), not %q", req.By)
	case p.admin:
		by = req.By
	case req.By != "":
		fe.add("by", "only the admin token may say who opens an incident; agents open as themselves")
	}
	if len(fe) > 0 {
		s.writeError(w, r, &mandate.Error{Code: mandate.EINVALID, Message: "the incident has invalid fields", Fields: fe})
		return
	}
	inc, err := s.Incidents.Open(r.Context(), mandate.IncidentRequest{Title: req.Title, Severity: mandate.Severity(req.Severity),
		Resources: req.Resources, Causes: req.CauseActionIDs, OpenedBy: by, Via: mandate.ViaAPI, At: s.Now()})
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	w.Header().Set("Location", "/v1/incidents/"+strconv.FormatInt(inc.Number, 10))
	writeJSON(w, http.StatusCreated, inc)
}

// listIncidents answers GET /v1/incidents[?state=active][&since=…][&limit=N], newest
// first.
func (s *Server) listIncidents(w http.ResponseWriter, r *http.Request) {
	if _, ok := s.incidentsFor(w, r); !ok {
		return
	}
	q := r.URL.Query()
	var f mandate.IncidentFilter
	var fe fieldErrors
	fe.params(q, "state", "since", "limit")
	switch v := q.Get("state"); v {
	case "", "all":
	case "active":
		f.Active = true
	default:
		fe.add("state", "must be active or all, not %q", v)
	}
	f.Since = fe.since(q.Get("since"), s.Now)
	f.Limit = fe.limit(q.Get("limit"))
	if len(fe) > 0 {
		s.writeError(w, r, &mandate.Error{Code: mandate.EINVALID, Message: "invalid query parameters", Fields: fe})
		return
	}
	list, err := s.Incidents.List(r.Context(), f)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	if list == nil {
		list = []*mandate.Incident{}
	}
	writeJSON(w, http.StatusOK, map[string]any{"incidents": list})
}

// getIncident answers GET /v1/incidents/{number}: the incident with its causes, action
// items and patterns.
func (s *Server) getIncident(w http.ResponseWriter, r *http.Request) {
	number, ok := s.incidentNumber(w, r)
	if !ok {
		return
	}
	inc, err := s.Incidents.Get(r.Context(), number)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, inc)
}

// incidentTimeline answers GET /v1/incidents/{number}/timeline.
func (s *Server) incidentTimeline(w http.ResponseWriter, r *http.Request) {
	number, ok := s.incidentNumber(w, r)
	if !ok {
		return
	}
	inc, entries, err := s.Incidents.Timeline(r.Context(), number)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"incident": inc, "entries": entries})
}

// incidentPostmortem answers GET /v1/incidents/{number}/postmortem.md with the
// postmortem's Markdown, when Config.Postmortem serves them.
func (s *Server) incidentPostmortem(w http.ResponseWriter, r *http.Request) {
	number, ok := s.incidentNumber(w, r)
	if !ok {
		return
	}
	if s.Postmortem == nil {
		s.writeError(w, r, mandate.Errorf(mandate.ENOTFOUND, "INC-%d has no postmortem: postmortems are not set up on this server", number))
		return
	}
	md, err := s.Postmortem(r.Context(), number)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	w.Header().Set("Content-Type", "text/markdown; charset=utf-8")
	io.WriteString(w, md)
}

// incidentsFor authenticates a request to the incident endpoints: any agent or the
// admin (incidents, like the activity stream, are the organisation's).
func (s *Server) incidentsFor(w http.ResponseWriter, r *http.Request) (principal, bool) {
	p, err := s.authenticate(r)
	if err != nil {
		s.writeError(w, r, err)
		return p, false
	}
	if s.Incidents == nil {
		s.writeError(w, r, mandate.Errorf(mandate.ENOTFOUND, "incidents are not set up on this server"))
		return p, false
	}
	return p, true
}

// incidentNumber authenticates and reads {number}: "42" or "INC-42".
func (s *Server) incidentNumber(w http.ResponseWriter, r *http.Request) (int64, bool) {
	if _, ok := s.incidentsFor(w, r); !ok {
		return 0, false
	}
	v := r.PathValue("number")
	n, err := strconv.ParseInt(strings.TrimPrefix(strings.ToUpper(v), "INC-"), 10, 64)
	if err != nil || n <= 0 {
		s.writeError(w, r, mandate.Errorf(mandate.ENOTFOUND, "no incident %q", v))
		return 0, false
	}
	return n, true
}

// incidentRules runs the opt-in auto-open rules on a result just stored. When the
// database is unavailable the report fails (503): the agent retries, the result is stored
// idempotently, and the rule gets another chance (it opens at most one incident per
// action). Any other failure is Mandate's own and must not make the agent's report fail
// forever: it is logged.
func (s *Server) incidentRules(ctx context.Context, a *mandate.Action) error {
	if s.Incidents == nil {
		return nil
	}
	err := s.Incidents.ActionResult(ctx, a)
	if err != nil && mandate.ErrorCode(err) != mandate.EUNAVAILABLE {
		s.log.Error("auto-open rule failed: no incident opened", "action", a.ID, "err", err)
		return nil
	}
	return err
}
