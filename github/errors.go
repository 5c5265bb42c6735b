package github

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
	"time"

	gh "github.com/google/go-github/v60/github"
)

// ErrorKind classifies a failure so that the ownership resolver can decide
// what to do without knowing go-github's error types: fall through to the
// next layer, keep the last good snapshot, or back off.
type ErrorKind int

const (
	// Unknown is the kind of a nil error or of an error this package did not
	// produce.
	Unknown ErrorKind = iota
	// NotFound: the repository, file or path does not exist (or is private
	// and the token cannot see it; GitHub answers 404 for both).
	NotFound
	// Unauthorized: the token is missing, wrong, expired or lacks a
	// permission (401, 403 that is not a rate limit).
	Unauthorized
	// RateLimited: the primary or secondary rate limit was hit (403 with
	// X-RateLimit-Remaining: 0, a secondary-limit 403, or 429). go-github also
	// refuses requests locally until the limit resets; that is reported here
	// too.
	RateLimited
	// Unavailable: GitHub could not be reached or answered 5xx, or the
	// request timed out or was cancelled. Usually temporary.
	Unavailable
	// BadResponse: GitHub answered something this package cannot use
	// (malformed JSON, an unexpected status, an unsupported encoding).
	BadResponse
	// Invalid: the arguments were malformed (a repo that is not
	// "owner/name", a bad base URL) or GitHub rejected the request as invalid
	// (400, 422). Retrying will not help.
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
//	github: read acme/api CODEOWNERS: unauthorized (401): Bad credentials
//
// so callers can show it as the reason an ownership layer was skipped.
type Error struct {
	Kind ErrorKind
	// Op says what was being done, e.g. "read acme/api CODEOWNERS".
	Op string
	// Status is the HTTP status GitHub answered, 0 when there was no answer.
	Status int
	// Err is the cause. For HTTP error responses it is a plain error holding
	// GitHub's message (go-github's types do not leak out of this package);
	// for transport failures it is the standard library's error, so
	// errors.Is(err, context.DeadlineExceeded) works.
	Err error
}

func (e *Error) Error() string {
	var b strings.Builder
	b.WriteString("github: ")
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

// kindForStatus maps an HTTP status from GitHub to a kind.
func kindForStatus(code int) ErrorKind {
	switch {
	case code == http.StatusNotFound || code == http.StatusGone:
		return NotFound
	case code == http.StatusUnauthorized || code == http.StatusForbidden:
		return Unauthorized
	case code == http.StatusTooManyRequests:
		return RateLimited
	case code == http.StatusRequestTimeout || code >= 500:
		return Unavailable
	case code == http.StatusBadRequest || code == http.StatusUnprocessableEntity:
		return Invalid
	default:
		return BadResponse
	}
}

// message is GitHub's error message, or the status text when the body had
// none (a proxy's HTML error page, for instance).
func message(msg string, code int) error {
	msg = oneLine(msg)
	if msg == "" {
		msg = http.StatusText(code)
	}
	if msg == "" {
		msg = "no message"
	}
	return errors.New(msg)
}

func statusOf(r *http.Response) int {
	if r == nil {
		return 0
	}
	return r.StatusCode
}

// classify turns an error from go-github into an *Error. ctx is the caller's
// context: when it is done, the failure is reported as Unavailable whatever
// shape the transport gave it.
func classify(ctx context.Context, op string, err error) *Error {
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
		rl  *gh.RateLimitError
		ab  *gh.AbuseRateLimitError
		tf  *gh.TwoFactorAuthError
		acc *gh.AcceptedError
		er  *gh.ErrorResponse
		ne  net.Error
		se  *json.SyntaxError
		te  *json.UnmarshalTypeError
	)
	switch {
	case errors.Is(err, context.DeadlineExceeded), errors.Is(err, context.Canceled):
		e.Kind = Unavailable
	case errors.As(err, &rl):
		e.Kind, e.Status = RateLimited, statusOf(rl.Response)
		msg := oneLine(rl.Message)
		if msg == "" {
			msg = "API rate limit exceeded"
		}
		if !rl.Rate.Reset.IsZero() {
			msg += "; resets at " + rl.Rate.Reset.UTC().Format(time.RFC3339)
		}
		e.Err = errors.New(msg)
	case errors.As(err, &ab):
		e.Kind, e.Status = RateLimited, statusOf(ab.Response)
		msg := oneLine(ab.Message)
		if msg == "" {
			msg = "secondary rate limit exceeded"
		}
		if ab.RetryAfter != nil {
			msg += "; retry after " + ab.RetryAfter.String()
		}
		e.Err = errors.New(msg)
	case errors.As(err, &tf):
		e.Kind, e.Status = Unauthorized, statusOf(tf.Response)
		e.Err = message(tf.Message, e.Status)
	case errors.As(err, &acc):
		// 202: GitHub is computing the answer in the background.
		e.Kind, e.Status = Unavailable, http.StatusAccepted
		e.Err = errors.New("GitHub is still preparing the result; try again later")
	case errors.As(err, &er):
		e.Status = statusOf(er.Response)
		e.Kind = kindForStatus(e.Status)
		e.Err = message(er.Message, e.Status)
	case errors.Is(err, gh.ErrPathForbidden):
		e.Kind = Invalid
		e.Err = errors.New("path must not contain '..'")
	case errors.As(err, &ne), errors.Is(err, io.ErrUnexpectedEOF), errors.Is(err, io.EOF):
		// Connection refused, DNS failure, TLS failure, http.Client timeout,
		// a body cut short: all "could not get an answer".
		e.Kind = Unavailable
	case errors.As(err, &se), errors.As(err, &te):
		e.Kind = BadResponse
	case ctx.Err() != nil:
		e.Kind, e.Err = Unavailable, ctx.Err()
	default:
		e.Kind = BadResponse
	}
	return e
}
