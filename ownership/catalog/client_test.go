package catalog

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"
)

// fakeBackstage is a Backstage catalog backend stand-in. It serves items in
// pages of pageLen through by-query cursors "c1", "c2", …, or, when legacy is
// set, only the old unpaginated /entities endpoint.
type fakeBackstage struct {
	t       *testing.T
	token   string
	items   []map[string]any
	pageLen int
	legacy  bool

	mu   sync.Mutex
	reqs []string // "PATH?QUERY" of every request, in order
}

func (f *fakeBackstage) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	f.mu.Lock()
	f.reqs = append(f.reqs, r.URL.Path+"?"+r.URL.RawQuery)
	f.mu.Unlock()
	if r.Method != http.MethodGet {
		http.Error(w, "method", http.StatusMethodNotAllowed)
		return
	}
	if f.token != "" && r.Header.Get("Authorization") != "Bearer "+f.token {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusUnauthorized)
		fmt.Fprint(w, `{"error":{"name":"AuthenticationError","message":"Missing credentials"}}`)
		return
	}
	switch {
	case r.URL.Path == "/api/catalog/entities/by-query" && !f.legacy:
		q := r.URL.Query()
		if q.Get("limit") != "500" {
			f.t.Errorf("limit = %q, want 500", q.Get("limit"))
		}
		start := 0
		if c := q.Get("cursor"); c != "" {
			if q.Has("filter") {
				f.t.Errorf("filter sent with cursor %q; Backstage rejects that", c)
			}
			fmt.Sscanf(c, "c%d", &start)
		}
		end := min(start+f.pageLen, len(f.items))
		page := map[string]any{"items": f.items[start:end], "totalItems": len(f.items), "pageInfo": map[string]any{}}
		if end < len(f.items) {
			page["pageInfo"] = map[string]any{"nextCursor": fmt.Sprintf("c%d", end)}
		}
		writeJSON(w, page)
	case r.URL.Path == "/api/catalog/entities" && f.legacy:
		writeJSON(w, f.items)
	default:
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusNotFound)
		fmt.Fprint(w, `{"error":{"name":"NotFoundError","message":"Not Found"}}`)
	}
}

func (f *fakeBackstage) requests() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]string(nil), f.reqs...)
}

func writeJSON(w http.ResponseWriter, v any) {
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	_ = json.NewEncoder(w).Encode(v)
}

func apiEntity(kind, name, owner string) map[string]any {
	e := map[string]any{
		"apiVersion": "backstage.io/v1alpha1",
		"kind":       kind,
		"metadata": map[string]any{
			"name": name, "namespace": "default", "uid": "1234",
			"annotations": map[string]any{"github.com/project-slug": "acme/" + name},
		},
		"spec":      map[string]any{"type": "service", "lifecycle": "production", "owner": owner},
		"relations": []any{map[string]any{"type": "ownedBy", "targetRef": "group:default/" + owner}},
	}
	return e
}

func newFake(t *testing.T, f *fakeBackstage) *httptest.Server {
	f.t = t
	srv := httptest.NewServer(f)
	t.Cleanup(srv.Close)
	return srv
}

func TestClientPaginates(t *testing.T) {
	f := &fakeBackstage{token: "s3cret", pageLen: 3}
	for i := range 7 {
		kind := "Component"
		if i%2 == 1 {
			kind = "API"
		}
		f.items = append(f.items, apiEntity(kind, fmt.Sprintf("svc-%d", i), "team-a"))
	}
	srv := newFake(t, f)
	c := &Client{BaseURL: srv.URL + "/", Token: "s3cret", HTTP: srv.Client()}

	got, err := c.Entities(context.Background(), "Component", "api")
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 7 {
		t.Fatalf("got %d entities, want 7", len(got))
	}
	for i, e := range got {
		if e.Name != fmt.Sprintf("svc-%d", i) {
			t.Errorf("entity %d is %s, want svc-%d (order must be kept)", i, e.Name, i)
		}
	}
	want := Entity{
		APIVersion:  "backstage.io/v1alpha1",
		Kind:        "API",
		Namespace:   "default",
		Name:        "svc-1",
		Annotations: map[string]string{"github.com/project-slug": "acme/svc-1"},
		Type:        "service",
		Lifecycle:   "production",
		Owner:       "team-a",
		OwnerRef:    &Ref{Kind: "group", Namespace: "default", Name: "team-a"},
		Location:    srv.URL + "/api/catalog/entities/by-name/api/default/svc-1",
	}
	if !reflect.DeepEqual(got[1], want) {
		t.Errorf("entity 1\n got %+v\nwant %+v", got[1], want)
	}

	wantReqs := []string{
		"/api/catalog/entities/by-query?filter=kind%3Dcomponent%2Ckind%3Dapi&limit=500",
		"/api/catalog/entities/by-query?cursor=c3&limit=500",
		"/api/catalog/entities/by-query?cursor=c6&limit=500",
	}
	if r := f.requests(); !reflect.DeepEqual(r, wantReqs) {
		t.Errorf("requests\n got %q\nwant %q", r, wantReqs)
	}
}

