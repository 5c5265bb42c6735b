package escalation

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"time"

	"github.com/mandatehq/mandate"
	"github.com/mandatehq/mandate/blocks"
	"github.com/mandatehq/mandate/config"
	"github.com/mandatehq/mandate/ownership"
	"github.com/mandatehq/mandate/postgres"
)

// HandoffMessage is logged when an on-call handoff is detected and its message enqueued.
const HandoffMessage = "on-call handoff detected"

// HandoffStore records on-call shifts and reads what is open; *postgres.OnCallStore
// implements it.
type HandoffStore interface {
	Observe(ctx context.Context, sh postgres.OnCallShift, at time.Time) (id int64, handoff bool, err error)
	Handoff(ctx context.Context, id int64) (*postgres.Handoff, error)
	Sent(ctx context.Context, id int64, at time.Time) (bool, error)
	OpenWork(ctx context.Context, teams []string, now, since time.Time, limit int) (*postgres.OpenWork, error)
}

// DirectMessenger sends a direct message to a config person; *notify.Slack implements it.
type DirectMessenger interface {
	DM(ctx context.Context, person, text string) error
}

// Incident is an active incident as a handoff lists it.
type Incident struct {
	Title    string
	Severity string
	Channel  string // Slack channel id, if any
	Opened   time.Time
}

// Handoffs tells whoever comes on call what they inherit. It watches the on-call shifts
// the ownership resolver reads from PagerDuty: when a rotation's holder changes, the
// incoming person gets one direct message listing active incidents, open gates, running
// escalations and unanswered critical notifications of the rotation's teams. Detection
// runs on every replica after every refresh; Postgres makes it one message (see
// postgres.OnCallStore.Observe), sent by a durable job (Send).
type Handoffs struct {
	Store     HandoffStore
	Owners    *ownership.Resolver
	Messenger DirectMessenger
	Config    func() *config.Config
	// Incidents, when set, lists the active incidents of any of teams. Until incidents
	// exist it is nil, and a handoff lists none.
	Incidents func(ctx context.Context, teams []string) ([]Incident, error)
	// Window is how far back unanswered critical notifications are listed; default 24 h.
	Window time.Duration
	Now    func() time.Time
	Log    *slog.Logger
}

// DefaultHandoffWindow is Handoffs.Window when unset.
const DefaultHandoffWindow = 24 * time.Hour

// handoffListed bounds each list read for a handoff message; the rest is counted.
const handoffListed = 10

// checkTimeout bounds one detection pass.
const checkTimeout = time.Minute

// Run checks for handoffs now and after every ownership snapshot swap (a refresh that
// read PagerDuty, or a config reload) until ctx ends.
func (h *Handoffs) Run(ctx context.Context) {
	for {
		// Taken before the check, so a swap during the check is not missed.
		changed := h.Owners.Changed()
		h.checkSafely(ctx)
		select {
		case <-ctx.Done():
			return
		case <-changed:
		}
	}
}

func (h *Handoffs) checkSafely(ctx context.Context) {
	defer func() {
		if r := recover(); r != nil {
			h.Log.Error("on-call handoff check panicked", "panic", r)
		}
	}()
	ctx, cancel := context.WithTimeout(ctx, checkTimeout)
	defer cancel()
	if err := h.Check(ctx); err != nil && ctx.Err() == nil {
		h.Log.Warn("on-call handoff check failed; trying again after the next refresh", "err", err)
	}
}

// Check records the shifts under way now of the first responders of every team whose
// on-call is known, and enqueues a handoff message for each rotation whose holder
// changed. Running it again, or on another replica, changes nothing.
func (h *Handoffs) Check(ctx context.Context) error {
	snap := h.Owners.Snapshot()
	if snap == nil {
		return nil
	}
	now := h.Now()
	// One rotation (a schedule) can serve several teams: one row, one message, all teams.
	type key struct {
		rotation, user string
		start          time.Time
	}
	shifts := map[key]*postgres.OnCallShift{}
	for _, team := range snap.OnCallTeams() {
		all, _ := snap.OnCall(team)
		var current []ownership.OnCallShift
		for _, s := range all {
			if s.Covers(now) {
				current = append(current, s)
			}
		}
		if len(current) == 0 {
			continue
		}
		// The first responders: the lowest escalation level on call (1, unless the team
		// names a schedule used only further down).
		first := slices.MinFunc(current, func(a, b ownership.OnCallShift) int { return a.Level - b.Level }).Level
		for _, s := range current {
			if s.Level != first {
				continue
			}
			k := key{s.Rotation(), s.UserID, s.Start}
			if sh, ok := shifts[k]; ok {
				sh.Teams = append(sh.Teams, team)
				continue
			}
			shifts[k] = &postgres.OnCallShift{Rotation: k.rotation, UserID: s.UserID, Name: s.Name, Person: s.Person,
				Start: s.Start, Teams: []string{team}}
		}
	}
	keys := slices.SortedFunc(func(yield func(key) bool) {
		for k := range shifts {
			if !yield(k) {
				return
			}
		}
	}, func(a, b key) int {
		return cmp.Or(strings.Compare(a.rotation, b.rotation), a.start.Compare(b.start), strings.Compare(a.user, b.user))
	})
	var errs []error
	for _, k := range keys {
		sh := shifts[k]
		id, handoff, err := h.Store.Observe(ctx, *sh, now)
		if err != nil {
			errs = append(errs, fmt.Errorf("record on-call shift %s of %s: %w", sh.Rotation, sh.UserID, err))
			continue
		}
		if !handoff {
			continue
		}
		if sh.Person == "" {
			h.Log.Warn("on-call changed, but the incoming PagerDuty user maps to nobody in mandate.yaml: no handoff message",
				"rotation", sh.Rotation, "user", sh.Name, "teams", sh.Teams)
			continue
		}
		h.Log.Info(HandoffMessage, "rotation", sh.Rotation, "person", sh.Person, "teams", sh.Teams, "shift", id)
	}
	return errors.Join(errs...)
}

