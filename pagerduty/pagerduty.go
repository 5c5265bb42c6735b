// Package pagerduty answers "who is on call now" from PagerDuty's REST API,
// one of the layers Mandate's ownership resolver consults. It wraps
// github.com/PagerDuty/go-pagerduty; per DESIGN.md this package is the only
// place that library's types appear, so callers see plain structs and a
// classified *Error.
//
// The calls are made by background refreshers that rebuild the ownership
// snapshot, never per request.
package pagerduty

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"sort"
	"strings"
	"time"

	pd "github.com/PagerDuty/go-pagerduty"
)

// DefaultBaseURL is PagerDuty's REST API (US service region).
const DefaultBaseURL = "https://api.pagerduty.com"

// defaultTimeout bounds a request when the caller brings no http.Client: a
// refresher stuck on a dead connection would otherwise keep a stale snapshot
// forever without saying why.
const defaultTimeout = 15 * time.Second

// pageSize is the largest page PagerDuty serves for classic pagination.
const pageSize = 100

// Client reads from one PagerDuty account. It is safe for concurrent use.
type Client struct {
	pd *pd.Client
	// cfgErr is a bad base URL, reported by every call: New returns no error
	// so that wiring stays a one-liner.
	cfgErr error
}

// New returns a REST API client authenticated with an API token (sent as
// "Authorization: Token token=…"). An empty baseURL means DefaultBaseURL
// (use https://api.eu.pagerduty.com for the EU region, or a test server's
// URL). httpClient may be nil, in which case one with a 15 s timeout is used.
// A malformed baseURL makes every call fail with an Invalid error.
func New(token, baseURL string, httpClient *http.Client) *Client {
	if baseURL == "" {
		baseURL = DefaultBaseURL
	}
	// go-pagerduty joins the endpoint and "/oncalls" by concatenation.
	baseURL = strings.TrimRight(baseURL, "/")
	var cfgErr error
	if u, err := url.Parse(baseURL); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		cfgErr = &Error{Source: source, Kind: Invalid, Err: fmt.Errorf("base URL %q is not an absolute http(s) URL", baseURL)}
	}
	if httpClient == nil {
		httpClient = &http.Client{Timeout: defaultTimeout}
	}
	c := pd.NewClient(token, pd.WithAPIEndpoint(baseURL))
	c.HTTPClient = recordingClient{c: httpClient}
	return &Client{pd: c, cfgErr: cfgErr}
}

// OnCall is one on-call entry: a user holding one escalation level of one
// escalation policy, through a schedule or directly.
type OnCall struct {
	UserID string
	Name   string
	Email  string
	// EscalationLevel is 1 for the first responder, 2 for the next, and so
	// on.
	EscalationLevel int
	PolicyID        string
	// ScheduleID is empty when the user is a direct target of the
	// escalation rule rather than on call through a schedule.
	ScheduleID string
	// Start and End bound this shift; they are zero when open-ended (always
	// the case for direct targets).
	Start, End time.Time
}

// OnCall lists who is on call now for the given escalation policies and
// schedules; PagerDuty applies both filters when both are given. It asks for
// users to be included, so that emails come back, and for the earliest entry
// per policy, level and user, so that one person is not listed once per
// overlapping shift. go-pagerduty does not paginate ListOnCalls itself, so
// OnCall follows "more" page by page.
//
// The result is sorted by escalation level, then user name, user ID, policy
// and schedule. With no policies and no schedules it returns nothing and makes
// no request: PagerDuty would otherwise list every on-call in the account.
func (c *Client) OnCall(ctx context.Context, policyIDs, scheduleIDs []string) ([]OnCall, error) {
	const op = "list on-calls"
	if c.cfgErr != nil {
		return nil, classify(ctx, op, nil, c.cfgErr)
	}
	if len(policyIDs) == 0 && len(scheduleIDs) == 0 {
		return nil, nil
	}
	holder := &transportErr{}
	ctx2 := context.WithValue(ctx, transportErrKey{}, holder)
	opts := pd.ListOnCallOptions{
		EscalationPolicyIDs: policyIDs,
		ScheduleIDs:         scheduleIDs,
		Includes:            []string{"users"},
		Earliest:            true,
		Limit:               pageSize,
	}

	type key struct {
		user, policy, schedule string
		level                  uint
		start, end             string
	}
	seen := map[key]bool{}
	var out []OnCall
	for {
		resp, err := c.pd.ListOnCallsWithContext(ctx2, opts)
		if err != nil {
			return nil, classify(ctx, op, holder, err)
		}
		for _, oc := range resp.OnCalls {
			// Offset pagination can repeat an entry when the data shift
			// between pages.
			k := key{oc.User.ID, oc.EscalationPolicy.ID, oc.Schedule.ID, oc.EscalationLevel, oc.Start, oc.End}
			if seen[k] {
				continue
			}
			seen[k] = true
			o, err := convert(oc)
			if err != nil {
				return nil, &Error{Source: source, Kind: BadResponse, Op: op, Err: err}
			}
			out = append(out, o)
		}
		if !resp.More {
			break
		}
		if len(resp.OnCalls) == 0 {
			// More promised, nothing given: following it would loop forever.
			return nil, &Error{Source: source, Kind: BadResponse, Op: op, Err: fmt.Errorf("page at offset %d is empty but more=true", opts.Offset)}
		}
		step := resp.Limit
		if step == 0 {
			step = uint(len(resp.OnCalls))
		}
		opts.Offset += step
	}

	sort.Slice(out, func(i, j int) bool {
		a, b := out[i], out[j]
		if a.EscalationLevel != b.EscalationLevel {
			return a.EscalationLevel < b.EscalationLevel
		}
		if an, bn := strings.ToLower(a.Name), strings.ToLower(b.Name); an != bn {
			return an < bn
		}
		if a.UserID != b.UserID {
			return a.UserID < b.UserID
		}
		if a.PolicyID != b.PolicyID {
			return a.PolicyID < b.PolicyID
		}
		if a.ScheduleID != b.ScheduleID {
			return a.ScheduleID < b.ScheduleID
		}
		return a.Start.Before(b.Start)
	})
	return out, nil
}

func convert(oc pd.OnCall) (OnCall, error) {
	o := OnCall{
		UserID:          oc.User.ID,
		Name:            oc.User.Name,
		Email:           oc.User.Email,
		EscalationLevel: int(oc.EscalationLevel),
		PolicyID:        oc.EscalationPolicy.ID,
		ScheduleID:      oc.Schedule.ID,
	}
	if o.Name == "" {
		// Without a full user object only the reference's summary (the
		// user's name) is there.
		o.Name = oc.User.Summary
	}
	var err error
	if o.Start, err = parseTime(oc.Start); err != nil {
		return OnCall{}, fmt.Errorf("on-call start of user %s: %w", o.UserID, err)
	}
	if o.End, err = parseTime(oc.End); err != nil {
		return OnCall{}, fmt.Errorf("on-call end of user %s: %w", o.UserID, err)
	}
	return o, nil
}

// parseTime reads PagerDuty's ISO 8601 timestamps; null arrives as "".
func parseTime(s string) (time.Time, error) {
	if s == "" {
		return time.Time{}, nil
	}
	t, err := time.Parse(time.RFC3339, s)
	if err != nil {
		return time.Time{}, err
	}
	return t.UTC(), nil
}
