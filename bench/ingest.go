// Package bench is a load generator for Mandate's HTTP ingest API. It drives POST
// /v1/actions of a running server from a separate process, measures throughput and
// latency, and checks afterwards that every acknowledged action is in the database exactly
// once. The CLI command "mandate bench ingest" is a thin wrapper around RunIngest.
package bench

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
)

// IngestOptions configures RunIngest.
type IngestOptions struct {
	// URL is the server's base URL, e.g. http://127.0.0.1:8080.
	URL string
	// Token is an agent bearer token.
	Token string
	// Rate is the target in actions/s. With Rate > 0 the run is an open loop: send n is
	// scheduled at n/Rate seconds whether or not earlier sends have been answered, and a
	// pool of Concurrency workers executes the schedule. Rate 0 is a closed loop:
	// Concurrency workers send back to back, as fast as the server answers.
	Rate int
	// Duration is how long sends are issued (after Warmup). Requests in flight when it ends
	// are awaited.
	Duration time.Duration
	// Concurrency is the maximum number of requests in flight.
	Concurrency int
	// Seed selects the sequence of generated bodies; see Generator.
	Seed uint64
	// RunID goes into idempotency keys ("bench-<RunID>-<n>"). When empty a random one is
	// chosen, so runs do not collide with earlier ones. Re-running with the same RunID,
	// Seed and Epoch replays identical requests, which exercises idempotent replay (200).
	RunID string
	// Epoch is the occurred_at of the first action; later actions follow at 1ms steps.
	// Zero means the time the run starts.
	Epoch time.Time
	// Warmup, when positive, runs the same load for this long before measuring so that
	// connections are open, the server's caches and Postgres pool are warm and the Go
	// runtime has grown its heap. Warmup requests are not counted in Sent, Acked, Errors,
	// Late or the latencies, but their action_ids are in AckedIDs so that Verify checks
	// them too.
	Warmup time.Duration
	// Timeout bounds one request, from send to the end of the response body. Zero means
	// 10s. A request that exceeds it counts as a "timeout" error.
	Timeout time.Duration
}

// IngestReport is the outcome of RunIngest.
type IngestReport struct {
	// Sent is the number of requests issued during the measured phase; Acked those that
	// got a 2xx answer with an action_id; Errors the rest.
	Sent, Acked, Errors int
	// ErrorsByKind breaks Errors down: "status 503", "timeout", "connection refused",
	// "connection reset", "bad response", "canceled"...
	ErrorsByKind map[string]int
	// Elapsed runs from the start of the measured phase to the end of its last response.
	Elapsed time.Duration
	// Throughput is Acked per second of Elapsed.
	Throughput float64
	// P50, P95, P99 and Max are latencies of all measured requests (acked or not), from
	// the moment the request is handed to the HTTP client to the end of reading its
	// response body. They are exact: computed from every sample, sorted.
	P50, P95, P99, Max time.Duration
	// Late counts open-loop sends that started more than 1ms after their scheduled time
	// because all workers were busy (the dispatcher had to wait for a free worker at or
	// after that send's scheduled time). A nonzero Late means the server could not keep up
	// with Rate at this Concurrency; the latencies then understate what a caller arriving
	// at Rate would see (coordinated omission), and MaxLag says by how much at worst.
	Late int
	// MaxLag is the largest delay between a send's scheduled and actual start (open loop).
	MaxLag time.Duration
	// AckedIDs holds the action_id of every 2xx answer, warmup included, in no particular
	// order.
	AckedIDs []string
	// WarmupSent, WarmupAcked and WarmupErrors count the warmup phase.
	WarmupSent, WarmupAcked, WarmupErrors int

	// Options echoes the options of the run (RunID filled in).
	Options IngestOptions
	// Verification is the result of Verify, nil until it has run.
	Verification *VerifyResult
}

// lateThreshold is how far behind schedule a send must start to count as Late.
const lateThreshold = time.Millisecond

// defaultTimeout is the per-request timeout when IngestOptions.Timeout is zero.
const defaultTimeout = 10 * time.Second

// maxResponse bounds how much of a response body is buffered for decoding; the rest is
// discarded.
const maxResponse = 1 << 20

