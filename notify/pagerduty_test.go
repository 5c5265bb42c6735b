package notify

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"reflect"
	"strings"
	"testing"
	"time"
)

const testRoutingKey = "R0UT1NGKEY0123456789abcdefXYZ9"

// pdServer is a stand-in for the Events API: it records every event and answers with
// whatever respond says (by default 202 success).
type pdServer struct {
	*httptest.Server
	events  chan map[string]any
	respond func(w http.ResponseWriter, r *http.Request, ev map[string]any)
}

func newPDServer(t *testing.T) *pdServer {
	t.Helper()
	s := &pdServer{events: make(chan map[string]any, 10)}
	s.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodPost || r.URL.Path != "/v2/enqueue" {
			t.Errorf("request %s %s, want POST /v2/enqueue", r.Method, r.URL.Path)
			http.NotFound(w, r)
			return
		}
		if got := r.Header.Get("Authorization"); got != "" {
			t.Errorf("Authorization %q sent to the Events API; the routing key is in the body", got)
		}
		body, _ := io.ReadAll(r.Body)
		var ev map[string]any
		if err := json.Unmarshal(body, &ev); err != nil {
			t.Errorf("body %s: %v", body, err)
		}
		s.events <- ev
		if s.respond != nil {
			s.respond(w, r, ev)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusAccepted)
		json.NewEncoder(w).Encode(map[string]any{"status": "success", "message": "Event processed", "dedup_key": ev["dedup_key"]})
	}))
	t.Cleanup(s.Close)
	return s
}

func (s *pdServer) pagerDuty() *PagerDuty {
	return &PagerDuty{RoutingKey: testRoutingKey, Endpoint: s.URL + "/", HTTPClient: s.Client()}
}

func (s *pdServer) next(t *testing.T) map[string]any {
	t.Helper()
	select {
	case ev := <-s.events:
		return ev
	default:
		t.Fatal("no event reached the server")
		return nil
	}
}

func roundTrip(t *testing.T, v any) any {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	var out any
	if err := json.Unmarshal(b, &out); err != nil {
		t.Fatal(err)
	}
	return out
}

func TestPagerDutyTriggerAcknowledgeResolve(t *testing.T) {
	srv := newPDServer(t)
	pd := srv.pagerDuty()
	ctx := context.Background()
	at := time.Date(2025, 3, 4, 5, 6, 7, 0, time.UTC)

	err := pd.Trigger(ctx, Incident{
		DedupKey:          "mandate-act_42",
		Summary:           "deploy-bot dropped table orders in prod",
		Severity:          "critical",
		Component:         "orders-db",
		Group:             "payments",
		Class:             "irreversible",
		ActionID:          "act_42",
		AffectedServices:  []string{"orders", "billing"},
		SuggestedRecovery: "restore from snapshot",
		Links:             []Link{{Href: "https://mandate.example/actions/act_42", Text: "Action in Mandate"}},
		Timestamp:         at,
	})
	if err != nil {
		t.Fatalf("Trigger: %v", err)
	}
	want := roundTrip(t, map[string]any{
		"routing_key":  testRoutingKey,
		"event_action": "trigger",
		"dedup_key":    "mandate-act_42",
		"links":        []any{map[string]any{"href": "https://mandate.example/actions/act_42", "text": "Action in Mandate"}},
		"payload": map[string]any{
			"summary":   "deploy-bot dropped table orders in prod",
			"source":    "mandate",
			"severity":  "critical",
			"timestamp": "2025-03-04T05:06:07Z",
			"component": "orders-db",
			"group":     "payments",
			"class":     "irreversible",
			"custom_details": map[string]any{
				"action_id":          "act_42",
				"affected_services":  []any{"orders", "billing"},
				"suggested_recovery": "restore from snapshot",
			},
		},
	})
	if got := srv.next(t); !reflect.DeepEqual(got, want) {
		t.Errorf("trigger event\n got %v\nwant %v", got, want)
	}

	if err := pd.Acknowledge(ctx, "mandate-act_42"); err != nil {
		t.Fatalf("Acknowledge: %v", err)
	}
	ack := srv.next(t)
	if ack["event_action"] != "acknowledge" || ack["dedup_key"] != "mandate-act_42" || ack["routing_key"] != testRoutingKey {
		t.Errorf("acknowledge event %v", ack)
	}
	if _, ok := ack["payload"]; ok {
		t.Errorf("acknowledge carries a payload: %v", ack)
	}

	if err := pd.Resolve(ctx, "mandate-act_42"); err != nil {
		t.Fatalf("Resolve: %v", err)
	}
	res := srv.next(t)
	if res["event_action"] != "resolve" || res["dedup_key"] != "mandate-act_42" || res["routing_key"] != testRoutingKey {
		t.Errorf("resolve event %v", res)
	}
}

func TestPagerDutyLongSummaryTruncated(t *testing.T) {
	srv := newPDServer(t)
	long := strings.Repeat("é", 2000)
	if err := srv.pagerDuty().Trigger(context.Background(), Incident{DedupKey: "k", Summary: long, Severity: "info"}); err != nil {
		t.Fatal(err)
	}
	got := srv.next(t)["payload"].(map[string]any)["summary"].(string)
	if n := len([]rune(got)); n != 1024 || !strings.HasSuffix(got, "…") {
		t.Errorf("summary has %d runes, ends %q; want 1024 ending in …", n, got[len(got)-8:])
	}
}

