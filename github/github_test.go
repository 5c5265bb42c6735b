package github

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"
)

// fakeGitHub serves the contents and commits endpoints of one repository,
// acme/api, in the shapes api.github.com uses.
type fakeGitHub struct {
	files map[string]string // path → content, at any ref

	// commitPages are served for /commits, page 1 first, with a Link header
	// pointing at the next page.
	commitPages [][]map[string]any

	mu       sync.Mutex
	requests []*http.Request
}

func (f *fakeGitHub) record(r *http.Request) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.requests = append(f.requests, r.Clone(context.Background()))
}

func (f *fakeGitHub) seen() []*http.Request {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]*http.Request(nil), f.requests...)
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

func notFound(w http.ResponseWriter) {
	writeJSON(w, http.StatusNotFound, map[string]string{
		"message":           "Not Found",
		"documentation_url": "https://docs.github.com/rest/repos/contents#get-repository-content",
	})
}

// base64Lines encodes like GitHub does: base64 with a newline every 60
// characters.
func base64Lines(s string) string {
	enc := base64.StdEncoding.EncodeToString([]byte(s))
	var b strings.Builder
	for len(enc) > 60 {
		b.WriteString(enc[:60] + "\n")
		enc = enc[60:]
	}
	b.WriteString(enc + "\n")
	return b.String()
}

func (f *fakeGitHub) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	f.record(r)
	const contents = "/repos/acme/api/contents/"
	switch {
	case strings.HasPrefix(r.URL.Path, contents):
		p := strings.TrimPrefix(r.URL.Path, contents)
		body, ok := f.files[p]
		if !ok {
			notFound(w)
			return
		}
		writeJSON(w, http.StatusOK, map[string]any{
			"type": "file", "encoding": "base64", "size": len(body),
			"name": p[strings.LastIndex(p, "/")+1:], "path": p, "sha": "3d21ec53a331a6f037a91c368710b99387d012c1",
			"content": base64Lines(body),
		})
	case r.URL.Path == "/repos/acme/api/commits":
		page := 1
		if s := r.URL.Query().Get("page"); s != "" {
			fmt.Sscan(s, &page)
		}
		if page < 1 || page > len(f.commitPages) {
			writeJSON(w, http.StatusOK, []any{})
			return
		}
		if page < len(f.commitPages) {
			next := *r.URL
			q := next.Query()
			q.Set("page", fmt.Sprint(page+1))
			next.RawQuery = q.Encode()
			last := *r.URL
			q.Set("page", fmt.Sprint(len(f.commitPages)))
			last.RawQuery = q.Encode()
			w.Header().Set("Link", fmt.Sprintf(`<http://%s%s>; rel="next", <http://%s%s>; rel="last"`, r.Host, next.RequestURI(), r.Host, last.RequestURI()))
		}
		writeJSON(w, http.StatusOK, f.commitPages[page-1])
	default:
		notFound(w)
	}
}

