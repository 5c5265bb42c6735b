package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"os"
	"strings"
	"time"

	"github.com/slack-go/slack"

	"github.com/mandatehq/mandate"
	"github.com/mandatehq/mandate/config"
	"github.com/mandatehq/mandate/digests"
	"github.com/mandatehq/mandate/notify"
	"github.com/mandatehq/mandate/postgres"
)

var digestCmd = &command{
	name:    "digest",
	usage:   "mandate digest (--team TEAM | --admin) [--dry-run] [--week-of DATE] [--json] [--config FILE]",
	summary: "show a team's or the admins' weekly digest, or send it now",
	help: `
Computes the weekly digest of one team (--team, its id or name) or the admins' digest of
the whole organisation (--admin) from DATABASE_URL and the config: actions by agent and
path, notifications and how many were answered, time to intervention against targets,
false-positive and missed rates per routing rule, unowned actions, escalations,
incidents, overdue action items, and suggested rule and ownership changes.

The period is the seven days before now, or with --week-of DATE (YYYY-MM-DD) the seven
days from midnight of DATE, in the team's time zone (the org's for --admin).

--dry-run prints the digest as text (--json: as JSON) and sends nothing. Without it the
digest is sent now, where the schedule would send it: the team's Slack channel (or the
admins' channel or DMs), and by email when digests.email is set. Slack needs
SLACK_BOT_TOKEN (and MANDATE_SLACK_API_URL for another server), email MANDATE_SMTP_HOST
and MANDATE_SMTP_FROM. A manual send is recorded like a scheduled one and marked
manual: sending the same period again says it was sent already.`,
	run: runDigest,
}

func runDigest(ctx context.Context, c *command, env *environ, args []string) error {
	fs := newFlags(c, env)
	configPath := fs.String("config", env.configPath(), "config file (env MANDATE_CONFIG)")
	teamName := fs.String("team", "", "the team (id or name)")
	admin := fs.Bool("admin", false, "the admins' digest of the whole organisation")
	dryRun := fs.Bool("dry-run", false, "print the digest; send nothing")
	weekOf := fs.String("week-of", "", "the week starting on this date (YYYY-MM-DD) instead of the last seven days")
	asJSON := fs.Bool("json", false, "with --dry-run, print JSON")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	switch {
	case fs.NArg() > 0:
		return usageError{fmt.Sprintf("unexpected argument %q", fs.Arg(0))}
	case (*teamName != "") == *admin: // both, or neither
		return usageError{"name exactly one of --team TEAM or --admin"}
	case *asJSON && !*dryRun:
		return usageError{"--json only prints: add --dry-run"}
	}
	cfg, err := config.Load(*configPath)
	if err != nil {
		return fmt.Errorf("config:\n%w", err)
	}
	run := mandate.DigestRun{Kind: mandate.RunAdminDigest, Manual: true}
	loc := digests.OrgLocation(cfg)
	if *teamName != "" {
		t, ok := cfg.Team(*teamName)
		if !ok {
			for i := range cfg.Teams {
				if strings.EqualFold(cfg.Teams[i].Name, *teamName) {
					t, ok = &cfg.Teams[i], true
				}
			}
		}
		if !ok {
			ids := make([]string, len(cfg.Teams))
			for i, t := range cfg.Teams {
				ids[i] = t.ID
			}
			return fmt.Errorf("no team %q in %s (teams: %s)", *teamName, *configPath, strings.Join(ids, ", "))
		}
		run.Kind, run.Team = mandate.RunTeamDigest, t.ID
		loc = digests.TeamLocation(cfg, t.ID)
	}
	// A manual period ends on a whole minute, so the same command run twice in a minute
	// is the same run, sent once.
	now := time.Now().Truncate(time.Minute)
	period := digests.WeekEnding(now, loc)
	if *weekOf != "" {
		day, err := time.ParseInLocation(time.DateOnly, *weekOf, loc)
		if err != nil {
			return usageError{fmt.Sprintf("--week-of %q is not a date like 2026-11-16", *weekOf)}
		}
		period = digests.WeekOf(day, loc)
	}
	run.Start, run.End = period.Start, period.End

	db, err := openMigrated(ctx, env, slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		return err
	}
	defer db.Close()
	store := postgres.NewDigestStore(db)
	builder := &digests.Builder{Store: store, Config: func() *config.Config { return cfg }}

	if *dryRun {
		var d *mandate.Digest
		if run.Kind == mandate.RunAdminDigest {
			d, err = builder.Admin(ctx, period)
		} else {
			d, err = builder.Team(ctx, run.Team, period)
		}
		if err != nil {
			return err
		}
		if *asJSON {
			enc := json.NewEncoder(env.stdout)
			enc.SetIndent("", "  ")
			return enc.Encode(d)
		}
		_, err = io.WriteString(env.stdout, digests.Text(d))
		return err
	}

	s := &digests.Scheduler{Builder: builder, Runs: store, Config: func() *config.Config { return cfg },
		Replica: "cli:" + hostname(), Log: slog.New(slog.NewTextHandler(env.stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))}
	if token := env.getenv("SLACK_BOT_TOKEN"); token != "" {
		apiURL := env.env("MANDATE_SLACK_API_URL", slack.APIURL)
		if !strings.HasSuffix(apiURL, "/") {
			apiURL += "/"
		}
		s.Slack = slack.New(token, slack.OptionAPIURL(apiURL))
	}
	email, err := emailFrom(env)
	if err != nil {
		return err
	}
	if email != nil {
		s.Email = func(ctx context.Context, m digests.Email) error {
			return email.Send(ctx, notify.Message{To: []string{m.To}, Subject: m.Subject, Text: m.Text, HTML: m.HTML})
		}
	}
	dests := s.Destinations(cfg, run)
	if len(dests) == 0 {
		return fmt.Errorf("nowhere to send the digest: it needs SLACK_BOT_TOKEN and a slack_channel (admins: digests.admin_channel or admins' Slack ids), " +
			"or digests.email with MANDATE_SMTP_HOST and people's emails; --dry-run prints it instead")
	}
	sent, err := s.Send(ctx, cfg, run, now)
	if err != nil {
		return fmt.Errorf("sending the digest: %w (what was delivered is recorded; run the command again to retry the rest once the retry time has passed)", err)
	}
	if !sent {
		return fmt.Errorf("the digest for %s was sent already (or is being sent); --dry-run prints it", digestPeriodText(period))
	}
	fmt.Fprintf(env.stdout, "sent the digest for %s to %s\n", digestPeriodText(period), strings.Join(dests, ", "))
	return nil
}

func digestPeriodText(p digests.Period) string {
	return p.Start.Format("2006-01-02 15:04") + " – " + p.End.Format("2006-01-02 15:04 MST")
}

func hostname() string {
	h, err := os.Hostname()
	if err != nil {
		return "unknown"
	}
	return h
}
