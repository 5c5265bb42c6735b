package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/mandatehq/mandate/bench"
	"github.com/mandatehq/mandate/config"
	"github.com/mandatehq/mandate/postgres"
	"github.com/mandatehq/mandate/slackfake"
)

var benchNotifyCmd = &command{
	name:    "bench notify",
	usage:   "mandate bench notify [--rate R] [--duration D] [--channels N]",
	summary: "measure action → Slack message latency through the real queue and bot",
	help: `
Starts slackfake in this process (accepting everything, no rate limits) and 'mandate serve'
as a separate process pointed at it, with a generated org of --channels teams, each with
its own channel and service. It then posts actions at --rate per second, spread over the
teams' services (each action on its own resource, so none fold into another's message), and measures, for every action, the time from the 2xx answer of
POST /v1/actions to its chat.postMessage arriving at slackfake. It prints p50/p95/p99/max
and checks that every acknowledged action was posted exactly once (none lost, none doubled).`,
	run: runBenchNotify,
}

var benchSummary = regexp.MustCompile(`bench-notify-(\d+)\b`)

func runBenchNotify(ctx context.Context, c *command, env *environ, args []string) error {
	fs := newFlags(c, env)
	rate := fs.Int("rate", 200, "actions per second")
	duration := fs.Duration("duration", 20*time.Second, "how long to send")
	channels := fs.Int("channels", 50, "teams, each with its own channel")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if *rate <= 0 || *channels <= 0 {
		return usageError{"--rate and --channels must be positive"}
	}
	dir, err := os.MkdirTemp("", "mandate-bench-notify-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	var cfgText strings.Builder
	cfgText.WriteString("org: {timezone: UTC, fallback: {team: t0}, business_hours: {days: [mon, tue, wed, thu, fri, sat, sun], start: \"00:00\", end: \"24:00\"}}\npeople: [{id: p0, slack: U0P0}]\nteams:\n")
	for i := range *channels {
		fmt.Fprintf(&cfgText, "  - {id: t%d, slack_channel: CB%04d, members: [p0]}\n", i, i)
	}
	cfgText.WriteString("services:\n")
	for i := range *channels {
		fmt.Fprintf(&cfgText, "  - {name: svc%d, kind: service, match: [\"svc%d-*\"], team: t%d}\n", i, i, i)
	}
	cfgText.WriteString("agents:\n  - {id: bench-agent, team: t0, trust: trusted}\n")
	configPath := filepath.Join(dir, "mandate.yaml")
	if err := os.WriteFile(configPath, []byte(cfgText.String()), 0o644); err != nil {
		return err
	}
	if _, err := config.Load(configPath); err != nil {
		return fmt.Errorf("generated config: %w", err)
	}

	fake := slackfake.New(slackfake.Options{PingInterval: 2 * time.Second})
	fake.AddUser("U0P0", "p0", "p0@bench.test", "UTC")
	for i := range *channels {
		fake.AddChannel(fmt.Sprintf("CB%04d", i), fmt.Sprintf("team-%d", i))
	}
	var mu sync.Mutex
	posted := map[int][]time.Time{}
	fake.OnEvent(func(e slackfake.Event) {
		if e.Kind != slackfake.EventPost {
			return
		}
		at := time.Now()
		if m := benchSummary.FindStringSubmatch(e.Text + string(e.Blocks)); m != nil {
			var n int
			fmt.Sscan(m[1], &n)
			mu.Lock()
			posted[n] = append(posted[n], at)
			mu.Unlock()
		}
	})
	fake.Start()
	defer fake.Close()

	dbURL := env.env("MANDATE_BENCH_DATABASE_URL", postgres.WithDatabase(env.databaseURL(), "mandate_bench_notify"))
	db, err := openMigratedURL(ctx, dbURL, slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		return err
	}
	defer db.Close()
	cfg, _ := config.Load(configPath)
	token, err := agentToken(ctx, db, cfg, "bench-agent")
	if err != nil {
		return err
	}
	srv, addr, logName, err := startBenchServer(ctx, dbURL, configPath,
		"SLACK_BOT_TOKEN="+fake.BotToken(), "SLACK_APP_TOKEN="+fake.AppToken(), "MANDATE_SLACK_API_URL="+fake.URL()+"/api/")
	if err != nil {
		return err
	}
	defer srv.stop()
	wctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	if err := fake.WaitConnected(wctx, 1); err != nil {
		return fmt.Errorf("the bot did not connect to slackfake: %w (log: %s)", err, logName)
	}
	fmt.Fprintf(env.stderr, "driving %s at %d actions/s for %s over %d channels (log %s)\n", addr, *rate, *duration, *channels, logName)

	client := &http.Client{Timeout: 10 * time.Second}
	total := int(duration.Seconds() * float64(*rate))
	acked := make([]time.Time, total)
	var errs int
	var wg sync.WaitGroup
	var errMu sync.Mutex
	start := time.Now()
	for n := range total {
		due := start.Add(time.Duration(n) * time.Second / time.Duration(*rate))
		if d := time.Until(due); d > 0 {
			time.Sleep(d) // open-loop pacing of the load, not synchronisation
		}
		wg.Go(func() {
			body, _ := json.Marshal(map[string]any{"type": "deploy", "summary": fmt.Sprintf("bench-notify-%d", n), "environment": "staging",
				"resources": []map[string]string{{"kind": "service", "name": fmt.Sprintf("svc%d-%d", n%*channels, n)}}})
			req, _ := http.NewRequest("POST", "http://"+addr+"/v1/actions", bytes.NewReader(body))
			req.Header.Set("Authorization", "Bearer "+token)
			req.Header.Set("Content-Type", "application/json")
			res, err := client.Do(req)
			if err == nil {
				io.Copy(io.Discard, res.Body)
				res.Body.Close()
			}
			if err != nil || res.StatusCode/100 != 2 {
				errMu.Lock()
				errs++
				errMu.Unlock()
				return
			}
			acked[n] = time.Now()
		})
	}
	wg.Wait()
	// Wait for the last posts: every acknowledged action, or give up after 30 s.
	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) {
		mu.Lock()
		done := len(posted)
		mu.Unlock()
		if done >= total-errs {
			break
		}
		time.Sleep(50 * time.Millisecond) // polling a counter the fake's events fill
	}
	mu.Lock()
	defer mu.Unlock()
	var lat []time.Duration
	missing, doubled := 0, 0
	for n, at := range acked {
		if at.IsZero() {
			continue
		}
		posts := posted[n]
		switch {
		case len(posts) == 0:
			missing++
			continue
		case len(posts) > 1:
			doubled++
		}
		lat = append(lat, max(0, posts[0].Sub(at)))
	}
	slices.Sort(lat)
	fmt.Fprintf(env.stdout, "actions     %d sent, %d acknowledged, %d errors\n", total, total-countZero(acked), errs)
	if len(lat) > 0 {
		fmt.Fprintf(env.stdout, "2xx → slack p50 %s  p95 %s  p99 %s  max %s  (%d posts)\n",
			ms(bench.Percentile(lat, 50)), ms(bench.Percentile(lat, 95)), ms(bench.Percentile(lat, 99)), ms(lat[len(lat)-1]), len(lat))
	}
	fmt.Fprintf(env.stdout, "verify      %d missing, %d posted more than once\n", missing, doubled)
	if missing > 0 || doubled > 0 {
		return fmt.Errorf("%d notifications lost and %d doubled", missing, doubled)
	}
	return nil
}

func countZero(ts []time.Time) int {
	n := 0
	for _, t := range ts {
		if t.IsZero() {
			n++
		}
	}
	return n
}

func ms(d time.Duration) string { return fmt.Sprintf("%.1fms", float64(d.Microseconds())/1000) }
