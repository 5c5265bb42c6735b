package main

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/mandatehq/mandate"
	"github.com/mandatehq/mandate/config"
	"github.com/mandatehq/mandate/notify"
	"github.com/mandatehq/mandate/postgres"
	"github.com/mandatehq/mandate/postgres/pgtest"
)

// hookBox is an HTTP receiver (backup webhook or heartbeat monitor) that keeps what it is
// sent, and answers with status.
type hookBox struct {
	*httptest.Server
	mu      sync.Mutex
	status  int
	got     []map[string]any
	arrived chan struct{} // a wake-up after each request
}

func newHookBox(t *testing.T) *hookBox {
	t.Helper()
	h := &hookBox{status: http.StatusOK, arrived: make(chan struct{}, 1)}
	h.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var m map[string]any
		json.NewDecoder(r.Body).Decode(&m)
		h.mu.Lock()
		h.got = append(h.got, m)
		status := h.status
		h.mu.Unlock()
		select {
		case h.arrived <- struct{}{}:
		default:
		}
		w.WriteHeader(status)
	}))
	t.Cleanup(h.Close)
	return h
}

// waitCount takes what arrives until n of it equal want.
func (h *hookBox) waitCount(ctx context.Context, t *testing.T, want string, n int) {
	t.Helper()
	seen := 0
	for {
		for _, s := range h.take() {
			if s == want {
				seen++
			}
		}
		if seen >= n {
			return
		}
		select {
		case <-h.arrived:
		case <-ctx.Done():
			t.Fatalf("%d of %d %q", seen, n, want)
		}
	}
}

// take returns what arrived since the last take, as "event|text" (or "status" for
// heartbeats).
func (h *hookBox) take() []string {
	h.mu.Lock()
	defer h.mu.Unlock()
	var out []string
	for _, m := range h.got {
		if s, ok := m["status"].(string); ok {
			out = append(out, s)
		} else {
			out = append(out, fmt.Sprint(m["event"], "|", m["text"]))
		}
	}
	h.got = nil
	return out
}

func (h *hookBox) answer(status int) {
	h.mu.Lock()
	h.status = status
	h.mu.Unlock()
}

// drain returns the mail received so far, without waiting: the SMTP server queues each
// message before it answers, so a sent message is there when Send returns.
func drain(mail chan string) []string {
	var out []string
	for {
		select {
		case m := <-mail:
			out = append(out, m)
		default:
			return out
		}
	}
}

