// Package migrations embeds Mandate's numbered SQL migrations. They are applied by
// `mandate migrate` and at `mandate serve` start (see postgres.Migrate), in the jackc/tern
// file format: NNN_name.sql, with an optional "---- create above / drop below ----" marker.
package migrations

import "embed"

// FS holds every migration file.
//
//go:embed *.sql
var FS embed.FS