// RunIngest drives POST {URL}/v1/actions with generated actions as configured by opt, and
// reports what happened. Errors answered by the server or the network are counted in the
// report, not returned; the error result is for invalid options and for ctx being done,
// in which case the partial report of what was sent so far is returned with ctx.Err().
func RunIngest(ctx context.Context, opt IngestOptions) (*IngestReport, error) {
	target, err := checkOptions(&opt)
	if err != nil {
		return nil, err
	}

	tr := &http.Transport{
		Proxy: nil,
		DialContext: (&net.Dialer{
			Timeout:   5 * time.Second,
			KeepAlive: 30 * time.Second,
		}).DialContext,
		MaxIdleConns:        opt.Concurrency,
		MaxIdleConnsPerHost: opt.Concurrency,
		IdleConnTimeout:     90 * time.Second,
		DisableCompression:  true,
		Protocols:           new(http.Protocols),
	}
	tr.Protocols.SetHTTP1(true)
	defer tr.CloseIdleConnections()

	start := time.Now()
	if opt.Epoch.IsZero() {
		opt.Epoch = start.UTC().Truncate(time.Millisecond)
	}
	r := &runner{
		opt:          opt,
		target:       target.String(),
		auth:         "Bearer " + opt.Token,
		client:       &http.Client{Transport: tr, Timeout: opt.Timeout},
		gen:          Generator{Seed: opt.Seed, RunID: opt.RunID, Epoch: opt.Epoch},
		start:        start,
		measureStart: start.Add(opt.Warmup),
		end:          start.Add(opt.Warmup + opt.Duration),
	}

	// Size the per-worker sample slices for the expected number of sends so the hot path
	// rarely grows them (closed loop: a guess; long runs grow them by amortised append).
	perWorker := 1024
	if opt.Rate > 0 {
		perWorker = int(min(float64(opt.Rate)*(opt.Warmup+opt.Duration).Seconds()/float64(opt.Concurrency)*1.1+16, 1<<16))
	}
	workers := make([]*workerStats, opt.Concurrency)
	for i := range workers {
		workers[i] = &workerStats{
			lat:  make([]time.Duration, 0, perWorker),
			ids:  make([]string, 0, perWorker),
			errs: map[string]int{},
		}
	}

	var wg sync.WaitGroup
	var late int
	var maxLag time.Duration
	if opt.Rate > 0 {
		jobs := make(chan job)
		for _, w := range workers {
			wg.Go(func() {
				for j := range jobs {
					r.do(ctx, w, j.n, j.measured)
				}
			})
		}
		late, maxLag = r.dispatch(ctx, jobs)
		close(jobs)
	} else {
		var next atomic.Uint64
		for _, w := range workers {
			wg.Go(func() {
				for ctx.Err() == nil {
					now := time.Now()
					if !now.Before(r.end) {
						return
					}
					r.do(ctx, w, next.Add(1)-1, !now.Before(r.measureStart))
				}
			})
		}
	}
	wg.Wait()

	rep := r.report(workers)
	rep.Late, rep.MaxLag = late, maxLag
	return rep, ctx.Err()
}

func checkOptions(opt *IngestOptions) (*url.URL, error) {
	u, err := url.Parse(strings.TrimRight(opt.URL, "/") + "/v1/actions")
	switch {
	case opt.URL == "":
		return nil, errors.New("bench: URL is required")
	case err != nil:
		return nil, fmt.Errorf("bench: bad URL: %w", err)
	case u.Scheme != "http" && u.Scheme != "https":
		return nil, fmt.Errorf("bench: URL %q: scheme must be http or https", opt.URL)
	case opt.Rate < 0:
		return nil, errors.New("bench: rate must not be negative")
	case opt.Duration <= 0:
		return nil, errors.New("bench: duration must be positive")
	case opt.Concurrency <= 0:
		return nil, errors.New("bench: concurrency must be positive")
	case opt.Warmup < 0 || opt.Timeout < 0:
		return nil, errors.New("bench: warmup and timeout must not be negative")
	}
	if opt.Timeout == 0 {
		opt.Timeout = defaultTimeout
	}
	if opt.RunID == "" {
		opt.RunID = strconv.FormatUint(rand.Uint64()>>32|1<<32, 16)[1:] // 8 hex digits
	}
	return u, nil
}

