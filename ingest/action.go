package ingest

import (
	"bytes"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"net/url"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/mandatehq/mandate"
)

// actionRequest is the body of POST /v1/actions (and of the routing dry run).
type actionRequest struct {
	IdempotencyKey string             `json:"idempotency_key,omitempty"`
	Actor          string             `json:"actor,omitempty"`      // admin token only: who acted
	ActorType      string             `json:"actor_type,omitempty"` // admin token only: human (default), system or agent
	Type           string             `json:"type"`
	Summary        string             `json:"summary"`
	Resources      []mandate.Resource `json:"resources"`
	Environment    string             `json:"environment,omitempty"`
	Reversibility  string             `json:"reversibility,omitempty"`
	Params         json.RawMessage    `json:"params,omitempty"`
	Session        string             `json:"session,omitempty"`
	OccurredAt     string             `json:"occurred_at,omitempty"`
}

// Limits on what an action may carry. Generous for real agents, tight enough that one
// report cannot bloat the stream or a Slack message.
const (
	maxSummary   = 2000
	maxResources = 100
	maxName      = 512
	maxKey       = 255
	maxShort     = 128
	futureSkew   = time.Hour // occurred_at may be ahead of our clock by this much
)

var (
	typePattern = regexp.MustCompile(`^[a-z][a-z0-9_.-]{0,63}$`)
	kindPattern = regexp.MustCompile(`^[a-z][a-z0-9_-]{0,31}$`)
	envPattern  = regexp.MustCompile(`^[A-Za-z0-9_.-]{0,64}$`)
	idPattern   = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9_.@-]{0,127}$`)
)

// decodeAction parses and validates an action body. It returns EMALFORMED when the body is
// not a JSON object, and EINVALID naming every bad field otherwise. now fills in a missing
// occurred_at. The digest identifies the request for idempotency: two bodies that mean the
// same action have the same digest, whatever their whitespace or field order.
func decodeAction(body []byte, now time.Time) (*actionRequest, *mandate.Action, []byte, error) {
	var req actionRequest
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.DisallowUnknownFields()
	var fe fieldErrors
	if err := dec.Decode(&req); err != nil {
		// The fast path failed. Say everything that is wrong in one answer: decode again
		// leniently, then list unknown fields, type mismatches and invalid values together.
		if err := syntaxError(body); err != nil {
			return nil, nil, nil, err
		}
		req = actionRequest{}
		if err := json.Unmarshal(body, &req); err != nil {
			fe = append(fe, typeError(err)...)
		}
		fe = append(fe, unknownFields(body)...)
	} else if _, err := dec.Token(); err != io.EOF {
		return nil, nil, nil, mandate.Errorf(mandate.EMALFORMED, "request body must hold exactly one JSON object")
	}
	a, invalid := req.validate(now)
	for _, f := range invalid {
		if !slices.ContainsFunc(fe, func(x mandate.FieldError) bool { return x.Field == f.Field }) {
			fe = append(fe, f)
		}
	}
	if len(fe) > 0 {
		return nil, nil, nil, &mandate.Error{Code: mandate.EINVALID, Message: "the action has invalid fields", Fields: fe}
	}
	canonical := req
	canonical.OccurredAt = ""
	if req.OccurredAt != "" {
		canonical.OccurredAt = a.OccurredAt.UTC().Format(time.RFC3339Nano)
	}
	if len(req.Params) > 0 {
		var buf bytes.Buffer
		json.Compact(&buf, req.Params)
		canonical.Params = buf.Bytes()
	}
	b, _ := json.Marshal(canonical)
	sum := sha256.Sum256(b)
	return &req, a, sum[:], nil
}

// syntaxError returns EMALFORMED when body is not exactly one JSON object.
func syntaxError(body []byte) error {
	var v any
	if err := json.Unmarshal(body, &v); err != nil {
		if len(bytes.TrimSpace(body)) == 0 {
			return mandate.Errorf(mandate.EMALFORMED, "request body is empty; it must be a JSON object")
		}
		return mandate.Errorf(mandate.EMALFORMED, "request body is not valid JSON: %s", strings.TrimPrefix(err.Error(), "json: "))
	}
	if _, ok := v.(map[string]any); !ok {
		return mandate.Errorf(mandate.EMALFORMED, "request body must be a JSON object")
	}
	return nil
}

// typeError names the field of a JSON type mismatch.
func typeError(err error) fieldErrors {
	var typeErr *json.UnmarshalTypeError
	if errors.As(err, &typeErr) && typeErr.Field != "" {
		return fieldErrors{{Field: typeErr.Field, Message: fmt.Sprintf("must be %s, not %s", jsonTypeName(typeErr.Type.Kind().String()), typeErr.Value)}}
	}
	return fieldErrors{{Field: "", Message: err.Error()}}
}

// unknownFields lists fields an action body has that the API does not know, at the top
// level and in resources, so a typo ("resource" for "resources") is caught, not ignored.
func unknownFields(body []byte) fieldErrors {
	var top map[string]json.RawMessage
	if json.Unmarshal(body, &top) != nil {
		return nil
	}
	var fe fieldErrors
	for _, k := range slices.Sorted(maps.Keys(top)) {
		if !actionFields[k] {
			fe.add(k, "unknown field")
		}
	}
	var resources []map[string]json.RawMessage
	if json.Unmarshal(top["resources"], &resources) == nil {
		for i, r := range resources {
			for _, k := range slices.Sorted(maps.Keys(r)) {
				if k != "kind" && k != "name" && k != "repo" && k != "path" {
					fe.add(fmt.Sprintf("resources[%d].%s", i, k), "unknown field")
				}
			}
		}
	}
	return fe
}

var actionFields = map[string]bool{"idempotency_key": true, "actor": true, "actor_type": true, "type": true,
	"summary": true, "resources": true, "environment": true, "reversibility": true, "params": true,
	"session": true, "occurred_at": true}

// decodeError turns a JSON decoding failure of a small body into a client error: a type
// mismatch or an unknown field names the field (422); anything else is malformed (400).
func decodeError(err error) error {
	var typeErr *json.UnmarshalTypeError
	if errors.As(err, &typeErr) {
		if typeErr.Field == "" {
			return mandate.Errorf(mandate.EMALFORMED, "request body must be a JSON object, not %s", typeErr.Value)
		}
		return &mandate.Error{Code: mandate.EINVALID, Message: "invalid fields", Fields: typeError(err)}
	}
	if name, ok := strings.CutPrefix(err.Error(), "json: unknown field "); ok {
		return &mandate.Error{Code: mandate.EINVALID, Message: "invalid fields",
			Fields: []mandate.FieldError{{Field: strings.Trim(name, `"`), Message: "unknown field"}}}
	}
	if errors.Is(err, io.EOF) {
		return mandate.Errorf(mandate.EMALFORMED, "request body is empty; it must be a JSON object")
	}
	return &mandate.Error{Code: mandate.EMALFORMED, Message: "request body is not valid JSON: " + strings.TrimPrefix(err.Error(), "json: ")}
}

