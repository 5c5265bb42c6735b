package notify

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/PagerDuty/go-pagerduty"
)

const chPagerDuty = "pagerduty"

// DefaultPagerDutyEndpoint is the Events API v2 base URL; "/v2/enqueue" is appended.
const DefaultPagerDutyEndpoint = "https://events.pagerduty.com"

// PagerDuty pages through the PagerDuty Events API v2: when a gate gets no answer,
// escalation runs out of Slack steps, or Slack itself is down.
type PagerDuty struct {
	// RoutingKey is the integration key of a PagerDuty service (Events API v2).
	RoutingKey string
	// Endpoint defaults to DefaultPagerDutyEndpoint; tests point it at a local server.
	Endpoint string
	// HTTPClient defaults to one with a 10 s timeout.
	HTTPClient *http.Client
	// Pages, when set, remembers every incident Mandate opens about an action, so a
	// human's answer in Slack can acknowledge or resolve it (Answer).
	Pages PageStore
}

// Incident is what Trigger sends. DedupKey identifies the incident in PagerDuty, so a
// retried trigger does not open a second incident and Acknowledge/Resolve can find it.
type Incident struct {
	DedupKey  string
	Summary   string // required; PagerDuty's limit is 1024 characters, longer is cut with "…"
	Severity  string // critical, error, warning or info
	Component string
	Group     string
	Class     string
	// ActionID, AffectedServices and SuggestedRecovery go to payload.custom_details, so the
	// responder sees what the agent did and what to do about it without opening Mandate.
	ActionID          string
	AffectedServices  []string
	SuggestedRecovery string
	Links             []Link
	Timestamp         time.Time // when it happened; zero leaves it to PagerDuty
}

// Link is a link shown on the PagerDuty incident (the action in Mandate, the Slack thread).
type Link struct {
	Href string `json:"href"`
	Text string `json:"text,omitempty"`
}

// Limits of the Events API v2.
const (
	pdMaxSummary  = 1024
	pdMaxDedupKey = 255
)

var pdSeverities = map[string]bool{"critical": true, "error": true, "warning": true, "info": true}

// pdDetails is payload.custom_details.
type pdDetails struct {
	ActionID          string   `json:"action_id,omitempty"`
	AffectedServices  []string `json:"affected_services,omitempty"`
	SuggestedRecovery string   `json:"suggested_recovery,omitempty"`
}

// Trigger opens (or, with the same DedupKey, updates) a PagerDuty incident.
func (p *PagerDuty) Trigger(ctx context.Context, in Incident) error {
	if in.DedupKey == "" {
		// Trigger returns no key, and without one Acknowledge and Resolve could not
		// reach the incident, and a retried trigger would page twice.
		return permanentf(chPagerDuty, "trigger: empty dedup key")
	}
	if len(in.DedupKey) > pdMaxDedupKey {
		return permanentf(chPagerDuty, "trigger: dedup key longer than %d bytes", pdMaxDedupKey)
	}
	if !pdSeverities[in.Severity] {
		return permanentf(chPagerDuty, "trigger: severity %q: want critical, error, warning or info", in.Severity)
	}
	summary := strings.TrimSpace(in.Summary)
	if summary == "" {
		return permanentf(chPagerDuty, "trigger: empty summary")
	}
	if utf8.RuneCountInString(summary) > pdMaxSummary {
		summary = string([]rune(summary)[:pdMaxSummary-1]) + "…"
	}
	payload := &pagerduty.V2Payload{
		Summary:   summary,
		Source:    "mandate",
		Severity:  in.Severity,
		Component: in.Component,
		Group:     in.Group,
		Class:     in.Class,
		Details: pdDetails{
			ActionID:          in.ActionID,
			AffectedServices:  in.AffectedServices,
			SuggestedRecovery: in.SuggestedRecovery,
		},
	}
	if !in.Timestamp.IsZero() {
		payload.Timestamp = in.Timestamp.UTC().Format(time.RFC3339)
	}
	ev := &pagerduty.V2Event{Action: "trigger", DedupKey: in.DedupKey, Payload: payload}
	for _, l := range in.Links {
		ev.Links = append(ev.Links, l)
	}
	return p.send(ctx, ev)
}

// Acknowledge marks the incident with dedupKey acknowledged: somebody answered in Slack,
// so the on-call need not be woken further.
func (p *PagerDuty) Acknowledge(ctx context.Context, dedupKey string) error {
	return p.update(ctx, "acknowledge", dedupKey)
}

