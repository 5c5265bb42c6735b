package github

import (
	"context"
	"encoding/json"
	"errors"
	"github.com/mandatehq/mandate"
	"io"
	"net"
	"net/http"
	"time"

	gh "github.com/google/go-github/v60/github"
)

// ErrorKind classifies a failure; see mandate.SourceErrorKind.
type ErrorKind = mandate.SourceErrorKind

// The kinds of failure.
const (
	Unknown      = mandate.SourceUnknown
	NotFound     = mandate.SourceNotFound
	Unauthorized = mandate.SourceUnauthorized
	RateLimited  = mandate.SourceRateLimited
	Unavailable  = mandate.SourceUnavailable
	BadResponse  = mandate.SourceBadResponse
	Invalid      = mandate.SourceInvalid
)

// Error is the only error type this package's Client methods return.
type Error = mandate.SourceError

// source names this package's errors.
const source = "github"

// KindOf returns the kind of the first *Error in err's chain, or Unknown.
func KindOf(err error) ErrorKind { return mandate.SourceErrorKindOf(err) }

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
	msg = mandate.OneLine(msg)
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
	e := &Error{Source: source, Op: op, Err: err}

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
		msg := mandate.OneLine(rl.Message)
		if msg == "" {
			msg = "API rate limit exceeded"
		}
		if !rl.Rate.Reset.IsZero() {
			msg += "; resets at " + rl.Rate.Reset.UTC().Format(time.RFC3339)
		}
		e.Err = errors.New(msg)
	case errors.As(err, &ab):
		e.Kind, e.Status = RateLimited, statusOf(ab.Response)
		msg := mandate.OneLine(ab.Message)
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