func jsonTypeName(kind string) string {
	switch kind {
	case "string":
		return "a string"
	case "slice":
		return "an array"
	case "struct", "map":
		return "an object"
	case "int", "int64", "float64":
		return "a number"
	case "bool":
		return "a boolean"
	}
	return kind
}

// fieldErrors collects validation failures.
type fieldErrors []mandate.FieldError

func (fe *fieldErrors) add(field, format string, args ...any) {
	*fe = append(*fe, mandate.FieldError{Field: field, Message: fmt.Sprintf(format, args...)})
}

// params checks that the query holds only the known parameters.
func (fe *fieldErrors) params(q url.Values, known ...string) {
	for key := range q {
		if !slices.Contains(known, key) {
			fe.add(key, "unknown query parameter; use %s", strings.Join(known, ", "))
		}
	}
}

// since reads the since query parameter: an RFC 3339 time, or a duration back from now.
// It is the zero time when v is empty or invalid.
func (fe *fieldErrors) since(v string, now func() time.Time) time.Time {
	if v == "" {
		return time.Time{}
	}
	if t, err := time.Parse(time.RFC3339Nano, v); err == nil {
		return t
	}
	if d, err := time.ParseDuration(v); err == nil && d > 0 {
		return now().Add(-d)
	}
	fe.add("since", "must be an RFC 3339 time or a duration such as 24h, not %q", v)
	return time.Time{}
}

// limit reads the limit query parameter: 1 to 500, or 0 (the store's default) when v is
// empty.
func (fe *fieldErrors) limit(v string) int {
	if v == "" {
		return 0
	}
	n, err := strconv.Atoi(v)
	if err != nil || n < 1 || n > 500 {
		fe.add("limit", "must be a number from 1 to 500, not %q", v)
	}
	return n
}

// text checks a free-text field's length and encoding.
func (fe *fieldErrors) text(field, v string, max int, required bool) {
	switch {
	case required && strings.TrimSpace(v) == "":
		fe.add(field, "is required")
	case !utf8.ValidString(v):
		fe.add(field, "must be valid UTF-8")
	case utf8.RuneCountInString(v) > max:
		fe.add(field, "must be at most %d characters, not %d", max, utf8.RuneCountInString(v))
	}
}

