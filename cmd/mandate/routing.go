package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"os"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/mandatehq/mandate"
	"github.com/mandatehq/mandate/config"
	"github.com/mandatehq/mandate/ingest"
	"github.com/mandatehq/mandate/ownership"
	"github.com/mandatehq/mandate/postgres"
	"github.com/mandatehq/mandate/routing"
)

var routingExplainCmd = &command{
	name:    "routing explain",
	usage:   "mandate routing explain [--config FILE] [--json] [--actor AGENT] [--at RFC3339] ACTION.json",
	summary: "show the routing decision for an action, with every reason and target",
	help: `
Decides, exactly as the server would, how the action in ACTION.json (the body of
POST /v1/actions; "-" reads stdin) is routed: its path, urgency, the rule that decided,
every reason, and each target with how it was found, plus each resource's owners. --actor
names the agent that acts (default: the body's "actor"); agents declared in the config
bring their team and trust, anyone else counts as a human. --at decides for another time
(business hours). Nothing is stored; rate and failure history start empty.

--json prints an object with path, urgency, rule, reasons, targets (and review_by,
aggregate, actor, at, resources).`,
	run: func(ctx context.Context, c *command, env *environ, args []string) error {
		fs := newFlags(c, env)
		configPath := fs.String("config", env.configPath(), "config file (env MANDATE_CONFIG)")
		asJSON := fs.Bool("json", false, "print JSON")
		actorID := fs.String("actor", "", "the acting agent (default: the body's actor)")
		atText := fs.String("at", "", "decide as of this RFC 3339 time (default now)")
		if err := parseFlags(fs, args); err != nil {
			return err
		}
		if fs.NArg() != 1 {
			return usageError{"expected exactly one ACTION.json (or - for stdin)"}
		}
		at := time.Now()
		if *atText != "" {
			t, err := time.Parse(time.RFC3339Nano, *atText)
			if err != nil {
				return usageError{fmt.Sprintf("--at %q is not an RFC 3339 time", *atText)}
			}
			at = t
		}
		var body []byte
		var err error
		if fs.Arg(0) == "-" {
			body, err = io.ReadAll(os.Stdin)
		} else {
			body, err = os.ReadFile(fs.Arg(0))
		}
		if err != nil {
			return err
		}
		action, claim, err := ingest.ParseAction(body, at)
		if err != nil {
			return fmt.Errorf("%s: %w", fs.Arg(0), err)
		}
		cfg, err := config.Load(*configPath)
		if err != nil {
			return fmt.Errorf("config:\n%w", err)
		}
		id := *actorID
		if id == "" {
			id = claim.ID
		}
		if id == "" {
			return usageError{"name the acting agent with --actor (or \"actor\" in the body)"}
		}
		actor := &mandate.Actor{ID: id, Type: mandate.ActorHuman, Trust: mandate.TrustTrusted}
		if ag, ok := cfg.Agent(id); ok {
			actor = &mandate.Actor{ID: id, Type: mandate.ActorAgent, Team: ag.Team, Trust: mandate.Trust(ag.Trust)}
		}
		action.ActorID = id
		clients, err := ownershipClients(env, cfg)
		if err != nil {
			return err
		}
		owners := ownership.NewResolver(ownership.Options{Clients: clients, Logger: slog.New(slog.NewTextHandler(env.stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))})
		if err := owners.SetConfig(ctx, cfg, "explain"); err != nil {
			return err
		}
		router, err := routing.New(cfg, owners, routing.Options{})
		if err != nil {
			return err
		}
		out := ingest.DryRun{Decision: router.Route(action, actor, mandate.RouteOptions{At: at, DryRun: true}), Actor: id, At: at.UTC()}
		for _, r := range action.Resources {
			o, err := owners.Explain(r.Key())
			if err != nil {
				return err
			}
			out.Resources = append(out.Resources, o)
		}
		if *asJSON {
			enc := json.NewEncoder(env.stdout)
			enc.SetIndent("", "  ")
			return enc.Encode(out)
		}
		d := out.Decision
		fmt.Fprintf(env.stdout, "path:     %s\nurgency:  %s\nrule:     %s\n", d.Path, d.Urgency, d.Rule)
		if d.ReviewBy != nil {
			fmt.Fprintf(env.stdout, "review by %s\n", d.ReviewBy.Format(time.RFC3339))
		}
		if d.Aggregate != "" {
			fmt.Fprintf(env.stdout, "aggregated as %s\n", d.Aggregate)
		}
		fmt.Fprintln(env.stdout, "reasons:")
		for _, r := range d.Reasons {
			fmt.Fprintf(env.stdout, "  - %s\n", r)
		}
		if len(d.Targets) == 0 {
			fmt.Fprintln(env.stdout, "targets:  nobody is told")
		} else {
			fmt.Fprintln(env.stdout, "targets:")
			for _, t := range d.Targets {
				fmt.Fprintf(env.stdout, "  - %s %s: %s\n", t.Kind, t.ID, t.Reason)
			}
		}
		fmt.Fprintln(env.stdout, "owners:")
		for _, o := range out.Resources {
			fmt.Fprintf(env.stdout, "  - %s: %s (%s)\n", o.Resource, ownersText(o.Owners, o.Layer), strings.TrimSpace(o.Rule))
		}
		return nil
	},
}

var routingStatsCmd = &command{
	name:    "routing stats",
	usage:   "mandate routing stats [--since DURATION] [--json]",
	summary: "per rule: notifications, relevance, false positives, misses",
	help: `
Summarises, per routing rule, the notifications sent since --since (default 720h, 30
days), the feedback given on them (relevant / not relevant), the relevance and
false-positive rates, and "should have been notified" marks. Rules whose false-positive
rate is above 30 % are flagged for review.`,
	run: func(ctx context.Context, c *command, env *environ, args []string) error {
		fs := newFlags(c, env)
		since := fs.Duration("since", 30*24*time.Hour, "how far back to look")
		asJSON := fs.Bool("json", false, "print JSON")
		if err := parseFlags(fs, args); err != nil {
			return err
		}
		db, err := openMigrated(ctx, env, slog.New(slog.NewTextHandler(io.Discard, nil)))
		if err != nil {
			return err
		}
		defer db.Close()
		stats, err := postgres.NewRoutingStore(db).Stats(ctx, time.Now().Add(-*since))
		if err != nil {
			return err
		}
		if *asJSON {
			return json.NewEncoder(env.stdout).Encode(stats)
		}
		if len(stats) == 0 {
			fmt.Fprintf(env.stdout, "no notifications in the last %s\n", *since)
			return nil
		}
		tw := tabwriter.NewWriter(env.stdout, 0, 4, 2, ' ', 0)
		fmt.Fprintln(tw, "RULE\tNOTIFICATIONS\tFEEDBACK\tRELEVANT\tFALSE POSITIVES\tMISSED\t")
		for _, s := range stats {
			flag := ""
			if s.NeedsReview {
				flag = "← review: over 30 % false positives"
			}
			fmt.Fprintf(tw, "%s\t%d\t%d\t%.0f%%\t%.0f%%\t%d\t%s\n", s.Rule, s.Notifications, s.Feedback, 100*s.RelevanceRate, 100*s.FalsePositiveRate, s.Missed, flag)
		}
		return tw.Flush()
	},
}
