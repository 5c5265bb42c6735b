package postgres

import (
	"context"
	"time"

	"github.com/jackc/pgx/v5"
)

// Listen LISTENs on channel over a connection of its own and calls notify with each
// payload until ctx ends. NOTIFY is only a wake-up hint: notifications sent while the
// connection is down are lost, so after every (re)connect resync is called and the caller
// re-reads whatever it caches. Listen reconnects with backoff, telling failed (if not nil)
// why, and returns only when ctx ends.
func (db *DB) Listen(ctx context.Context, channel string, notify func(payload string), resync func(), failed func(error)) {
	backoff := 100 * time.Millisecond
	for ctx.Err() == nil {
		err := db.listenOnce(ctx, channel, notify, resync)
		if ctx.Err() != nil {
			return
		}
		if failed != nil {
			failed(err)
		}
		select {
		case <-ctx.Done():
			return
		case <-time.After(backoff):
		}
		backoff = min(backoff*2, 10*time.Second)
	}
}

func (db *DB) listenOnce(ctx context.Context, channel string, notify func(string), resync func()) error {
	conn, err := pgx.ConnectConfig(ctx, db.pool.Config().ConnConfig)
	if err != nil {
		return err
	}
	defer conn.Close(context.WithoutCancel(ctx))
	if _, err := conn.Exec(ctx, "LISTEN "+pgx.Identifier{channel}.Sanitize()); err != nil {
		return err
	}
	if resync != nil {
		resync()
	}
	for {
		n, err := conn.WaitForNotification(ctx)
		if err != nil {
			return err
		}
		notify(n.Payload)
	}
}
