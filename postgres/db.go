// Package postgres is where every SQL statement of Mandate lives. It opens the database
// (creating it if missing), applies the embedded migrations, and implements the stores the
// other packages use. pgx types do not leak out of it.
package postgres

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/url"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/jackc/tern/v2/migrate"

	"github.com/mandatehq/mandate"
	"github.com/mandatehq/mandate/migrations"
)

// DefaultURL is used when DATABASE_URL is unset: the local server over its Unix socket, as
// the current OS user, database "mandate".
const DefaultURL = "postgres:///mandate"

// versionTable is where tern records the applied migration version.
const versionTable = "schema_version"

// DB is Mandate's connection pool.
type DB struct {
	pool *pgxpool.Pool
	name string
}

// Open connects to the database named by url, creating the database first if it does not
// exist. It does not migrate; call Migrate.
func Open(ctx context.Context, url string) (*DB, error) {
	cfg, err := pgxpool.ParseConfig(url)
	if err != nil {
		return nil, fmt.Errorf("DATABASE_URL: %w", err)
	}
	if !strings.Contains(url, "pool_max_conns") {
		// pgxpool's default (the larger of 4 and the CPU count) is too few on small
		// machines: the group-commit committers alone hold four during their commits.
		cfg.MaxConns = max(cfg.MaxConns, 16)
	}
	if err := ensureDatabase(ctx, cfg.ConnConfig); err != nil {
		return nil, err
	}
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		return nil, fmt.Errorf("connect to %s: %w", cfg.ConnConfig.Database, err)
	}
	if err := pool.Ping(ctx); err != nil {
		pool.Close()
		return nil, fmt.Errorf("connect to database %q: %w", cfg.ConnConfig.Database, err)
	}
	return &DB{pool: pool, name: cfg.ConnConfig.Database}, nil
}

// Close closes the pool.
func (db *DB) Close() { db.pool.Close() }

// Name is the database's name.
func (db *DB) Name() string { return db.name }

// ensureDatabase creates the target database through the server's maintenance database
// when it is missing. Two processes racing to create it are fine: the loser sees
// duplicate_database and carries on.
func ensureDatabase(ctx context.Context, target *pgx.ConnConfig) error {
	conn, err := pgx.ConnectConfig(ctx, target)
	if err == nil {
		return conn.Close(ctx)
	}
	var pgErr *pgconn.PgError
	if !errors.As(err, &pgErr) || pgErr.Code != "3D000" { // invalid_catalog_name
		return fmt.Errorf("connect to database %q: %w", target.Database, err)
	}
	admin := target.Copy()
	admin.Database = "postgres"
	conn, err = pgx.ConnectConfig(ctx, admin)
	if err != nil {
		return fmt.Errorf("create database %q: connect to maintenance database: %w", target.Database, err)
	}
	defer conn.Close(ctx)
	_, err = conn.Exec(ctx, "CREATE DATABASE "+pgx.Identifier{target.Database}.Sanitize())
	if errors.As(err, &pgErr) && pgErr.Code == "42P04" { // duplicate_database
		return nil
	}
	if err != nil {
		return fmt.Errorf("create database %q: %w", target.Database, err)
	}
	return nil
}

// migrator loads the embedded migrations onto conn.
func migrator(ctx context.Context, conn *pgx.Conn) (*migrate.Migrator, error) {
	m, err := migrate.NewMigrator(ctx, conn, versionTable)
	if err != nil {
		return nil, err
	}
	if err := m.LoadMigrations(migrations.FS); err != nil {
		return nil, fmt.Errorf("load migrations: %w", err)
	}
	return m, nil
}

