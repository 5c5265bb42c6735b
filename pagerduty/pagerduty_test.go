package pagerduty

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"reflect"
	"strconv"
	"sync"
	"testing"
	"time"
)

// fakePagerDuty serves GET /oncalls in the REST API v2 shape, pageSize
// entries per page whatever limit is asked for (as a server capping the
// limit would), with classic offset/more pagination.
type fakePagerDuty struct {
	oncalls  []map[string]any
	pageSize int

	mu       sync.Mutex
	requests []*http.Request
}

func (f *fakePagerDuty) seen() []*http.Request {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]*http.Request(nil), f.requests...)
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

func (f *fakePagerDuty) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	f.mu.Lock()
	f.requests = append(f.requests, r.Clone(context.Background()))
	f.mu.Unlock()
	if r.Method != http.MethodGet || r.URL.Path != "/oncalls" {
		writeJSON(w, 404, map[string]any{"error": map[string]any{"message": "Not Found", "code": 2100}})
		return
	}
	offset, _ := strconv.Atoi(r.URL.Query().Get("offset"))
	end := min(offset+f.pageSize, len(f.oncalls))
	page := []map[string]any{}
	if offset < len(f.oncalls) {
		page = f.oncalls[offset:end]
	}
	writeJSON(w, 200, map[string]any{
		"oncalls": page,
		"limit":   f.pageSize,
		"offset":  offset,
		"more":    end < len(f.oncalls),
		"total":   nil,
	})
}

// user is a full user object, as returned with include[]=users.
func user(id, name, email string) map[string]any {
	return map[string]any{
		"id": id, "type": "user", "summary": name, "name": name, "email": email,
		"time_zone": "Europe/Berlin", "self": "https://api.pagerduty.com/users/" + id,
		"html_url": "https://acme.pagerduty.com/users/" + id,
	}
}

func ref(typ, id, summary string) map[string]any {
	return map[string]any{"id": id, "type": typ, "summary": summary}
}

// oncall builds one on-call entry. A schedule ID of "" is a direct target
// of the escalation rule: schedule, start and end are null.
func oncall(u map[string]any, level int, policy, schedule, start, end string) map[string]any {
	e := map[string]any{
		"user":              u,
		"escalation_policy": ref("escalation_policy_reference", policy, "Policy "+policy),
		"escalation_level":  level,
		"schedule":          nil,
		"start":             nil,
		"end":               nil,
	}
	if schedule != "" {
		e["schedule"] = ref("schedule_reference", schedule, "Schedule "+schedule)
		e["start"] = start
		e["end"] = end
	}
	return e
}

func newTestClient(t *testing.T, h http.Handler, httpClient *http.Client) *Client {
	t.Helper()
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	return New("pd_test_token", srv.URL, httpClient)
}

func TestOnCall(t *testing.T) {
	alice := user("PALICE", "Alice Adams", "alice@acme.io")
	bob := user("PBOB", "bob Brown", "bob@acme.io")
	carol := user("PCAROL", "Carol Chen", "carol@acme.io")
	f := &fakePagerDuty{pageSize: 2, oncalls: []map[string]any{
		oncall(carol, 2, "PE1", "", "", ""),
		oncall(bob, 1, "PE1", "PS1", "2024-03-04T09:00:00+01:00", "2024-03-11T09:00:00+01:00"),
		oncall(alice, 1, "PE2", "PS2", "2024-03-04T08:00:00Z", "2024-03-05T08:00:00Z"),
		oncall(carol, 3, "PE2", "", "", ""),
		// The last entry of the previous page again, as offset pagination
		// shows when entries shift between requests.
		oncall(carol, 3, "PE2", "", "", ""),
	}}
	c := newTestClient(t, f, nil)

	got, err := c.OnCall(context.Background(), []string{"PE1", "PE2"}, []string{"PS1", "PS2"})
	if err != nil {
		t.Fatal(err)
	}
	want := []OnCall{
		{UserID: "PALICE", Name: "Alice Adams", Email: "alice@acme.io", EscalationLevel: 1, PolicyID: "PE2", ScheduleID: "PS2",
			Start: time.Date(2024, 3, 4, 8, 0, 0, 0, time.UTC), End: time.Date(2024, 3, 5, 8, 0, 0, 0, time.UTC)},
		{UserID: "PBOB", Name: "bob Brown", Email: "bob@acme.io", EscalationLevel: 1, PolicyID: "PE1", ScheduleID: "PS1",
			Start: time.Date(2024, 3, 4, 8, 0, 0, 0, time.UTC), End: time.Date(2024, 3, 11, 8, 0, 0, 0, time.UTC)},
		{UserID: "PCAROL", Name: "Carol Chen", Email: "carol@acme.io", EscalationLevel: 2, PolicyID: "PE1"},
		{UserID: "PCAROL", Name: "Carol Chen", Email: "carol@acme.io", EscalationLevel: 3, PolicyID: "PE2"},
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("OnCall =\n%+v\nwant\n%+v", got, want)
	}

	reqs := f.seen()
	if len(reqs) != 3 {
		t.Fatalf("%d requests, want 3 pages", len(reqs))
	}
	for i, r := range reqs {
		q := r.URL.Query()
		checks := map[string][]string{
			"escalation_policy_ids[]": {"PE1", "PE2"},
			"schedule_ids[]":          {"PS1", "PS2"},
			"include[]":               {"users"},
			"earliest":                {"true"},
			"limit":                   {"100"},
		}
		for k, v := range checks {
			if !reflect.DeepEqual(q[k], v) {
				t.Errorf("request %d: %s = %q, want %q (query %s)", i, k, q[k], v, r.URL.RawQuery)
			}
		}
		if got, want := q.Get("offset"), map[int]string{0: "", 1: "2", 2: "4"}[i]; got != want {
			t.Errorf("request %d: offset = %q, want %q", i, got, want)
		}
		if got := r.Header.Get("Authorization"); got != "Token token=pd_test_token" {
			t.Errorf("Authorization = %q", got)
		}
		if got := r.Header.Get("Accept"); got != "application/vnd.pagerduty+json;version=2" {
			t.Errorf("Accept = %q", got)
		}
	}
}

