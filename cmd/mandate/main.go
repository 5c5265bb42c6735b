// Command mandate is Mandate's one binary: the server and the tools around it.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"runtime/debug"
	"sort"
	"strings"
	"syscall"

	"github.com/mandatehq/mandate/postgres"
)

// command is one subcommand. run gets the arguments after the command's name.
type command struct {
	name    string
	usage   string // the synopsis line
	summary string
	help    string // the long description
	run     func(ctx context.Context, c *command, env *environ, args []string) error
}

// environ carries what commands read from the process, so tests can run them in-process.
type environ struct {
	stdout, stderr io.Writer
	getenv         func(string) string
}

func (e *environ) env(key, def string) string {
	if v := e.getenv(key); v != "" {
		return v
	}
	return def
}

func (e *environ) databaseURL() string { return e.env("DATABASE_URL", postgres.DefaultURL) }
func (e *environ) configPath() string  { return e.env("MANDATE_CONFIG", "./mandate.yaml") }

// usageError makes main print the command's usage and exit 2.
type usageError struct{ msg string }

func (e usageError) Error() string { return e.msg }

func commands() []*command {
	return []*command{serveCmd, migrateCmd, configCheckCmd, agentsTokenCmd, benchIngestCmd,
		ownershipExplainCmd, ownershipStatusCmd, ownershipHistoryCmd, ownershipCoverageCmd,
		routingExplainCmd, routingStatsCmd, slackfakeCmd, benchNotifyCmd, benchEscalationCmd, demoCmd, digestCmd}
}

func main() {
	if os.Getenv("GOGC") == "" {
		// Serving and load generation allocate much short-lived garbage over a small live
		// heap (tens of MB): collecting less often buys a quarter of the ingest latency
		// for memory this machine has. GOGC overrides it.
		debug.SetGCPercent(400)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	env := &environ{stdout: os.Stdout, stderr: os.Stderr, getenv: os.Getenv}
	os.Exit(run(ctx, env, os.Args[1:]))
}

// run executes one command line and returns the exit code.
func run(ctx context.Context, env *environ, args []string) int {
	if len(args) == 0 || args[0] == "help" || args[0] == "-h" || args[0] == "--help" {
		if len(args) > 1 {
			if c := find(args[1:]); c != nil {
				// Help is the command's own -h, printed to stdout.
				helpEnv := *env
				helpEnv.stderr = env.stdout
				c.run(ctx, c, &helpEnv, []string{"-h"})
				return 0
			}
			fmt.Fprintf(env.stderr, "mandate: unknown command %q\n", strings.Join(args[1:], " "))
			return 2
		}
		printOverview(env.stdout)
		return 0
	}
	c := find(args)
	if c == nil {
		fmt.Fprintf(env.stderr, "mandate: unknown command %q; run 'mandate help'\n", args[0])
		return 2
	}
	rest := args[len(strings.Fields(c.name)):]
	err := c.run(ctx, c, env, rest)
	var ue usageError
	switch {
	case err == nil:
		return 0
	case errors.Is(err, flag.ErrHelp):
		return 0
	case errors.As(err, &ue):
		fmt.Fprintf(env.stderr, "mandate %s: %s\nusage: %s\nrun 'mandate help %s' for details\n", c.name, ue.msg, c.usage, c.name)
		return 2
	default:
		fmt.Fprintf(env.stderr, "mandate %s: %v\n", c.name, err)
		return 1
	}
}

// find returns the command whose (possibly two-word) name starts args.
func find(args []string) *command {
	var best *command
	for _, c := range commands() {
		words := strings.Fields(c.name)
		if len(args) >= len(words) && strings.Join(args[:len(words)], " ") == c.name {
			if best == nil || len(words) > len(strings.Fields(best.name)) {
				best = c
			}
		}
	}
	return best
}

func printOverview(w io.Writer) {
	fmt.Fprintln(w, "mandate keeps humans in step with fleets of autonomous agents.")
	fmt.Fprintln(w, "\nUsage: mandate COMMAND [flags]\n\nCommands:")
	cs := commands()
	sort.Slice(cs, func(i, j int) bool { return cs[i].name < cs[j].name })
	for _, c := range cs {
		fmt.Fprintf(w, "  %-20s %s\n", c.name, c.summary)
	}
	fmt.Fprintln(w, "\nRun 'mandate help COMMAND' or 'mandate COMMAND -h' for details.")
	fmt.Fprintln(w, "\nEnvironment:")
	fmt.Fprintln(w, "  DATABASE_URL         PostgreSQL URL (default "+postgres.DefaultURL+"; the database is created if missing)")
	fmt.Fprintln(w, "  MANDATE_CONFIG       config file (default ./mandate.yaml)")
	fmt.Fprintln(w, "  MANDATE_LISTEN       HTTP address (default 127.0.0.1:8080)")
	fmt.Fprintln(w, "  MANDATE_ADMIN_TOKEN  bearer token with admin rights (pause, resume, act for humans)")
	fmt.Fprintln(w, "  SLACK_BOT_TOKEN, SLACK_APP_TOKEN, MANDATE_SLACK_API_URL  Slack (optional)")
}

// newFlags returns the command's flag set; -h prints the command's help.
func newFlags(c *command, env *environ) *flag.FlagSet {
	fs := flag.NewFlagSet(c.name, flag.ContinueOnError)
	fs.SetOutput(env.stderr)
	fs.Usage = func() {
		w := fs.Output()
		fmt.Fprintf(w, "Usage: %s\n\n%s\n", c.usage, strings.TrimSpace(c.help))
		n := 0
		fs.VisitAll(func(*flag.Flag) { n++ })
		if n > 0 {
			fmt.Fprintln(w, "\nFlags:")
			fs.PrintDefaults()
		}
	}
	return fs
}

// parseFlags parses args; a bad flag is a usage error, -h is flag.ErrHelp.
func parseFlags(fs *flag.FlagSet, args []string) error {
	err := fs.Parse(args)
	if err != nil && !errors.Is(err, flag.ErrHelp) {
		return usageError{err.Error()}
	}
	return err
}
