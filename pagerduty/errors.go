package pagerduty

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strings"

	pd "github.com/PagerDuty/go-pagerduty"
)

// ErrorKind classifies a failure so that the ownership resolver can decide
// what to do without knowing go-pagerduty's error types: fall through to the
// next layer, keep the last good snapshot, or back off.
type ErrorKind int

const (
	// Unknown is the kind of a nil error or of an error this package did not
	// produce.
	Unknown ErrorKind = iota
	// NotFound: an escalation policy or schedule does not exist (404).
	NotFound
	// Unauthorized: the token is missing, wrong or lacks a permission (401,
	// 403).
	Unauthorized
	// RateLimited: PagerDuty answered 429. Its REST limits are per account
	// and reset each minute.
	RateLimited
	// Unavailable: PagerDuty could not be reached or answered 5xx, or the
	// request timed out or was cancelled. Usually temporary.
	Unavailable
	// BadResponse: PagerDuty answered something this package cannot use
	// (malformed JSON, an unexpected status, bad timestamps).
	BadResponse
	// Invalid: the arguments were malformed (a bad base URL) or PagerDuty
	// rejected the request as invalid (400, e.g. a malformed ID). Retrying
	// will not help.
	Invalid
)

// String returns the lower-case words used in Error messages.
func (k ErrorKind) String() string {
	switch k {
	case NotFound:
		return "not found"
	case Unauthorized:
		return "unauthorized"
	case RateLimited:
		return "rate limited"
	case Unavailable:
		return "unavailable"
	case BadResponse:
		return "bad response"
	case Invalid:
		return "invalid request"
	default:
		return "unknown error"
	}
}

// Error is the only error type this package's Client methods return. Its
// message is one human line, e.g.
//
//	pagerduty: list on-calls: unauthorized (401): Authentication failed
//
// so callers can show it as the reason an ownership layer was skipped.
type Error struct {
	Kind ErrorKind
	// Op says what was being done, e.g. "list on-calls".
	Op string
	// Status is the HTTP status PagerDuty answered, 0 when there was no
	// answer.
	Status int
	// Err is the cause. For HTTP error responses it is a plain error holding
	// PagerDuty's message (go-pagerduty's types do not leak out of this
	// package); for transport failures it is the standard library's error, so
	// errors.Is(err, context.DeadlineExceeded) works.
	Err error
}

func (e *Error) Error() string {
	var b strings.Builder
	b.WriteString("pagerduty: ")
	b.WriteString(e.Op)
	b.WriteString(": ")
	b.WriteString(e.Kind.String())
	if e.Status != 0 {
		fmt.Fprintf(&b, " (%d)", e.Status)
	}
	if d := detail(e.Err); d != "" {
		b.WriteString(": ")
		b.WriteString(d)
	}
	return b.String()
}

// Unwrap returns the cause.
func (e *Error) Unwrap() error { return e.Err }

// KindOf returns the kind of the first *Error in err's chain, or Unknown.
func KindOf(err error) ErrorKind {
	var e *Error
	if errors.As(err, &e) {
		return e.Kind
	}
	return Unknown
}

// detail renders the cause on one short line. A *url.Error is unwrapped
// because its quoted request URL makes the line long and adds nothing the Op
// does not already say.
func detail(err error) string {
	if err == nil {
		return ""
	}
	var ue *url.Error
	if errors.As(err, &ue) && ue.Err != nil {
		err = ue.Err
	}
	return oneLine(err.Error())
}

// oneLine keeps server-supplied text from breaking a log line or a Slack
// message: the first line only, at most 200 bytes.
func oneLine(s string) string {
	s = strings.TrimSpace(s)
	if i := strings.IndexAny(s, "\r\n"); i >= 0 {
		s = strings.TrimSpace(s[:i])
	}
	if len(s) > 200 {
		s = s[:200] + "…"
	}
	return s
}

// kindForStatus maps an HTTP status from PagerDuty to a kind.
func kindForStatus(code int) ErrorKind {
	switch {
	case code == http.StatusNotFound:
		return NotFound
	case code == http.StatusUnauthorized || code == http.StatusForbidden:
		return Unauthorized
	case code == http.StatusTooManyRequests:
		return RateLimited
	case code == http.StatusRequestTimeout || code >= 500:
		return Unavailable
	case code == http.StatusBadRequest:
		return Invalid
	default:
		return BadResponse
	}
}

// transportErrKey carries a *transportErr in a request's context; see
// recordingClient.
type transportErrKey struct{}

type transportErr struct{ err error }

// recordingClient is go-pagerduty's HTTPClient. go-pagerduty reports a
// transport failure as fmt.Errorf("error calling the API endpoint: %v"), which
// drops the cause's type, so a timeout could not be told from a parse error.
// Recording the original error in a holder that travels in the request's
// context keeps it, per call and without shared state.
type recordingClient struct{ c *http.Client }

func (rc recordingClient) Do(req *http.Request) (*http.Response, error) {
	resp, err := rc.c.Do(req)
	if err != nil {
		if h, ok := req.Context().Value(transportErrKey{}).(*transportErr); ok {
			h.err = err
		}
	}
	return resp, err
}

// classify turns an error from go-pagerduty into an *Error. ctx is the
// caller's context, h the holder recordingClient filled in.
func classify(ctx context.Context, op string, h *transportErr, err error) *Error {
	if err == nil {
		return nil
	}
	var own *Error
	if errors.As(err, &own) {
		if own.Op == "" {
			cp := *own
			cp.Op = op
			return &cp
		}
		return own
	}
	e := &Error{Op: op, Err: err}

	var (
		ae pd.APIError
		ne net.Error
		se *json.SyntaxError
		te *json.UnmarshalTypeError
	)
	switch {
	case ctx.Err() != nil:
		e.Kind, e.Err = Unavailable, ctx.Err()
	case h != nil && h.err != nil:
		// Connection refused, DNS or TLS failure, http.Client timeout.
		e.Kind, e.Err = Unavailable, h.err
	case errors.As(err, &ae):
		e.Status = ae.StatusCode
		e.Kind = kindForStatus(ae.StatusCode)
		e.Err = apiMessage(ae)
	case errors.As(err, &ne), errors.Is(err, io.ErrUnexpectedEOF):
		// The body was cut short while being read.
		e.Kind = Unavailable
	case errors.As(err, &se), errors.As(err, &te):
		e.Kind = BadResponse
	default:
		e.Kind = BadResponse
	}
	return e
}

// apiMessage is PagerDuty's error message and first detail, or the status
// text when the body held no JSON error object (a proxy's HTML page, say).
func apiMessage(ae pd.APIError) error {
	var msg string
	if ae.APIError.Valid {
		obj := ae.APIError.ErrorObject
		msg = oneLine(obj.Message)
		if len(obj.Errors) > 0 {
			if msg != "" {
				msg += ": "
			}
			msg += oneLine(strings.Join(obj.Errors, "; "))
		}
	}
	if msg == "" {
		msg = http.StatusText(ae.StatusCode)
	}
	if msg == "" {
		msg = "no message"
	}
	return errors.New(msg)
}