func TestClientAllKinds(t *testing.T) {
	f := &fakeBackstage{pageLen: 10, items: []map[string]any{apiEntity("Component", "a", "x")}}
	srv := newFake(t, f)
	c := &Client{BaseURL: srv.URL}
	got, err := c.Entities(context.Background())
	if err != nil || len(got) != 1 {
		t.Fatalf("got %v, %v", got, err)
	}
	if r := f.requests(); len(r) != 1 || strings.Contains(r[0], "filter") {
		t.Errorf("requests %q: no kinds must mean no filter", r)
	}
}

func TestClientFallsBackToEntities(t *testing.T) {
	f := &fakeBackstage{legacy: true, token: "tok", items: []map[string]any{
		apiEntity("Component", "old-svc", "team-b"),
		apiEntity("Group", "team-b", "unused"),
	}}
	srv := newFake(t, f)
	c := &Client{BaseURL: srv.URL, Token: "tok"}
	// The fake ignores the filter, as proxies sometimes do; the client
	// must still return only what was asked for.
	got, err := c.Entities(context.Background(), "component")
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 1 || got[0].Name != "old-svc" || got[0].OwnerRef.Short() != "group:team-b" {
		t.Fatalf("got %+v", got)
	}
	wantReqs := []string{
		"/api/catalog/entities/by-query?filter=kind%3Dcomponent&limit=500",
		"/api/catalog/entities?filter=kind%3Dcomponent",
	}
	if r := f.requests(); !reflect.DeepEqual(r, wantReqs) {
		t.Errorf("requests\n got %q\nwant %q", r, wantReqs)
	}
}

// checkClass asserts err is an *APIError of exactly class want.
func checkClass(t *testing.T, err error, want error) *APIError {
	t.Helper()
	if err == nil {
		t.Fatalf("got no error, want %v", want)
	}
	for _, class := range []error{ErrUnauthorized, ErrUnavailable, ErrBadResponse} {
		if errors.Is(err, class) != (class == want) {
			t.Errorf("errors.Is(%q, %v) = %v", err, class, !(class == want))
		}
	}
	var apiErr *APIError
	if !errors.As(err, &apiErr) {
		t.Fatalf("%v is not an *APIError", err)
	}
	return apiErr
}

func TestClientErrors(t *testing.T) {
	handler := func(status int, contentType, body string) http.HandlerFunc {
		return func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Type", contentType)
			w.WriteHeader(status)
			fmt.Fprint(w, body)
		}
	}
	tests := []struct {
		name    string
		h       http.Handler
		class   error
		status  int
		wantMsg string
	}{
		{"401 bad token", &fakeBackstage{token: "right"}, ErrUnauthorized, 401,
			"backstage catalog unauthorized: GET SRV/api/catalog/entities/by-query?limit=500: HTTP 401 Unauthorized: AuthenticationError: Missing credentials (check the catalog token)"},
		{"403", handler(403, "text/plain", "forbidden\n"), ErrUnauthorized, 403, "HTTP 403 Forbidden: forbidden (check the catalog token)"},
		{"500", handler(500, "application/json", `{"error":{"name":"DatabaseError","message":"connection pool exhausted"}}`), ErrUnavailable, 500,
			"backstage catalog unavailable: GET SRV/api/catalog/entities/by-query?limit=500: HTTP 500 Internal Server Error: DatabaseError: connection pool exhausted"},
		{"503 html", handler(503, "text/html", "<html>down</html>"), ErrUnavailable, 503, "HTTP 503 Service Unavailable"},
		{"429", handler(429, "text/plain", ""), ErrUnavailable, 429, "HTTP 429 Too Many Requests"},
		{"invalid JSON", handler(200, "application/json", `{"items": [`), ErrBadResponse, 0,
			"backstage catalog bad response: GET SRV/api/catalog/entities/by-query?limit=500: invalid JSON: unexpected end of JSON input"},
		{"login page", handler(200, "text/html; charset=utf-8", "<html>Sign in</html>"), ErrBadResponse, 0,
			"invalid JSON (Content-Type text/html; is a login proxy in the way?)"},
		{"wrong shape", handler(200, "application/json", `[1, 2]`), ErrBadResponse, 0, "unexpected JSON shape"},
		{"no items", handler(200, "application/json", `{"totalItems": 0}`), ErrBadResponse, 0, `no "items" array in the response`},
		{"entity without name", handler(200, "application/json", `{"items":[{"apiVersion":"backstage.io/v1alpha1","kind":"Component","metadata":{}}]}`), ErrBadResponse, 0,
			"items[0]: missing metadata.name"},
		{"entity with bad owner", handler(200, "application/json", `{"items":[{"apiVersion":"v1","kind":"Component","metadata":{"name":"x"},"spec":{"owner":"group:"}}]}`), ErrBadResponse, 0,
			`items[0]: component:default/x: spec.owner: invalid entity ref "group:": empty name`},
		{"cursor loop", handler(200, "application/json", `{"items":[],"pageInfo":{"nextCursor":"same"}}`), ErrBadResponse, 0, "pagination cursor repeats"},
		{"both endpoints 404", handler(404, "text/plain", "not here"), ErrBadResponse, 404,
			"backstage catalog bad response: GET SRV/api/catalog/entities: HTTP 404 Not Found: not here (is BaseURL the Backstage backend?)"},
		{"teapot", handler(418, "text/plain", ""), ErrBadResponse, 418, "HTTP 418 I'm a teapot"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if f, ok := tt.h.(*fakeBackstage); ok {
				f.t = t
			}
			srv := httptest.NewServer(tt.h)
			defer srv.Close()
			c := &Client{BaseURL: srv.URL, Token: "wrong"}
			got, err := c.Entities(context.Background())
			if got != nil {
				t.Errorf("got entities %v with an error", got)
			}
			apiErr := checkClass(t, err, tt.class)
			if apiErr.StatusCode != tt.status {
				t.Errorf("StatusCode = %d, want %d", apiErr.StatusCode, tt.status)
			}
			msg := strings.ReplaceAll(err.Error(), srv.URL, "SRV")
			if !strings.Contains(msg, tt.wantMsg) {
				t.Errorf("error\n got %s\nwant it to contain %s", msg, tt.wantMsg)
			}
			if strings.Contains(err.Error(), "wrong") {
				t.Errorf("error %q leaks the token", err)
			}
		})
	}
}