func TestOnCallUserReferenceOnly(t *testing.T) {
	// Should a server ignore include[]=users, the reference's summary still
	// gives a name.
	f := &fakePagerDuty{pageSize: 25, oncalls: []map[string]any{
		oncall(ref("user_reference", "PDAVE", "Dave Dunn"), 1, "PE1", "", "", ""),
	}}
	c := newTestClient(t, f, nil)
	got, err := c.OnCall(context.Background(), []string{"PE1"}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 1 || got[0].Name != "Dave Dunn" || got[0].Email != "" {
		t.Errorf("got %+v", got)
	}
	if _, ok := f.seen()[0].URL.Query()["schedule_ids[]"]; ok {
		t.Errorf("empty schedule list sent: %s", f.seen()[0].URL.RawQuery)
	}
}

func TestOnCallNoFilterMakesNoRequest(t *testing.T) {
	f := &fakePagerDuty{pageSize: 25}
	c := newTestClient(t, f, nil)
	got, err := c.OnCall(context.Background(), nil, nil)
	if got != nil || err != nil {
		t.Fatalf("got %+v, %v", got, err)
	}
	if n := len(f.seen()); n != 0 {
		t.Errorf("%d requests", n)
	}
}

func errorHandler(status int, contentType, body string) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", contentType)
		w.WriteHeader(status)
		fmt.Fprint(w, body)
	})
}

func TestOnCallErrors(t *testing.T) {
	const js = "application/json"
	tests := []struct {
		name    string
		h       http.Handler
		kind    ErrorKind
		wantErr string
	}{
		{"401", errorHandler(401, js, `{"error":{"message":"Authentication failed","code":2006}}`),
			Unauthorized, "pagerduty: list on-calls: unauthorized (401): Authentication failed"},
		{"403", errorHandler(403, js, `{"error":{"message":"Access Denied","code":2010}}`),
			Unauthorized, "pagerduty: list on-calls: unauthorized (403): Access Denied"},
		{"429", errorHandler(429, js, `{"error":{"message":"Rate Limit Exceeded","code":2020}}`),
			RateLimited, "pagerduty: list on-calls: rate limited (429): Rate Limit Exceeded"},
		{"500", errorHandler(500, js, `{"error":{"message":"Internal Server Error","code":2000}}`),
			Unavailable, "pagerduty: list on-calls: unavailable (500): Internal Server Error"},
		{"502 html", errorHandler(502, "text/html", "<html>bad gateway</html>"),
			Unavailable, "pagerduty: list on-calls: unavailable (502): Bad Gateway"},
		{"400", errorHandler(400, js, `{"error":{"message":"Invalid Input Provided","code":2001,"errors":["Escalation policy ids must be valid IDs."]}}`),
			Invalid, "pagerduty: list on-calls: invalid request (400): Invalid Input Provided: Escalation policy ids must be valid IDs."},
		{"404", errorHandler(404, js, `{"error":{"message":"Not Found","code":2100}}`),
			NotFound, "pagerduty: list on-calls: not found (404): Not Found"},
		{"malformed JSON", errorHandler(200, js, `{"oncalls":[}`), BadResponse, ""},
		{"bad timestamp", errorHandler(200, js, `{"oncalls":[{"user":{"id":"P1"},"escalation_level":1,"start":"yesterday"}],"more":false}`),
			BadResponse, ""},
		{"more but empty", errorHandler(200, js, `{"oncalls":[],"limit":100,"offset":0,"more":true}`),
			BadResponse, "pagerduty: list on-calls: bad response: page at offset 0 is empty but more=true"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := newTestClient(t, tt.h, nil)
			got, err := c.OnCall(context.Background(), []string{"PE1"}, nil)
			if err == nil {
				t.Fatalf("OnCall = %+v, want error", got)
			}
			if k := KindOf(err); k != tt.kind {
				t.Errorf("KindOf(%v) = %v, want %v", err, k, tt.kind)
			}
			if tt.wantErr != "" && err.Error() != tt.wantErr {
				t.Errorf("Error() = %q\nwant      %q", err, tt.wantErr)
			}
			var e *Error
			if !errors.As(err, &e) {
				t.Errorf("%T is not *Error", err)
			}
		})
	}
}

