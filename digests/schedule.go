package digests

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"strconv"
	"time"

	"github.com/slack-go/slack"

	"github.com/mandatehq/mandate"
	"github.com/mandatehq/mandate/blocks"
	"github.com/mandatehq/mandate/config"
)

// How scheduled runs behave.
const (
	// A digest whose time passed while no replica ran (a deploy, an outage) still goes
	// out if it is at most this late; an older one is skipped, since a digest a week late
	// only confuses.
	DigestCatchUp = 24 * time.Hour
	// The nag reminds about today's overdue items; a missed morning is made up for a few
	// hours, not at midnight.
	NagCatchUp = 6 * time.Hour
	// Lease is how long a claimed run is its replica's: one that dies mid-send leaves the
	// run to be taken over after this.
	Lease = 10 * time.Minute
	// MaxAttempts bounds the retries of a run that keeps failing (about four hours of
	// backoff); then it is given up, with the error recorded.
	MaxAttempts = 10
)

// Runs keeps the scheduled runs, so each is done once across replicas and restarts;
// *postgres.DigestStore implements it.
type Runs interface {
	ClaimRun(ctx context.Context, r mandate.DigestRun, by string, now time.Time, lease time.Duration) (int, error)
	Delivered(ctx context.Context, r mandate.DigestRun) (map[string]bool, error)
	RecordDelivery(ctx context.Context, r mandate.DigestRun, destination, ref string, at time.Time) error
	FinishRun(ctx context.Context, r mandate.DigestRun, at time.Time, errText string) error
	RetryRun(ctx context.Context, r mandate.DigestRun, at time.Time, errText string) error
}

// Email is one digest email to one person.
type Email struct {
	To                  string
	Subject, Text, HTML string
}

// Scheduler sends what is due: every team's digest, the admins' digest and the daily nag,
// each on its schedule from the config. Tick it often (every minute, from one periodic
// job); every replica may tick, since a run is claimed before it is done.
type Scheduler struct {
	Builder *Builder
	Runs    Runs
	Config  func() *config.Config
	// Slack posts digests (chat.postMessage; conversations.open for admins' DMs); nil
	// when Slack is not configured.
	Slack *slack.Client
	// Email sends one email; nil when there is no mail relay.
	Email func(ctx context.Context, m Email) error
	// Nag reminds owners of overdue action items (each at most once a day); nil: no nag.
	Nag func(ctx context.Context, now time.Time) error
	// Replica names this process in the runs table; default host:pid.
	Replica string
	Now     func() time.Time
	Log     *slog.Logger
}

func (s *Scheduler) now() time.Time {
	if s.Now != nil {
		return s.Now()
	}
	return time.Now()
}

func (s *Scheduler) log() *slog.Logger {
	if s.Log != nil {
		return s.Log
	}
	return slog.New(slog.DiscardHandler)
}

func (s *Scheduler) replica() string {
	if s.Replica != "" {
		return s.Replica
	}
	host, _ := os.Hostname()
	return host + ":" + strconv.Itoa(os.Getpid())
}

// Job is the periodic tick as a queue handler.
func (s *Scheduler) Job(ctx context.Context, _ int64, _ int) error { return s.Tick(ctx, s.now()) }

// Tick does every run due at now. Each failure is logged and retried by a later tick.
func (s *Scheduler) Tick(ctx context.Context, now time.Time) error {
	cfg := s.Config()
	var errs []error
	for _, r := range Due(cfg, now, s.Nag != nil) {
		if _, err := s.Send(ctx, cfg, r, now); err != nil {
			s.log().Warn("scheduled run failed; it will be retried", "kind", r.Kind, "team", r.Team, "period_start", r.Start, "err", err)
			errs = append(errs, fmt.Errorf("%s %s: %w", r.Kind, r.Team, err))
		}
	}
	return errors.Join(errs...)
}

