package postgres

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/jackc/pgx/v5"

	"github.com/mandatehq/mandate"
)

// LearningChannel is the NOTIFY channel announcing changes to incident patterns, action
// items and postmortems, so every replica's pattern matcher reloads what its warnings say.
const LearningChannel = "mandate_learning"

// MaxItemTitle is the longest action item title accepted, in characters.
const MaxItemTitle = 300

// LearningStore keeps what incidents teach: postmortems, the action items promised in
// them, the patterns that recognise a repeat, and the hits of those patterns.
type LearningStore struct{ db *DB }

// NewLearningStore returns a LearningStore on db.
func NewLearningStore(db *DB) *LearningStore { return &LearningStore{db: db} }

func incidentRef(number int64) string { return fmt.Sprintf("INC-%d", number) }

func noIncident(number int64) error {
	return mandate.Errorf(mandate.ENOTFOUND, "no incident %s", incidentRef(number))
}

// notifyLearning announces a change in tx, delivered on commit.
func notifyLearning(ctx context.Context, tx pgx.Tx) error {
	_, err := tx.Exec(ctx, `SELECT pg_notify($1, '')`, LearningChannel)
	return err
}

// event adds a line to the incident's timeline in tx.
func event(ctx context.Context, tx pgx.Tx, number int64, kind, who, text string, at time.Time) error {
	_, err := tx.Exec(ctx, `INSERT INTO incident_events (incident, kind, who, text, at) VALUES ($1, $2, $3, $4, $5)`,
		number, kind, who, text, at)
	return err
}

func deref(s *string) string {
	if s == nil {
		return ""
	}
	return *s
}

// ---- postmortems ----

// SavePostmortem stores a (re)rendered postmortem. The first save makes it a draft; a
// published one stays published (its items and timeline keep up with reality). A closed
// postmortem is final and is not rewritten.
func (s *LearningStore) SavePostmortem(ctx context.Context, number int64, markdown string, at time.Time) error {
	err := pgx.BeginFunc(ctx, s.db.pool, func(tx pgx.Tx) error {
		var state string
		err := tx.QueryRow(ctx, `SELECT postmortem_state FROM incidents WHERE number = $1 FOR UPDATE`, number).Scan(&state)
		if errNoRows(err) {
			return noIncident(number)
		}
		if err != nil {
			return err
		}
		if state == mandate.PostmortemClosed {
			return mandate.Errorf(mandate.ECONFLICT, "the postmortem of %s is closed: it is no longer redrafted", incidentRef(number))
		}
		if _, err := tx.Exec(ctx, `UPDATE incidents SET postmortem = $2, postmortem_at = $3,
				postmortem_state = CASE WHEN postmortem_state = '' THEN 'draft' ELSE postmortem_state END
			WHERE number = $1`, number, markdown, at); err != nil {
			return err
		}
		if state == mandate.PostmortemNone {
			return event(ctx, tx, number, "postmortem", "", "postmortem drafted", at)
		}
		return nil
	})
	return classify(err)
}

// GetPostmortem reads an incident's postmortem; its State is "" (and Markdown empty) when
// none has been drafted yet.
func (s *LearningStore) GetPostmortem(ctx context.Context, number int64) (*mandate.Postmortem, error) {
	p := mandate.Postmortem{Incident: number}
	var markdown, publishedBy *string
	err := s.db.pool.QueryRow(ctx, `SELECT postmortem_state, postmortem, postmortem_at, published_by FROM incidents WHERE number = $1`,
		number).Scan(&p.State, &markdown, &p.At, &publishedBy)
	if errNoRows(err) {
		return nil, noIncident(number)
	}
	if err != nil {
		return nil, classify(err)
	}
	p.Markdown, p.PublishedBy = deref(markdown), deref(publishedBy)
	return &p, nil
}

// PublishPostmortem marks a drafted postmortem published by a person. It is refused, and
// nothing changes, without a draft or without an action item that has an owner and a due
// date: a postmortem that promises nothing teaches nothing.
func (s *LearningStore) PublishPostmortem(ctx context.Context, number int64, by string, at time.Time) (*mandate.Postmortem, error) {
	return s.settlePostmortem(ctx, number, mandate.PostmortemPublished, "", by, at)
}