func TestPagerDutyValidation(t *testing.T) {
	srv := newPDServer(t)
	pd := srv.pagerDuty()
	ctx := context.Background()
	ok := Incident{DedupKey: "k", Summary: "s", Severity: "error"}
	for name, tc := range map[string]struct {
		call func() error
		want string
	}{
		"severity":    {func() error { in := ok; in.Severity = "urgent"; return pd.Trigger(ctx, in) }, `severity "urgent"`},
		"no severity": {func() error { in := ok; in.Severity = ""; return pd.Trigger(ctx, in) }, `severity ""`},
		"summary":     {func() error { in := ok; in.Summary = "  "; return pd.Trigger(ctx, in) }, "empty summary"},
		"dedup key":   {func() error { in := ok; in.DedupKey = ""; return pd.Trigger(ctx, in) }, "empty dedup key"},
		"ack no key":  {func() error { return pd.Acknowledge(ctx, "") }, "acknowledge: empty dedup key"},
		"routing key": {func() error { p := *pd; p.RoutingKey = ""; return p.Resolve(ctx, "k") }, "no routing key"},
		"bad endpoint": {func() error {
			p := *pd
			p.Endpoint = "http://bad host"
			return p.Resolve(ctx, "k")
		}, "resolve"},
	} {
		t.Run(name, func(t *testing.T) {
			err := tc.call()
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("err = %v, want it to mention %q", err, tc.want)
			}
			if Retryable(err) {
				t.Errorf("%v is retryable; invalid input never heals", err)
			}
		})
	}
	select {
	case ev := <-srv.events:
		t.Errorf("invalid input reached PagerDuty: %v", ev)
	default:
	}
}

func TestPagerDutyInvalidEvent(t *testing.T) {
	srv := newPDServer(t)
	srv.respond = func(w http.ResponseWriter, r *http.Request, ev map[string]any) {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusBadRequest)
		io.WriteString(w, `{"status":"invalid event","message":"Event object is invalid","errors":["'payload.severity' is invalid (must be one of the following: 'critical', 'warning', 'error' or 'info')"]}`)
	}
	err := srv.pagerDuty().Trigger(context.Background(), Incident{DedupKey: "k", Summary: "s", Severity: "info"})
	if err == nil {
		t.Fatal("Trigger succeeded on a 400")
	}
	const want = "pagerduty events: 400: Event object is invalid: 'payload.severity' is invalid (must be one of the following: 'critical', 'warning', 'error' or 'info') (routing key …XYZ9)"
	if err.Error() != want {
		t.Errorf("err =\n%s\nwant\n%s", err, want)
	}
	if strings.Contains(err.Error(), testRoutingKey) {
		t.Error("the error shows the whole routing key")
	}
	if Retryable(err) {
		t.Error("400 is retryable")
	}
	var de *DeliveryError
	if !errors.As(err, &de) || de.Code != 400 || de.Channel != "pagerduty" {
		t.Errorf("err %#v, want *DeliveryError with code 400", err)
	}
}

func TestPagerDutyRetryable(t *testing.T) {
	for name, tc := range map[string]struct {
		status     int
		retryAfter string
		wantWait   time.Duration
		wantText   string
	}{
		"429 with Retry-After": {status: 429, retryAfter: "30", wantWait: 30 * time.Second, wantText: "429: Too Many Requests"},
		"500":                  {status: 500, wantText: "500: Internal Server Error"},
		"503 with body":        {status: 503, wantText: "503: upstream down"},
	} {
		t.Run(name, func(t *testing.T) {
			srv := newPDServer(t)
			srv.respond = func(w http.ResponseWriter, r *http.Request, ev map[string]any) {
				if tc.retryAfter != "" {
					w.Header().Set("Retry-After", tc.retryAfter)
				}
				w.WriteHeader(tc.status)
				if tc.status == 503 {
					io.WriteString(w, "upstream down\n")
				}
			}
			err := srv.pagerDuty().Resolve(context.Background(), "k")
			if err == nil || !strings.Contains(err.Error(), tc.wantText) {
				t.Fatalf("err = %v, want it to mention %q", err, tc.wantText)
			}
			if !Retryable(err) {
				t.Errorf("%v is not retryable", err)
			}
			d, ok := RetryAfter(err)
			if d != tc.wantWait || ok != (tc.wantWait > 0) {
				t.Errorf("RetryAfter = %v, %v; want %v", d, ok, tc.wantWait)
			}
		})
	}
}

func TestPagerDutyTimeout(t *testing.T) {
	release := make(chan struct{})
	srv := newPDServer(t)
	srv.respond = func(w http.ResponseWriter, r *http.Request, ev map[string]any) {
		select { // hang until the client gives up (its context ends with the connection)
		case <-r.Context().Done():
		case <-release:
		}
	}
	defer close(release)
	pd := srv.pagerDuty()
	client := *srv.Client()
	client.Timeout = 50 * time.Millisecond
	pd.HTTPClient = &client
	err := pd.Trigger(context.Background(), Incident{DedupKey: "k", Summary: "s", Severity: "warning"})
	if err == nil {
		t.Fatal("Trigger succeeded against a hung server")
	}
	if !Retryable(err) {
		t.Errorf("timeout %v is not retryable", err)
	}
	var netErr interface{ Timeout() bool }
	if !errors.As(err, &netErr) || !netErr.Timeout() {
		t.Errorf("%v does not unwrap to a timeout", err)
	}
}

func TestRedactKey(t *testing.T) {
	for in, want := range map[string]string{"": "…", "short": "…", "0123456789abcdef": "…cdef"} {
		if got := redactKey(in); got != want {
			t.Errorf("redactKey(%q) = %q, want %q", in, got, want)
		}
	}
}
