package notify

import (
	"context"
	"log/slog"
	"time"

	"github.com/mandatehq/mandate"
	"github.com/mandatehq/mandate/postgres"
)

// PageStore remembers the PagerDuty incidents Mandate opened; *postgres.PageStore
// implements it.
type PageStore interface {
	Paging(ctx context.Context, p postgres.Page) (want string, err error)
	Paged(ctx context.Context, dedupKey string) error
	Failed(ctx context.Context, dedupKey, why string) error
	Get(ctx context.Context, id int64) (*postgres.Page, error)
	Answered(ctx context.Context, id int64, state string, triggeredAt *time.Time) (bool, error)
	NoteAnswer(ctx context.Context, id int64, why string) error
}

// Why Mandate paged, as recorded with each page.
const (
	PageEscalation    = "escalation"     // an escalation policy's pagerduty step
	PageGateExpired   = "gate_expired"   // nobody decided a gate in time
	PageSlackFallback = "slack_fallback" // Slack failed for too long
)

// page triggers in and, with Pages set, records it first, so an answer in Slack can reach
// the incident: written before the trigger (an answer racing the trigger is not lost),
// marked triggered after PagerDuty accepted it. A key someone already answered since it
// was first paged is not paged again.
func (p *PagerDuty) page(ctx context.Context, in Incident, notificationID int64, reason string) error {
	if p.Pages == nil {
		return p.Trigger(ctx, in)
	}
	want, err := p.Pages.Paging(ctx, postgres.Page{DedupKey: in.DedupKey, ActionID: in.ActionID, NotificationID: notificationID, Reason: reason})
	if err != nil {
		return err
	}
	if want != "" {
		return nil // answered in Slack meanwhile: nobody needs waking
	}
	if err := p.Trigger(ctx, in); err != nil {
		p.Pages.Failed(context.WithoutCancel(ctx), in.DedupKey, err.Error())
		return err
	}
	return p.Pages.Paged(ctx, in.DedupKey)
}

// Answers passes humans' answers in Slack on to the PagerDuty incidents Mandate opened:
// the job handler of postgres.JobAnswerPage.
type Answers struct {
	PagerDuty *PagerDuty // its Pages is required
	Log       *slog.Logger
	// Answered, if set, is told of each answer PagerDuty took (to say so in Slack).
	Answered func(ctx context.Context, p *postgres.Page, event string)
}

// Run sends page id the acknowledgement or resolution it is owed, once: a resolution is
// sent unless the incident is resolved, an acknowledgement only while it is open and
// unacknowledged. A page whose trigger lands after its answer was sent is answered again
// (postgres.PageStore.Paged schedules it).
func (a *Answers) Run(ctx context.Context, id int64, attempt int) error {
	store := a.PagerDuty.Pages
	pg, err := store.Get(ctx, id)
	if err != nil {
		if mandate.ErrorCode(err) == mandate.ENOTFOUND {
			return postgres.Permanent{Err: err}
		}
		return err
	}
	var event, state string
	switch {
	case pg.Want == mandate.PageResolve && pg.State != "resolved":
		event, state = mandate.PageResolve, "resolved"
	case pg.Want == mandate.PageAcknowledge && (pg.State == "paging" || pg.State == "triggered"):
		event, state = mandate.PageAcknowledge, "acknowledged"
	default:
		return nil // nothing owed, or sent already
	}
	if err := a.PagerDuty.update(ctx, event, pg.DedupKey); err != nil {
		store.NoteAnswer(context.WithoutCancel(ctx), id, err.Error())
		a.Log.Warn("cannot pass an answer in Slack on to PagerDuty", "event", event, "dedup_key", pg.DedupKey, "attempt", attempt, "err", err)
		return JobError(err)
	}
	changed, err := store.Answered(ctx, id, state, pg.TriggeredAt)
	if err != nil || !changed {
		return err
	}
	a.Log.Info("pagerduty incident answered from Slack", "event", event, "dedup_key", pg.DedupKey, "action", pg.ActionID)
	if a.Answered != nil {
		a.Answered(ctx, pg, event)
	}
	return nil
}

// JobError turns a failed send into what the durable queue should do with its job: wait
// for the server's Retry-After, give up on what retrying cannot fix, or retry with
// backoff.
func JobError(err error) error {
	if err == nil {
		return nil
	}
	if d, ok := RetryAfter(err); ok {
		return postgres.RetryAfter{D: d}
	}
	if !Retryable(err) {
		return postgres.Permanent{Err: err}
	}
	return err
}