// ClosePostmortem closes an incident's postmortem, and with it the incident (resolved →
// closed); final, when not empty, is stored as its last text. The same conditions as
// publishing apply, and the incident must be resolved.
func (s *LearningStore) ClosePostmortem(ctx context.Context, number int64, final, by string, at time.Time) (*mandate.Postmortem, error) {
	return s.settlePostmortem(ctx, number, mandate.PostmortemClosed, final, by, at)
}

func (s *LearningStore) settlePostmortem(ctx context.Context, number int64, to, final, by string, at time.Time) (*mandate.Postmortem, error) {
	if strings.TrimSpace(by) == "" {
		return nil, mandate.Errorf(mandate.EINVALID, "say who %s the postmortem: it is a human act", verbOf(to))
	}
	ref := incidentRef(number)
	err := pgx.BeginFunc(ctx, s.db.pool, func(tx pgx.Tx) error {
		var state, incState string
		var publishedBy *string
		err := tx.QueryRow(ctx, `SELECT postmortem_state, state, published_by FROM incidents WHERE number = $1 FOR UPDATE`, number).
			Scan(&state, &incState, &publishedBy)
		if errNoRows(err) {
			return noIncident(number)
		}
		if err != nil {
			return err
		}
		switch {
		case state == mandate.PostmortemNone:
			return mandate.Errorf(mandate.EINVALID, "%s has no postmortem draft yet: it is drafted when the incident is resolved", ref)
		case state == mandate.PostmortemClosed:
			return mandate.Errorf(mandate.ECONFLICT, "the postmortem of %s is already closed", ref)
		case state == to:
			return mandate.Errorf(mandate.ECONFLICT, "the postmortem of %s is already published (by %s)", ref, deref(publishedBy))
		case to == mandate.PostmortemClosed && mandate.IncidentState(incState).Active():
			return mandate.Errorf(mandate.EINVALID, "%s is %s again: resolve it before closing its postmortem", ref, incState)
		}
		var promised int
		if err := tx.QueryRow(ctx, `SELECT count(*) FROM action_items WHERE incident = $1 AND owner <> ''`, number).Scan(&promised); err != nil {
			return err
		}
		if promised == 0 {
			return mandate.Errorf(mandate.EINVALID, "the postmortem of %s cannot be %s yet: it needs at least one action item with an owner and a due date",
				ref, verbOf(to))
		}
		if to == mandate.PostmortemPublished {
			_, err = tx.Exec(ctx, `UPDATE incidents SET postmortem_state = 'published', published_by = $2, postmortem_at = $3 WHERE number = $1`, number, by, at)
		} else {
			_, err = tx.Exec(ctx, `UPDATE incidents SET postmortem_state = 'closed', postmortem_at = $2,
					postmortem = CASE WHEN $3 = '' THEN postmortem ELSE $3 END,
					state = 'closed', closed_at = coalesce(closed_at, $2) WHERE number = $1`, number, at, final)
		}
		if err != nil {
			return err
		}
		if err := event(ctx, tx, number, "postmortem", by, "postmortem "+verbOf(to), at); err != nil {
			return err
		}
		return notifyLearning(ctx, tx)
	})
	if err != nil {
		return nil, classify(err)
	}
	return s.GetPostmortem(ctx, number)
}

func verbOf(state string) string {
	if state == mandate.PostmortemClosed {
		return "closed"
	}
	return "published"
}

// ---- action items ----

const itemColumns = `id, incident, title, owner, due, state, coalesce(done_by, ''), done_at, created_at`

func scanItem(row pgx.Row) (*mandate.ActionItem, error) {
	var it mandate.ActionItem
	err := row.Scan(&it.ID, &it.Incident, &it.Title, &it.Owner, &it.Due, &it.State, &it.DoneBy, &it.DoneAt, &it.Created)
	if err != nil {
		return nil, err
	}
	it.Due = dayOf(it.Due)
	return &it, nil
}

