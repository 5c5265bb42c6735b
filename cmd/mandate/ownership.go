package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/mandatehq/mandate"
	"github.com/mandatehq/mandate/config"
	"github.com/mandatehq/mandate/github"
	"github.com/mandatehq/mandate/ownership"
	"github.com/mandatehq/mandate/ownership/catalog"
	"github.com/mandatehq/mandate/pagerduty"
	"github.com/mandatehq/mandate/postgres"
)

// ownershipClients builds the network clients the config's ownership sources need, from
// the environment: GITHUB_TOKEN / MANDATE_GITHUB_API_URL, PAGERDUTY_TOKEN /
// MANDATE_PAGERDUTY_API_URL, BACKSTAGE_TOKEN.
func ownershipClients(env *environ, cfg *config.Config) (ownership.Clients, error) {
	var c ownership.Clients
	needGitHub := cfg.Ownership.Contributors.Enabled
	for _, co := range cfg.Ownership.CodeOwners {
		needGitHub = needGitHub || co.GitHub
	}
	if needGitHub {
		gh, err := github.New(env.getenv("GITHUB_TOKEN"), env.getenv("MANDATE_GITHUB_API_URL"), nil)
		if err != nil {
			return c, fmt.Errorf("GitHub client: %w", err)
		}
		c.GitHub = gh
	}
	needPagerDuty := false
	for _, t := range cfg.Teams {
		needPagerDuty = needPagerDuty || t.PagerDuty.Configured()
	}
	if needPagerDuty && env.getenv("PAGERDUTY_TOKEN") != "" {
		c.PagerDuty = pagerduty.New(env.getenv("PAGERDUTY_TOKEN"), env.getenv("MANDATE_PAGERDUTY_API_URL"), nil)
	}
	if u := cfg.Ownership.Catalog.URL; u != "" {
		c.Backstage = &catalog.Client{BaseURL: u, Token: env.getenv("BACKSTAGE_TOKEN"), HTTP: &http.Client{Timeout: 15 * time.Second}}
	}
	return c, nil
}

var ownershipExplainCmd = &command{
	name:    "ownership explain",
	usage:   "mandate ownership explain [--config FILE] [--json] RESOURCE...",
	summary: "show who owns resources, which layer decided, and why",
	help: `
Resolves each RESOURCE through the ownership chain (config, CODEOWNERS, catalog, on-call,
recent contributors, fallback) exactly as the server does, reading the configured sources
(network ones through GITHUB_TOKEN, PAGERDUTY_TOKEN, BACKSTAGE_TOKEN). RESOURCE is
kind:name (service:payments-service, table:billing.invoices) or file:REPO:PATH
(file:acme/api:src/payments/charge.go).

For each resource it prints the owners, the team, the layer and rule that decided (with
FILE:LINE for CODEOWNERS and catalog), and one line per layer. With --json it prints a JSON
array, one object per resource in the order given, with the fields resource, owners
(as written in the deciding source), people, team, layer, rule, location and explain.
Nothing is written to the database.`,
	run: func(ctx context.Context, c *command, env *environ, args []string) error {
		fs := newFlags(c, env)
		configPath := fs.String("config", env.configPath(), "config file (env MANDATE_CONFIG)")
		asJSON := fs.Bool("json", false, "print a JSON array")
		if err := parseFlags(fs, args); err != nil {
			return err
		}
		if fs.NArg() == 0 {
			return usageError{"name at least one RESOURCE"}
		}
		cfg, err := config.Load(*configPath)
		if err != nil {
			return fmt.Errorf("config:\n%w", err)
		}
		clients, err := ownershipClients(env, cfg)
		if err != nil {
			return err
		}
		r := ownership.NewResolver(ownership.Options{Clients: clients, Logger: slog.New(slog.NewTextHandler(env.stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))})
		if err := r.SetConfig(ctx, cfg, "explain"); err != nil {
			return err
		}
		var results []mandate.Ownership
		for _, key := range fs.Args() {
			o, err := r.Explain(key)
			if err != nil {
				return err
			}
			results = append(results, o)
			if !*asJSON {
				printOwnership(env.stdout, o)
			}
		}
		if *asJSON {
			enc := json.NewEncoder(env.stdout)
			enc.SetIndent("", "  ")
			return enc.Encode(results)
		}
		return nil
	},
}

