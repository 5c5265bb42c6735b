package main

import (
	"bytes"
	"context"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/mandatehq/mandate/postgres"
	"github.com/mandatehq/mandate/postgres/pgtest"
)

// logLines is an io.Writer that keeps a child's log and lets a test wait for a line.
type logLines struct {
	mu    sync.Mutex
	buf   bytes.Buffer
	added chan struct{}
}

func newLogLines() *logLines { return &logLines{added: make(chan struct{}, 1)} }

func (l *logLines) Write(p []byte) (int, error) {
	l.mu.Lock()
	l.buf.Write(p)
	l.mu.Unlock()
	select {
	case l.added <- struct{}{}:
	default:
	}
	return len(p), nil
}

// String returns everything logged so far.
func (l *logLines) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.String()
}

// count says how often the log holds want.
func (l *logLines) count(want string) int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return strings.Count(l.buf.String(), want)
}

// waitFor returns once the log holds want n times.
func (l *logLines) waitFor(t *testing.T, want string, n int) {
	t.Helper()
	for {
		l.mu.Lock()
		got := strings.Count(l.buf.String(), want)
		l.mu.Unlock()
		if got >= n {
			return
		}
		select {
		case <-l.added:
		case <-time.After(90 * time.Second): // a bound on a hung test, not a budget
			t.Fatalf("no %q in the log after 90s:\n%s", want, l.buf.String())
		}
	}
}

// TestSIGHUPReloadsConfigAndKeepsItOnError sends SIGHUP to a running server twice: first
// with a broken config, which must be rejected while the server keeps serving, then with
// a config that declares a new agent, whose token must then work.
func TestSIGHUPReloadsConfigAndKeepsItOnError(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the binary")
	}
	bin, err := buildBinary()
	if err != nil {
		t.Fatal(err)
	}
	example, err := os.ReadFile("../../examples/quickstart/mandate.yaml")
	if err != nil {
		t.Fatal(err)
	}
	configPath := filepath.Join(t.TempDir(), "mandate.yaml")
	if err := os.WriteFile(configPath, example, 0o644); err != nil {
		t.Fatal(err)
	}
	dbURL, addr, logs := pgtest.URL(t), freeAddr(t), newLogLines()
	srv, err := startServerBinary(context.Background(), bin, dbURL, configPath, addr, logs)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(srv.kill)

	os.WriteFile(configPath, []byte("org:\n  timezone: Mars/Base\n"), 0o644)
	srv.cmd.Process.Signal(syscall.SIGHUP)
	logs.waitFor(t, "config reload rejected", 1)
	if res, err := http.Get("http://" + addr + "/readyz"); err != nil || res.StatusCode != 200 {
		t.Fatalf("after a rejected reload the server does not serve: %v %v", res, err)
	}

	withAgent := strings.Replace(string(example), "agents:\n", "agents:\n  - {id: janitor, team: platform, trust: restricted}\n", 1)
	os.WriteFile(configPath, []byte(withAgent), 0o644)
	srv.cmd.Process.Signal(syscall.SIGHUP)
	logs.waitFor(t, "config reloaded", 1)

	db, err := postgres.Open(context.Background(), dbURL)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	token, err := postgres.NewActorStore(db).CreateToken(context.Background(), "janitor")
	if err != nil {
		t.Fatalf("the reloaded config's new agent was not synced: %v", err)
	}
	req, _ := http.NewRequest("POST", "http://"+addr+"/v1/actions", strings.NewReader(`{"type":"delete","summary":"clean up","resources":[{"kind":"bucket","name":"tmp"}]}`))
	req.Header.Set("Authorization", "Bearer "+token)
	req.Header.Set("Content-Type", "application/json")
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if res.StatusCode != 201 {
		t.Errorf("action by the new agent: %d, want 201", res.StatusCode)
	}
}