func collectItems(rows pgx.Rows, err error) ([]mandate.ActionItem, error) {
	if err != nil {
		return nil, classify(err)
	}
	out, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (mandate.ActionItem, error) {
		it, err := scanItem(r)
		if err != nil {
			return mandate.ActionItem{}, err
		}
		return *it, nil
	})
	return out, classify(err)
}

// dayOf is the UTC date of t, at midnight: how due dates and nag days are kept.
func dayOf(t time.Time) time.Time {
	y, m, d := t.UTC().Date()
	return time.Date(y, m, d, 0, 0, 0, 0, time.UTC)
}

// AddItem stores an action item promised for an incident: a title, an owner (a person id)
// and a due date (its UTC date counts). It.Created is the time it is added. A missing
// title, owner or due date is refused, naming what is missing, and nothing is stored.
func (s *LearningStore) AddItem(ctx context.Context, it mandate.ActionItem) (*mandate.ActionItem, error) {
	it.Title, it.Owner = strings.TrimSpace(it.Title), strings.TrimSpace(it.Owner)
	var fields []mandate.FieldError
	switch {
	case it.Title == "":
		fields = append(fields, mandate.FieldError{Field: "title", Message: "say what will be done"})
	case utf8.RuneCountInString(it.Title) > MaxItemTitle:
		fields = append(fields, mandate.FieldError{Field: "title", Message: fmt.Sprintf("at most %d characters", MaxItemTitle)})
	}
	if it.Owner == "" {
		fields = append(fields, mandate.FieldError{Field: "owner", Message: "name the person who owns it"})
	}
	if it.Due.IsZero() {
		fields = append(fields, mandate.FieldError{Field: "due", Message: "give a due date"})
	}
	if len(fields) > 0 {
		return nil, &mandate.Error{Code: mandate.EINVALID, Message: "the action item is incomplete", Fields: fields}
	}
	if it.Created.IsZero() {
		it.Created = time.Now()
	}
	var out *mandate.ActionItem
	err := pgx.BeginFunc(ctx, s.db.pool, func(tx pgx.Tx) error {
		var err error
		out, err = scanItem(tx.QueryRow(ctx, `INSERT INTO action_items (incident, title, owner, due, created_at) VALUES ($1, $2, $3, $4, $5)
			RETURNING `+itemColumns, it.Incident, it.Title, it.Owner, dayOf(it.Due), it.Created))
		if foreignKeyMissing(err) {
			return noIncident(it.Incident)
		}
		if err != nil {
			return err
		}
		if err := event(ctx, tx, it.Incident, "action_item", it.Owner,
			fmt.Sprintf("action item %d added: %s (owner %s, due %s)", out.ID, out.Title, out.Owner, out.Due.Format(time.DateOnly)), it.Created); err != nil {
			return err
		}
		return notifyLearning(ctx, tx)
	})
	if err != nil {
		return nil, classify(err)
	}
	return out, nil
}

// Item reads one action item.
func (s *LearningStore) Item(ctx context.Context, id int64) (*mandate.ActionItem, error) {
	it, err := scanItem(s.db.pool.QueryRow(ctx, `SELECT `+itemColumns+` FROM action_items WHERE id = $1`, id))
	if errNoRows(err) {
		return nil, mandate.Errorf(mandate.ENOTFOUND, "no action item %d", id)
	}
	return it, classify(err)
}

// Items lists an incident's action items, soonest due first.
func (s *LearningStore) Items(ctx context.Context, number int64) ([]mandate.ActionItem, error) {
	rows, err := s.db.pool.Query(ctx, `SELECT `+itemColumns+` FROM action_items WHERE incident = $1 ORDER BY due, id`, number)
	return collectItems(rows, err)
}

