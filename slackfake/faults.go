package slackfake

import (
	"net/http"
	"strconv"
)

// Fault makes calls to a method fail, to test how the bot copes with Slack
// errors, rate limits and outages. By default (no faults) the fake accepts
// every well-formed call and never rate-limits.
type Fault struct {
	// Error is the Slack error code of an {"ok":false,"error":…} answer.
	// Default "ratelimited" for status 429, "fatal_error" otherwise.
	Error string
	// Status is the HTTP status. 0 means 200 (a plain Slack error). 429
	// always carries a Retry-After header, which slack-go turns into
	// *slack.RateLimitedError; any other non-200 status becomes
	// slack.StatusCodeError.
	Status int
	// RetryAfter is the Retry-After value in seconds for status 429.
	RetryAfter int
	// Times is how many calls fail: 0 means one, a negative value means every
	// call until ClearFaults.
	Times int
	// Applied makes the call take effect before the failure is answered, as when
	// Slack posts a message but the answer is lost (a timeout, a 5xx from a proxy):
	// the case a client must not turn into a double post.
	Applied bool
}

type faultState struct {
	Fault
	left int // < 0: forever
}

// Fail makes the next Times calls to method fail with f. Method "*" matches
// every method; "response_url" matches response_url posts. Faults for one
// method queue up and are used in the order given; method-specific faults
// are used before "*" ones.
func (s *Server) Fail(method string, f Fault) {
	s.mu.Lock()
	defer s.mu.Unlock()
	left := f.Times
	if left == 0 {
		left = 1
	}
	s.faults[method] = append(s.faults[method], &faultState{Fault: f, left: left})
}

// ClearFaults removes every pending fault, back to accepting everything.
func (s *Server) ClearFaults() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.faults = map[string][]*faultState{}
}

// takeFault consumes one use of the first fault for method. Callers hold
// s.mu.
func (s *Server) takeFault(method string) *Fault {
	for _, key := range []string{method, "*"} {
		q := s.faults[key]
		if len(q) == 0 {
			continue
		}
		f := q[0]
		if f.left > 0 {
			f.left--
			if f.left == 0 {
				s.faults[key] = q[1:]
			}
		}
		out := f.Fault
		return &out
	}
	return nil
}

// answer returns the HTTP status and Slack error code of the fault.
func (f *Fault) answer() (status int, code string) {
	status = f.Status
	if status == 0 {
		status = http.StatusOK
	}
	code = f.Error
	if code == "" {
		code = "fatal_error"
		if status == http.StatusTooManyRequests {
			code = "ratelimited"
		}
	}
	return status, code
}

// writeFault answers as Slack does: rate limits and plain errors with a JSON
// body, outages with HTML (slack-go does not parse non-200 bodies).
func writeFault(w http.ResponseWriter, f *Fault) {
	status, code := f.answer()
	if status == http.StatusTooManyRequests {
		w.Header().Set("Retry-After", strconv.Itoa(f.RetryAfter))
	}
	if status == http.StatusOK || status == http.StatusTooManyRequests {
		writeJSON(w, status, map[string]any{"ok": false, "error": code})
		return
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.WriteHeader(status)
	_, _ = w.Write([]byte("<html><body>slackfake: injected " + strconv.Itoa(status) + "</body></html>"))
}
