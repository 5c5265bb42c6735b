// Package pgtest gives each test package a fresh, migrated database of its own on the
// local PostgreSQL server, so packages can run in parallel and never see each other's rows.
package pgtest

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"os"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/mandatehq/mandate/postgres"
)

// BaseURL is the server tests create their databases on: MANDATE_TEST_DATABASE_URL, else
// DATABASE_URL, else postgres.DefaultURL.
func BaseURL() string {
	for _, env := range []string{"MANDATE_TEST_DATABASE_URL", "DATABASE_URL"} {
		if v := os.Getenv(env); v != "" {
			return v
		}
	}
	return postgres.DefaultURL
}

var unsafeChars = regexp.MustCompile(`[^a-z0-9_]+`)

// URL creates a new empty database named after the test and returns its URL. The database
// is dropped when the test ends.
func URL(tb testing.TB) string {
	tb.Helper()
	suffix := make([]byte, 4)
	rand.Read(suffix)
	name := unsafeChars.ReplaceAllString(strings.ToLower(tb.Name()), "_")
	if len(name) > 40 {
		name = name[:40]
	}
	name = "mandate_test_" + name + "_" + hex.EncodeToString(suffix)
	base := BaseURL()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	cfg, err := pgx.ParseConfig(base)
	if err != nil {
		tb.Fatalf("test database URL %q: %v", base, err)
	}
	cfg.Database = "postgres"
	conn, err := pgx.ConnectConfig(ctx, cfg)
	if err != nil {
		tb.Fatalf("connect to test PostgreSQL (run ./scripts/ensure-postgres.sh): %v", err)
	}
	defer conn.Close(ctx)
	if _, err := conn.Exec(ctx, "CREATE DATABASE "+pgx.Identifier{name}.Sanitize()); err != nil {
		tb.Fatalf("create test database: %v", err)
	}
	tb.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		conn, err := pgx.ConnectConfig(ctx, cfg)
		if err != nil {
			tb.Errorf("drop test database: %v", err)
			return
		}
		defer conn.Close(ctx)
		if _, err := conn.Exec(ctx, "DROP DATABASE IF EXISTS "+pgx.Identifier{name}.Sanitize()+" WITH (FORCE)"); err != nil {
			tb.Errorf("drop test database: %v", err)
		}
	})
	return postgres.WithDatabase(base, name)
}

// DB creates a fresh database, migrates it and returns it open. It is closed and dropped
// when the test ends.
func DB(tb testing.TB) *postgres.DB {
	tb.Helper()
	return migrated(tb, URL(tb))
}

// migrated opens the database at url and migrates it; it is closed when the test ends.
func migrated(tb testing.TB, url string) *postgres.DB {
	tb.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	db, err := postgres.Open(ctx, url)
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(db.Close)
	if _, _, err := db.Migrate(ctx, nil); err != nil {
		tb.Fatal(err)
	}
	return db
}