// Due lists the runs whose time has come at now: for each schedule, its latest fire time
// within the catch-up window. A digest covers the seven days before its fire time.
func Due(cfg *config.Config, now time.Time, nag bool) []mandate.DigestRun {
	var out []mandate.DigestRun
	for _, t := range cfg.Teams {
		sched, ok := cfg.TeamDigestSchedule(t.ID)
		if !ok {
			continue
		}
		if fire, ok := lastFire(sched, now, DigestCatchUp, TeamLocation(cfg, t.ID)); ok {
			p := WeekEnding(fire, fire.Location())
			out = append(out, mandate.DigestRun{Kind: mandate.RunTeamDigest, Team: t.ID, Start: p.Start, End: p.End})
		}
	}
	if sched, ok := cfg.AdminDigestSchedule(); ok {
		if fire, ok := lastFire(sched, now, DigestCatchUp, OrgLocation(cfg)); ok {
			p := WeekEnding(fire, fire.Location())
			out = append(out, mandate.DigestRun{Kind: mandate.RunAdminDigest, Start: p.Start, End: p.End})
		}
	}
	if sched, ok := cfg.NagSchedule(); ok && nag {
		if fire, ok := lastFire(sched, now, NagCatchUp, OrgLocation(cfg)); ok {
			out = append(out, mandate.DigestRun{Kind: mandate.RunNag, Start: fire, End: fire})
		}
	}
	return out
}

// lastFire is the schedule's latest fire time in (now-window, now], in loc. Fire times of
// a calendar schedule do not depend on where the search starts, so every replica finds
// the same one, and so claims the same run.
func lastFire(sched config.Schedule, now time.Time, window time.Duration, loc *time.Location) (time.Time, bool) {
	t := sched.Next(now.Add(-window).In(loc))
	if t.IsZero() || t.After(now) {
		return time.Time{}, false
	}
	// A schedule firing every minute has 1,440 fire times in a day; stop well after.
	for range 100_000 {
		n := sched.Next(t)
		if n.IsZero() || n.After(now) {
			break
		}
		t = n
	}
	return t.In(loc), true
}

// destination is one place a digest goes.
type destination struct {
	key     string // recorded in the runs table: "slack:C…", "slack-dm:U…", "email:…"
	channel string // a Slack channel id
	user    string // a Slack user id to DM
	email   string
}

// destinations lists where a run's digest goes, as configured now and as far as this
// replica can send.
func (s *Scheduler) destinations(cfg *config.Config, r mandate.DigestRun) []destination {
	var out []destination
	var emailTo []string
	addPerson := func(id string, dm bool) {
		p, ok := cfg.Person(id)
		if !ok {
			return
		}
		if dm && s.Slack != nil && p.Slack != "" {
			out = append(out, destination{key: "slack-dm:" + p.Slack, user: p.Slack})
		}
		if p.Email != "" {
			emailTo = appendNew(emailTo, p.Email)
		}
	}
	switch r.Kind {
	case mandate.RunTeamDigest:
		t, ok := cfg.Team(r.Team)
		if !ok {
			return nil
		}
		if s.Slack != nil && t.SlackChannel != "" {
			out = append(out, destination{key: "slack:" + t.SlackChannel, channel: t.SlackChannel})
		}
		for _, id := range Members(t) {
			addPerson(id, false)
		}
	case mandate.RunAdminDigest:
		if ch := cfg.Digests.AdminChannel; ch != "" && s.Slack != nil {
			out = append(out, destination{key: "slack:" + ch, channel: ch})
		}
		for _, id := range cfg.Org.Admins {
			addPerson(id, cfg.Digests.AdminChannel == "")
		}
	}
	if cfg.Digests.Email && s.Email != nil {
		for _, addr := range emailTo {
			out = append(out, destination{key: "email:" + addr, email: addr})
		}
	}
	return out
}

// Destinations lists where a run would go now, as recorded in the runs table:
// "slack:C…", "slack-dm:U…", "email:…". Empty: nowhere (no channel, no Slack, no email).
func (s *Scheduler) Destinations(cfg *config.Config, r mandate.DigestRun) []string {
	var out []string
	for _, d := range s.destinations(cfg, r) {
		out = append(out, d.key)
	}
	return out
}

