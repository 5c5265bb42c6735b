package ingest

import (
	"net/http"
	"time"

	"github.com/mandatehq/mandate"
)

// DryRun is the answer of POST /v1/route/dry-run and of `mandate routing explain --json`:
// the decision, and how each resource's owners were found.
type DryRun struct {
	mandate.Decision
	Actor     string              `json:"actor"`
	At        time.Time           `json:"at"`
	Resources []mandate.Ownership `json:"resources"`
}

// dryRun answers POST /v1/route/dry-run[?at=RFC3339]: the routing decision for an action
// body, exactly as POST /v1/actions would decide it, without storing anything or counting
// it in rate aggregates.
func (s *Server) dryRun(w http.ResponseWriter, r *http.Request) {
	p, err := s.authenticate(r)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	at := s.Now()
	if v := r.URL.Query().Get("at"); v != "" {
		t, err := time.Parse(time.RFC3339Nano, v)
		if err != nil {
			s.writeError(w, r, &mandate.Error{Code: mandate.EINVALID, Message: "invalid query parameters",
				Fields: []mandate.FieldError{{Field: "at", Message: "must be an RFC 3339 time, not " + v}}})
			return
		}
		at = t
	}
	body, err := readBody(r, w, false)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	req, a, _, err := decodeAction(body, at)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	pol := s.policy.Load()
	if pol == nil {
		s.writeError(w, r, mandate.Errorf(mandate.EUNAVAILABLE, "no configuration loaded yet"))
		return
	}
	actor, err := s.dryRunActor(r, pol, p, req)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	a.ActorID = actor.ID
	out := DryRun{Decision: pol.router.Route(a, actor, mandate.RouteOptions{At: at, DryRun: true}), Actor: actor.ID, At: at.UTC()}
	if s.Ownership != nil {
		for _, res := range a.Resources {
			o, err := s.Ownership.Explain(res.Key())
			if err != nil {
				s.writeError(w, r, err)
				return
			}
			out.Resources = append(out.Resources, o)
		}
	}
	writeJSON(w, http.StatusOK, out)
}

// dryRunActor is actorFor without side effects: an unknown human is not recorded.
func (s *Server) dryRunActor(r *http.Request, pol *policy, p principal, req *actionRequest) (*mandate.Actor, error) {
	if p.admin && req.Actor != "" {
		if a, ok := pol.agents[req.Actor]; ok {
			return &a, nil
		}
		typ := mandate.ActorType(req.ActorType)
		if typ == "" {
			typ = mandate.ActorHuman
		}
		return &mandate.Actor{ID: req.Actor, Type: typ, Trust: mandate.TrustTrusted}, nil
	}
	return s.actorFor(r.Context(), pol, p, req)
}