func TestOnCallErrorOnLaterPage(t *testing.T) {
	var mu sync.Mutex
	calls := 0
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		calls++
		n := calls
		mu.Unlock()
		if n == 1 {
			writeJSON(w, 200, map[string]any{
				"oncalls": []any{oncall(user("P1", "A", "a@x"), 1, "PE1", "", "", "")},
				"limit":   1, "offset": 0, "more": true,
			})
			return
		}
		writeJSON(w, 503, map[string]any{"error": map[string]any{"message": "Service Unavailable"}})
	})
	c := newTestClient(t, h, nil)
	got, err := c.OnCall(context.Background(), []string{"PE1"}, nil)
	if got != nil || KindOf(err) != Unavailable {
		t.Fatalf("got %+v, %v; want nil, Unavailable", got, err)
	}
}

// blockingServer never answers: its handler returns only when the client
// gives up (the request context ends) or the test finishes.
func blockingServer(t *testing.T) *httptest.Server {
	release := make(chan struct{})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-r.Context().Done():
		case <-release:
		}
	}))
	t.Cleanup(srv.Close)
	t.Cleanup(func() { close(release) }) // cleanups are LIFO: release before Close waits
	return srv
}

func TestOnCallTimeout(t *testing.T) {
	t.Run("http.Client timeout", func(t *testing.T) {
		srv := blockingServer(t)
		c := New("tok", srv.URL, &http.Client{Timeout: 50 * time.Millisecond})
		_, err := c.OnCall(context.Background(), []string{"PE1"}, nil)
		if KindOf(err) != Unavailable {
			t.Fatalf("err = %v, want Unavailable", err)
		}
		var ne interface{ Timeout() bool }
		if !errors.As(err, &ne) || !ne.Timeout() {
			t.Errorf("cause of %v is not a timeout", err)
		}
		t.Log(err)
	})
	t.Run("context deadline", func(t *testing.T) {
		srv := blockingServer(t)
		c := New("tok", srv.URL, nil)
		ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
		defer cancel()
		_, err := c.OnCall(ctx, []string{"PE1"}, nil)
		if KindOf(err) != Unavailable || !errors.Is(err, context.DeadlineExceeded) {
			t.Fatalf("err = %v, want Unavailable wrapping context.DeadlineExceeded", err)
		}
		if want := "pagerduty: list on-calls: unavailable: context deadline exceeded"; err.Error() != want {
			t.Errorf("Error() = %q, want %q", err, want)
		}
	})
}

func TestOnCallConnectionRefused(t *testing.T) {
	srv := httptest.NewServer(http.NotFoundHandler())
	base := srv.URL
	srv.Close()
	_, err := New("tok", base, nil).OnCall(context.Background(), []string{"PE1"}, nil)
	if KindOf(err) != Unavailable {
		t.Fatalf("err = %v, want Unavailable", err)
	}
	t.Log(err)
}

func TestNewBaseURL(t *testing.T) {
	f := &fakePagerDuty{pageSize: 25}
	srv := httptest.NewServer(f)
	t.Cleanup(srv.Close)
	// A trailing slash must not produce "//oncalls".
	if _, err := New("tok", srv.URL+"/", nil).OnCall(context.Background(), []string{"PE1"}, nil); err != nil {
		t.Fatal(err)
	}
	if p := f.seen()[0].URL.Path; p != "/oncalls" {
		t.Errorf("path = %q", p)
	}
	for _, base := range []string{"not a url", "ftp://x", "/relative"} {
		_, err := New("tok", base, nil).OnCall(context.Background(), []string{"PE1"}, nil)
		if KindOf(err) != Invalid {
			t.Errorf("New(%q): err = %v, want Invalid", base, err)
		}
	}
}

func TestKindOf(t *testing.T) {
	if KindOf(nil) != Unknown || KindOf(errors.New("x")) != Unknown {
		t.Error("foreign errors must be Unknown")
	}
	wrapped := fmt.Errorf("ownership: %w", &Error{Kind: RateLimited, Op: "x"})
	if KindOf(wrapped) != RateLimited {
		t.Error("KindOf must see through wrapping")
	}
}