// Send does one run unless it is done already or another replica is doing it; sent
// reports whether this call did it. A run that fails part-way is retried later for the
// destinations it has not reached.
func (s *Scheduler) Send(ctx context.Context, cfg *config.Config, r mandate.DigestRun, now time.Time) (sent bool, err error) {
	var dests []destination
	switch r.Kind {
	case mandate.RunNag:
		if s.Nag == nil {
			return false, nil
		}
	default:
		if dests = s.destinations(cfg, r); len(dests) == 0 {
			// Nowhere to send it (no channel, no Slack, no email): leave the run
			// unclaimed, so configuring a channel later still sends it.
			return false, nil
		}
	}
	attempt, err := s.Runs.ClaimRun(ctx, r, s.replica(), now, Lease)
	if err != nil || attempt == 0 {
		return false, err
	}
	if r.Kind == mandate.RunNag {
		err = s.Nag(ctx, now)
	} else {
		err = s.deliver(ctx, r, dests, attempt, now)
	}
	if err == nil {
		return true, s.Runs.FinishRun(ctx, r, now, "")
	}
	if attempt >= MaxAttempts {
		s.log().Error("giving up on a scheduled run", "kind", r.Kind, "team", r.Team, "attempts", attempt, "err", err)
		return true, errors.Join(err, s.Runs.FinishRun(ctx, r, now, fmt.Sprintf("gave up after %d attempts: %v", attempt, err)))
	}
	return true, errors.Join(err, s.Runs.RetryRun(ctx, r, now.Add(backoff(attempt, err)), err.Error()))
}

// backoff is the wait before a run's next attempt: 1, 2, 4 … minutes, at most an hour,
// and never shorter than Slack asked for.
func backoff(attempt int, err error) time.Duration {
	d := min(time.Minute<<min(attempt-1, 6), time.Hour)
	var rl *slack.RateLimitedError
	if errors.As(err, &rl) {
		d = max(d, rl.RetryAfter)
	}
	return d
}

// deliver builds the digest and sends it wherever it has not gone yet.
func (s *Scheduler) deliver(ctx context.Context, r mandate.DigestRun, dests []destination, attempt int, now time.Time) error {
	p := Period{Start: r.Start, End: r.End}
	var d *mandate.Digest
	var err error
	if r.Kind == mandate.RunAdminDigest {
		d, err = s.Builder.Admin(ctx, p)
	} else {
		d, err = s.Builder.Team(ctx, r.Team, p)
	}
	if err != nil {
		return err
	}
	done, err := s.Runs.Delivered(ctx, r)
	if err != nil {
		return err
	}
	fallback, bs := blocks.Digest(d)
	var errs []error
	for _, dest := range dests {
		if done[dest.key] {
			continue
		}
		ref, err := s.deliverOne(ctx, r, d, dest, fallback, bs, attempt)
		if err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", dest.key, err))
			continue
		}
		if err := s.Runs.RecordDelivery(ctx, r, dest.key, ref, now); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// metadataType marks digest messages in Slack, with the run they belong to, so a retry
// after a lost answer finds the post instead of posting again.
const metadataType = "mandate_digest"

func runKey(r mandate.DigestRun) string {
	return r.Kind + ":" + r.Team + ":" + r.Start.UTC().Format(time.RFC3339)
}

func (s *Scheduler) deliverOne(ctx context.Context, r mandate.DigestRun, d *mandate.Digest, dest destination, fallback string, bs []slack.Block, attempt int) (string, error) {
	if dest.email != "" {
		return "", s.Email(ctx, Email{To: dest.email, Subject: Subject(d), Text: Text(d), HTML: HTML(d)})
	}
	channel := dest.channel
	if dest.user != "" {
		ch, _, _, err := s.Slack.OpenConversationContext(ctx, &slack.OpenConversationParameters{Users: []string{dest.user}, ReturnIM: true})
		if err != nil {
			return "", err
		}
		channel = ch.ID
	}
	key := runKey(r)
	if attempt > 1 {
		if ts, ok := s.findPosted(ctx, channel, key); ok {
			return ts, nil
		}
	}
	_, ts, err := s.Slack.PostMessageContext(ctx, channel, slack.MsgOptionText(fallback, false), slack.MsgOptionBlocks(bs...),
		slack.MsgOptionMetadata(slack.SlackMetadata{EventType: metadataType, EventPayload: map[string]any{"run": key}}))
	return ts, err
}

// findPosted looks for the run's message among the channel's latest.
func (s *Scheduler) findPosted(ctx context.Context, channel, key string) (string, bool) {
	h, err := s.Slack.GetConversationHistoryContext(ctx, &slack.GetConversationHistoryParameters{ChannelID: channel, Limit: 200, IncludeAllMetadata: true})
	if err != nil {
		s.log().Warn("cannot read channel history to avoid a double post", "channel", channel, "err", err)
		return "", false
	}
	for _, m := range h.Messages {
		if m.Metadata.EventType == metadataType && m.Metadata.EventPayload["run"] == key {
			return m.Timestamp, true
		}
	}
	return "", false
}
