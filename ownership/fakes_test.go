package ownership_test

import (
	"encoding/base64"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
)

// fakeAPI is an httptest server whose answers a test can turn into failures.
type fakeAPI struct {
	*httptest.Server
	status atomic.Int32 // non-zero: answer every request with this status
	calls  atomic.Int32
}

func newFake(t *testing.T, h http.HandlerFunc) *fakeAPI {
	f := &fakeAPI{}
	f.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		f.calls.Add(1)
		if s := f.status.Load(); s != 0 {
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(int(s))
			w.Write([]byte(`{"message":"failing on purpose","error":{"message":"failing on purpose"}}`))
			return
		}
		h(w, r)
	}))
	t.Cleanup(f.Close)
	return f
}

func writeJSON(w http.ResponseWriter, v any) {
	w.Header().Set("Content-Type", "application/json")
	json.NewEncoder(w).Encode(v)
}

// webCodeOwners is acme/web's CODEOWNERS, served by the fake GitHub.
const webCodeOwners = "# acme/web\n/app/ @acme/payments\n"

// fakeGitHub serves acme/web's .github/CODEOWNERS and commits for paths of acme/tools.
func fakeGitHub(t *testing.T) *fakeAPI {
	return newFake(t, func(w http.ResponseWriter, r *http.Request) {
		switch {
		case r.URL.Path == "/repos/acme/web/contents/.github/CODEOWNERS":
			writeJSON(w, map[string]any{"type": "file", "encoding": "base64", "path": ".github/CODEOWNERS", "name": "CODEOWNERS",
				"content": base64.StdEncoding.EncodeToString([]byte(webCodeOwners))})
		case strings.HasPrefix(r.URL.Path, "/repos/") && strings.HasSuffix(r.URL.Path, "/commits"):
			commit := func(login, email string) map[string]any {
				c := map[string]any{"sha": "abc", "commit": map[string]any{"author": map[string]any{"name": login, "email": email, "date": "2026-11-20T10:00:00Z"}}}
				if login != "" {
					c["author"] = map[string]any{"login": login}
				}
				return c
			}
			if r.URL.Query().Get("path") == "scripts/deploy.sh" {
				writeJSON(w, []any{commit("dweiss", "dan@acme.test"), commit("dweiss", "dan@acme.test"), commit("", "contractor@else.test")})
				return
			}
			writeJSON(w, []any{})
		default:
			w.WriteHeader(http.StatusNotFound)
			writeJSON(w, map[string]any{"message": "Not Found"})
		}
	})
}

// fakePagerDuty says carol is on call for PDATA.
func fakePagerDuty(t *testing.T) *fakeAPI {
	return newFake(t, func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/oncalls" {
			w.WriteHeader(http.StatusNotFound)
			return
		}
		writeJSON(w, map[string]any{"oncalls": []any{map[string]any{
			"user":              map[string]any{"id": "PU1", "type": "user", "summary": "Carol", "name": "Carol", "email": "carol@acme.test"},
			"escalation_level":  1,
			"escalation_policy": map[string]any{"id": "PDATA", "type": "escalation_policy_reference"},
		}}, "limit": 100, "offset": 0, "more": false})
	})
}
