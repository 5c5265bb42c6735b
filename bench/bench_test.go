package bench

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

const testToken = "agent-token-123"

// actionRequest mirrors the body of POST /v1/actions; decoding with DisallowUnknownFields
// keeps the generator honest about field names.
type actionRequest struct {
	IdempotencyKey string `json:"idempotency_key"`
	Type           string `json:"type"`
	Summary        string `json:"summary"`
	Resources      []struct {
		Kind string `json:"kind"`
		Name string `json:"name"`
		Repo string `json:"repo"`
		Path string `json:"path"`
	} `json:"resources"`
	Environment   string          `json:"environment"`
	Reversibility string          `json:"reversibility"`
	Params        json.RawMessage `json:"params"`
	Session       string          `json:"session"`
	OccurredAt    time.Time       `json:"occurred_at"`
}

var (
	knownTypes = []string{"deploy", "code_change", "db_write", "email_send", "payment_charge", "s3_delete", "read"}
	knownKinds = []string{"service", "file", "table", "bucket", "endpoint", "config"}
)

// parseBody decodes and validates one generated body the way the server would.
func parseBody(b []byte) (*actionRequest, error) {
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	var a actionRequest
	if err := dec.Decode(&a); err != nil {
		return nil, err
	}
	if dec.More() {
		return nil, errors.New("trailing data")
	}
	switch {
	case a.IdempotencyKey == "":
		return nil, errors.New("no idempotency_key")
	case !slices.Contains(knownTypes, a.Type):
		return nil, fmt.Errorf("unknown type %q", a.Type)
	case a.Summary == "":
		return nil, errors.New("no summary")
	case len(a.Resources) < 2 || len(a.Resources) > 5:
		return nil, fmt.Errorf("%d resources", len(a.Resources))
	case a.Environment == "":
		return nil, errors.New("no environment")
	case a.Reversibility != "reversible" && a.Reversibility != "irreversible" && a.Reversibility != "unknown":
		return nil, fmt.Errorf("bad reversibility %q", a.Reversibility)
	case a.Session == "":
		return nil, errors.New("no session")
	case a.OccurredAt.IsZero():
		return nil, errors.New("no occurred_at")
	}
	var params map[string]any
	if err := json.Unmarshal(a.Params, &params); err != nil || len(params) == 0 {
		return nil, fmt.Errorf("params %s: not a nonempty object", a.Params)
	}
	for _, r := range a.Resources {
		if !slices.Contains(knownKinds, r.Kind) {
			return nil, fmt.Errorf("unknown resource kind %q", r.Kind)
		}
		if r.Kind == "file" {
			if r.Repo == "" || r.Path == "" || r.Name != "" {
				return nil, fmt.Errorf("bad file resource %+v", r)
			}
		} else if r.Name == "" || r.Repo != "" || r.Path != "" {
			return nil, fmt.Errorf("bad %s resource %+v", r.Kind, r)
		}
	}
	return &a, nil
}

// fakeServer is a tiny stand-in for Mandate's POST /v1/actions: it checks the bearer
// token, content type and JSON shape, stores actions by idempotency key (answering replays
// with 200 and the same id), and fails every failEvery-th request with 503.
type fakeServer struct {
	t         *testing.T
	srv       *httptest.Server
	failEvery int64
	// hook, when set, runs at the start of request number n (1-based); when it returns
	// true it has answered the request itself.
	hook func(n int64, w http.ResponseWriter, r *http.Request) bool

	requests, failed atomic.Int64
	mu               sync.Mutex
	byKey            map[string]string // idempotency key -> action_id
	stored           map[string]int    // action_id -> rows
}

func newFakeServer(t *testing.T, failEvery int64, hook func(n int64, w http.ResponseWriter, r *http.Request) bool) *fakeServer {
	f := &fakeServer{t: t, failEvery: failEvery, hook: hook, byKey: map[string]string{}, stored: map[string]int{}}
	f.srv = httptest.NewServer(http.HandlerFunc(f.serve))
	t.Cleanup(f.srv.Close)
	return f
}