func newTestClient(t *testing.T, h http.Handler, httpClient *http.Client) *Client {
	t.Helper()
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	c, err := New("ghp_test", srv.URL, httpClient)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func TestCodeOwnersPrecedence(t *testing.T) {
	const (
		dotGitHub = "* @acme/platform\n"
		root      = "* @acme/root\n"
		docs      = "* @acme/docs\n"
	)
	tests := []struct {
		name      string
		files     map[string]string
		wantPath  string
		wantBody  string
		wantReads []string // contents paths requested, in order
	}{
		{"all three: .github wins", map[string]string{".github/CODEOWNERS": dotGitHub, "CODEOWNERS": root, "docs/CODEOWNERS": docs},
			".github/CODEOWNERS", dotGitHub, []string{".github/CODEOWNERS"}},
		{"root and docs: root wins", map[string]string{"CODEOWNERS": root, "docs/CODEOWNERS": docs},
			"CODEOWNERS", root, []string{".github/CODEOWNERS", "CODEOWNERS"}},
		{"docs only", map[string]string{"docs/CODEOWNERS": docs},
			"docs/CODEOWNERS", docs, []string{".github/CODEOWNERS", "CODEOWNERS", "docs/CODEOWNERS"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := &fakeGitHub{files: tt.files}
			c := newTestClient(t, f, nil)
			path, body, err := c.CodeOwners(context.Background(), "acme/api", "release/2024")
			if err != nil {
				t.Fatal(err)
			}
			if path != tt.wantPath || string(body) != tt.wantBody {
				t.Errorf("CodeOwners = %q, %q; want %q, %q", path, body, tt.wantPath, tt.wantBody)
			}
			var reads []string
			for _, r := range f.seen() {
				reads = append(reads, strings.TrimPrefix(r.URL.Path, "/repos/acme/api/contents/"))
				if got := r.URL.Query().Get("ref"); got != "release/2024" {
					t.Errorf("%s: ref = %q, want release/2024", r.URL.Path, got)
				}
				if got := r.Header.Get("Authorization"); got != "Bearer ghp_test" {
					t.Errorf("Authorization = %q", got)
				}
			}
			if !reflect.DeepEqual(reads, tt.wantReads) {
				t.Errorf("requested %q, want %q", reads, tt.wantReads)
			}
		})
	}
}

func TestCodeOwnersDecodesLongBase64(t *testing.T) {
	// Long enough that GitHub's 60-column line breaks appear in the
	// base64, which the decoder must skip.
	var b strings.Builder
	for i := range 50 {
		fmt.Fprintf(&b, "/services/svc-%02d/ @acme/team-%02d alice@example.com\n", i, i)
	}
	f := &fakeGitHub{files: map[string]string{"CODEOWNERS": b.String()}}
	c := newTestClient(t, f, nil)
	_, body, err := c.CodeOwners(context.Background(), "acme/api", "")
	if err != nil {
		t.Fatal(err)
	}
	if string(body) != b.String() {
		t.Errorf("content differs:\n%s", body)
	}
	for _, r := range f.seen() {
		if _, ok := r.URL.Query()["ref"]; ok {
			t.Errorf("empty ref sent as %q", r.URL.RawQuery)
		}
	}
}

func TestCodeOwnersNoTokenSendsNoAuthorization(t *testing.T) {
	f := &fakeGitHub{files: map[string]string{".github/CODEOWNERS": "* @a\n"}}
	srv := httptest.NewServer(f)
	t.Cleanup(srv.Close)
	c, err := New("", srv.URL+"/", nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := c.CodeOwners(context.Background(), "acme/api", ""); err != nil {
		t.Fatal(err)
	}
	if got := f.seen()[0].Header.Get("Authorization"); got != "" {
		t.Errorf("Authorization = %q, want none", got)
	}
}

func TestCodeOwnersLargeFileFetchedRaw(t *testing.T) {
	// Over 1 MB the contents API returns encoding "none" and no content;
	// the raw media type must then be asked for.
	big := strings.Repeat("/x/ @acme/x\n", 100_000) // 1.2 MB
	var mu sync.Mutex
	var rawAccept string
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/repos/acme/api/contents/.github/CODEOWNERS" {
			notFound(w)
			return
		}
		if strings.Contains(r.Header.Get("Accept"), "raw") {
			mu.Lock()
			rawAccept = r.Header.Get("Accept")
			mu.Unlock()
			if r.URL.Query().Get("ref") != "main" {
				t.Errorf("raw fetch ref = %q", r.URL.Query().Get("ref"))
			}
			w.Header().Set("Content-Type", "application/vnd.github.raw")
			fmt.Fprint(w, big)
			return
		}
		writeJSON(w, http.StatusOK, map[string]any{
			"type": "file", "encoding": "none", "size": len(big), "content": "",
			"name": "CODEOWNERS", "path": ".github/CODEOWNERS",
		})
	})
	c := newTestClient(t, h, nil)
	path, body, err := c.CodeOwners(context.Background(), "acme/api", "main")
	if err != nil {
		t.Fatal(err)
	}
	if path != ".github/CODEOWNERS" || string(body) != big {
		t.Errorf("got %q, %d bytes; want .github/CODEOWNERS, %d bytes", path, len(body), len(big))
	}
	mu.Lock()
	defer mu.Unlock()
	if rawAccept == "" {
		t.Error("no raw request made")
	}
}