// Send sends the handoff message of shift id: the queue's handler for
// postgres.JobHandoff. What is open is read now, when the message goes out.
func (h *Handoffs) Send(ctx context.Context, id int64, attempt int) error {
	ho, err := h.Store.Handoff(ctx, id)
	if err != nil {
		if mandate.ErrorCode(err) == mandate.ENOTFOUND {
			return postgres.Permanent{Err: err}
		}
		return err
	}
	if ho.SentAt != nil || !ho.Handoff {
		return nil
	}
	cfg := h.Config()
	p, ok := cfg.Person(ho.Person)
	if !ok || p.Slack == "" {
		h.Log.Warn("cannot send an on-call handoff: the person has no slack id in mandate.yaml", "person", ho.Person, "rotation", ho.Rotation)
		return postgres.Permanent{Err: fmt.Errorf("person %q has no slack id", ho.Person)}
	}
	now := h.Now()
	window := cmp.Or(h.Window, DefaultHandoffWindow)
	work, err := h.Store.OpenWork(ctx, ho.Teams, now, now.Add(-window), handoffListed)
	if err != nil {
		return err
	}
	var incidents []Incident
	if h.Incidents != nil {
		if incidents, err = h.Incidents(ctx, ho.Teams); err != nil {
			return fmt.Errorf("list active incidents: %w", err)
		}
	}
	text := blocks.HandoffText(handoffView(cfg, ho, p, work, incidents, now))
	if err := h.Messenger.DM(ctx, ho.Person, text); err != nil {
		return err
	}
	if _, err := h.Store.Sent(ctx, id, now); err != nil {
		// The message is out; a retry would repeat it. Say so rather than retry.
		h.Log.Error("on-call handoff sent but not recorded", "shift", id, "err", err)
	}
	h.Log.Info("on-call handoff sent", "person", ho.Person, "rotation", ho.Rotation, "teams", ho.Teams,
		"gates", work.GatesTotal, "escalations", work.EscalationsTotal, "unanswered", work.UnansweredTotal, "incidents", len(incidents))
	return nil
}

// handoffView fills the message model from what the stores returned.
func handoffView(cfg *config.Config, ho *postgres.Handoff, p *config.Person, work *postgres.OpenWork, incidents []Incident, now time.Time) blocks.Handoff {
	v := blocks.Handoff{Person: p.Slack, Rotation: rotationLabel(ho.Rotation), Since: ho.Start, Now: now,
		Zone:       personLocation(cfg, p.ID, firstOf(ho.Teams)),
		GatesTotal: work.GatesTotal, EscalationsTotal: work.EscalationsTotal, UnansweredTotal: work.UnansweredTotal}
	for _, t := range ho.Teams {
		name := t
		if team, ok := cfg.Team(t); ok && team.Name != "" {
			name = team.Name
		}
		v.Teams = append(v.Teams, name)
	}
	if prev, ok := cfg.Person(ho.PreviousPerson); ok && prev.Slack != "" {
		v.From = prev.Slack
	} else {
		v.From = ho.PreviousName
	}
	item := func(it postgres.OpenItem) blocks.HandoffItem {
		return blocks.HandoffItem{Actor: it.Actor, Type: it.Type, Summary: it.Summary, Since: it.Since, Until: it.Until, Policy: it.Policy, Step: it.Step}
	}
	for _, it := range work.Gates {
		v.Gates = append(v.Gates, item(it))
	}
	for _, it := range work.Escalations {
		v.Escalations = append(v.Escalations, item(it))
	}
	for _, it := range work.Unanswered {
		v.Unanswered = append(v.Unanswered, item(it))
	}
	for _, in := range incidents {
		v.Incidents = append(v.Incidents, blocks.HandoffIncident{Title: in.Title, Severity: in.Severity, Channel: in.Channel, Opened: in.Opened})
	}
	return v
}

func firstOf(s []string) string {
	if len(s) == 0 {
		return ""
	}
	return s[0]
}

// rotationLabel names a rotation for people: "PagerDuty schedule P123".
func rotationLabel(rotation string) string {
	if id, ok := strings.CutPrefix(rotation, "schedule:"); ok {
		return "PagerDuty schedule " + id
	}
	if rest, ok := strings.CutPrefix(rotation, "policy:"); ok {
		policy, level, _ := strings.Cut(rest, ":level:")
		return fmt.Sprintf("PagerDuty escalation policy %s, level %s", policy, level)
	}
	return rotation
}
