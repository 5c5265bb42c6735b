package postgres

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/riverqueue/river"
	"github.com/riverqueue/river/riverdriver/riverpgxv5"
	"github.com/riverqueue/river/rivermigrate"
	"github.com/riverqueue/river/rivertype"
)

// riverMigrationLock serialises River's own migrations across replicas starting at once.
const riverMigrationLock = 7305110002

// migrateRiver applies River's migrations (its job tables) under an advisory lock.
func (db *DB) migrateRiver(ctx context.Context) error {
	migrator, err := rivermigrate.New(riverpgxv5.New(db.pool), &rivermigrate.Config{Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		return err
	}
	// River's migrations need a transaction each (one adds an enum value a later one
	// uses), so the lock is a session lock held on a connection of its own meanwhile.
	conn, err := db.pool.Acquire(ctx)
	if err != nil {
		return err
	}
	defer conn.Release()
	if _, err := conn.Exec(ctx, `SELECT pg_advisory_lock($1)`, riverMigrationLock); err != nil {
		return err
	}
	defer conn.Exec(context.WithoutCancel(ctx), `SELECT pg_advisory_unlock($1)`, riverMigrationLock)
	_, err = migrator.Migrate(ctx, rivermigrate.DirectionUp, nil)
	return err
}

// JobKind names a kind of durable job.
type JobKind string

// Job kinds.
const (
	JobDeliver    JobKind = "deliver_notification"
	JobExpireGate JobKind = "expire_gate"
)

// jobArgs is the arguments of every Mandate job: the kind and one id. River needs a Go type
// per kind only to find the worker; one type serves all kinds through AddWorkerArgs.
type jobArgs struct {
	JobKind JobKind `json:"kind"`
	ID      int64   `json:"id"`
}

func (a jobArgs) Kind() string { return string(a.JobKind) }

// Handler runs one job. Returning an error retries it with backoff; RetryAfter asks for
// a specific delay (e.g. Slack's Retry-After), and Permanent gives up at once.
type Handler func(ctx context.Context, id int64, attempt int) error

// RetryAfter makes a handler's job run again after d without counting as a failure.
type RetryAfter struct{ D time.Duration }

func (r RetryAfter) Error() string { return fmt.Sprintf("retry after %s", r.D) }

// Permanent marks a failure that retrying will not fix.
type Permanent struct{ Err error }

func (p Permanent) Error() string { return p.Err.Error() }
func (p Permanent) Unwrap() error { return p.Err }

// fetchPollInterval bounds how late a timer fires. A job that falls due is taken at the
// producer's next fetch, and nothing wakes the producer at a due time (insert notifications
// come at insert), so the next fetch is the next poll: a timer starts up to one interval
// late, plus the time to drain what fell due meanwhile (at most MaxWorkers jobs per
// FetchCooldown). 'mandate bench escalation' (100,000 timers over 5 min) measured p99
// 426 ms and max 1.13 s at 500 ms; at 250 ms, p99 203 ms and max 300 ms. The cost: every
// replica runs River's fetch, an index scan that usually finds nothing, four times a
// second when idle instead of twice.
const fetchPollInterval = 250 * time.Millisecond

// Queue runs durable jobs on River: jobs are rows inserted in the same transaction as the
// state they act on, worked by every replica at most once at a time, retried with backoff.
type Queue struct {
	db     *DB
	client *river.Client[pgx.Tx]
}

// QueueOptions configure a Queue.
type QueueOptions struct {
	Handlers map[JobKind]Handler
	Workers  int // concurrent jobs; default 20
	Logger   *slog.Logger
	// RescueAfter is how long a job may run before River presumes the replica running
	// it dead and runs it again; default 2 minutes. A job times out after a minute, or
	// after RescueAfter when that is shorter, so River rescues only jobs that cannot still
	// be running. (River's own default, an hour, would leave a delivery or a gate expiry
	// that was running on a replica that died waiting that long.)
	RescueAfter time.Duration
}

// NewQueue returns a queue that can insert jobs, and work them once Start is called.
func NewQueue(db *DB, opt QueueOptions) (*Queue, error) {
	workers := river.NewWorkers()
	for kind, h := range opt.Handlers {
		river.AddWorkerArgs(workers, jobArgs{JobKind: kind}, &worker{handle: h})
	}
	if opt.Workers <= 0 {
		opt.Workers = 20
	}
	logger := opt.Logger
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	if opt.RescueAfter <= 0 {
		opt.RescueAfter = 2 * time.Minute
	}
	jobTimeout := min(time.Minute, opt.RescueAfter)
	cfg := &river.Config{
		Workers:              workers,
		Logger:               logger,
		MaxAttempts:          25,
		FetchCooldown:        20 * time.Millisecond,
		FetchPollInterval:    fetchPollInterval,
		JobTimeout:           jobTimeout,
		RescueStuckJobsAfter: opt.RescueAfter,
		Hooks:                []rivertype.Hook{river.HookInsertBeginFunc(availableWhenDueSoon)},
		// A replica may enqueue kinds only another replica works (Slack delivery when this
		// one has no Slack tokens), so an unregistered kind is not an insert error.
		SkipUnknownJobCheck: true,
	}
	if len(opt.Handlers) > 0 {
		cfg.Queues = map[string]river.QueueConfig{river.QueueDefault: {MaxWorkers: opt.Workers}}
	}
	client, err := river.NewClient(riverpgxv5.New(db.pool), cfg)
	if err != nil {
		return nil, err
	}
	return &Queue{db: db, client: client}, nil
}

// Start works jobs until Stop.
func (q *Queue) Start(ctx context.Context) error { return q.client.Start(ctx) }

// Stop finishes running jobs and stops.
func (q *Queue) Stop(ctx context.Context) error { return q.client.Stop(ctx) }

// insertTx enqueues one job per id in tx.
func (q *Queue) insertTx(ctx context.Context, tx pgx.Tx, kind JobKind, ids []int64) error {
	if len(ids) == 0 {
		return nil
	}
	params := make([]river.InsertManyParams, len(ids))
	for i, id := range ids {
		params[i] = river.InsertManyParams{Args: jobArgs{JobKind: kind, ID: id}}
	}
	_, err := q.client.InsertManyFastTx(ctx, tx, params)
	return err
}

// insertAtTx schedules one job per id at the given time, in tx.
func (q *Queue) insertAtTx(ctx context.Context, tx pgx.Tx, kind JobKind, ids []int64, at time.Time) error {
	return q.insertEachAtTx(ctx, tx, kind, ids, func(int) time.Time { return at })
}

// insertEachAtTx schedules one job per id, ids[i] at at(i), in tx.
func (q *Queue) insertEachAtTx(ctx context.Context, tx pgx.Tx, kind JobKind, ids []int64, at func(i int) time.Time) error {
	if len(ids) == 0 {
		return nil
	}
	params := make([]river.InsertManyParams, len(ids))
	for i, id := range ids {
		params[i] = river.InsertManyParams{Args: jobArgs{JobKind: kind, ID: id}, InsertOpts: &river.InsertOpts{ScheduledAt: at(i)}}
	}
	_, err := q.client.InsertManyFastTx(ctx, tx, params)
	return err
}

// SchedulerLookAhead is the interval of River's job scheduler (maintenance.
// JobSchedulerIntervalDefault, unexported and not configurable), which is also how far
// ahead it looks: every 5 s, on the elected leader, it moves jobs due within the next 5 s
// from scheduled to available.
const SchedulerLookAhead = 5 * time.Second

// availableWhenDueSoon inserts a job due within SchedulerLookAhead as available rather than
// scheduled. Left scheduled, a job due in 1 s (a gate's timeout, an escalation's next
// step, a time already past) would wait for the scheduler's next pass, up to 5 s late.
// Available is safe before the due time: producers fetch available jobs only once
// scheduled_at <= now() (River's JobGetAvailable), by the database's clock. River does the
// same itself for snoozes and retries shorter than the scheduler interval (JobExecutor's
// JobSetStateSnoozedAvailable and JobSetStateErrorAvailable), so RetryAfter and retries
// need nothing from us. Jobs with a unique key are left to the scheduler, which is what
// resolves their conflicts on the way to available; Mandate inserts none.
func availableWhenDueSoon(_ context.Context, p *rivertype.JobInsertParams) error {
	if p.State == rivertype.JobStateScheduled && p.ScheduledAt != nil && len(p.UniqueKey) == 0 &&
		time.Until(*p.ScheduledAt) < SchedulerLookAhead {
		p.State = rivertype.JobStateAvailable
	}
	return nil
}

type worker struct {
	river.WorkerDefaults[jobArgs]
	handle Handler
}

func (w *worker) Work(ctx context.Context, job *river.Job[jobArgs]) error {
	err := w.handle(ctx, job.Args.ID, job.Attempt)
	var after RetryAfter
	var permanent Permanent
	switch {
	case errors.As(err, &after):
		return river.JobSnooze(after.D)
	case errors.As(err, &permanent):
		return river.JobCancel(permanent.Err)
	}
	return err
}

var _ rivertype.JobArgs = jobArgs{}
