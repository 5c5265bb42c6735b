package main

import (
	"context"
	"fmt"
	"io"
	"log/slog"

	"github.com/mandatehq/mandate/config"
	"github.com/mandatehq/mandate/postgres"
)

var migrateCmd = &command{
	name:    "migrate",
	usage:   "mandate migrate [--status]",
	summary: "create the database if missing and apply pending migrations",
	help: `
Creates the database named by DATABASE_URL if it does not exist and applies every pending
migration, under a Postgres advisory lock (safe to run while replicas start). mandate serve
does the same at start. With --status it only reports the applied and latest versions.`,
	run: func(ctx context.Context, c *command, env *environ, args []string) error {
		fs := newFlags(c, env)
		status := fs.Bool("status", false, "report the schema version without migrating")
		if err := parseFlags(fs, args); err != nil {
			return err
		}
		db, err := postgres.Open(ctx, env.databaseURL())
		if err != nil {
			return err
		}
		defer db.Close()
		if *status {
			cur, latest, err := db.SchemaStatus(ctx)
			if err != nil {
				return err
			}
			fmt.Fprintf(env.stdout, "database %s: migration %d of %d\n", db.Name(), cur, latest)
			return nil
		}
		from, to, err := db.Migrate(ctx, func(format string, args ...any) { fmt.Fprintf(env.stdout, format+"\n", args...) })
		if err != nil {
			return err
		}
		if from == to {
			fmt.Fprintf(env.stdout, "database %s: up to date at migration %d\n", db.Name(), to)
		} else {
			fmt.Fprintf(env.stdout, "database %s: migrated from %d to %d\n", db.Name(), from, to)
		}
		return nil
	},
}

var configCheckCmd = &command{
	name:    "config check",
	usage:   "mandate config check FILE",
	summary: "validate a config file without starting anything",
	help: `
Validates FILE as mandate serve would and prints every problem as FILE:LINE: message.
Exits 0 when the file is valid, 1 when it is not.`,
	run: func(ctx context.Context, c *command, env *environ, args []string) error {
		fs := newFlags(c, env)
		if err := parseFlags(fs, args); err != nil {
			return err
		}
		if fs.NArg() != 1 {
			return usageError{"expected exactly one FILE"}
		}
		cfg, err := config.Load(fs.Arg(0))
		if err != nil {
			if errs, ok := err.(config.Errors); ok {
				fmt.Fprintln(env.stderr, errs.Error())
				return fmt.Errorf("%s: %d problem(s)", fs.Arg(0), len(errs))
			}
			return err
		}
		fmt.Fprintf(env.stdout, "%s: ok (%d people, %d teams, %d services, %d agents)\n",
			fs.Arg(0), len(cfg.People), len(cfg.Teams), len(cfg.Services), len(cfg.Agents))
		return nil
	},
}

var agentsTokenCmd = &command{
	name:    "agents token",
	usage:   "mandate agents token [--config FILE] [--revoke] AGENT",
	summary: "issue (or revoke) a bearer token for an agent declared in config",
	help: `
Prints a new bearer token for AGENT on stdout. The agent must be declared under agents: in
the config; the config's agents are synced to the database first. Only a SHA-256 digest of
the token is stored, so it cannot be shown again: issue a new one instead. An agent may hold
several tokens (to rotate without downtime).

With --revoke, every live token of AGENT is revoked instead; servers stop accepting them
within 5 seconds (their token cache).`,
	run: func(ctx context.Context, c *command, env *environ, args []string) error {
		fs := newFlags(c, env)
		configPath := fs.String("config", env.configPath(), "config file (env MANDATE_CONFIG)")
		revoke := fs.Bool("revoke", false, "revoke every live token of AGENT")
		if err := parseFlags(fs, args); err != nil {
			return err
		}
		if fs.NArg() != 1 {
			return usageError{"expected exactly one AGENT"}
		}
		agent := fs.Arg(0)
		db, err := openMigrated(ctx, env, slog.New(slog.NewTextHandler(io.Discard, nil)))
		if err != nil {
			return err
		}
		defer db.Close()
		actors := postgres.NewActorStore(db)
		if *revoke {
			n, err := actors.RevokeTokens(ctx, agent)
			if err != nil {
				return err
			}
			fmt.Fprintf(env.stderr, "revoked %d token(s) of %s\n", n, agent)
			return nil
		}
		cfg, err := config.Load(*configPath)
		if err != nil {
			return fmt.Errorf("config:\n%w", err)
		}
		if _, ok := cfg.Agent(agent); !ok {
			return fmt.Errorf("agent %q is not declared in %s", agent, *configPath)
		}
		if err := actors.SyncAgents(ctx, agentsOf(cfg)); err != nil {
			return err
		}
		token, err := actors.CreateToken(ctx, agent)
		if err != nil {
			return err
		}
		fmt.Fprintln(env.stdout, token)
		return nil
	},
}
