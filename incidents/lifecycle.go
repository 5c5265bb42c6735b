package incidents

import (
	"context"
	"fmt"
	"slices"
	"strings"

	"github.com/mandatehq/mandate"
	"github.com/mandatehq/mandate/config"
	"github.com/mandatehq/mandate/glob"
	"github.com/mandatehq/mandate/notify"
	"github.com/mandatehq/mandate/postgres"
)

// DedupKey is the PagerDuty dedup key of an incident's page: one PagerDuty incident
// however often the page is retried, and the key its resolution is sent with.
func DedupKey(number int64) string { return fmt.Sprintf("mandate-incident-%d", number) }

// Transition marks an incident mitigated or resolved on behalf of by, updates its header
// and says so in its channel (the resolution is announced by the Resolved job). changed
// is false when it was in that state already.
func (s *Service) Transition(ctx context.Context, number int64, to mandate.IncidentState, by string) (*mandate.Incident, bool, error) {
	inc, changed, err := s.Store.Transition(ctx, number, to, by, s.now())
	if err != nil || !changed {
		return inc, changed, err
	}
	s.index(inc)
	s.updateHeader(ctx, inc)
	if to == mandate.IncidentMitigated {
		s.Note(ctx, inc, fmt.Sprintf("🩹 %s marked %s mitigated. Resolve it once the cause is fixed.", s.mention(by), inc.Ref()))
	}
	return inc, true, nil
}

// Assign makes person (a config person id) the incident's commander and invites them.
func (s *Service) Assign(ctx context.Context, number int64, person, by string) (*mandate.Incident, bool, error) {
	if _, ok := s.Config().Person(person); !ok {
		return nil, false, mandate.Errorf(mandate.EINVALID, "%q is not a person in mandate.yaml", person)
	}
	changed, err := s.Store.Assign(ctx, number, person, by, s.now())
	if err != nil {
		return nil, false, err
	}
	inc, err := s.Store.Get(ctx, number)
	if err != nil || !changed {
		return inc, changed, err
	}
	if s.Slack != nil && inc.Channel != "" {
		if err := s.invite(ctx, inc); err != nil {
			s.log().Warn("cannot invite the new commander", "incident", inc.Ref(), "err", err)
		}
	}
	s.updateHeader(ctx, inc)
	s.Note(ctx, inc, fmt.Sprintf("👤 %s is now the incident commander of %s (assigned by %s).", s.mention(person), inc.Ref(), s.mention(by)))
	return inc, true, nil
}

// SetSeverity changes an incident's severity on behalf of by; changed is false when it
// had that severity already. Raising an active incident to high or critical pages
// PagerDuty once: the store queues the page only while none was sent, and Page sends it
// only if none was. A closed incident's severity is final, like its postmortem.
func (s *Service) SetSeverity(ctx context.Context, number int64, sev mandate.Severity, by string) (*mandate.Incident, bool, error) {
	before, err := s.Store.Get(ctx, number)
	if err != nil {
		return nil, false, err
	}
	if before.State == mandate.IncidentClosed {
		return before, false, mandate.Errorf(mandate.ECONFLICT, "%s is closed: its severity is final", before.Ref())
	}
	changed, err := s.Store.SetSeverity(ctx, number, sev, by, s.now())
	if err != nil {
		return nil, false, err
	}
	inc, err := s.Store.Get(ctx, number)
	if err != nil || !changed {
		return inc, changed, err
	}
	s.updateHeader(ctx, inc)
	emoji, verb := "📉", "lowered"
	if sev.Rank() > before.Severity.Rank() {
		emoji, verb = "📈", "raised"
	}
	note := fmt.Sprintf("%s %s %s the severity of %s from %s to *%s*.", emoji, s.mention(by), verb, inc.Ref(), before.Severity, sev)
	if s.PagerDuty != nil && before.PagedAt == nil && inc.Active() && sev.Rank() >= mandate.SeverityHigh.Rank() {
		note += " PagerDuty is paged."
	}
	s.Note(ctx, inc, note)
	if s.OnSeverity != nil {
		s.OnSeverity(ctx, inc)
	}
	return inc, true, nil
}

// DecideCause confirms (confirm=true) or dismisses one of an incident's candidate causes.
func (s *Service) DecideCause(ctx context.Context, number int64, actionID string, confirm bool, by string) (*mandate.Incident, bool, error) {
	state := mandate.CauseDismissed
	if confirm {
		state = mandate.CauseConfirmed
	}
	changed, err := s.Store.DecideCause(ctx, number, actionID, state, by, s.now())
	if err != nil {
		return nil, false, err
	}
	inc, err := s.Store.Get(ctx, number)
	if err != nil || !changed {
		return inc, changed, err
	}
	s.index(inc)
	s.updateHeader(ctx, inc)
	return inc, true, nil
}

