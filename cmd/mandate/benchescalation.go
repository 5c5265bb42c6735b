package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"runtime"
	"runtime/metrics"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/mandatehq/mandate/bench"
	"github.com/mandatehq/mandate/postgres"
)

var benchEscalationCmd = &command{
	name:    "bench escalation",
	usage:   "mandate bench escalation [--timers N] [--spread D] [--lead D] [--replicas R] [--workers W]",
	summary: "measure how late durable escalation timers fire, with many pending",
	help: `
Schedules --timers durable timers as River jobs in Postgres, due evenly over --spread
starting --lead from now, through the same insert path as escalation steps and gate
timeouts, and works them with --replicas queues in this process, each configured as
'mandate serve' configures its own. For every timer it measures the lateness: the time its
handler started minus its due time. It prints the count and p50/p95/p99/max lateness
(overall, and split into timers inserted less than 5 s before they were due, which skip
River's scheduler, and the rest, which it promotes), checks that every timer fired exactly
once (none lost, none doubled) and that River marked every job completed, and samples the
Go heap, the process's RSS and its goroutines while the timers are pending: they stay flat,
because a pending timer is a row, not a goroutine.

The timers fire at --timers/--spread per second (333/s by default). A replica takes due
jobs at most 20 (its workers) per 20 ms (River's fetch cooldown), about 1,000/s on an idle
machine whatever the jobs do: above that rate add --replicas, or the timers fall behind.

It uses the database mandate_bench_escalation on the DATABASE_URL server, dropped and
created afresh; MANDATE_BENCH_DATABASE_URL names another database instead (not dropped:
only the timers an earlier run left there are deleted). Nothing else should work jobs in
that database while the bench runs.`,
	run: runBenchEscalation,
}

// benchEscalationDB is the database the bench owns and drops before each run.
const benchEscalationDB = "mandate_bench_escalation"

func runBenchEscalation(ctx context.Context, c *command, env *environ, args []string) error {
	fs := newFlags(c, env)
	timers := fs.Int("timers", 100000, "pending timers to schedule")
	spread := fs.Duration("spread", 5*time.Minute, "the timers fall due evenly over this window")
	lead := fs.Duration("lead", 2*time.Second, "time from the start to the first timer's due time")
	replicas := fs.Int("replicas", 1, "queues working the timers, each with a connection pool of its own, as replicas would")
	workers := fs.Int("workers", 0, "concurrent jobs per replica (0: the queue's default, as 'mandate serve' uses)")
	batch := fs.Int("batch", 1000, "timers inserted per transaction")
	sample := fs.Duration("sample", time.Second, "memory sampling interval")
	grace := fs.Duration("grace", 30*time.Second, "how long after the last due time to wait for timers that have not fired")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if *timers <= 0 || *replicas <= 0 || *spread < 0 || *lead < 0 || *batch <= 0 || *sample <= 0 || *grace < 0 {
		return usageError{"--timers, --replicas, --batch and --sample must be positive, --spread, --lead and --grace not negative"}
	}

	dbURL := env.getenv("MANDATE_BENCH_DATABASE_URL")
	if dbURL == "" {
		dbURL = postgres.WithDatabase(env.databaseURL(), benchEscalationDB)
		dctx, cancel := context.WithTimeout(ctx, 30*time.Second)
		err := postgres.DropDatabase(dctx, dbURL)
		cancel()
		if err != nil {
			return fmt.Errorf("start the bench database afresh: %w", err)
		}
	}
	quiet := slog.New(slog.NewTextHandler(io.Discard, nil))
	db, err := openMigratedURL(ctx, dbURL, quiet)
	if err != nil {
		return err
	}
	defer db.Close()
	if _, err := db.ClearBenchTimers(ctx); err != nil {
		return err
	}

	r := newTimerRun(*timers)
	queues := make([]*postgres.Queue, *replicas)
	for i := range queues {
		qdb := db
		if i > 0 {
			if qdb, err = postgres.Open(ctx, dbURL); err != nil {
				return err
			}
			defer qdb.Close()
		}
		queues[i], err = postgres.NewQueue(qdb, postgres.QueueOptions{Workers: *workers, Logger: quiet,
			Handlers: map[postgres.JobKind]postgres.Handler{postgres.JobBenchTimer: r.fire}})
		if err != nil {
			return err
		}
	}
	// Workers run before and while the timers are inserted, as in production. Stopping
	// also flushes River's completer, so the job states read afterwards are final.
	started := 0
	stop := func() error {
		var errs []error
		for _, q := range queues[:started] {
			sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 30*time.Second)
			errs = append(errs, q.Stop(sctx))
			cancel()
		}
		started = 0
		return errors.Join(errs...)
	}
	defer stop()
	for _, q := range queues {
		if err := q.Start(ctx); err != nil {
			return err
		}
		started++
	}

	mem := startMemSampler(*sample)
	defer mem.stop()
	fmt.Fprintf(env.stderr, "scheduling %d timers due over %s from %s after now, %d replica(s)\n", *timers, *spread, *lead, *replicas)
	ids := make([]int64, *timers)
	for i := range ids {
		ids[i] = int64(i)
	}
	r.base = time.Now().Add(*lead)
	r.spread = *spread
	// Timers go in in due order, a transaction per batch, each batch noted with the time
	// it went in: that tells the timers inserted less than SchedulerLookAhead before they
	// were due (inserted available) from the others (left to River's scheduler).
	insertStart := time.Now()
	for chunk := range slices.Chunk(ids, *batch) {
		r.noteInserted(chunk, time.Now())
		if err := queues[0].ScheduleBenchTimers(ctx, chunk, func(i int) time.Time { return r.due(chunk[i]) }); err != nil {
			return err
		}
	}
	inserted := time.Since(insertStart)
	mem.mark("inserted", r.pending)

	last := r.due(int64(*timers - 1))
	timeout := time.NewTimer(time.Until(last) + *grace)
	defer timeout.Stop()
	select {
	case <-r.done:
	case <-timeout.C:
		fmt.Fprintf(env.stderr, "gave up %s after the last timer was due\n", *grace)
	case <-ctx.Done():
		return ctx.Err()
	}
	mem.mark("fired", r.pending)
	mem.stop()
	if err := stop(); err != nil {
		return fmt.Errorf("stop queue: %w", err)
	}
	states, err := db.BenchTimerStates(ctx)
	if err != nil {
		return err
	}
	return r.report(env.stdout, benchEscalationSetup{timers: *timers, spread: *spread, lead: *lead, replicas: *replicas,
		workers: *workers, inserted: inserted}, states, mem)
}

