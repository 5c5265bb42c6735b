// Package mandate holds Mandate's domain: the actors that act, the actions they report, the
// resources those actions touch, the routing decision each action gets, and the small
// interfaces the other packages meet at. It does no I/O.
package mandate

import (
	"errors"
	"fmt"
	"strings"
)

// Error codes. Every package reports failures a caller should understand with one of these,
// so the HTTP layer and Slack replies can map them in one place.
const (
	EMALFORMED    = "malformed"    // the request could not be parsed at all
	EINVALID      = "invalid"      // the request parsed but a field is wrong
	EUNAUTHORIZED = "unauthorized" // no or unknown credentials
	EFORBIDDEN    = "forbidden"    // credentials valid, but not for this
	ENOTFOUND     = "not_found"
	ECONFLICT     = "conflict"    // e.g. an idempotency key reused with another body
	ETOOLARGE     = "too_large"   // request body over the limit
	EUNSUPPORTED  = "unsupported" // e.g. wrong content type
	EUNAVAILABLE  = "unavailable" // a dependency (Postgres) cannot be reached; retry later
	EINTERNAL     = "internal"
)

// FieldError names one bad field of a request and what is wrong with it.
type FieldError struct {
	Field   string `json:"field"`
	Message string `json:"message"`
}

// Error is Mandate's application error: a code, a human message and, for validation
// failures, the fields at fault.
type Error struct {
	Code    string
	Message string
	Fields  []FieldError
	Err     error // the underlying cause, if any; never shown to clients
}

func (e *Error) Error() string {
	var b strings.Builder
	b.WriteString(e.Message)
	for _, f := range e.Fields {
		fmt.Fprintf(&b, "; %s: %s", f.Field, f.Message)
	}
	if e.Err != nil {
		fmt.Fprintf(&b, ": %v", e.Err)
	}
	return b.String()
}

func (e *Error) Unwrap() error { return e.Err }

// Errorf returns an *Error with the given code and formatted message.
func Errorf(code, format string, args ...any) *Error {
	return &Error{Code: code, Message: fmt.Sprintf(format, args...)}
}

// ErrorCode returns the code of the first *Error in err's chain, EINTERNAL for any other
// non-nil error, and "" for nil.
func ErrorCode(err error) string {
	if err == nil {
		return ""
	}
	if e, ok := errors.AsType[*Error](err); ok {
		return e.Code
	}
	return EINTERNAL
}

// ErrorMessage returns the human message of the first *Error in err's chain, or a generic
// message for internal errors, whose details must not reach clients.
func ErrorMessage(err error) string {
	if e, ok := errors.AsType[*Error](err); ok {
		return e.Message
	}
	return "internal error"
}