// PauseCauses pauses every actor behind the incident's causing actions (the confirmed
// causes, or every candidate nobody dismissed while none is confirmed) and logs each pause
// in the incident's timeline. It returns the actors paused now and those paused already.
func (s *Service) PauseCauses(ctx context.Context, number int64, by string) (paused, already []string, err error) {
	inc, err := s.Store.Get(ctx, number)
	if err != nil {
		return nil, nil, err
	}
	causes := inc.CausingActions()
	if len(causes) == 0 {
		return nil, nil, mandate.Errorf(mandate.ECONFLICT, "%s has no causing action to pause: confirm a cause first", inc.Ref())
	}
	done := map[string]bool{}
	for _, c := range causes {
		if c.Action == nil || done[c.Action.ActorID] {
			continue
		}
		actor := c.Action.ActorID
		done[actor] = true
		_, changed, err := s.Actors.SetPaused(ctx, actor, true, by, "paused from "+inc.Ref()+": "+inc.Title)
		if err != nil {
			return paused, already, fmt.Errorf("pause %s: %w", actor, err)
		}
		if !changed {
			already = append(already, actor)
			continue
		}
		paused = append(paused, actor)
		if err := s.Store.Event(ctx, number, "paused", by, "paused "+actor+", behind cause "+c.ActionID, c.ActionID, s.now()); err != nil {
			return paused, already, err
		}
	}
	if len(paused) > 0 {
		s.Note(ctx, inc, fmt.Sprintf("⏸ %s paused %s: their next actions will be halted.", s.mention(by), strings.Join(paused, ", ")))
	}
	return paused, already, nil
}

// mention renders a person id or "slack:U…" as a Slack mention, anyone else as text.
func (s *Service) mention(who string) string {
	if u := slackID(s.Config(), who); u != "" {
		return "<@" + u + ">"
	}
	return who
}

// Page is the JobIncidentPage handler: it triggers PagerDuty for an active incident of
// severity high or critical that was not paged yet, and resolves the page of a resolved
// one. Both are recorded, so a retried job sends each once (PagerDuty dedups on the key
// anyway).
func (s *Service) Page(ctx context.Context, number int64, attempt int) error {
	if s.PagerDuty == nil {
		return nil
	}
	inc, err := s.Store.Get(ctx, number)
	if err != nil {
		if mandate.ErrorCode(err) == mandate.ENOTFOUND {
			return postgres.Permanent{Err: err}
		}
		return err
	}
	if inc.PagedAt == nil && inc.Active() && inc.Severity.Rank() >= mandate.SeverityHigh.Rank() {
		if err := s.PagerDuty.Trigger(ctx, s.page(inc)); err != nil {
			return notify.JobError(err)
		}
		if err := s.Store.Paged(ctx, number, s.now()); err != nil {
			return err
		}
		// Resolved while the page was on its way: the resolution's job saw no page to
		// resolve, so resolve it here.
		if inc, err = s.Store.Get(ctx, number); err != nil {
			return err
		}
		// The header's footer says whether PagerDuty was paged.
		s.updateHeader(ctx, inc)
	}
	if inc.PagedAt != nil && !inc.Active() && inc.PageResolvedAt == nil {
		if err := s.PagerDuty.Resolve(ctx, DedupKey(number)); err != nil {
			return notify.JobError(err)
		}
		return s.Store.PageResolved(ctx, number, s.now())
	}
	return nil
}

// page describes the incident for PagerDuty.
func (s *Service) page(inc *mandate.Incident) notify.Incident {
	p := notify.Incident{
		DedupKey: DedupKey(inc.Number), Summary: inc.Ref() + " (" + string(inc.Severity) + "): " + inc.Title,
		Severity: "error", Component: strings.Join(inc.Teams, ","), Group: "incident", Class: "incident",
		AffectedServices: resourceKeys(affectedOf(inc)), Timestamp: inc.OpenedAt,
	}
	if inc.Severity == mandate.SeverityCritical {
		p.Severity = "critical"
	}
	if causes := inc.CausingActions(); len(causes) > 0 {
		p.ActionID = causes[0].ActionID
		if a := causes[0].Action; a != nil {
			if rec, ok := notify.Recoveries[a.Type]; ok {
				p.SuggestedRecovery = rec.Path
			}
		}
	}
	return p
}