func (f *fakeServer) serve(w http.ResponseWriter, r *http.Request) {
	n := f.requests.Add(1)
	if f.hook != nil && f.hook(n, w, r) {
		return
	}
	if r.Method != http.MethodPost || r.URL.Path != "/v1/actions" {
		f.t.Errorf("unexpected %s %s", r.Method, r.URL.Path)
		http.NotFound(w, r)
		return
	}
	if got := r.Header.Get("Authorization"); got != "Bearer "+testToken {
		f.t.Errorf("Authorization = %q", got)
		http.Error(w, `{"error":"unauthorized"}`, http.StatusUnauthorized)
		return
	}
	if got := r.Header.Get("Content-Type"); got != "application/json" {
		f.t.Errorf("Content-Type = %q", got)
		http.Error(w, `{"error":"unsupported"}`, http.StatusUnsupportedMediaType)
		return
	}
	var body bytes.Buffer
	if _, err := body.ReadFrom(r.Body); err != nil {
		return // the client went away
	}
	a, err := parseBody(body.Bytes())
	if err != nil {
		f.t.Errorf("bad body: %v\n%s", err, body.Bytes())
		http.Error(w, `{"error":"invalid"}`, http.StatusBadRequest)
		return
	}
	if f.failEvery > 0 && n%f.failEvery == 0 {
		f.failed.Add(1)
		http.Error(w, `{"error":"unavailable"}`, http.StatusServiceUnavailable)
		return
	}
	f.mu.Lock()
	id, replay := f.byKey[a.IdempotencyKey]
	if !replay {
		id = fmt.Sprintf("00000000-0000-4000-8000-%012d", len(f.byKey)+1)
		f.byKey[a.IdempotencyKey] = id
		f.stored[id]++
	}
	f.mu.Unlock()
	w.Header().Set("Content-Type", "application/json")
	if replay {
		w.WriteHeader(http.StatusOK)
	} else {
		w.WriteHeader(http.StatusCreated)
	}
	fmt.Fprintf(w, `{"action_id":%q,"decision":{"path":"monitored_execute","urgency":"normal","targets":[]},"next":"proceed","agent_state":{"paused":false,"version":1}}`, id)
}

// verifier checks ids against what the fake server stored.
func (f *fakeServer) verifier(ctx context.Context, ids []string) (missing, duplicated int, err error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	for _, id := range ids {
		switch c := f.stored[id]; {
		case c == 0:
			missing++
		case c > 1:
			duplicated++
		}
	}
	return missing, duplicated, nil
}

func (f *fakeServer) keys() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	var ks []string
	for k := range f.byKey {
		ks = append(ks, k)
	}
	return ks
}

func (f *fakeServer) storedIDs() map[string]bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	m := map[string]bool{}
	for id := range f.stored {
		m[id] = true
	}
	return m
}

// checkConsistent asserts the invariants every report must satisfy.
func checkConsistent(t *testing.T, rep *IngestReport) {
	t.Helper()
	if rep.Acked+rep.Errors != rep.Sent {
		t.Errorf("acked %d + errors %d != sent %d", rep.Acked, rep.Errors, rep.Sent)
	}
	byKind := 0
	for _, v := range rep.ErrorsByKind {
		byKind += v
	}
	if byKind != rep.Errors {
		t.Errorf("ErrorsByKind sums to %d, Errors = %d (%v)", byKind, rep.Errors, rep.ErrorsByKind)
	}
	if len(rep.AckedIDs) != rep.Acked+rep.WarmupAcked {
		t.Errorf("len(AckedIDs) = %d, want acked %d + warmup acked %d", len(rep.AckedIDs), rep.Acked, rep.WarmupAcked)
	}
	if !(rep.P50 <= rep.P95 && rep.P95 <= rep.P99 && rep.P99 <= rep.Max) {
		t.Errorf("percentiles out of order: p50 %v p95 %v p99 %v max %v", rep.P50, rep.P95, rep.P99, rep.Max)
	}
}