// MarkDone marks an action item done by a person. changed is false when it was done
// already (the earlier who and when are kept).
func (s *LearningStore) MarkDone(ctx context.Context, id int64, by string, at time.Time) (it *mandate.ActionItem, changed bool, err error) {
	err = pgx.BeginFunc(ctx, s.db.pool, func(tx pgx.Tx) error {
		var err error
		it, err = scanItem(tx.QueryRow(ctx, `UPDATE action_items SET state = 'done', done_by = $2, done_at = $3
			WHERE id = $1 AND state = 'open' RETURNING `+itemColumns, id, by, at))
		if errNoRows(err) {
			it, err = scanItem(tx.QueryRow(ctx, `SELECT `+itemColumns+` FROM action_items WHERE id = $1`, id))
			if errNoRows(err) {
				return mandate.Errorf(mandate.ENOTFOUND, "no action item %d", id)
			}
			return err
		}
		if err != nil {
			return err
		}
		changed = true
		if err := event(ctx, tx, it.Incident, "action_item", by, fmt.Sprintf("action item %d done: %s", it.ID, it.Title), at); err != nil {
			return err
		}
		return notifyLearning(ctx, tx)
	})
	if err != nil {
		return nil, false, classify(err)
	}
	return it, changed, nil
}

// Overdue lists the open action items whose due date is before now's UTC date, the most
// overdue first.
func (s *LearningStore) Overdue(ctx context.Context, now time.Time) ([]mandate.ActionItem, error) {
	rows, err := s.db.pool.Query(ctx, `SELECT `+itemColumns+` FROM action_items WHERE state = 'open' AND due < $1 ORDER BY due, id`, dayOf(now))
	return collectItems(rows, err)
}

// ClaimNag claims the day's reminder for an open action item: it returns true for exactly
// one caller per item and UTC day, however many replicas run the nag at once, because the
// claim is one conditional UPDATE.
func (s *LearningStore) ClaimNag(ctx context.Context, id int64, day time.Time) (bool, error) {
	tag, err := s.db.pool.Exec(ctx, `UPDATE action_items SET last_nagged = $2
		WHERE id = $1 AND state = 'open' AND last_nagged IS DISTINCT FROM $2`, id, dayOf(day))
	if err != nil {
		return false, classify(err)
	}
	return tag.RowsAffected() == 1, nil
}

// ReleaseNag gives back a day's claim whose reminder could not be sent, so a later run
// that day tries again.
func (s *LearningStore) ReleaseNag(ctx context.Context, id int64, day time.Time) error {
	_, err := s.db.pool.Exec(ctx, `UPDATE action_items SET last_nagged = NULL WHERE id = $1 AND last_nagged = $2`, id, dayOf(day))
	return classify(err)
}

// ---- patterns ----

var patternKinds = []mandate.PatternKind{mandate.PatternExact, mandate.PatternResource, mandate.PatternFailureMode}

// SavePatterns stores the patterns extracted from an incident (again: the ones it has are
// kept) and returns all of the incident's patterns with their ids.
func (s *LearningStore) SavePatterns(ctx context.Context, number int64, ps []mandate.IncidentPattern) ([]mandate.IncidentPattern, error) {
	for i, p := range ps {
		switch {
		case !slices.Contains(patternKinds, p.Kind):
			return nil, mandate.Errorf(mandate.EINVALID, "pattern %d: kind %q is not one of exact, resource, failure_mode", i, p.Kind)
		case p.ActionType == "":
			return nil, mandate.Errorf(mandate.EINVALID, "pattern %d: no action type", i)
		case p.Kind == mandate.PatternFailureMode && p.FailureMode == "":
			return nil, mandate.Errorf(mandate.EINVALID, "pattern %d: a failure_mode pattern needs a failure mode", i)
		case p.Kind != mandate.PatternFailureMode && p.ResourcePattern == "":
			return nil, mandate.Errorf(mandate.EINVALID, "pattern %d: a %s pattern needs a resource pattern", i, p.Kind)
		}
	}
	err := pgx.BeginFunc(ctx, s.db.pool, func(tx pgx.Tx) error {
		for _, p := range ps {
			_, err := tx.Exec(ctx, `INSERT INTO incident_patterns (incident, kind, action_type, resource_pattern, failure_mode)
				VALUES ($1, $2, $3, $4, $5) ON CONFLICT DO NOTHING`, number, string(p.Kind), p.ActionType, p.ResourcePattern, p.FailureMode)
			if foreignKeyMissing(err) {
				return noIncident(number)
			}
			if err != nil {
				return err
			}
		}
		return notifyLearning(ctx, tx)
	})
	if err != nil {
		return nil, classify(err)
	}
	return s.Patterns(ctx, number)
}

const patternColumns = `id, incident, kind, action_type, resource_pattern, failure_mode`