func TestClientTimeout(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		<-r.Context().Done() // hang until the client gives up
	}))
	defer srv.Close()
	c := &Client{BaseURL: srv.URL, HTTP: &http.Client{Timeout: 50 * time.Millisecond}}
	_, err := c.Entities(context.Background())
	apiErr := checkClass(t, err, ErrUnavailable)
	if apiErr.StatusCode != 0 || !strings.Contains(err.Error(), "timed out") {
		t.Errorf("error = %v", err)
	}
}

func TestClientContextDeadline(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		<-r.Context().Done()
	}))
	defer srv.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	_, err := (&Client{BaseURL: srv.URL}).Entities(ctx)
	checkClass(t, err, ErrUnavailable)
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("%v should match context.DeadlineExceeded", err)
	}
}

func TestClientCanceled(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		cancel() // the caller gives up while the request is in flight
		<-r.Context().Done()
	}))
	defer srv.Close()
	_, err := (&Client{BaseURL: srv.URL}).Entities(ctx)
	checkClass(t, err, ErrUnavailable)
	if !errors.Is(err, context.Canceled) || !strings.Contains(err.Error(), "canceled") {
		t.Errorf("error = %v", err)
	}
}

func TestClientConnectionRefused(t *testing.T) {
	srv := httptest.NewServer(http.NotFoundHandler())
	url := srv.URL
	srv.Close() // nothing listens there any more
	_, err := (&Client{BaseURL: url}).Entities(context.Background())
	checkClass(t, err, ErrUnavailable)
}

// TestClientPageVanishes checks a 404 after the first page is reported as is,
// not mistaken for an old backend.
func TestClientPageVanishes(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Query().Has("cursor") {
			http.NotFound(w, r)
			return
		}
		writeJSON(w, map[string]any{"items": []any{}, "pageInfo": map[string]any{"nextCursor": "gone"}})
	}))
	defer srv.Close()
	_, err := (&Client{BaseURL: srv.URL}).Entities(context.Background())
	checkClass(t, err, ErrBadResponse)
	if !strings.Contains(err.Error(), "cursor=gone") || !strings.Contains(err.Error(), "expired cursor") {
		t.Errorf("error = %v", err)
	}
}

func TestClientConfigErrors(t *testing.T) {
	for _, c := range []struct {
		base  string
		kinds []string
	}{
		{"", nil},
		{"backstage.acme.io", nil},
		{"ftp://backstage.acme.io", nil},
		{"http://backstage.acme.io", []string{"component,kind=user"}},
	} {
		_, err := (&Client{BaseURL: c.base}).Entities(context.Background(), c.kinds...)
		if err == nil || !strings.HasPrefix(err.Error(), "backstage catalog: ") {
			t.Errorf("Entities(%q, %q) error = %v", c.base, c.kinds, err)
		}
		var apiErr *APIError
		if errors.As(err, &apiErr) {
			t.Errorf("a configuration error is not an exchange with the backend: %v", err)
		}
	}
}
