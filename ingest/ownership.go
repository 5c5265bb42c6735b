package ingest

import (
	"net/http"

	"github.com/mandatehq/mandate"
)

// explainOwnership answers GET /v1/ownership/explain?resource=KEY[&resource=KEY…] with one
// explanation per resource, in the order given: the same JSON as
// `mandate ownership explain --json`.
func (s *Server) explainOwnership(w http.ResponseWriter, r *http.Request) {
	if _, err := s.authenticate(r); err != nil {
		s.writeError(w, r, err)
		return
	}
	keys := r.URL.Query()["resource"]
	if len(keys) == 0 {
		s.writeError(w, r, &mandate.Error{Code: mandate.EINVALID, Message: "invalid query parameters",
			Fields: []mandate.FieldError{{Field: "resource", Message: "is required: kind:name or file:repo:path, repeatable"}}})
		return
	}
	var fe fieldErrors
	out := make([]mandate.Ownership, 0, len(keys))
	for _, k := range keys {
		o, err := s.Ownership.Explain(k)
		if err != nil {
			if mandate.ErrorCode(err) != mandate.EINVALID {
				s.writeError(w, r, err)
				return
			}
			fe.add("resource", "%s", mandate.ErrorMessage(err))
			continue
		}
		out = append(out, o)
	}
	if len(fe) > 0 {
		s.writeError(w, r, &mandate.Error{Code: mandate.EINVALID, Message: "invalid query parameters", Fields: fe})
		return
	}
	writeJSON(w, http.StatusOK, out)
}

// ownershipCoverage answers GET /v1/ownership/coverage: the share of resources seen in
// actions over the last 30 days that have an owner, and the gaps.
func (s *Server) ownershipCoverage(w http.ResponseWriter, r *http.Request) {
	if _, err := s.authenticate(r); err != nil {
		s.writeError(w, r, err)
		return
	}
	c, err := s.Ownership.Coverage(r.Context())
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, c)
}