func collectPatterns(rows pgx.Rows, err error) ([]mandate.IncidentPattern, error) {
	if err != nil {
		return nil, classify(err)
	}
	out, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (mandate.IncidentPattern, error) {
		var p mandate.IncidentPattern
		err := r.Scan(&p.ID, &p.Incident, &p.Kind, &p.ActionType, &p.ResourcePattern, &p.FailureMode)
		return p, err
	})
	return out, classify(err)
}

// Patterns lists an incident's patterns.
func (s *LearningStore) Patterns(ctx context.Context, number int64) ([]mandate.IncidentPattern, error) {
	rows, err := s.db.pool.Query(ctx, `SELECT `+patternColumns+` FROM incident_patterns WHERE incident = $1 ORDER BY id`, number)
	return collectPatterns(rows, err)
}

// PatternSources returns every incident that has patterns, newest first, with its
// patterns and action items: what the pattern matcher compiles.
func (s *LearningStore) PatternSources(ctx context.Context) ([]mandate.Incident, error) {
	var out []mandate.Incident
	err := pgx.BeginTxFunc(ctx, s.db.pool, pgx.TxOptions{AccessMode: pgx.ReadOnly, IsoLevel: pgx.RepeatableRead}, func(tx pgx.Tx) error {
		rows, err := tx.Query(ctx, `SELECT number, title, severity, state, postmortem_state, coalesce(channel, ''), opened_at, resolved_at
			FROM incidents i WHERE EXISTS (SELECT 1 FROM incident_patterns p WHERE p.incident = i.number) ORDER BY number DESC`)
		if err != nil {
			return err
		}
		out, err = pgx.CollectRows(rows, func(r pgx.CollectableRow) (mandate.Incident, error) {
			var in mandate.Incident
			err := r.Scan(&in.Number, &in.Title, &in.Severity, &in.State, &in.Postmortem, &in.Channel, &in.OpenedAt, &in.ResolvedAt)
			return in, err
		})
		if err != nil {
			return err
		}
		byNumber := make(map[int64]*mandate.Incident, len(out))
		for i := range out {
			byNumber[out[i].Number] = &out[i]
		}
		patterns, err := collectPatterns(tx.Query(ctx, `SELECT `+patternColumns+` FROM incident_patterns ORDER BY id`))
		if err != nil {
			return err
		}
		for _, p := range patterns {
			if in := byNumber[p.Incident]; in != nil {
				in.Patterns = append(in.Patterns, p)
			}
		}
		items, err := collectItems(tx.Query(ctx, `SELECT `+itemColumns+` FROM action_items a
			WHERE EXISTS (SELECT 1 FROM incident_patterns p WHERE p.incident = a.incident) ORDER BY due, id`))
		if err != nil {
			return err
		}
		for _, it := range items {
			if in := byNumber[it.Incident]; in != nil {
				in.Items = append(in.Items, it)
			}
		}
		return nil
	})
	return out, classify(err)
}

// RecordHits records that an action matched stored patterns. Recording a hit again
// changes nothing; it returns how many hits were new.
func (s *LearningStore) RecordHits(ctx context.Context, actionID string, patterns []int64, at time.Time) (int, error) {
	if !validUUID(actionID) {
		return 0, mandate.Errorf(mandate.ENOTFOUND, "no action %q", actionID)
	}
	tag, err := s.db.pool.Exec(ctx, `INSERT INTO pattern_hits (pattern, action_id, at) SELECT unnest($2::bigint[]), $1, $3
		ON CONFLICT DO NOTHING`, actionID, patterns, at)
	if foreignKeyMissing(err) {
		return 0, mandate.Errorf(mandate.ENOTFOUND, "no action %q or no such pattern among %v", actionID, patterns)
	}
	if err != nil {
		return 0, classify(err)
	}
	return int(tag.RowsAffected()), nil
}