// Resolved is the JobIncidentResolved handler: it announces the resolution in the
// channel, brings the header up to date and calls OnResolved, once.
func (s *Service) Resolved(ctx context.Context, number int64, attempt int) error {
	inc, err := s.Store.Get(ctx, number)
	if err != nil {
		if mandate.ErrorCode(err) == mandate.ENOTFOUND {
			return postgres.Permanent{Err: err}
		}
		return err
	}
	if inc.ResolveDoneAt != nil || inc.ResolvedAt == nil {
		return nil
	}
	s.updateHeader(ctx, inc)
	took := inc.ResolvedAt.Sub(inc.OpenedAt).Round(1e9)
	s.Note(ctx, inc, fmt.Sprintf("✅ %s is resolved, %s after it was opened. The postmortem draft is built from `/mandate incident timeline %d`.",
		inc.Ref(), took, inc.Number))
	if s.OnResolved != nil {
		s.OnResolved(ctx, inc)
	}
	return s.Store.ResolveDone(ctx, number, s.now())
}

// ActionResult runs the opt-in auto-open rules (incidents.auto_open) on an action whose
// result was just reported: the first rule that matches opens an incident for it, once
// however often the result is reported. The caller should fail the report when it
// returns an error, so the agent retries and the rule gets another chance.
func (s *Service) ActionResult(ctx context.Context, a *mandate.Action) error {
	if a == nil || a.Result == nil {
		return nil
	}
	cfg := s.Config()
	rule, ok := s.matchRule(cfg, a)
	if !ok {
		return nil
	}
	inc, err := s.Open(ctx, mandate.IncidentRequest{
		Title: ruleTitle(rule, a), Severity: mandate.Severity(rule.Severity), Resources: a.Resources,
		Causes: []string{a.ID}, OpenedBy: "rule:" + rule.Name, Via: mandate.ViaRule, Trigger: a.ID,
	})
	if err != nil {
		return fmt.Errorf("incidents.auto_open rule %q on action %s: %w", rule.Name, a.ID, err)
	}
	s.log().Info("incident opened by rule", "rule", rule.Name, "action", a.ID, "incident", inc.Ref())
	return nil
}

// matchRule finds the first auto-open rule matching the action's result.
func (s *Service) matchRule(cfg *config.Config, a *mandate.Action) (*config.AutoOpen, bool) {
	rules := cfg.Incidents.AutoOpen
	if len(rules) == 0 {
		return nil, false
	}
	snap := s.Owners.Snapshot()
	for i := range rules {
		r := &rules[i]
		w := r.When
		if string(a.Result.Status) != w.Result {
			continue
		}
		if w.FailureMode != "" && a.Result.FailureMode != w.FailureMode {
			continue
		}
		if len(w.Environments) > 0 && !slices.Contains(w.Environments, a.Environment) {
			continue
		}
		if len(w.Types) > 0 && !anyGlob(w.Types, a.Type) {
			continue
		}
		if len(w.Resources) > 0 && !slices.ContainsFunc(a.Resources, func(res mandate.Resource) bool { return anyGlob(w.Resources, res.Key()) }) {
			continue
		}
		if w.MinSensitivity != "" {
			most := -1
			for _, res := range a.Resources {
				most = max(most, config.SensitivityRank(snap.Resolve(res).Sensitivity))
			}
			if most < config.SensitivityRank(w.MinSensitivity) {
				continue
			}
		}
		return r, true
	}
	return nil, false
}

func anyGlob(patterns []string, s string) bool {
	for _, p := range patterns {
		if g, err := glob.Compile(p); err == nil && g.Match(s) {
			return true
		}
	}
	return false
}

// ruleTitle names an incident a rule opened: what failed, how, where.
func ruleTitle(r *config.AutoOpen, a *mandate.Action) string {
	what := a.ActorID + " " + a.Type + " " + string(a.Result.Status)
	if a.Result.FailureMode != "" {
		what += " (" + a.Result.FailureMode + ")"
	}
	if len(a.Resources) > 0 {
		what += " on " + a.Resources[0].Key()
		if len(a.Resources) > 1 {
			what += fmt.Sprintf(" and %d more", len(a.Resources)-1)
		}
	}
	title := r.Name + ": " + what
	if len([]rune(title)) > maxTitle {
		title = string([]rune(title)[:maxTitle-1]) + "…"
	}
	return title
}