// timerRun holds, for each timer (its id is its index), how many times it fired and when
// it first did. Everything is allocated up front, so the heap the bench samples is the
// queue's, not the bookkeeping's.
type timerRun struct {
	base   time.Time // the first timer's due time
	spread time.Duration
	n      int
	runs   []atomic.Int32
	first  []atomic.Int64 // UnixNano of the first run
	direct []bool         // inserted less than SchedulerLookAhead before due
	fired  atomic.Int64   // timers that fired at least once
	stray  atomic.Int64   // jobs with an id outside the run
	done   chan struct{}  // closed when every timer has fired
}

func newTimerRun(n int) *timerRun {
	return &timerRun{n: n, runs: make([]atomic.Int32, n), first: make([]atomic.Int64, n), direct: make([]bool, n), done: make(chan struct{})}
}

// due is when timer id falls due: evenly over the spread, the last at base+spread.
func (r *timerRun) due(id int64) time.Time {
	if r.n == 1 {
		return r.base
	}
	return r.base.Add(time.Duration(float64(r.spread) * float64(id) / float64(r.n-1)))
}

func (r *timerRun) noteInserted(ids []int64, at time.Time) {
	for _, id := range ids {
		r.direct[id] = r.due(id).Sub(at) < postgres.SchedulerLookAhead
	}
}

// pending is how many timers have not fired yet.
func (r *timerRun) pending() int64 { return int64(r.n) - r.fired.Load() }

// fire is the timers' job handler.
func (r *timerRun) fire(_ context.Context, id int64, _ int) error {
	now := time.Now().UnixNano()
	if id < 0 || id >= int64(r.n) {
		r.stray.Add(1)
		return nil
	}
	if r.runs[id].Add(1) == 1 {
		r.first[id].Store(now)
		if r.fired.Add(1) == int64(r.n) {
			close(r.done)
		}
	}
	return nil
}

