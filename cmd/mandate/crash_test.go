package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/mandatehq/mandate/postgres"
	"github.com/mandatehq/mandate/postgres/pgtest"
)

// buildBinary compiles cmd/mandate once per test binary.
var buildBinary = sync.OnceValues(func() (string, error) {
	dir, err := os.MkdirTemp("", "mandate-bin-")
	if err != nil {
		return "", err
	}
	bin := filepath.Join(dir, "mandate")
	out, err := exec.Command("go", "build", "-o", bin, ".").CombinedOutput()
	if err != nil {
		return "", fmt.Errorf("go build: %v\n%s", err, out)
	}
	return bin, nil
})

func startServe(t *testing.T, dbURL, addr string) *child {
	t.Helper()
	bin, err := buildBinary()
	if err != nil {
		t.Fatal(err)
	}
	c, err := startServerBinary(context.Background(), bin, dbURL, "../../examples/quickstart/mandate.yaml", addr, t.Output())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.kill)
	return c
}

func freeAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

// TestCrashLosesNoAcknowledgedAction kills the server with SIGKILL in the middle of load,
// restarts it, and checks that every action answered 2xx, before or after the crash, is
// stored exactly once.
func TestCrashLosesNoAcknowledgedAction(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the binary")
	}
	ctx := context.Background()
	dbURL := pgtest.URL(t)
	addr := freeAddr(t)
	srv := startServe(t, dbURL, addr) // creates the schema and syncs the agents
	db, err := postgres.Open(ctx, dbURL)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	token, err := postgres.NewActorStore(db).CreateToken(ctx, "deployer")
	if err != nil {
		t.Fatal(err)
	}

	var (
		mu       sync.Mutex
		acked    []string
		ackCount atomic.Int64
		failures atomic.Int64
		stop     atomic.Bool
		wg       sync.WaitGroup
		progress = make(chan struct{}, 1)
	)
	signal := func() {
		select {
		case progress <- struct{}{}:
		default:
		}
	}
	client := &http.Client{Timeout: 10 * time.Second}
	for w := range 8 {
		wg.Go(func() {
			for n := 0; !stop.Load(); n++ {
				body := fmt.Sprintf(`{"idempotency_key":"w%d-%d","type":"deploy","summary":"deploy %d","resources":[{"kind":"service","name":"payments-api"},{"kind":"table","name":"billing.invoices"}]}`, w, n, n)
				req, _ := http.NewRequest("POST", "http://"+addr+"/v1/actions", bytes.NewReader([]byte(body)))
				req.Header.Set("Authorization", "Bearer "+token)
				req.Header.Set("Content-Type", "application/json")
				res, err := client.Do(req)
				if err != nil {
					failures.Add(1)
					signal()
					continue
				}
				b, _ := io.ReadAll(res.Body)
				res.Body.Close()
				if res.StatusCode/100 == 2 {
					var ans struct {
						ActionID string `json:"action_id"`
					}
					if err := json.Unmarshal(b, &ans); err != nil || ans.ActionID == "" {
						t.Errorf("2xx without action_id: %s", b)
						continue
					}
					mu.Lock()
					acked = append(acked, ans.ActionID)
					mu.Unlock()
					ackCount.Add(1)
				} else {
					failures.Add(1)
				}
				signal()
			}
		})
	}
	waitFor := func(what string, cond func() bool) {
		t.Helper()
		for !cond() {
			select {
			case <-progress:
			case <-time.After(30 * time.Second):
				stop.Store(true)
				t.Fatalf("timed out waiting for %s", what)
			}
		}
	}
	waitFor("300 acknowledged actions", func() bool { return ackCount.Load() >= 300 })
	srv.kill()
	before := ackCount.Load()
	waitFor("requests to fail while the server is down", func() bool { return failures.Load() >= 8 })
	startServe(t, dbURL, addr)
	waitFor("300 more acknowledged actions after the restart", func() bool { return ackCount.Load() >= before+300 })
	stop.Store(true)
	wg.Wait()

	missing, duplicated, err := postgres.NewActionStore(db, postgres.ActionStoreOptions{Committers: 1}).CountByID(ctx, acked)
	if err != nil {
		t.Fatal(err)
	}
	if missing != 0 || duplicated != 0 {
		t.Fatalf("of %d acknowledged actions, %d are missing and %d duplicated after kill -9", len(acked), missing, duplicated)
	}
	t.Logf("%d actions acknowledged (%d before the crash), %d requests failed, none lost", len(acked), before, failures.Load())
}