func TestRunIngestClosedLoop(t *testing.T) {
	f := newFakeServer(t, 7, nil)
	rep, err := RunIngest(t.Context(), IngestOptions{
		URL: f.srv.URL + "/", Token: testToken, Duration: 150 * time.Millisecond, Concurrency: 4, Seed: 42,
	})
	if err != nil {
		t.Fatal(err)
	}
	checkConsistent(t, rep)
	if rep.Sent == 0 {
		t.Fatal("nothing sent")
	}
	if int64(rep.Sent) != f.requests.Load() {
		t.Errorf("sent %d, server saw %d", rep.Sent, f.requests.Load())
	}
	if int64(rep.Errors) != f.failed.Load() || rep.ErrorsByKind["status 503"] != rep.Errors {
		t.Errorf("errors %d %v, server failed %d", rep.Errors, rep.ErrorsByKind, f.failed.Load())
	}
	if f.failed.Load() != int64(rep.Sent)/7 {
		t.Errorf("server failed %d of %d", f.failed.Load(), rep.Sent)
	}
	stored := f.storedIDs()
	if len(stored) != rep.Acked {
		t.Errorf("server stored %d, acked %d", len(stored), rep.Acked)
	}
	for _, id := range rep.AckedIDs {
		if !stored[id] {
			t.Errorf("acked id %s not stored", id)
		}
	}
	if rep.Late != 0 {
		t.Errorf("closed loop reported %d late", rep.Late)
	}
	if rep.Throughput <= 0 || rep.Max <= 0 {
		t.Errorf("throughput %v, max %v", rep.Throughput, rep.Max)
	}
	if len(rep.Options.RunID) != 8 {
		t.Errorf("random RunID %q", rep.Options.RunID)
	}

	res, err := rep.Verify(t.Context(), f.verifier)
	if err != nil {
		t.Fatal(err)
	}
	if want := (VerifyResult{Checked: rep.Acked}); res != want || !res.OK() {
		t.Errorf("Verify = %+v, want %+v", res, want)
	}
	var out strings.Builder
	rep.Print(&out)
	for _, want := range []string{"closed loop", "acked", "status 503: " + strconv.Itoa(rep.Errors), "p99", "OK"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("Print output lacks %q:\n%s", want, out.String())
		}
	}
}

func TestRunIngestOpenLoopSchedule(t *testing.T) {
	f := newFakeServer(t, 5, nil)
	rep, err := RunIngest(t.Context(), IngestOptions{
		URL: f.srv.URL, Token: testToken, Rate: 1000, Warmup: 50 * time.Millisecond,
		Duration: 100 * time.Millisecond, Concurrency: 8, Seed: 7, RunID: "open",
	})
	if err != nil {
		t.Fatal(err)
	}
	checkConsistent(t, rep)
	// Send n is scheduled at n ms: 50 fall in the warmup, 100 in the measured phase.
	if rep.WarmupSent != 50 || rep.Sent != 100 {
		t.Errorf("warmup sent %d, sent %d; want 50, 100", rep.WarmupSent, rep.Sent)
	}
	if got := rep.Errors + rep.WarmupErrors; int64(got) != f.failed.Load() || got != 150/5 {
		t.Errorf("errors %d+%d, server failed %d", rep.Errors, rep.WarmupErrors, f.failed.Load())
	}
	// Every key of the schedule reached the server exactly once.
	keys := f.keys()
	if len(keys) != 150-30 {
		t.Errorf("server stored %d keys, want 120", len(keys))
	}
	seen := map[int]bool{}
	for _, k := range keys {
		n, err := strconv.Atoi(strings.TrimPrefix(k, "bench-open-"))
		if err != nil || n < 0 || n >= 150 || seen[n] {
			t.Errorf("unexpected key %q", k)
		}
		seen[n] = true
	}
	stored := f.storedIDs()
	for _, id := range rep.AckedIDs {
		if !stored[id] {
			t.Errorf("acked id %s not stored", id)
		}
	}
	var out strings.Builder
	rep.Print(&out)
	for _, want := range []string{"open loop, target 1000 actions/s", "warmup", "late"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("Print output lacks %q:\n%s", want, out.String())
		}
	}
}