type benchEscalationSetup struct {
	timers, replicas, workers int
	spread, lead, inserted    time.Duration
}

func (r *timerRun) report(w io.Writer, s benchEscalationSetup, states map[string]int64, mem *memSampler) error {
	var all, direct, promoted []time.Duration
	lost, doubled, early := 0, 0, 0
	for id := range r.n {
		switch n := r.runs[id].Load(); {
		case n == 0:
			lost++
			continue
		case n > 1:
			doubled++
		}
		late := time.Unix(0, r.first[id].Load()).Sub(r.due(int64(id)))
		if late < -time.Millisecond {
			early++
		}
		all = append(all, late)
		if r.direct[id] {
			direct = append(direct, late)
		} else {
			promoted = append(promoted, late)
		}
	}
	workers := "default workers"
	if s.workers > 0 {
		workers = fmt.Sprintf("%d workers", s.workers)
	}
	fmt.Fprintf(w, "timers      %d durable timers due over %s from %s after the start; %d replica(s), %s each\n", s.timers, s.spread, s.lead, s.replicas, workers)
	fmt.Fprintf(w, "inserted    in %s (%.0f/s); %d due within %s of their insert went in available, %d scheduled for River's scheduler\n",
		s.inserted.Round(time.Millisecond), float64(s.timers)/s.inserted.Seconds(), count(r.direct, true), postgres.SchedulerLookAhead, count(r.direct, false))
	fmt.Fprintf(w, "lateness    %s  (%d fired; started − due)\n", latenessLine(all), len(all))
	fmt.Fprintf(w, "  inserted available   %s  (%d)\n", latenessLine(direct), len(direct))
	fmt.Fprintf(w, "  promoted by schedule %s  (%d)\n", latenessLine(promoted), len(promoted))
	fmt.Fprintf(w, "verify      %d fired exactly once, %d lost, %d doubled, %d early; river_job: %s\n",
		len(all)-doubled, lost, doubled, early, formatStates(states))
	mem.print(w)
	var errs []error
	if lost > 0 || doubled > 0 {
		errs = append(errs, fmt.Errorf("%d timers lost (not fired by the end) and %d doubled", lost, doubled))
	}
	if early > 0 {
		errs = append(errs, fmt.Errorf("%d timers fired before they were due", early))
	}
	if n := states["completed"]; n != int64(s.timers) {
		errs = append(errs, fmt.Errorf("%d of %d timer jobs completed", n, s.timers))
	}
	if n := r.stray.Load(); n > 0 {
		errs = append(errs, fmt.Errorf("%d jobs ran for timers this run did not schedule", n))
	}
	return errors.Join(errs...)
}

func latenessLine(sorted []time.Duration) string {
	if len(sorted) == 0 {
		return "-"
	}
	slices.Sort(sorted)
	return fmt.Sprintf("p50 %s  p95 %s  p99 %s  max %s", ms(bench.Percentile(sorted, 50)), ms(bench.Percentile(sorted, 95)),
		ms(bench.Percentile(sorted, 99)), ms(sorted[len(sorted)-1]))
}

func count(xs []bool, v bool) int {
	n := 0
	for _, x := range xs {
		if x == v {
			n++
		}
	}
	return n
}

func formatStates(states map[string]int64) string {
	if len(states) == 0 {
		return "no jobs"
	}
	keys := make([]string, 0, len(states))
	for k := range states {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	parts := make([]string, len(keys))
	for i, k := range keys {
		parts[i] = fmt.Sprintf("%d %s", states[k], k)
	}
	return strings.Join(parts, ", ")
}

// memSample is the process's memory at one moment of the run.
type memSample struct {
	at         time.Time
	label      string // "inserted", "fired", or "" for a periodic sample
	pending    int64  // timers not yet fired
	liveHeap   uint64 // Go heap live after the last GC
	heap       uint64 // Go heap objects now, live or not yet swept
	rss        uint64 // resident set size; 0 where /proc is missing
	goroutines int
}

// memSampler samples memory every interval in a goroutine it owns; stop ends it and waits.
type memSampler struct {
	mu       sync.Mutex
	samples  []memSample
	pending  func() int64
	cancel   context.CancelFunc
	finished chan struct{}
	once     sync.Once
}

func startMemSampler(interval time.Duration) *memSampler {
	ctx, cancel := context.WithCancel(context.Background())
	m := &memSampler{cancel: cancel, finished: make(chan struct{})}
	go func() {
		defer close(m.finished)
		tick := time.NewTicker(interval)
		defer tick.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-tick.C:
				m.mark("", nil)
			}
		}
	}()
	return m
}