func TestCodeOwnersOver3MBRefused(t *testing.T) {
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, http.StatusOK, map[string]any{"type": "file", "encoding": "none", "size": 3 << 20, "content": ""})
	})
	c := newTestClient(t, h, nil)
	_, _, err := c.CodeOwners(context.Background(), "acme/api", "")
	if KindOf(err) != BadResponse {
		t.Fatalf("err = %v, want BadResponse", err)
	}
}

func TestCodeOwnersNotFound(t *testing.T) {
	f := &fakeGitHub{files: map[string]string{"src/CODEOWNERS": "ignored by GitHub"}}
	c := newTestClient(t, f, nil)
	_, _, err := c.CodeOwners(context.Background(), "acme/api", "")
	if KindOf(err) != NotFound {
		t.Fatalf("KindOf(%v) = %v, want NotFound", err, KindOf(err))
	}
	const want = "github: read acme/api CODEOWNERS: not found (404): no CODEOWNERS file in .github/, the root or docs/"
	if err.Error() != want {
		t.Errorf("Error() = %q\nwant      %q", err, want)
	}
	if n := len(f.seen()); n != 3 {
		t.Errorf("%d requests, want 3", n)
	}
}

// errorHandler answers every request with status and a GitHub error body.
func errorHandler(status int, header http.Header, body any) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		for k, v := range header {
			w.Header()[k] = v
		}
		if s, ok := body.(string); ok {
			w.Header().Set("Content-Type", "text/html")
			w.WriteHeader(status)
			fmt.Fprint(w, s)
			return
		}
		writeJSON(w, status, body)
	})
}