func TestRunIngestIdempotentReplay(t *testing.T) {
	f := newFakeServer(t, 0, nil)
	opt := IngestOptions{
		URL: f.srv.URL, Token: testToken, Rate: 1000, Duration: 20 * time.Millisecond,
		Concurrency: 2, Seed: 3, RunID: "replay", Epoch: time.Date(2026, 11, 25, 10, 0, 0, 0, time.UTC),
	}
	first, err := RunIngest(t.Context(), opt)
	if err != nil {
		t.Fatal(err)
	}
	second, err := RunIngest(t.Context(), opt)
	if err != nil {
		t.Fatal(err)
	}
	a, b := slices.Sorted(slices.Values(first.AckedIDs)), slices.Sorted(slices.Values(second.AckedIDs))
	if len(a) != 20 || !slices.Equal(a, b) {
		t.Errorf("replay acked %v, first run %v", b, a)
	}
}

func TestRunIngestLate(t *testing.T) {
	// A slow first answer holds the only worker while sends 1.. fall due: they must be
	// counted late. The delay simulates a slow server; nothing waits on it to synchronise.
	f := newFakeServer(t, 0, func(n int64, w http.ResponseWriter, r *http.Request) bool {
		if n == 1 {
			time.Sleep(20 * time.Millisecond)
		}
		return false
	})
	rep, err := RunIngest(t.Context(), IngestOptions{
		URL: f.srv.URL, Token: testToken, Rate: 1000, Duration: 10 * time.Millisecond, Concurrency: 1,
	})
	if err != nil {
		t.Fatal(err)
	}
	checkConsistent(t, rep)
	if rep.Sent != 10 || rep.Acked != 10 {
		t.Errorf("sent %d acked %d, want 10", rep.Sent, rep.Acked)
	}
	if rep.Late == 0 || rep.MaxLag <= lateThreshold {
		t.Errorf("late %d, max lag %v: want the sends behind the slow one counted", rep.Late, rep.MaxLag)
	}
}

func TestRunIngestTimeout(t *testing.T) {
	release := make(chan struct{})
	f := newFakeServer(t, 0, func(n int64, w http.ResponseWriter, r *http.Request) bool {
		// Consume the body so the server notices the client hanging up, then never answer.
		io.Copy(io.Discard, r.Body)
		select {
		case <-r.Context().Done():
		case <-release:
		}
		return true
	})
	t.Cleanup(func() { close(release) }) // runs before the server's Close
	rep, err := RunIngest(t.Context(), IngestOptions{
		URL: f.srv.URL, Token: testToken, Rate: 1000, Duration: 3 * time.Millisecond,
		Concurrency: 3, Timeout: 50 * time.Millisecond,
	})
	if err != nil {
		t.Fatal(err)
	}
	checkConsistent(t, rep)
	if rep.Sent != 3 || rep.ErrorsByKind["timeout"] != 3 || len(rep.AckedIDs) != 0 {
		t.Errorf("sent %d, errors %v, acked %v", rep.Sent, rep.ErrorsByKind, rep.AckedIDs)
	}
}

func TestRunIngestConnectionRefused(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	rep, err := RunIngest(t.Context(), IngestOptions{
		URL: "http://" + addr, Token: testToken, Rate: 1000, Duration: 3 * time.Millisecond, Concurrency: 2,
	})
	if err != nil {
		t.Fatal(err)
	}
	checkConsistent(t, rep)
	if rep.Sent != 3 || rep.ErrorsByKind["connection refused"] != 3 {
		t.Errorf("sent %d, errors %v", rep.Sent, rep.ErrorsByKind)
	}
}

func TestRunIngestBadResponse(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(http.StatusCreated)
		w.Write([]byte(`{"decision":{}}`))
	}))
	defer srv.Close()
	rep, err := RunIngest(t.Context(), IngestOptions{
		URL: srv.URL, Token: testToken, Rate: 1000, Duration: 2 * time.Millisecond, Concurrency: 1,
	})
	if err != nil {
		t.Fatal(err)
	}
	checkConsistent(t, rep)
	if rep.Acked != 0 || rep.ErrorsByKind["bad response"] != 2 {
		t.Errorf("acked %d, errors %v", rep.Acked, rep.ErrorsByKind)
	}
}