// runner holds what the workers share; all of it is read-only during the run.
type runner struct {
	opt                      IngestOptions
	target                   string // {URL}/v1/actions
	auth                     string
	client                   *http.Client
	gen                      Generator
	start, measureStart, end time.Time
}

// job is one scheduled send of the open loop.
type job struct {
	n        uint64
	measured bool
}

// workerStats is one worker's tally; each worker owns its own, so recording needs no
// synchronisation. They are merged when the run ends.
type workerStats struct {
	sent, acked, errors    int
	wSent, wAcked, wErrors int
	lat                    []time.Duration
	ids                    []string
	errs                   map[string]int
	lastEnd                time.Time
	buf                    bytes.Buffer
}

// dispatch executes the open-loop schedule: send n is due at start + n/Rate. It hands each
// due send to a free worker and counts the sends that could not start on time because no
// worker was free. It returns when the schedule is done or ctx is.
func (r *runner) dispatch(ctx context.Context, jobs chan<- job) (late int, maxLag time.Duration) {
	rate := int64(r.opt.Rate)
	total := int64((r.opt.Warmup + r.opt.Duration) / time.Nanosecond)
	timer := time.NewTimer(time.Hour)
	defer timer.Stop()
	// waitedUntil is when the dispatcher last finished waiting for a free worker. A send
	// whose scheduled time precedes it was held up by busy workers.
	var waitedUntil time.Time
	for n := int64(0); ; n++ {
		// Exact offset n/rate seconds, without overflow for any realistic run.
		off := time.Duration(n/rate*int64(time.Second) + n%rate*int64(time.Second)/rate)
		if int64(off) >= total {
			return late, maxLag
		}
		sched := r.start.Add(off)
		if d := time.Until(sched); d > 0 {
			timer.Reset(d)
			select {
			case <-timer.C:
			case <-ctx.Done():
				return late, maxLag
			}
		}
		j := job{n: uint64(n), measured: !sched.Before(r.measureStart)}
		select {
		case jobs <- j:
		default:
			select {
			case jobs <- j:
				waitedUntil = time.Now()
			case <-ctx.Done():
				return late, maxLag
			}
		}
		if !j.measured {
			continue
		}
		lag := time.Since(sched)
		maxLag = max(maxLag, lag)
		if lag > lateThreshold && !waitedUntil.Before(sched) {
			late++
		}
	}
}

// do sends action n and records the outcome in w.
func (r *runner) do(ctx context.Context, w *workerStats, n uint64, measured bool) {
	// A fresh body per request: the transport may still be reading a request body after
	// Do returns, so the buffer cannot be reused safely.
	body := r.gen.AppendBody(make([]byte, 0, 1024), n)
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, r.target, bytes.NewReader(body))
	if err != nil {
		w.record(measured, 0, time.Time{}, "", "bad request: "+err.Error())
		return
	}
	req.Header = http.Header{
		"Authorization": {r.auth},
		"Content-Type":  {"application/json"},
		"Accept":        {"application/json"},
	}

	begin := time.Now()
	id, kind := r.roundTrip(ctx, req, &w.buf)
	end := time.Now()
	w.record(measured, end.Sub(begin), end, id, kind)
}

// roundTrip performs req and reads the whole response, returning the action_id of a 2xx
// answer or the kind of failure.
func (r *runner) roundTrip(ctx context.Context, req *http.Request, buf *bytes.Buffer) (id, kind string) {
	resp, err := r.client.Do(req)
	if err != nil {
		return "", errorKind(ctx, err)
	}
	defer resp.Body.Close()
	buf.Reset()
	_, err = buf.ReadFrom(io.LimitReader(resp.Body, maxResponse))
	if err == nil {
		// Drain anything past the limit so the connection can be reused.
		_, err = io.Copy(io.Discard, resp.Body)
	}
	if err != nil {
		return "", errorKind(ctx, err)
	}
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		return "", "status " + strconv.Itoa(resp.StatusCode)
	}
	var ans struct {
		ActionID string `json:"action_id"`
	}
	if json.Unmarshal(buf.Bytes(), &ans) != nil || ans.ActionID == "" {
		return "", "bad response"
	}
	return ans.ActionID, ""
}

