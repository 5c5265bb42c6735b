package pagerduty

import (
	"context"
	"encoding/json"
	"errors"
	"github.com/mandatehq/mandate"
	"io"
	"net"
	"net/http"
	"strings"

	pd "github.com/PagerDuty/go-pagerduty"
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
const source = "pagerduty"

// KindOf returns the kind of the first *Error in err's chain, or Unknown.
func KindOf(err error) ErrorKind { return mandate.SourceErrorKindOf(err) }

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
	e := &Error{Source: source, Op: op, Err: err}

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
		msg = mandate.OneLine(obj.Message)
		if len(obj.Errors) > 0 {
			if msg != "" {
				msg += ": "
			}
			msg += mandate.OneLine(strings.Join(obj.Errors, "; "))
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