func (req *actionRequest) validate(now time.Time) (*mandate.Action, fieldErrors) {
	var fe fieldErrors
	fe.text("idempotency_key", req.IdempotencyKey, maxKey, false)
	if req.Actor != "" && !idPattern.MatchString(req.Actor) {
		fe.add("actor", "must be an id of letters, digits and _ . @ - (at most 128), not %q", req.Actor)
	}
	if req.ActorType != "" && !mandate.ActorType(req.ActorType).Valid() {
		fe.add("actor_type", "must be one of human, system, agent, not %q", req.ActorType)
	}
	switch {
	case req.Type == "":
		fe.add("type", "is required (e.g. deploy, code_change, db_write, read)")
	case !typePattern.MatchString(req.Type):
		fe.add("type", "must be lower case letters, digits and _ . - starting with a letter (at most 64), not %q", req.Type)
	}
	fe.text("summary", req.Summary, maxSummary, true)
	switch {
	case req.Resources == nil:
		fe.add("resources", "is required: the resources the action touches, as [{kind, name}] or [{kind: file, repo, path}]")
	case len(req.Resources) == 0:
		fe.add("resources", "must name at least one resource")
	case len(req.Resources) > maxResources:
		fe.add("resources", "must name at most %d resources, not %d", maxResources, len(req.Resources))
	}
	if len(req.Resources) <= maxResources {
		for i, r := range req.Resources {
			validateResource(&fe, fmt.Sprintf("resources[%d]", i), r)
		}
	}
	if !envPattern.MatchString(req.Environment) {
		fe.add("environment", "must be letters, digits and _ . - (at most 64), not %q", req.Environment)
	}
	rev := mandate.Reversibility(req.Reversibility)
	if rev == "" {
		rev = mandate.Unknown
	}
	if !rev.Valid() {
		fe.add("reversibility", "must be one of reversible, irreversible, unknown, not %q", req.Reversibility)
	}
	if len(req.Params) > 0 && !isObject(req.Params) {
		fe.add("params", "must be a JSON object")
	}
	fe.text("session", req.Session, maxShort, false)
	occurred := now
	if req.OccurredAt != "" {
		t, err := time.Parse(time.RFC3339Nano, req.OccurredAt)
		switch {
		case err != nil:
			fe.add("occurred_at", "must be an RFC 3339 time such as 2026-11-25T10:00:00Z, not %q", req.OccurredAt)
		case t.After(now.Add(futureSkew)):
			fe.add("occurred_at", "is more than %s in the future", futureSkew)
		default:
			occurred = t
		}
	}
	if len(fe) > 0 {
		return nil, fe
	}
	var params json.RawMessage
	if len(req.Params) > 0 && string(bytes.TrimSpace(req.Params)) != "null" {
		params = req.Params
	}
	return &mandate.Action{
		IdempotencyKey: req.IdempotencyKey,
		Type:           req.Type,
		Summary:        strings.TrimSpace(req.Summary),
		Resources:      req.Resources,
		Environment:    req.Environment,
		Reversibility:  rev,
		Params:         params,
		Session:        req.Session,
		OccurredAt:     occurred.UTC(),
	}, nil
}

func validateResource(fe *fieldErrors, field string, r mandate.Resource) {
	for _, f := range [...]struct{ name, value string }{{"name", r.Name}, {"repo", r.Repo}, {"path", r.Path}} {
		if strings.IndexFunc(f.value, unicode.IsControl) >= 0 {
			fe.add(field+"."+f.name, "must not contain control characters")
		}
	}
	if !kindPattern.MatchString(r.Kind) {
		if r.Kind == "" {
			fe.add(field+".kind", "is required (e.g. service, file, table, bucket, endpoint, config)")
		} else {
			fe.add(field+".kind", "must be lower case letters, digits, _ and - (at most 32), not %q", r.Kind)
		}
		return
	}
	if r.Kind == "file" {
		fe.text(field+".repo", r.Repo, maxName, true)
		if strings.Contains(r.Repo, ":") {
			fe.add(field+".repo", "must not contain ':' (it separates repo and path in resource keys)")
		}
		fe.text(field+".path", r.Path, maxName, true)
		if r.Name != "" {
			fe.add(field+".name", "must be empty for files: name them by repo and path")
		}
		return
	}
	fe.text(field+".name", r.Name, maxName, true)
	if r.Repo != "" || r.Path != "" {
		fe.add(field, "repo and path are only for resources of kind file")
	}
}

// isObject reports whether raw is a JSON object (or null, which means no params).
func isObject(raw json.RawMessage) bool {
	t := bytes.TrimSpace(raw)
	return len(t) > 0 && (t[0] == '{' || string(t) == "null")
}

// ActorClaim is who an action body says acted: only the admin token may name one.
type ActorClaim struct {
	ID   string
	Type mandate.ActorType
}

// ParseAction parses and validates a POST /v1/actions body exactly as the API does, for
// tools such as `mandate routing explain`. now fills in a missing occurred_at.
func ParseAction(body []byte, now time.Time) (*mandate.Action, ActorClaim, error) {
	req, a, _, err := decodeAction(body, now)
	if err != nil {
		return nil, ActorClaim{}, err
	}
	return a, ActorClaim{ID: req.Actor, Type: mandate.ActorType(req.ActorType)}, nil
}