// TestMonitorTellsAdminsOncePerOutage: the database going away is told to the admins once
// (backup webhook and email) however many beats it lasts, and its return once; an alert
// a channel refused is tried again at the next beat. A delivery backlog is told once
// across replicas, and its end once.
func TestMonitorTellsAdminsOncePerOutage(t *testing.T) {
	ctx := context.Background()
	base := pgtest.DB(t)
	proxy := pgtest.NewProxy(t, base.ConnString())
	viaProxy, err := postgres.Open(ctx, proxy.URL)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(viaProxy.Close)
	var current atomic.Pointer[postgres.DB]
	current.Store(viaProxy)
	ping := func(ctx context.Context) error { return current.Load().Ping(ctx) }

	backup, beats := newHookBox(t), newHookBox(t)
	port, mail := startMailbox(t)
	path := quickstartWith(t, func(s string) string {
		return strings.Replace(s, "org:\n", "org:\n  heartbeat_url: "+beats.URL+"\n  backup_webhook: "+backup.URL+"\n", 1)
	})
	cfg, err := config.Load(path)
	if err != nil {
		t.Fatal(err)
	}
	cfgNow := func() *config.Config { return cfg }
	alarm := &notify.Alarm{Webhook: &notify.Webhook{Secret: "whsec", AllowUnsigned: true}, Config: cfgNow,
		Email: &notify.Email{Host: "127.0.0.1", Port: port, From: "mandate@acme.test", TLS: "none"}}

	// The backlog as the server counts it, but from the first second.
	if err := postgres.NewActorStore(base).SyncAgents(ctx, agentsOf(cfg)); err != nil {
		t.Fatal(err)
	}
	q, err := postgres.NewQueue(base, postgres.QueueOptions{}) // works nothing: deliveries back up
	if err != nil {
		t.Fatal(err)
	}
	actions := postgres.NewActionStore(base, postgres.ActionStoreOptions{Queue: q, Deliver: true})
	t.Cleanup(actions.Close)
	backlog := func(ctx context.Context) (int64, error) { return actions.DeliveryBacklog(ctx, 0) }

	log := slog.New(slog.DiscardHandler)
	m := newMonitor(cfgNow, ping, backlog, postgres.NewAlertStore(base), alarm, log)
	m.host = "replica-1"
	beat := func(want string) {
		t.Helper()
		m.beat(ctx)
		if got := beats.take(); len(got) != 1 || got[0] != want {
			t.Errorf("heartbeat status %q, want %q", got, want)
		}
	}

	beat("ok")
	if got, mails := backup.take(), drain(mail); len(got) != 0 || len(mails) != 0 {
		t.Fatalf("all well, yet the admins were told %q and mailed %d", got, len(mails))
	}

	// The database goes away. The backup webhook refuses the first try.
	proxy.Cut()
	backup.answer(http.StatusBadGateway)
	beat("degraded: database unreachable")
	if got := backup.take(); len(got) != 1 || got[0] != notify.AlertDegraded+"|Mandate is degraded: database unreachable" {
		t.Errorf("backup webhook got %q", got)
	}
	mails := drain(mail)
	if len(mails) != 1 || !strings.Contains(mails[0], "To: erin@acme.test") || !strings.Contains(mails[0], "Subject: [mandate] Mandate is degraded: database unreachable") ||
		!strings.Contains(mails[0], "replica-1") {
		t.Errorf("admin mail %q", mails)
	}
	backup.answer(http.StatusOK)
	beat("degraded: database unreachable")
	if got := backup.take(); len(got) != 1 || got[0] != notify.AlertDegraded+"|Mandate is degraded: database unreachable" {
		t.Errorf("the refused alert was not tried again: %q", got)
	}
	beat("degraded: database unreachable")
	if got, mails := backup.take(), drain(mail); len(got) != 0 || len(mails) != 0 {
		t.Errorf("told again during the same outage: %q, %d mails", got, len(mails))
	}

	// It is back.
	current.Store(base)
	beat("ok")
	if got := backup.take(); len(got) != 1 || !strings.HasPrefix(got[0], notify.AlertRecovered+"|Mandate recovered: the database is reachable again after") {
		t.Errorf("recovery: backup webhook got %q", got)
	}
	if mails := drain(mail); len(mails) != 1 || !strings.Contains(mails[0], "Mandate recovered") {
		t.Errorf("recovery mail %q", mails)
	}

	// Notifications back up. Two replicas see it; the admins hear once.
	other := newMonitor(cfgNow, ping, backlog, postgres.NewAlertStore(base), alarm, log)
	a := &mandate.Action{ActorID: "deployer", Type: "deploy", Summary: "Deploy payments-api v1.42", Resources: []mandate.Resource{{Kind: "service", Name: "payments-api"}},
		Reversibility: mandate.Reversible, OccurredAt: time.Now(), Decision: mandate.Decision{Path: mandate.PathMonitored, Urgency: mandate.UrgencyNormal, Rule: "default",
			Targets: []mandate.Target{{Kind: mandate.TargetTeam, ID: "payments"}}}}
	raw, _, err := actions.Record(ctx, a, []byte("x"))
	if err != nil {
		t.Fatal(err)
	}
	beat("degraded: 1 notification waiting for delivery")
	other.beat(ctx)
	beats.take()
	beat("degraded: 1 notification waiting for delivery")
	if got := backup.take(); len(got) != 1 || got[0] != notify.AlertDegraded+"|Mandate is degraded: 1 notification waiting over 1m0s for delivery" {
		t.Errorf("backlog: backup webhook got %q", got)
	}
	if mails := drain(mail); len(mails) != 1 || !strings.Contains(mails[0], "1 notification waiting") {
		t.Errorf("backlog mail %q", mails)
	}
	// Delivered at last: the all-clear, once.
	var ans mandate.Answer
	json.Unmarshal(raw, &ans)
	ns, err := postgres.NewRoutingStore(base).Notifications(ctx, ans.ActionID)
	if err != nil || len(ns) != 1 {
		t.Fatalf("notifications %v, %v", ns, err)
	}
	if err := postgres.NewDeliveryStore(base).Delivered(ctx, ns[0].ID, "C0PAYMENTS", "1.2", time.Now()); err != nil {
		t.Fatal(err)
	}
	other.beat(ctx)
	beats.take()
	beat("ok")
	if got := backup.take(); len(got) != 1 || !strings.HasPrefix(got[0], notify.AlertRecovered+"|Mandate recovered: no notification waits") {
		t.Errorf("backlog cleared: backup webhook got %q", got)
	}
	if mails := drain(mail); len(mails) != 1 {
		t.Errorf("backlog cleared: %d mails, want 1", len(mails))
	}
}
