package main

import "context"

var benchIngestCmd = &command{
	name:    "bench ingest",
	usage:   "mandate bench ingest [--rate R] [--duration D] [--concurrency C]",
	summary: "load-test the ingest API and verify every acknowledged action was stored once",
	help:    `TODO`,
	run:     func(ctx context.Context, c *command, env *environ, args []string) error { return nil },
}