func TestRunIngestCancel(t *testing.T) {
	for _, rate := range []int{0, 20000} {
		ctx, cancel := context.WithCancel(t.Context())
		f := newFakeServer(t, 0, func(n int64, w http.ResponseWriter, r *http.Request) bool {
			if n == 20 {
				cancel()
			}
			return false
		})
		// Without cancellation this would run for an hour.
		rep, err := RunIngest(ctx, IngestOptions{
			URL: f.srv.URL, Token: testToken, Rate: rate, Duration: time.Hour, Concurrency: 3,
		})
		cancel()
		if !errors.Is(err, context.Canceled) || rep == nil {
			t.Fatalf("rate %d: err = %v, report %v", rate, err, rep)
		}
		checkConsistent(t, rep)
		if rep.Sent < 20 {
			t.Errorf("rate %d: sent %d, want at least 20", rate, rep.Sent)
		}
		stored := f.storedIDs()
		for _, id := range rep.AckedIDs {
			if !stored[id] {
				t.Errorf("acked id %s not stored", id)
			}
		}
	}
}

func TestRunIngestOptions(t *testing.T) {
	ok := IngestOptions{URL: "http://127.0.0.1:1", Duration: time.Second, Concurrency: 1}
	for name, mod := range map[string]func(*IngestOptions){
		"no url":         func(o *IngestOptions) { o.URL = "" },
		"bad scheme":     func(o *IngestOptions) { o.URL = "ftp://x" },
		"negative rate":  func(o *IngestOptions) { o.Rate = -1 },
		"zero duration":  func(o *IngestOptions) { o.Duration = 0 },
		"no concurrency": func(o *IngestOptions) { o.Concurrency = 0 },
		"neg warmup":     func(o *IngestOptions) { o.Warmup = -time.Second },
	} {
		o := ok
		mod(&o)
		if _, err := RunIngest(t.Context(), o); err == nil {
			t.Errorf("%s: no error", name)
		}
	}
}

func TestBodyValid(t *testing.T) {
	types, kinds := map[string]int{}, map[string]int{}
	sizes := 0
	const perSeed = 3000
	for seed := uint64(1); seed <= 3; seed++ {
		g := &Generator{Seed: seed, RunID: "a1b2c3d4", Epoch: time.Date(2026, 11, 25, 10, 0, 0, 0, time.UTC)}
		for n := uint64(0); n < perSeed; n++ {
			b := g.Body(n)
			if len(b) < 300 || len(b) > 800 {
				t.Errorf("seed %d body %d: %d bytes", seed, n, len(b))
			}
			sizes += len(b)
			a, err := parseBody(b)
			if err != nil {
				t.Fatalf("seed %d body %d: %v\n%s", seed, n, err, b)
			}
			if a.IdempotencyKey != g.IdempotencyKey(n) {
				t.Errorf("key %q, want %q", a.IdempotencyKey, g.IdempotencyKey(n))
			}
			if want := g.Epoch.Add(time.Duration(n) * time.Millisecond); !a.OccurredAt.Equal(want) {
				t.Errorf("occurred_at %v, want %v", a.OccurredAt, want)
			}
			types[a.Type]++
			for _, r := range a.Resources {
				kinds[r.Kind]++
			}
		}
	}
	if avg := sizes / (3 * perSeed); avg < 400 || avg > 600 {
		t.Errorf("average body %d bytes, want about 500", avg)
	}
	for _, ty := range knownTypes {
		if types[ty] == 0 {
			t.Errorf("type %s never generated", ty)
		}
	}
	for _, k := range knownKinds {
		if kinds[k] == 0 {
			t.Errorf("resource kind %s never generated", k)
		}
	}
}

