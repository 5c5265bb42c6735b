package mandate

import (
	"errors"
	"fmt"
	"net/url"
	"strings"
)

// SourceErrorKind classifies a failure of an external source (GitHub, PagerDuty, …) so
// callers can decide what to do without knowing its client library: fall through to the
// next ownership layer, keep the last good copy, or back off.
type SourceErrorKind int

const (
	// SourceUnknown is the kind of a nil error or of an error no source client produced.
	SourceUnknown SourceErrorKind = iota
	// SourceNotFound: what was asked for does not exist (404).
	SourceNotFound
	// SourceUnauthorized: the token is missing, wrong, expired or lacks a permission.
	SourceUnauthorized
	// SourceRateLimited: a rate limit was hit.
	SourceRateLimited
	// SourceUnavailable: the source could not be reached, answered 5xx, or timed out.
	// Usually temporary.
	SourceUnavailable
	// SourceBadResponse: the source answered something that cannot be used.
	SourceBadResponse
	// SourceInvalid: the arguments were malformed or the source rejected the request as
	// invalid. Retrying will not help.
	SourceInvalid
)

// String returns the lower-case words used in error messages.
func (k SourceErrorKind) String() string {
	switch k {
	case SourceNotFound:
		return "not found"
	case SourceUnauthorized:
		return "unauthorized"
	case SourceRateLimited:
		return "rate limited"
	case SourceUnavailable:
		return "unavailable"
	case SourceBadResponse:
		return "bad response"
	case SourceInvalid:
		return "invalid request"
	default:
		return "unknown error"
	}
}

// SourceError is a classified failure of an external source. Its message is one human
// line, e.g.
//
//	github: read acme/api CODEOWNERS: unauthorized (401): Bad credentials
//
// so it can be shown as the reason an ownership layer was skipped.
type SourceError struct {
	Source string // "github", "pagerduty", …
	Kind   SourceErrorKind
	Op     string // what was being done, e.g. "read acme/api CODEOWNERS"
	Status int    // the HTTP status answered, 0 when there was no answer
	// Err is the cause: the source's message, or the transport's error, so
	// errors.Is(err, context.DeadlineExceeded) works.
	Err error
}

func (e *SourceError) Error() string {
	var b strings.Builder
	b.WriteString(e.Source)
	b.WriteString(": ")
	if e.Op != "" {
		b.WriteString(e.Op)
		b.WriteString(": ")
	}
	b.WriteString(e.Kind.String())
	if e.Status != 0 {
		fmt.Fprintf(&b, " (%d)", e.Status)
	}
	if d := sourceDetail(e.Err); d != "" {
		b.WriteString(": ")
		b.WriteString(d)
	}
	return b.String()
}

// Unwrap returns the cause.
func (e *SourceError) Unwrap() error { return e.Err }

// SourceErrorKindOf returns the kind of the first *SourceError in err's chain, or
// SourceUnknown.
func SourceErrorKindOf(err error) SourceErrorKind {
	var e *SourceError
	if errors.As(err, &e) {
		return e.Kind
	}
	return SourceUnknown
}

// sourceDetail renders a cause on one short line. A *url.Error is unwrapped because its
// quoted request URL makes the line long and adds nothing the Op does not already say.
func sourceDetail(err error) string {
	if err == nil {
		return ""
	}
	var ue *url.Error
	if errors.As(err, &ue) && ue.Err != nil {
		err = ue.Err
	}
	return OneLine(err.Error())
}

// OneLine keeps text from outside (a server's error message) from breaking a log line or
// a Slack message: the first line only, at most 200 bytes.
func OneLine(s string) string {
	s = strings.TrimSpace(s)
	if i := strings.IndexAny(s, "\r\n"); i >= 0 {
		s = strings.TrimSpace(s[:i])
	}
	if len(s) > 200 {
		s = s[:200] + "…"
	}
	return s
}