// Resolve closes the incident with dedupKey.
func (p *PagerDuty) Resolve(ctx context.Context, dedupKey string) error {
	return p.update(ctx, "resolve", dedupKey)
}

func (p *PagerDuty) update(ctx context.Context, action, dedupKey string) error {
	if dedupKey == "" {
		return permanentf(chPagerDuty, "%s: empty dedup key", action)
	}
	return p.send(ctx, &pagerduty.V2Event{Action: action, DedupKey: dedupKey})
}

// send posts one event through go-pagerduty's client and classifies the outcome.
func (p *PagerDuty) send(ctx context.Context, ev *pagerduty.V2Event) error {
	if p.RoutingKey == "" {
		return permanentf(chPagerDuty, "%s: no routing key configured", ev.Action)
	}
	ev.RoutingKey = p.RoutingKey
	endpoint := strings.TrimRight(p.Endpoint, "/") // the client appends "/v2/enqueue"
	if endpoint == "" {
		endpoint = DefaultPagerDutyEndpoint
	}
	// A client per call is cheap (no connections of its own: those live in the
	// http.Client) and gives each call its own capture, so concurrent sends cannot see
	// each other's errors.
	capt := &pdCapture{next: p.HTTPClient}
	if capt.next == nil {
		capt.next = pdHTTPClient
	}
	c := pagerduty.NewClient("", pagerduty.WithV2EventsAPIEndpoint(endpoint))
	c.HTTPClient = capt
	_, err := c.ManageEventWithContext(ctx, ev)
	switch {
	case !capt.called && err != nil:
		// Failed before sending: the request could not be built (a bad Endpoint).
		return permanentf(chPagerDuty, "%s: %v", ev.Action, err)
	case capt.err != nil:
		return transportError(chPagerDuty, fmt.Errorf("%s: %w", ev.Action, capt.err))
	case capt.status != 0:
		return capt.deliveryError(p.RoutingKey)
	}
	// A 2xx whose body is not the JSON the client expects still means PagerDuty took
	// the event; failing here would only make the queue send it again. So err is
	// ignored.
	return nil
}

// pdHTTPClient is the default client, shared so connections are reused.
var pdHTTPClient = &http.Client{Timeout: defaultHTTPTimeout}

// pdCapture sits in go-pagerduty's Client.HTTPClient to keep what the client drops: it
// formats transport errors with %v (losing net.Error and context errors) and decodes
// error bodies as the REST API's {"error": {…}}, so the Events API's
// {"status","message","errors"} reaches us as "no JSON error object was present".
type pdCapture struct {
	next   *http.Client
	called bool
	err    error
	status int
	header http.Header
	body   []byte
}

func (c *pdCapture) Do(req *http.Request) (*http.Response, error) {
	c.called = true
	resp, err := c.next.Do(req)
	if err != nil {
		c.err = err
		return resp, err
	}
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		c.status, c.header = resp.StatusCode, resp.Header
		c.body, _ = io.ReadAll(io.LimitReader(resp.Body, maxErrorBody))
		resp.Body.Close()
		// Hand the client the same bytes so it behaves as if we were not here.
		resp.Body = io.NopCloser(bytes.NewReader(c.body))
	}
	return resp, nil
}

// deliveryError turns a captured non-2xx answer into
// "pagerduty events: 400: Event object is invalid: <errors> (routing key …abcd)".
func (c *pdCapture) deliveryError(routingKey string) *DeliveryError {
	var doc struct {
		Status  string   `json:"status"`
		Message string   `json:"message"`
		Errors  []string `json:"errors"`
	}
	var text string
	if json.Unmarshal(c.body, &doc) == nil && (doc.Message != "" || len(doc.Errors) > 0) {
		text = doc.Message
		if text == "" {
			text = doc.Status
		}
		if len(doc.Errors) > 0 {
			text += ": " + strings.Join(doc.Errors, "; ")
		}
	} else if s := snippet(c.body); s != "" {
		text = s
	} else {
		text = http.StatusText(c.status)
	}
	return &DeliveryError{
		Channel:   chPagerDuty,
		Code:      c.status,
		Temporary: httpRetryable(c.status),
		Wait:      parseRetryAfter(c.header.Get("Retry-After"), time.Now()),
		msg:       fmt.Sprintf("%s: %d: %s (routing key %s)", label(chPagerDuty), c.status, text, redactKey(routingKey)),
	}
}

// redactKey shows enough of a routing key to tell which integration is misconfigured
// without putting a usable key into logs and the database.
func redactKey(k string) string {
	if len(k) < 12 {
		return "…"
	}
	return "…" + k[len(k)-4:]
}