// printOwnership writes one explanation for people.
func printOwnership(w io.Writer, o mandate.Ownership) {
	fmt.Fprintln(w, o.Resource)
	owners := "nobody"
	if len(o.Owners) > 0 {
		owners = strings.Join(o.Owners, ", ")
	}
	fmt.Fprintf(w, "  owners:     %s\n", owners)
	if len(o.People) > 0 || o.Team != "" {
		fmt.Fprintf(w, "  resolved:   people [%s], team %q\n", strings.Join(o.People, ", "), o.Team)
	}
	fmt.Fprintf(w, "  decided by: %s (%s)\n", o.Layer, o.Rule)
	if o.Location != "" {
		fmt.Fprintf(w, "  location:   %s\n", o.Location)
	}
	if o.Fallback != "" {
		fmt.Fprintf(w, "  fallback:   %s is told\n", o.Fallback)
	}
	if len(o.Escalation) > 0 {
		fmt.Fprintf(w, "  escalation: %s\n", strings.Join(o.Escalation, " → "))
	}
	for _, g := range o.Grace {
		fmt.Fprintf(w, "  grace:      %s left %s on %s; told until %s\n", g.Person, g.Team, g.Left.Format("2006-01-02"), g.Until.Format("2006-01-02"))
	}
	for _, g := range o.Gaps {
		fmt.Fprintf(w, "  gap:        %s\n", g)
	}
	for _, line := range o.Explain {
		fmt.Fprintf(w, "    %s\n", line)
	}
}

var ownershipStatusCmd = &command{
	name:    "ownership status",
	usage:   "mandate ownership status",
	summary: "show each ownership source's last read, age and error",
	help: `
Lists every ownership source the servers read (local and GitHub CODEOWNERS, catalog files
and the Backstage API, PagerDuty on-call per team, GitHub contributors) with the time of the
last attempt, the age of the last good copy and the last error. A failing source keeps its
last good copy in the servers' snapshot; this shows how old that copy is.`,
	run: func(ctx context.Context, c *command, env *environ, args []string) error {
		fs := newFlags(c, env)
		if err := parseFlags(fs, args); err != nil {
			return err
		}
		db, err := openMigrated(ctx, env, slog.New(slog.NewTextHandler(io.Discard, nil)))
		if err != nil {
			return err
		}
		defer db.Close()
		statuses, err := postgres.NewOwnershipStore(db).SourceStatuses(ctx)
		if err != nil {
			return err
		}
		if len(statuses) == 0 {
			fmt.Fprintln(env.stdout, "no ownership sources have been read yet (is mandate serve running with ownership sources configured?)")
			return nil
		}
		tw := tabwriter.NewWriter(env.stdout, 0, 4, 2, ' ', 0)
		fmt.Fprintln(tw, "SOURCE\tITEMS\tLAST GOOD COPY\tLAST ATTEMPT\tERROR")
		now := time.Now()
		for _, s := range statuses {
			age := "never"
			if s.LastSuccess != nil {
				age = now.Sub(*s.LastSuccess).Round(time.Second).String() + " old"
			}
			fmt.Fprintf(tw, "%s\t%d\t%s\t%s ago\t%s\n", s.Source, s.Items, age, now.Sub(s.LastAttempt).Round(time.Second), s.LastError)
		}
		return tw.Flush()
	},
}