func TestBodyDeterministic(t *testing.T) {
	g1 := &Generator{Seed: 99, RunID: "r"}
	g2 := &Generator{Seed: 99, RunID: "r"}
	other := &Generator{Seed: 100, RunID: "r"}
	differ := 0
	buf := make([]byte, 0, 1024)
	for n := uint64(0); n < 1000; n++ {
		b1 := g1.Body(n)
		// Order of generation and buffer reuse must not matter.
		buf = g2.AppendBody(buf[:0], n)
		if !bytes.Equal(b1, buf) {
			t.Fatalf("body %d differs between identical generators:\n%s\n%s", n, b1, buf)
		}
		if !bytes.Equal(b1, other.Body(n)) {
			differ++
		}
	}
	if differ < 990 {
		t.Errorf("only %d of 1000 bodies differ between seeds", differ)
	}
	// Neighbouring bodies of one seed are unrelated, not near-copies.
	if bytes.Equal(g1.Body(1)[30:], g1.Body(2)[30:]) {
		t.Error("bodies 1 and 2 are identical past the key")
	}
}

func TestBodyEscapesRunID(t *testing.T) {
	g := &Generator{Seed: 1, RunID: "a\"b\\c\nd\xffé"}
	b := g.Body(5)
	a, err := parseBody(b)
	if err != nil {
		t.Fatalf("%v\n%s", err, b)
	}
	if want := "bench-a\"b\\c\nd\ufffdé-5"; a.IdempotencyKey != want {
		t.Errorf("key %q, want %q", a.IdempotencyKey, want)
	}
}

func TestPercentile(t *testing.T) {
	ms := func(vs ...int) []time.Duration {
		d := make([]time.Duration, len(vs))
		for i, v := range vs {
			d[i] = time.Duration(v) * time.Millisecond
		}
		return d
	}
	hundred := make([]int, 100)
	for i := range hundred {
		hundred[i] = i + 1
	}
	for _, c := range []struct {
		sorted []time.Duration
		p      float64
		want   int // ms
	}{
		{nil, 50, 0},
		{ms(7), 50, 7},
		{ms(7), 99, 7},
		{ms(hundred...), 50, 50},
		{ms(hundred...), 95, 95},
		{ms(hundred...), 99, 99},
		{ms(hundred...), 99.5, 100},
		{ms(hundred...), 100, 100},
		{ms(hundred...), 0, 1},
		{ms(1, 2, 3, 4, 5, 6, 7, 8, 9, 10), 50, 5},
		{ms(1, 2, 3, 4, 5, 6, 7, 8, 9, 10), 51, 6},
		{ms(1, 2, 3, 4, 5, 6, 7, 8, 9, 10), 95, 10},
		{ms(1, 2, 3, 4, 5, 6, 7, 8, 9, 10), 90, 9},
		{ms(10, 20, 30), 33.4, 20},
		{ms(10, 20, 30), 66.6, 20},
		{ms(10, 20, 30), 66.7, 30},
		{ms(1, 1, 1, 50), 75, 1},
		{ms(1, 1, 1, 50), 76, 50},
	} {
		if got := Percentile(c.sorted, c.p); got != time.Duration(c.want)*time.Millisecond {
			t.Errorf("Percentile(%v, %v) = %v, want %dms", c.sorted, c.p, got, c.want)
		}
	}
}