// Migrate applies every pending migration. tern holds a Postgres advisory lock while it
// works, so replicas starting at once apply each migration exactly once. logf, if not nil,
// is told about each migration applied.
func (db *DB) Migrate(ctx context.Context, logf func(format string, args ...any)) (from, to int32, err error) {
	err = db.pool.AcquireFunc(ctx, func(c *pgxpool.Conn) error {
		m, err := migrator(ctx, c.Conn())
		if err != nil {
			return err
		}
		if from, err = m.GetCurrentVersion(ctx); err != nil {
			return err
		}
		m.OnStart = func(seq int32, name, direction, _ string) {
			if logf != nil {
				logf("migration %03d %s (%s)", seq, name, direction)
			}
		}
		if err := m.Migrate(ctx); err != nil {
			return fmt.Errorf("migrate: %w", err)
		}
		to, err = m.GetCurrentVersion(ctx)
		return err
	})
	if err != nil {
		return from, to, err
	}
	if err := db.migrateRiver(ctx); err != nil {
		return from, to, fmt.Errorf("migrate job queue: %w", err)
	}
	return from, to, nil
}

// SchemaStatus reports the applied and the latest known migration versions.
func (db *DB) SchemaStatus(ctx context.Context) (current, latest int32, err error) {
	err = db.pool.AcquireFunc(ctx, func(c *pgxpool.Conn) error {
		m, err := migrator(ctx, c.Conn())
		if err != nil {
			return err
		}
		latest = int32(len(m.Migrations))
		var exists bool
		if err := c.QueryRow(ctx, "SELECT to_regclass($1) IS NOT NULL", versionTable).Scan(&exists); err != nil || !exists {
			return err
		}
		return c.QueryRow(ctx, "SELECT version FROM "+versionTable).Scan(&current)
	})
	return current, latest, classify(err)
}

// Ping checks that the database answers.
func (db *DB) Ping(ctx context.Context) error { return classify(db.pool.Ping(ctx)) }

// classify turns errors that mean "the database cannot be reached right now" into
// mandate.EUNAVAILABLE, so the API can answer 503 with Retry-After instead of 500.
func classify(err error) error {
	if err == nil || mandate.ErrorCode(err) != mandate.EINTERNAL {
		return err
	}
	if unavailable(err) {
		return &mandate.Error{Code: mandate.EUNAVAILABLE, Message: "the database is unavailable; retry later", Err: err}
	}
	return err
}

func unavailable(err error) bool {
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) {
		switch pgErr.Code {
		case "57P01", "57P02", "57P03", "53300", "08000", "08003", "08006", "08001", "08004":
			// admin/crash shutdown, cannot connect now, too many connections, connection exceptions
			return true
		}
		return false
	}
	var connectErr *pgconn.ConnectError
	var netErr net.Error
	return errors.As(err, &connectErr) || errors.As(err, &netErr) ||
		errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) ||
		errors.Is(err, context.DeadlineExceeded) || pgconn.SafeToRetry(err) ||
		pgconn.Timeout(err)
}

// withTimeout bounds one unit of database work, so a hung server cannot hold requests
// forever.
func withTimeout(ctx context.Context, d time.Duration) (context.Context, context.CancelFunc) {
	return context.WithTimeout(ctx, d)
}

// ConnString is the connection string the pool was opened with.
func (db *DB) ConnString() string { return db.pool.Config().ConnString() }

// WithDatabase returns the connection string base (a URL or key=value pairs) with its
// database replaced by name: the same server, another database.
func WithDatabase(base, name string) string {
	if strings.HasPrefix(base, "postgres://") || strings.HasPrefix(base, "postgresql://") {
		if u, err := url.Parse(base); err == nil {
			u.Path = "/" + name
			return u.String()
		}
	}
	return base + " dbname=" + name
}

// DropDatabase drops the database url names, if it exists, disconnecting its sessions.
// Only the tools that own a scratch database (the demo) use it.
func DropDatabase(ctx context.Context, url string) error {
	cfg, err := pgx.ParseConfig(url)
	if err != nil {
		return err
	}
	name := cfg.Database
	cfg.Database = "postgres"
	conn, err := pgx.ConnectConfig(ctx, cfg)
	if err != nil {
		return fmt.Errorf("drop database %q: %w", name, err)
	}
	defer conn.Close(context.WithoutCancel(ctx))
	if _, err := conn.Exec(ctx, "DROP DATABASE IF EXISTS "+pgx.Identifier{name}.Sanitize()+" WITH (FORCE)"); err != nil {
		return fmt.Errorf("drop database %q: %w", name, err)
	}
	return nil
}