var ownershipHistoryCmd = &command{
	name:    "ownership history",
	usage:   "mandate ownership history [--json] RESOURCE",
	summary: "show every recorded change of a resource's owners",
	help: `
Lists each change of RESOURCE's resolved owners that the servers recorded (on start, on
config reload and on source refreshes): when, from whom to whom, the layers, and what caused
it. RESOURCE is kind:name or file:REPO:PATH.`,
	run: func(ctx context.Context, c *command, env *environ, args []string) error {
		fs := newFlags(c, env)
		asJSON := fs.Bool("json", false, "print JSON")
		if err := parseFlags(fs, args); err != nil {
			return err
		}
		if fs.NArg() != 1 {
			return usageError{"expected exactly one RESOURCE"}
		}
		db, err := openMigrated(ctx, env, slog.New(slog.NewTextHandler(io.Discard, nil)))
		if err != nil {
			return err
		}
		defer db.Close()
		changes, err := postgres.NewOwnershipStore(db).History(ctx, fs.Arg(0))
		if err != nil {
			return err
		}
		if *asJSON {
			return json.NewEncoder(env.stdout).Encode(changes)
		}
		if len(changes) == 0 {
			fmt.Fprintf(env.stdout, "no ownership changes recorded for %s\n", fs.Arg(0))
			return nil
		}
		tw := tabwriter.NewWriter(env.stdout, 0, 4, 2, ' ', 0)
		fmt.Fprintln(tw, "WHEN\tFROM\tTO\tCAUSE")
		for _, ch := range changes {
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\n", ch.At.UTC().Format(time.RFC3339), ownersText(ch.From, ch.FromLayer), ownersText(ch.To, ch.ToLayer), ch.Source)
		}
		return tw.Flush()
	},
}

func ownersText(owners []string, layer string) string {
	if len(owners) == 0 {
		return "nobody (" + layer + ")"
	}
	return strings.Join(owners, ", ") + " (" + layer + ")"
}

var ownershipCoverageCmd = &command{
	name:    "ownership coverage",
	usage:   "mandate ownership coverage [--config FILE] [--json]",
	summary: "share of recently seen resources that have an owner, and the gaps",
	help: `
Resolves every resource seen in actions over the last 30 days with the config's ownership
chain and prints the share that has at least one owner, the count decided by each layer,
and the gaps: resources nobody owns, and owners that map to no person or team.`,
	run: func(ctx context.Context, c *command, env *environ, args []string) error {
		fs := newFlags(c, env)
		configPath := fs.String("config", env.configPath(), "config file (env MANDATE_CONFIG)")
		asJSON := fs.Bool("json", false, "print JSON")
		if err := parseFlags(fs, args); err != nil {
			return err
		}
		cfg, err := config.Load(*configPath)
		if err != nil {
			return fmt.Errorf("config:\n%w", err)
		}
		db, err := openMigrated(ctx, env, slog.New(slog.NewTextHandler(io.Discard, nil)))
		if err != nil {
			return err
		}
		defer db.Close()
		clients, err := ownershipClients(env, cfg)
		if err != nil {
			return err
		}
		r := ownership.NewResolver(ownership.Options{Clients: clients, Store: postgres.NewOwnershipStore(db), ReadOnly: true,
			Logger: slog.New(slog.NewTextHandler(env.stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))})
		if err := r.SetConfig(ctx, cfg, "coverage"); err != nil {
			return err
		}
		cov, err := r.Coverage(ctx)
		if err != nil {
			return err
		}
		if *asJSON {
			return json.NewEncoder(env.stdout).Encode(cov)
		}
		fmt.Fprintf(env.stdout, "%d of %d resources seen since %s have an owner (%.1f%%)\n", cov.Owned, cov.Seen, cov.Since.Format("2006-01-02"), cov.Percent)
		for _, layer := range []string{"config", "codeowners", "catalog", "oncall", "contributors", "none"} {
			if n := cov.ByLayer[layer]; n > 0 {
				fmt.Fprintf(env.stdout, "  %-13s %d\n", layer, n)
			}
		}
		if len(cov.Gaps) > 0 {
			fmt.Fprintln(env.stdout, "gaps:")
			for _, g := range cov.Gaps {
				fmt.Fprintf(env.stdout, "  %s: %s\n", g.Resource, strings.Join(g.Gaps, "; "))
			}
		}
		return nil
	},
}