// mark takes a sample now; pending, if given, becomes the source of the pending count.
func (m *memSampler) mark(label string, pending func() int64) {
	if label != "" {
		runtime.GC() // so that the live heap of the marked moments is current
	}
	s := readMem()
	s.label = label
	m.mu.Lock()
	defer m.mu.Unlock()
	if pending != nil {
		m.pending = pending
	}
	if m.pending == nil {
		return // before the timers exist: nothing to compare with
	}
	s.pending = m.pending()
	m.samples = append(m.samples, s)
}

func (m *memSampler) stop() {
	m.once.Do(func() {
		m.cancel()
		<-m.finished
	})
}

func readMem() memSample {
	ms := []metrics.Sample{{Name: "/gc/heap/live:bytes"}, {Name: "/memory/classes/heap/objects:bytes"}}
	metrics.Read(ms)
	s := memSample{at: time.Now(), goroutines: runtime.NumGoroutine(), rss: readRSS()}
	if ms[0].Value.Kind() == metrics.KindUint64 {
		s.liveHeap = ms[0].Value.Uint64()
	}
	if ms[1].Value.Kind() == metrics.KindUint64 {
		s.heap = ms[1].Value.Uint64()
	}
	return s
}

// readRSS reads the resident set size from /proc/self/statm (Linux), or returns 0.
func readRSS() uint64 {
	b, err := os.ReadFile("/proc/self/statm")
	if err != nil {
		return 0
	}
	f := strings.Fields(string(b))
	if len(f) < 2 {
		return 0
	}
	pages, err := strconv.ParseUint(f[1], 10, 64)
	if err != nil {
		return 0
	}
	return pages * uint64(os.Getpagesize())
}

// print shows the samples from the end of the inserts to the last timer fired: about ten
// rows, then the range of each figure over the whole time.
func (m *memSampler) print(w io.Writer) {
	m.mu.Lock()
	defer m.mu.Unlock()
	var run []memSample
	in := false
	for _, s := range m.samples {
		if s.label == "inserted" {
			in = true
		}
		if in {
			run = append(run, s)
		}
		if s.label == "fired" {
			break
		}
	}
	if len(run) == 0 {
		return
	}
	fmt.Fprintf(w, "memory      while the timers were pending (%d samples):\n", len(run))
	fmt.Fprintf(w, "            %8s  %8s  %10s  %10s  %10s  %10s\n", "t", "pending", "live heap", "heap", "RSS", "goroutines")
	step := max(1, (len(run)+9)/10)
	for i, s := range run {
		if i%step != 0 && i != len(run)-1 {
			continue
		}
		fmt.Fprintf(w, "            %8s  %8d  %10s  %10s  %10s  %10d\n", s.at.Sub(run[0].at).Round(100*time.Millisecond),
			s.pending, mb(s.liveHeap), mb(s.heap), mb(s.rss), s.goroutines)
	}
	lo, hi := run[0], run[0]
	for _, s := range run {
		if s.liveHeap > 0 { // 0 until a GC has measured it
			lo.liveHeap, hi.liveHeap = min(lo.liveHeap, s.liveHeap), max(hi.liveHeap, s.liveHeap)
		}
		lo.heap, hi.heap = min(lo.heap, s.heap), max(hi.heap, s.heap)
		lo.rss, hi.rss = min(lo.rss, s.rss), max(hi.rss, s.rss)
		lo.goroutines, hi.goroutines = min(lo.goroutines, s.goroutines), max(hi.goroutines, s.goroutines)
	}
	fmt.Fprintf(w, "            range: live heap %s–%s, heap %s–%s, RSS %s–%s, goroutines %d–%d\n",
		mb(lo.liveHeap), mb(hi.liveHeap), mb(lo.heap), mb(hi.heap), mb(lo.rss), mb(hi.rss), lo.goroutines, hi.goroutines)
}

func mb(b uint64) string {
	if b == 0 {
		return "n/a"
	}
	return fmt.Sprintf("%.1fMB", float64(b)/(1<<20))
}
