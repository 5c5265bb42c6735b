package ingest

import (
	"encoding/json"
	"errors"
	"net/http"

	"github.com/mandatehq/mandate"
)

// problem is an RFC 9457 problem details body. Errors lists every bad field, so a client
// can fix them all in one go.
type problem struct {
	Type   string               `json:"type"`
	Title  string               `json:"title"`
	Status int                  `json:"status"`
	Detail string               `json:"detail"`
	Errors []mandate.FieldError `json:"errors,omitempty"`
}

// statusOf maps error codes to HTTP statuses, in one place.
var statusOf = map[string]int{
	mandate.EMALFORMED:    http.StatusBadRequest,
	mandate.EINVALID:      http.StatusUnprocessableEntity,
	mandate.EUNAUTHORIZED: http.StatusUnauthorized,
	mandate.EFORBIDDEN:    http.StatusForbidden,
	mandate.ENOTFOUND:     http.StatusNotFound,
	mandate.ECONFLICT:     http.StatusConflict,
	mandate.ETOOLARGE:     http.StatusRequestEntityTooLarge,
	mandate.EUNSUPPORTED:  http.StatusUnsupportedMediaType,
	mandate.EUNAVAILABLE:  http.StatusServiceUnavailable,
	mandate.EINTERNAL:     http.StatusInternalServerError,
}

// writeError answers with the problem for err. Internal errors are logged, never shown.
func (s *Server) writeError(w http.ResponseWriter, r *http.Request, err error) {
	code := mandate.ErrorCode(err)
	status, ok := statusOf[code]
	if !ok {
		status = http.StatusInternalServerError
	}
	p := problem{Type: "urn:mandate:problem:" + code, Title: http.StatusText(status), Status: status, Detail: mandate.ErrorMessage(err)}
	if e, ok := errors.AsType[*mandate.Error](err); ok {
		p.Errors = e.Fields
	}
	switch code {
	case mandate.EINTERNAL:
		s.log.Error("internal error", "method", r.Method, "path", r.URL.Path, "err", err)
	case mandate.EUNAVAILABLE:
		s.log.Warn("dependency unavailable", "method", r.Method, "path", r.URL.Path, "err", err)
		w.Header().Set("Retry-After", "1")
	case mandate.EUNAUTHORIZED:
		w.Header().Set("WWW-Authenticate", `Bearer realm="mandate"`)
	}
	w.Header().Set("Content-Type", "application/problem+json")
	w.WriteHeader(status)
	json.NewEncoder(w).Encode(p)
}

// writeJSON answers with v as JSON.
func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	json.NewEncoder(w).Encode(v)
}
