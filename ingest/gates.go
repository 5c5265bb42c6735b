package ingest

import (
	"context"
	"net/http"
	"strings"
	"time"

	"github.com/mandatehq/mandate"
)

// Gates keeps gates; *postgres.GateStore implements it.
type Gates interface {
	Get(ctx context.Context, id string) (*mandate.Gate, error)
	Decide(ctx context.Context, id string, approve bool, by string, at time.Time) (*mandate.Gate, bool, error)
}

// GateChanged wakes requests long-polling gate id; called for every notification on
// postgres.GateChannel.
func (s *Server) GateChanged(id string) { s.gateHub.notify(id) }

// gate answers GET /v1/gates/{id}[?wait=30s]: the gate's state, and with wait a long-poll
// that answers as soon as it is decided (or expires), or with the pending state when wait
// runs out. Agents may read only their own actions' gates.
func (s *Server) gate(w http.ResponseWriter, r *http.Request) {
	p, err := s.authenticate(r)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	id := r.PathValue("id")
	var wait time.Duration
	if v := r.URL.Query().Get("wait"); v != "" {
		d, err := time.ParseDuration(v)
		if err != nil || d < 0 || d > maxWait {
			s.writeError(w, r, &mandate.Error{Code: mandate.EINVALID, Message: "invalid query parameters",
				Fields: []mandate.FieldError{{Field: "wait", Message: "must be a duration from 0s to " + maxWait.String() + ", such as 30s"}}})
			return
		}
		wait = d
	}
	if !p.admin {
		a, err := s.Actions.Get(r.Context(), id)
		if err == nil && a.ActorID != p.agentID {
			err = mandate.Errorf(mandate.ENOTFOUND, "no gate %q", id)
		}
		if err != nil {
			s.writeError(w, r, mandate.Errorf(mandate.ENOTFOUND, "no gate %q", id))
			return
		}
	}
	s.longPoll(w, r, s.gateHub, id, wait, func(ctx context.Context) (any, bool, error) {
		g, err := s.Gates.Get(ctx, id)
		if err != nil {
			return nil, false, err
		}
		return g, g.State != mandate.GatePending, nil
	})
}

// decideGate answers POST /v1/gates/{id}/approve and /deny (admin token; body
// {"by": "alice"}): a decision made outside Slack, e.g. by a tool.
func (s *Server) decideGate(w http.ResponseWriter, r *http.Request) {
	var req struct {
		By string `json:"by"`
	}
	if !s.adminJSON(w, r, &req) {
		return
	}
	if !idPattern.MatchString(req.By) {
		s.writeError(w, r, &mandate.Error{Code: mandate.EINVALID, Message: "invalid fields",
			Fields: []mandate.FieldError{{Field: "by", Message: "is required: who decides"}}})
		return
	}
	approve := strings.HasSuffix(r.URL.Path, "/approve")
	g, changed, err := s.Gates.Decide(r.Context(), r.PathValue("id"), approve, req.By, s.Now())
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	if !changed {
		s.writeError(w, r, mandate.Errorf(mandate.ECONFLICT, "gate %s is already %s", g.ID, g.State))
		return
	}
	writeJSON(w, http.StatusOK, g)
}