// Hits counts the pattern hits of the actions recorded since the given time, per incident
// whose pattern was hit.
func (s *LearningStore) Hits(ctx context.Context, since time.Time) (map[int64]int, error) {
	rows, err := s.db.pool.Query(ctx, `SELECT p.incident, count(DISTINCT h.action_id) FROM pattern_hits h
		JOIN incident_patterns p ON p.id = h.pattern WHERE h.at >= $1 GROUP BY p.incident`, since)
	if err != nil {
		return nil, classify(err)
	}
	out := map[int64]int{}
	for rows.Next() {
		var number int64
		var n int
		if err := rows.Scan(&number, &n); err != nil {
			return nil, classify(err)
		}
		out[number] = n
	}
	return out, classify(rows.Err())
}

// MarkRepeat records that an incident repeats an earlier one. It changes nothing, and
// returns false, when the incident already names one.
func (s *LearningStore) MarkRepeat(ctx context.Context, number, of int64) (bool, error) {
	if of >= number {
		return false, mandate.Errorf(mandate.EINVALID, "%s cannot repeat %s: only an earlier incident can be repeated", incidentRef(number), incidentRef(of))
	}
	tag, err := s.db.pool.Exec(ctx, `UPDATE incidents SET repeat_of = $2 WHERE number = $1 AND repeat_of IS NULL`, number, of)
	if foreignKeyMissing(err) {
		return false, noIncident(of)
	}
	if err != nil {
		return false, classify(err)
	}
	return tag.RowsAffected() == 1, nil
}

// RepeatRate counts the incidents opened in [since, until) and those among them that
// repeat an earlier incident.
func (s *LearningStore) RepeatRate(ctx context.Context, since, until time.Time) (mandate.RepeatStats, error) {
	var st mandate.RepeatStats
	err := s.db.pool.QueryRow(ctx, `SELECT count(*), count(repeat_of) FROM incidents WHERE opened_at >= $1 AND opened_at < $2`,
		since, until).Scan(&st.Incidents, &st.Repeats)
	if err != nil {
		return st, classify(err)
	}
	if st.Incidents > 0 {
		st.Rate = float64(st.Repeats) / float64(st.Incidents)
	}
	return st, nil
}

// ---- who was involved ----

// Involved reads who was drawn into an incident through its causing actions (dismissed
// causes excluded): the notifications about them with their first response and TTI, the
// escalation steps that told more people, and every allowed intervention, in time order.
func (s *LearningStore) Involved(ctx context.Context, number int64) ([]mandate.Involvement, error) {
	rows, err := s.db.pool.Query(ctx, `
		WITH causes AS (SELECT action_id FROM incident_causes WHERE incident = $1 AND state <> 'dismissed')
		SELECT 'notified', n.target_id, n.target_kind, n.action_id::text, coalesce(n.delivered_at, n.created_at),
		       coalesce(n.response_kind, ''), n.tti_ms, n.id, 0::bigint
		FROM notifications n JOIN causes c ON c.action_id = n.action_id
		UNION ALL
		SELECT 'escalated', t.who, '', e.action_id::text, st.at, '', NULL, st.id, t.i
		FROM escalation_steps st JOIN escalations e ON e.notification_id = st.notification_id
		JOIN causes c ON c.action_id = e.action_id, unnest(st.told) WITH ORDINALITY AS t(who, i)
		UNION ALL
		SELECT 'responded', CASE WHEN i.person_id <> '' THEN i.person_id ELSE 'slack:' || i.slack_user END, '',
		       i.action_id::text, i.at, i.kind,
		       (SELECT (extract(epoch FROM (i.at - min(n.delivered_at))) * 1000)::bigint FROM notifications n WHERE n.action_id = i.action_id),
		       i.id, 0
		FROM interventions i JOIN causes c ON c.action_id = i.action_id WHERE i.allowed
		ORDER BY 5, 1, 8, 9`, number)
	if err != nil {
		return nil, classify(err)
	}
	out, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (mandate.Involvement, error) {
		var v mandate.Involvement
		var target string
		var id, told int64
		err := r.Scan(&v.Kind, &v.Who, &target, &v.ActionID, &v.At, &v.Response, &v.TTIMillis, &id, &told)
		v.Target = mandate.TargetKind(target)
		if v.TTIMillis != nil && *v.TTIMillis < 0 {
			zero := int64(0)
			v.TTIMillis = &zero
		}
		return v, err
	})
	return out, classify(err)
}
