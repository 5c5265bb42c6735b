package ingest

import (
	"context"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/mandatehq/mandate"
)

// RoutingFeedback stores what people say about notifications; *postgres.RoutingStore
// implements it.
type RoutingFeedback interface {
	Feedback(ctx context.Context, notificationID int64, relevant bool, by string) error
	Missed(ctx context.Context, actionID, who, note, by string) error
	Notifications(ctx context.Context, actionID string) ([]mandate.NotificationInfo, error)
	Stats(ctx context.Context, since time.Time) ([]mandate.RuleStats, error)
}

// listNotifications answers GET /v1/actions/{id}/notifications.
func (s *Server) listNotifications(w http.ResponseWriter, r *http.Request) {
	p, err := s.authenticate(r)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	id := r.PathValue("id")
	if !p.admin {
		a, err := s.Actions.Get(r.Context(), id)
		if err == nil && a.ActorID != p.agentID {
			err = mandate.Errorf(mandate.ENOTFOUND, "no action %q", id)
		}
		if err != nil {
			s.writeError(w, r, err)
			return
		}
	}
	ns, err := s.Feedback.Notifications(r.Context(), id)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	if ns == nil {
		ns = []mandate.NotificationInfo{}
	}
	writeJSON(w, http.StatusOK, map[string]any{"notifications": ns})
}

// feedbackRequest is the body of POST /v1/notifications/{id}/feedback.
type feedbackRequest struct {
	Relevant *bool  `json:"relevant"`
	By       string `json:"by"`
}

// notificationFeedback answers POST /v1/notifications/{id}/feedback (admin token): was
// the notification relevant to the person told?
func (s *Server) notificationFeedback(w http.ResponseWriter, r *http.Request) {
	var req feedbackRequest
	if !s.adminJSON(w, r, &req) {
		return
	}
	var fe fieldErrors
	if req.Relevant == nil {
		fe.add("relevant", "is required: true or false")
	}
	if !idPattern.MatchString(req.By) {
		fe.add("by", "is required: who gives the feedback (a person id)")
	}
	id, err := strconv.ParseInt(r.PathValue("id"), 10, 64)
	if err != nil || id <= 0 {
		s.writeError(w, r, mandate.Errorf(mandate.ENOTFOUND, "no notification %q", r.PathValue("id")))
		return
	}
	if len(fe) > 0 {
		s.writeError(w, r, &mandate.Error{Code: mandate.EINVALID, Message: "invalid fields", Fields: fe})
		return
	}
	if err := s.Feedback.Feedback(r.Context(), id, *req.Relevant, req.By); err != nil {
		s.writeError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"notification": id, "relevant": *req.Relevant, "by": req.By})
}

// missedRequest is the body of POST /v1/routing/missed.
type missedRequest struct {
	ActionID string `json:"action_id"`
	Who      string `json:"who"`
	Note     string `json:"note,omitempty"`
	By       string `json:"by"`
}

// routingMissed answers POST /v1/routing/missed (admin token): who should have been
// told about an action and was not.
func (s *Server) routingMissed(w http.ResponseWriter, r *http.Request) {
	var req missedRequest
	if !s.adminJSON(w, r, &req) {
		return
	}
	var fe fieldErrors
	if req.ActionID == "" {
		fe.add("action_id", "is required")
	}
	// A team is named "team:ID", as the incident review's marks name it, so digests count
	// both the same way.
	if !idPattern.MatchString(strings.TrimPrefix(req.Who, "team:")) {
		fe.add("who", "is required: the person id, or team:ID, that should have been told")
	}
	if !idPattern.MatchString(req.By) {
		fe.add("by", "is required: who reports it")
	}
	fe.text("note", req.Note, maxSummary, false)
	if len(fe) > 0 {
		s.writeError(w, r, &mandate.Error{Code: mandate.EINVALID, Message: "invalid fields", Fields: fe})
		return
	}
	if err := s.Feedback.Missed(r.Context(), req.ActionID, req.Who, strings.TrimSpace(req.Note), req.By); err != nil {
		s.writeError(w, r, err)
		return
	}
	writeJSON(w, http.StatusCreated, req)
}

// routingStats answers GET /v1/routing/stats[?since=30d]: per rule, notifications,
// relevance and false-positive rates, misses, and rules over 30 % false positives.
func (s *Server) routingStats(w http.ResponseWriter, r *http.Request) {
	if _, err := s.authenticate(r); err != nil {
		s.writeError(w, r, err)
		return
	}
	since := s.Now().Add(-30 * 24 * time.Hour)
	if v := r.URL.Query().Get("since"); v != "" {
		d, err := time.ParseDuration(v)
		if t, terr := time.Parse(time.RFC3339, v); terr == nil {
			since = t
		} else if err == nil && d > 0 {
			since = s.Now().Add(-d)
		} else {
			s.writeError(w, r, &mandate.Error{Code: mandate.EINVALID, Message: "invalid query parameters",
				Fields: []mandate.FieldError{{Field: "since", Message: "must be an RFC 3339 time or a duration such as 720h"}}})
			return
		}
	}
	stats, err := s.Feedback.Stats(r.Context(), since)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"since": since.UTC(), "false_positive_limit": mandate.FalsePositiveLimit, "rules": stats})
}

// adminJSON authenticates an admin request and decodes its JSON body into v. It answers
// and returns false on failure.
func (s *Server) adminJSON(w http.ResponseWriter, r *http.Request, v any) bool {
	p, err := s.authenticate(r)
	if err != nil {
		s.writeError(w, r, err)
		return false
	}
	if !p.admin {
		s.writeError(w, r, mandate.Errorf(mandate.EFORBIDDEN, "this needs the admin token"))
		return false
	}
	if err := readJSON(r, w, v); err != nil {
		s.writeError(w, r, err)
		return false
	}
	return true
}

// Questions reads the questions people asked about actions; *postgres.DeliveryStore
// implements it.
type Questions interface {
	Questions(ctx context.Context, actionID string) ([]mandate.Question, error)
}

// listQuestions answers GET /v1/actions/{id}/questions: what people asked about the
// action in Slack, so the agent can read and answer.
func (s *Server) listQuestions(w http.ResponseWriter, r *http.Request) {
	p, err := s.authenticate(r)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	id := r.PathValue("id")
	a, err := s.Actions.Get(r.Context(), id)
	if err == nil && !p.admin && a.ActorID != p.agentID {
		err = mandate.Errorf(mandate.ENOTFOUND, "no action %q", id)
	}
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	qs := []mandate.Question{}
	if s.Questions != nil {
		if qs, err = s.Questions.Questions(r.Context(), id); err != nil {
			s.writeError(w, r, err)
			return
		}
		if qs == nil {
			qs = []mandate.Question{}
		}
	}
	writeJSON(w, http.StatusOK, map[string]any{"questions": qs})
}
