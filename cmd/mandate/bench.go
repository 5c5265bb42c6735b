package main

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"os/exec"
	"strings"
	"syscall"
	"time"

	"github.com/mandatehq/mandate/bench"
	"github.com/mandatehq/mandate/config"
	"github.com/mandatehq/mandate/postgres"
)

var benchIngestCmd = &command{
	name:    "bench ingest",
	usage:   "mandate bench ingest [--rate R] [--duration D] [--concurrency C] [--url URL --token T]",
	summary: "load-test the ingest API and verify every acknowledged action was stored once",
	help: `
Drives POST /v1/actions with realistic actions (2-5 resources, about 500 bytes) from this
process and prints the achieved actions/s, p50/p95/p99 latency and errors, then checks in
the database that every acknowledged action_id is stored exactly once.

By default it starts its own 'mandate serve' as a separate process on a free port, against
the database mandate_bench on the DATABASE_URL server (MANDATE_BENCH_DATABASE_URL overrides),
with the example config, and a fresh token for --agent. With --url it drives that server
instead; --token is then required, and verification reads DATABASE_URL, which must be the
server's database.

Rate is an open loop: sends are scheduled at R per second whatever the answers; --rate 0
sends as fast as --concurrency allows. "late" counts sends that started behind schedule.`,
	run: runBenchIngest,
}

func runBenchIngest(ctx context.Context, c *command, env *environ, args []string) error {
	fs := newFlags(c, env)
	rate := fs.Int("rate", 1000, "target actions per second (0: as fast as possible)")
	duration := fs.Duration("duration", 30*time.Second, "how long to send")
	concurrency := fs.Int("concurrency", 64, "requests in flight at most")
	warmup := fs.Duration("warmup", 3*time.Second, "load before measuring, not counted")
	url := fs.String("url", "", "drive this server instead of starting one")
	token := fs.String("token", env.getenv("MANDATE_BENCH_TOKEN"), "agent token for --url (env MANDATE_BENCH_TOKEN)")
	configPath := fs.String("config", "examples/quickstart/mandate.yaml", "config for the server this command starts")
	agent := fs.String("agent", "deployer", "agent whose token the generated actions use")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if *url != "" && *token == "" {
		return usageError{"--url needs --token"}
	}
	dbURL := env.databaseURL()
	if *url == "" {
		dbURL = env.env("MANDATE_BENCH_DATABASE_URL", postgres.WithDatabase(dbURL, "mandate_bench"))
	}
	db, err := openMigratedURL(ctx, dbURL, slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		return err
	}
	defer db.Close()

	if *url == "" {
		cfg, err := config.Load(*configPath)
		if err != nil {
			return fmt.Errorf("config:\n%w", err)
		}
		if *token, err = agentToken(ctx, db, cfg, *agent); err != nil {
			return err
		}
		srv, addr, logName, err := startBenchServer(ctx, dbURL, *configPath)
		if err != nil {
			return err
		}
		defer srv.stop()
		fmt.Fprintf(env.stderr, "started mandate serve (pid %d) on %s, log %s\n", srv.cmd.Process.Pid, addr, logName)
		*url = "http://" + addr
	}

	fmt.Fprintf(env.stderr, "driving %s at %d actions/s for %s (%d in flight at most, %s warmup)\n", *url, *rate, *duration, *concurrency, *warmup)
	report, err := bench.RunIngest(ctx, bench.IngestOptions{URL: *url, Token: *token, Rate: *rate, Duration: *duration,
		Concurrency: *concurrency, Warmup: *warmup, Seed: uint64(time.Now().UnixNano())})
	if err != nil {
		return err
	}
	store := postgres.NewActionStore(db, postgres.ActionStoreOptions{Committers: 1})
	defer store.Close()
	verified, err := report.Verify(ctx, store.CountByID)
	report.Print(env.stdout)
	if err != nil {
		return err
	}
	if !verified.OK() {
		return fmt.Errorf("verification failed: %d missing, %d duplicated, %d repeated acknowledgements", verified.Missing, verified.Duplicated, verified.RepeatedAcks)
	}
	return nil
}

// agentToken syncs cfg's agents into db and issues a token for agent.
func agentToken(ctx context.Context, db *postgres.DB, cfg *config.Config, agent string) (string, error) {
	actors := postgres.NewActorStore(db)
	if err := actors.SyncAgents(ctx, agentsOf(cfg)); err != nil {
		return "", err
	}
	return actors.CreateToken(ctx, agent)
}

// startBenchServer starts 'mandate serve' on a free port with its log in a temporary
// file, which stop closes.
func startBenchServer(ctx context.Context, dbURL, configPath string, extraEnv ...string) (srv *child, addr, logName string, err error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, "", "", err
	}
	addr = ln.Addr().String()
	ln.Close()
	logFile, err := os.CreateTemp("", "mandate-bench-serve-*.log")
	if err != nil {
		return nil, "", "", err
	}
	srv, err = startServer(ctx, dbURL, configPath, addr, logFile, extraEnv...)
	if err != nil {
		logFile.Close()
		return nil, "", "", fmt.Errorf("%w (log: %s)", err, logFile.Name())
	}
	srv.log = logFile
	return srv, addr, logFile.Name(), nil
}

// child is a 'mandate serve' started from this very binary.
type child struct {
	cmd    *exec.Cmd
	exited chan struct{}
	err    error    // the exit status, once exited is closed
	log    *os.File // closed by stop, when the child owns its log file
}

// startServer runs 'mandate serve' from this binary as a child process listening on addr,
// with its log copied to logw, and returns once the server logs that it is serving (it has
// migrated, loaded config and bound addr).
func startServer(ctx context.Context, dbURL, configPath, addr string, logw io.Writer, extraEnv ...string) (*child, error) {
	self, err := os.Executable()
	if err != nil {
		return nil, err
	}
	return startServerBinary(ctx, self, dbURL, configPath, addr, logw, extraEnv...)
}

func startServerBinary(ctx context.Context, bin, dbURL, configPath, addr string, logw io.Writer, extraEnv ...string) (*child, error) {
	c := &child{cmd: exec.Command(bin, "serve", "--config", configPath, "--listen", addr), exited: make(chan struct{})}
	c.cmd.Env = append(append(os.Environ(), "DATABASE_URL="+dbURL), extraEnv...)
	stderr, err := c.cmd.StderrPipe()
	if err != nil {
		return nil, err
	}
	c.cmd.Stdout = logw
	if err := c.cmd.Start(); err != nil {
		return nil, err
	}
	serving := make(chan struct{})
	go func() {
		sc := bufio.NewScanner(stderr)
		announced := false
		for sc.Scan() {
			fmt.Fprintln(logw, sc.Text())
			if !announced && strings.Contains(sc.Text(), servingMessage) {
				announced = true
				close(serving)
			}
		}
		c.err = c.cmd.Wait()
		close(c.exited)
	}()
	select {
	case <-serving:
		return c, nil
	case <-c.exited:
		return nil, fmt.Errorf("mandate serve exited before serving: %v", c.err)
	case <-ctx.Done():
		c.kill()
		return nil, ctx.Err()
	}
}

// stop asks the server to shut down gracefully, and kills it if it has not within 20 s.
func (c *child) stop() {
	c.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-c.exited:
	case <-time.After(20 * time.Second):
		c.kill()
	}
	if c.log != nil {
		c.log.Close()
	}
}

// kill ends the server at once, as a crash would (SIGKILL), and waits for it to exit.
func (c *child) kill() {
	c.cmd.Process.Kill()
	<-c.exited
}