// errorKind names the failure err for ErrorsByKind.
func errorKind(ctx context.Context, err error) string {
	var ne net.Error
	switch {
	case ctx.Err() != nil:
		return "canceled"
	case errors.Is(err, context.DeadlineExceeded), errors.As(err, &ne) && ne.Timeout():
		return "timeout"
	case errors.Is(err, syscall.ECONNREFUSED):
		return "connection refused"
	case errors.Is(err, syscall.ECONNRESET), errors.Is(err, syscall.EPIPE):
		return "connection reset"
	case errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF):
		return "connection closed"
	}
	var dnsErr *net.DNSError
	if errors.As(err, &dnsErr) {
		return "dns: " + dnsErr.Err
	}
	var opErr *net.OpError
	if errors.As(err, &opErr) && opErr.Err != nil {
		return opErr.Op + ": " + opErr.Err.Error()
	}
	msg := err.Error()
	if len(msg) > 80 {
		msg = msg[:80]
	}
	return "error: " + msg
}

func (w *workerStats) record(measured bool, lat time.Duration, end time.Time, id, kind string) {
	if id != "" {
		w.ids = append(w.ids, id)
	}
	if !measured {
		w.wSent++
		if id != "" {
			w.wAcked++
		} else {
			w.wErrors++
		}
		return
	}
	w.sent++
	if id != "" {
		w.acked++
	} else {
		w.errors++
		w.errs[kind]++
	}
	if !end.IsZero() {
		w.lat = append(w.lat, lat)
		if end.After(w.lastEnd) {
			w.lastEnd = end
		}
	}
}

// report merges the workers' tallies.
func (r *runner) report(workers []*workerStats) *IngestReport {
	rep := &IngestReport{ErrorsByKind: map[string]int{}, Options: r.opt}
	nlat, nids := 0, 0
	var lastEnd time.Time
	for _, w := range workers {
		nlat += len(w.lat)
		nids += len(w.ids)
		if w.lastEnd.After(lastEnd) {
			lastEnd = w.lastEnd
		}
	}
	lat := make([]time.Duration, 0, nlat)
	rep.AckedIDs = make([]string, 0, nids)
	for _, w := range workers {
		rep.Sent += w.sent
		rep.Acked += w.acked
		rep.Errors += w.errors
		rep.WarmupSent += w.wSent
		rep.WarmupAcked += w.wAcked
		rep.WarmupErrors += w.wErrors
		for k, v := range w.errs {
			rep.ErrorsByKind[k] += v
		}
		lat = append(lat, w.lat...)
		rep.AckedIDs = append(rep.AckedIDs, w.ids...)
	}
	if lastEnd.IsZero() {
		lastEnd = time.Now()
	}
	rep.Elapsed = max(lastEnd.Sub(r.measureStart), 0)
	if rep.Elapsed > 0 {
		rep.Throughput = float64(rep.Acked) / rep.Elapsed.Seconds()
	}
	slices.Sort(lat)
	rep.P50 = Percentile(lat, 50)
	rep.P95 = Percentile(lat, 95)
	rep.P99 = Percentile(lat, 99)
	rep.Max = Percentile(lat, 100)
	return rep
}

// Percentile returns the p-th percentile (0 < p <= 100) of sorted by the nearest-rank
// method: the smallest sample such that at least p% of the samples are less than or equal
// to it. It returns 0 for no samples; p <= 0 gives the minimum.
func Percentile(sorted []time.Duration, p float64) time.Duration {
	n := len(sorted)
	if n == 0 {
		return 0
	}
	// rank = ceil(p/100 * n), computed so that e.g. p=95, n=100 gives exactly 95.
	rank := int(p * float64(n) / 100)
	if float64(rank)*100 < p*float64(n) {
		rank++
	}
	return sorted[min(max(rank, 1), n)-1]
}