// TestReportMerge checks that per-worker tallies merge into exact totals and percentiles.
func TestReportMerge(t *testing.T) {
	start := time.Now()
	r := &runner{measureStart: start}
	w1 := &workerStats{errs: map[string]int{}}
	w2 := &workerStats{errs: map[string]int{}}
	// 100 samples of 1..100ms spread over two workers, every 10th an error.
	for i := 1; i <= 100; i++ {
		w := w1
		if i%2 == 0 {
			w = w2
		}
		id, kind := "id-"+strconv.Itoa(i), ""
		if i%10 == 0 {
			id, kind = "", "status 503"
		}
		w.record(true, time.Duration(i)*time.Millisecond, start.Add(time.Duration(i)*10*time.Millisecond), id, kind)
	}
	w1.record(false, time.Hour, start, "warm-1", "") // warmup: not in the figures
	w2.record(false, time.Hour, start, "", "timeout")
	rep := r.report([]*workerStats{w1, w2})
	checkConsistent(t, rep)
	if rep.Sent != 100 || rep.Acked != 90 || rep.Errors != 10 || rep.ErrorsByKind["status 503"] != 10 {
		t.Errorf("sent %d acked %d errors %d %v", rep.Sent, rep.Acked, rep.Errors, rep.ErrorsByKind)
	}
	if rep.WarmupSent != 2 || rep.WarmupAcked != 1 || rep.WarmupErrors != 1 || len(rep.AckedIDs) != 91 {
		t.Errorf("warmup %d/%d/%d, %d ids", rep.WarmupSent, rep.WarmupAcked, rep.WarmupErrors, len(rep.AckedIDs))
	}
	if rep.P50 != 50*time.Millisecond || rep.P95 != 95*time.Millisecond || rep.P99 != 99*time.Millisecond || rep.Max != 100*time.Millisecond {
		t.Errorf("p50 %v p95 %v p99 %v max %v", rep.P50, rep.P95, rep.P99, rep.Max)
	}
	if rep.Elapsed != time.Second || rep.Throughput != 90 {
		t.Errorf("elapsed %v throughput %v", rep.Elapsed, rep.Throughput)
	}
}

func TestVerify(t *testing.T) {
	store := map[string]int{"a": 1, "b": 2, "c": 1, "e": 3}
	var calls [][]string
	v := func(ctx context.Context, ids []string) (int, int, error) {
		calls = append(calls, ids)
		missing, dup := 0, 0
		for _, id := range ids {
			switch c := store[id]; {
			case c == 0:
				missing++
			case c > 1:
				dup++
			}
		}
		return missing, dup, nil
	}
	rep := &IngestReport{AckedIDs: []string{"a", "b", "c", "d", "e", "c"}, ErrorsByKind: map[string]int{}}
	res, err := rep.Verify(t.Context(), v)
	if err != nil {
		t.Fatal(err)
	}
	want := VerifyResult{Checked: 5, Missing: 1, Duplicated: 2, RepeatedAcks: 1}
	if res != want || res.OK() {
		t.Errorf("Verify = %+v, want %+v", res, want)
	}
	if rep.Verification == nil || *rep.Verification != want {
		t.Errorf("Verification = %v", rep.Verification)
	}
	var out strings.Builder
	rep.Print(&out)
	if s := out.String(); !strings.Contains(s, "5 checked, 1 missing, 2 duplicated, 1 repeated acks  FAILED") {
		t.Errorf("Print output:\n%s", s)
	}

	// Large runs are verified in batches; each id once.
	calls = nil
	big := &IngestReport{}
	for i := range 25000 {
		store[strconv.Itoa(i)] = 1
		big.AckedIDs = append(big.AckedIDs, strconv.Itoa(i))
	}
	res, err = big.Verify(t.Context(), v)
	if err != nil || res != (VerifyResult{Checked: 25000}) || !res.OK() {
		t.Errorf("Verify = %+v, %v", res, err)
	}
	total := 0
	for _, c := range calls {
		if len(c) > verifyBatch {
			t.Errorf("batch of %d ids", len(c))
		}
		total += len(c)
	}
	if len(calls) != 3 || total != 25000 {
		t.Errorf("%d calls, %d ids", len(calls), total)
	}

	// A failing verifier is reported, and leaves no result behind.
	boom := errors.New("db down")
	fresh := &IngestReport{AckedIDs: []string{"a"}}
	if _, err := fresh.Verify(t.Context(), func(context.Context, []string) (int, int, error) { return 0, 0, boom }); !errors.Is(err, boom) {
		t.Errorf("err = %v", err)
	}
	if fresh.Verification != nil {
		t.Error("failed verification recorded")
	}
}

func BenchmarkBodyGeneration(b *testing.B) {
	g := &Generator{Seed: 1, RunID: "a1b2c3d4"}
	buf := make([]byte, 0, 1024)
	var n uint64
	size := 0
	b.ReportAllocs()
	for b.Loop() {
		buf = g.AppendBody(buf[:0], n)
		size += len(buf)
		n++
	}
	b.SetBytes(int64(size / max(int(n), 1)))
}