func TestCodeOwnersErrors(t *testing.T) {
	tests := []struct {
		name    string
		h       http.Handler
		kind    ErrorKind
		wantErr string
	}{
		{"401", errorHandler(401, nil, map[string]string{"message": "Bad credentials", "documentation_url": "https://docs.github.com/rest"}),
			Unauthorized, "github: read acme/api CODEOWNERS: unauthorized (401): Bad credentials"},
		{"403", errorHandler(403, nil, map[string]string{"message": "Resource not accessible by integration"}),
			Unauthorized, "github: read acme/api CODEOWNERS: unauthorized (403): Resource not accessible by integration"},
		{"500", errorHandler(500, nil, map[string]string{"message": "Server Error"}),
			Unavailable, "github: read acme/api CODEOWNERS: unavailable (500): Server Error"},
		{"502 html", errorHandler(502, nil, "<html>\n<h1>Bad gateway</h1></html>"),
			Unavailable, "github: read acme/api CODEOWNERS: unavailable (502): Bad Gateway"},
		{"primary rate limit", errorHandler(403, http.Header{
			"X-Ratelimit-Limit": {"5000"}, "X-Ratelimit-Remaining": {"0"}, "X-Ratelimit-Reset": {"1717243200"},
		}, map[string]string{"message": "API rate limit exceeded for installation ID 1."}),
			RateLimited, "github: read acme/api CODEOWNERS: rate limited (403): API rate limit exceeded for installation ID 1.; resets at 2024-06-01T12:00:00Z"},
		{"secondary rate limit", errorHandler(403, http.Header{"Retry-After": {"60"}}, map[string]string{
			"message":           "You have exceeded a secondary rate limit.",
			"documentation_url": "https://docs.github.com/rest/overview/rate-limits-for-the-rest-api#about-secondary-rate-limits",
		}), RateLimited, "github: read acme/api CODEOWNERS: rate limited (403): You have exceeded a secondary rate limit.; retry after 1m0s"},
		{"429", errorHandler(429, nil, map[string]string{"message": "Too many requests"}),
			RateLimited, "github: read acme/api CODEOWNERS: rate limited (429): Too many requests"},
		{"malformed JSON", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Type", "application/json")
			fmt.Fprint(w, `{"type":"file",]`)
		}), BadResponse, ""},
		{"bad base64", errorHandler(200, nil, map[string]string{"type": "file", "encoding": "base64", "content": "!!!"}),
			BadResponse, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := newTestClient(t, tt.h, nil)
			path, body, err := c.CodeOwners(context.Background(), "acme/api", "")
			if err == nil {
				t.Fatalf("CodeOwners = %q, %q; want error", path, body)
			}
			if got := KindOf(err); got != tt.kind {
				t.Errorf("KindOf(%v) = %v, want %v", err, got, tt.kind)
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

func TestCodeOwnersServerErrorDoesNotFallThrough(t *testing.T) {
	// .github/CODEOWNERS fails with 500 while a root CODEOWNERS exists: the
	// root file must not be returned, since the .github one may exist.
	var mu sync.Mutex
	var paths []string
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		paths = append(paths, r.URL.Path)
		mu.Unlock()
		if strings.HasSuffix(r.URL.Path, "/.github/CODEOWNERS") {
			writeJSON(w, 500, map[string]string{"message": "Server Error"})
			return
		}
		writeJSON(w, 200, map[string]any{"type": "file", "encoding": "base64", "content": base64Lines("* @root\n")})
	})
	c := newTestClient(t, h, nil)
	_, _, err := c.CodeOwners(context.Background(), "acme/api", "")
	if KindOf(err) != Unavailable {
		t.Fatalf("err = %v, want Unavailable", err)
	}
	mu.Lock()
	defer mu.Unlock()
	if len(paths) != 1 {
		t.Errorf("requested %q, want only .github/CODEOWNERS", paths)
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

func TestCodeOwnersTimeout(t *testing.T) {
	t.Run("http.Client timeout", func(t *testing.T) {
		srv := blockingServer(t)
		c, err := New("", srv.URL, &http.Client{Timeout: 50 * time.Millisecond})
		if err != nil {
			t.Fatal(err)
		}
		_, _, err = c.CodeOwners(context.Background(), "acme/api", "")
		if KindOf(err) != Unavailable {
			t.Fatalf("err = %v, want Unavailable", err)
		}
		t.Log(err)
		if strings.Contains(err.Error(), srv.URL) {
			t.Errorf("Error() repeats the URL: %q", err)
		}
	})
	t.Run("context deadline", func(t *testing.T) {
		srv := blockingServer(t)
		c, err := New("", srv.URL, nil)
		if err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
		defer cancel()
		_, _, err = c.CodeOwners(ctx, "acme/api", "")
		if KindOf(err) != Unavailable || !errors.Is(err, context.DeadlineExceeded) {
			t.Fatalf("err = %v, want Unavailable wrapping context.DeadlineExceeded", err)
		}
	})
}

func TestCodeOwnersConnectionRefused(t *testing.T) {
	srv := httptest.NewServer(http.NotFoundHandler())
	base := srv.URL
	srv.Close()
	c, err := New("", base, nil)
	if err != nil {
		t.Fatal(err)
	}
	_, _, err = c.CodeOwners(context.Background(), "acme/api", "")
	if KindOf(err) != Unavailable {
		t.Fatalf("err = %v, want Unavailable", err)
	}
	t.Log(err)
}

func TestInvalidArguments(t *testing.T) {
	f := &fakeGitHub{}
	c := newTestClient(t, f, nil)
	for _, repo := range []string{"", "acme", "acme/", "/api", "acme/api/x", "acme/..", "ac me/api", "acme/api?x=1"} {
		if _, _, err := c.CodeOwners(context.Background(), repo, ""); KindOf(err) != Invalid {
			t.Errorf("CodeOwners(%q): err = %v, want Invalid", repo, err)
		}
		if _, err := c.RecentAuthors(context.Background(), repo, "", time.Time{}, 0); KindOf(err) != Invalid {
			t.Errorf("RecentAuthors(%q): err = %v, want Invalid", repo, err)
		}
	}
	if n := len(f.seen()); n != 0 {
		t.Errorf("%d requests sent for invalid repos", n)
	}
	for _, base := range []string{"ftp://x/", "not a url", "/relative/"} {
		if _, err := New("", base, nil); KindOf(err) != Invalid {
			t.Errorf("New(%q): err = %v, want Invalid", base, err)
		}
	}
}

func TestNewDefaultsAndTrailingSlash(t *testing.T) {
	c, err := New("", "", nil)
	if err != nil {
		t.Fatal(err)
	}
	if got := c.gh.BaseURL.String(); got != DefaultBaseURL {
		t.Errorf("BaseURL = %q", got)
	}
	c, err = New("", "https://ghe.example.com/api/v3", nil)
	if err != nil {
		t.Fatal(err)
	}
	if got := c.gh.BaseURL.String(); got != "https://ghe.example.com/api/v3/" {
		t.Errorf("BaseURL = %q", got)
	}
}

// commit builds one element of GET /repos/{o}/{r}/commits. login == "" means
// the email is linked to no account, which GitHub shows as "author": null.
func commit(sha, login, name, email, date string) map[string]any {
	c := map[string]any{
		"sha": sha,
		"commit": map[string]any{
			"author":    map[string]any{"name": name, "email": email, "date": date},
			"committer": map[string]any{"name": "GitHub", "email": "noreply@github.com", "date": date},
			"message":   "change " + sha,
		},
		"author":    nil,
		"committer": map[string]any{"login": "web-flow", "id": 19864447, "type": "User"},
		"parents":   []any{},
	}
	if login != "" {
		typ := "User"
		if strings.HasSuffix(login, "[bot]") {
			typ = "Bot"
		}
		c["author"] = map[string]any{"login": login, "id": len(login), "type": typ}
	}
	return c
}

func TestRecentAuthors(t *testing.T) {
	f := &fakeGitHub{commitPages: [][]map[string]any{
		{ // newest first, as GitHub lists them
			commit("c10", "alice", "Alice A", "alice@new.example", "2024-03-10T10:00:00Z"),
			commit("c09", "", "Carol", "Carol@Example.com", "2024-03-09T10:00:00Z"),
			commit("c08", "bob", "Bob", "bob@example.com", "2024-03-08T10:00:00Z"),
			commit("c07", "dependabot[bot]", "dependabot[bot]", "49699333+dependabot[bot]@users.noreply.github.com", "2024-03-07T10:00:00Z"),
		},
		{
			commit("c06", "alice", "Alice", "alice@old.example", "2024-03-06T10:00:00Z"),
			commit("c05", "", "Carol", "carol@example.com", "2024-03-05T10:00:00Z"),
			commit("c04", "dave", "Dave", "dave@example.com", "2024-03-04T10:00:00Z"),
			commit("c03", "bob", "Bob", "bob@example.com", "2024-03-03T10:00:00Z"),
		},
		{
			commit("c02", "alice", "Alice", "alice@old.example", "2024-03-02T10:00:00Z"),
			commit("c01", "erin", "Erin", "erin@example.com", "2024-03-04T10:00:00Z"), // ties dave on time
			commit("c00", "", "", "", "2024-03-01T10:00:00Z"),                         // no identity: skipped
		},
	}}
	c := newTestClient(t, f, nil)
	since := time.Date(2024, 1, 2, 3, 4, 5, 0, time.FixedZone("CET", 3600))

	got, err := c.RecentAuthors(context.Background(), "acme/api", "/svc/api/", since, 0)
	if err != nil {
		t.Fatal(err)
	}
	want := []Author{
		{Login: "alice", Email: "alice@new.example", Name: "Alice A", Commits: 3},
		{Login: "", Email: "Carol@Example.com", Name: "Carol", Commits: 2}, // latest 03-09
		{Login: "bob", Email: "bob@example.com", Name: "Bob", Commits: 2},  // latest 03-08
		{Login: "dave", Email: "dave@example.com", Name: "Dave", Commits: 1},
		{Login: "erin", Email: "erin@example.com", Name: "Erin", Commits: 1}, // same time as dave: by login
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("RecentAuthors =\n%+v\nwant\n%+v", got, want)
	}

	reqs := f.seen()
	if len(reqs) != 3 {
		t.Fatalf("%d requests, want 3 pages", len(reqs))
	}
	for i, r := range reqs {
		q := r.URL.Query()
		if q.Get("path") != "svc/api" || q.Get("since") != "2024-01-02T02:04:05Z" || q.Get("per_page") != "100" {
			t.Errorf("request %d query = %s", i, r.URL.RawQuery)
		}
		wantPage := ""
		if i > 0 {
			wantPage = fmt.Sprint(i + 1)
		}
		if q.Get("page") != wantPage {
			t.Errorf("request %d page = %q, want %q", i, q.Get("page"), wantPage)
		}
	}

	top2, err := c.RecentAuthors(context.Background(), "acme/api", "svc/api", since, 2)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(top2, want[:2]) {
		t.Errorf("max 2 = %+v", top2)
	}
}

func TestRecentAuthorsWholeRepoAllHistory(t *testing.T) {
	f := &fakeGitHub{commitPages: [][]map[string]any{{commit("c1", "alice", "Alice", "a@x", "2024-03-10T10:00:00Z")}}}
	c := newTestClient(t, f, nil)
	got, err := c.RecentAuthors(context.Background(), "acme/api", "", time.Time{}, 0)
	if err != nil || len(got) != 1 {
		t.Fatalf("got %+v, %v", got, err)
	}
	q := f.seen()[0].URL.Query()
	if _, ok := q["since"]; ok {
		t.Errorf("zero since sent: %s", f.seen()[0].URL.RawQuery)
	}
	if _, ok := q["path"]; ok {
		t.Errorf("empty path sent: %s", f.seen()[0].URL.RawQuery)
	}
}

func TestRecentAuthorsEmptyRepository(t *testing.T) {
	c := newTestClient(t, errorHandler(409, nil, map[string]string{"message": "Git Repository is empty."}), nil)
	got, err := c.RecentAuthors(context.Background(), "acme/api", "svc", time.Time{}, 0)
	if err != nil || len(got) != 0 {
		t.Fatalf("got %+v, %v; want none, nil", got, err)
	}
}

func TestRecentAuthorsErrorOnLaterPage(t *testing.T) {
	var mu sync.Mutex
	calls := 0
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		calls++
		n := calls
		mu.Unlock()
		if n == 1 {
			next := url.URL{Scheme: "http", Host: r.Host, Path: r.URL.Path, RawQuery: "page=2&per_page=100"}
			w.Header().Set("Link", fmt.Sprintf(`<%s>; rel="next"`, next.String()))
			writeJSON(w, 200, []any{commit("c1", "alice", "Alice", "a@x", "2024-03-10T10:00:00Z")})
			return
		}
		writeJSON(w, 503, map[string]string{"message": "Service Unavailable"})
	})
	c := newTestClient(t, h, nil)
	got, err := c.RecentAuthors(context.Background(), "acme/api", "svc/api", time.Time{}, 0)
	if got != nil || KindOf(err) != Unavailable {
		t.Fatalf("got %+v, %v; want nil, Unavailable", got, err)
	}
	const want = "github: list acme/api commits to svc/api: unavailable (503): Service Unavailable"
	if err.Error() != want {
		t.Errorf("Error() = %q\nwant      %q", err, want)
	}
}

func TestRecentAuthorsUnauthorized(t *testing.T) {
	c := newTestClient(t, errorHandler(401, nil, map[string]string{"message": "Bad credentials"}), nil)
	_, err := c.RecentAuthors(context.Background(), "acme/api", "", time.Time{}, 0)
	if KindOf(err) != Unauthorized {
		t.Fatalf("err = %v, want Unauthorized", err)
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
	for k := Unknown; k <= Invalid; k++ {
		if k.String() == "" {
			t.Errorf("kind %d has no name", int(k))
		}
	}
}
