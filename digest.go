package mandate

import "time"

// Digest sums up a period (normally a week) of Mandate for one team or, for the admins,
// the whole organisation: what the agents did, how people answered and how fast, how well
// routing chose whom to tell, where ownership is missing, escalations, incidents, the
// promises still open, and what to change.
type Digest struct {
	// Team is the team's id; "" for the admins' digest, which covers every team.
	Team string `json:"team,omitempty"`
	// TeamName is how people call the team ("Payments"); the id when it has no name.
	TeamName string    `json:"team_name,omitempty"`
	Start    time.Time `json:"start"` // inclusive; in the digest's time zone
	End      time.Time `json:"end"`   // exclusive
	// Days are the starts of the period's days in the digest's time zone; every per-day
	// series has one entry per day.
	Days []time.Time `json:"days"`

	Actions       DigestActions       `json:"actions"`
	Notifications DigestNotifications `json:"notifications"`
	// TTI is the time to intervention per response kind (paused, acknowledged, …).
	TTI         []DigestTTI        `json:"tti"`
	Rules       []DigestRule       `json:"rules"`
	Ownership   DigestOwnership    `json:"ownership"`
	Escalations DigestEscalations  `json:"escalations"`
	Incidents   DigestIncidents    `json:"incidents"`
	Overdue     []DigestItem       `json:"overdue_items"`
	Suggestions []DigestSuggestion `json:"suggestions"`
	// Teams summarises each team; only the admins' digest has it.
	Teams []DigestTeam `json:"teams,omitempty"`
}

// DigestCount is a name with a count: an agent's actions, a path's, a resource's.
type DigestCount struct {
	Name  string `json:"name"`
	Count int    `json:"count"`
}

// DigestActions is what was done in the period.
type DigestActions struct {
	Total   int           `json:"total"`
	PerDay  []int         `json:"per_day"`
	ByAgent []DigestCount `json:"by_agent"` // by actor, most first
	ByPath  []DigestCount `json:"by_path"`  // by intervention path, most first
}

// DigestNotifications is who was told, and whether they answered.
type DigestNotifications struct {
	Total     int   `json:"total"` // notifications created in the period
	PerDay    []int `json:"per_day"`
	Delivered int   `json:"delivered"`
	// NeedAnswer counts the actions people were told about that needed an answer
	// (flagged or gated, or urgency high or critical); Answered, those that got one
	// before the period ended. Monitored actions of normal urgency are information:
	// nobody is expected to press a button, so they would only dilute the rate.
	NeedAnswer int `json:"need_answer"`
	Answered   int `json:"answered"`
}

// ResponseRate is the share of actions needing an answer that got one; 0 without any.
func (n DigestNotifications) ResponseRate() float64 {
	if n.NeedAnswer == 0 {
		return 0
	}
	return float64(n.Answered) / float64(n.NeedAnswer)
}

// DigestTTI is the time to intervention of one response kind against its target.
type DigestTTI struct {
	Kind    string        `json:"kind"`
	Samples int           `json:"samples"`
	P50     time.Duration `json:"p50"`
	P95     time.Duration `json:"p95"`
	Target  time.Duration `json:"target,omitempty"` // 0: no target
}

// Met reports whether the p95 is within the target (true when there is no target).
func (t DigestTTI) Met() bool { return t.Target <= 0 || t.P95 <= t.Target }

// DigestRule is how one routing rule did: its false positives (notifications people said
// were not relevant) and false negatives ("should have been notified" marks).
type DigestRule struct {
	Rule          string `json:"rule"`
	Notifications int    `json:"notifications"`
	Feedback      int    `json:"feedback"`
	NotRelevant   int    `json:"not_relevant"`
	Missed        int    `json:"missed"`
	// FPRate is NotRelevant / Feedback; FNRate is Missed / (Notifications + Missed), the
	// share of the people who should have been told that were not.
	FPRate float64 `json:"fp_rate"`
	FNRate float64 `json:"fn_rate"`
	// Flagged: the false-positive rate is above FalsePositiveLimit.
	Flagged bool `json:"flagged"`
}

// DigestOwnership is where ownership is missing: actions on resources nobody owns.
type DigestOwnership struct {
	// UnownedActions touched at least one resource that resolves to no owner.
	UnownedActions int `json:"unowned_actions"`
	// Gaps are those resources, with how many actions touched each, most first.
	Gaps []DigestCount `json:"gaps"`
}

// DigestEscalations is what escalation did: chains that went past the first people told.
type DigestEscalations struct {
	Escalated  int `json:"escalated"`   // chains that took at least one step
	Steps      int `json:"steps"`       // steps taken
	Answered   int `json:"answered"`    // escalated chains that got an answer
	NoResponse int `json:"no_response"` // chains that ran out of steps unanswered
	Running    int `json:"running"`     // escalated chains still waiting
}

// DigestIncidents is the incidents opened in the period.
type DigestIncidents struct {
	Opened  int              `json:"opened"`
	Repeats int              `json:"repeats"` // opened incidents that repeat an earlier one's pattern
	List    []DigestIncident `json:"list"`
	// Misses are people who should have been told about an incident's cause and were
	// not: the ownership gaps that let an incident happen unseen.
	Misses []IncidentMiss `json:"misses,omitempty"`
}

// DigestIncident is one incident in a digest.
type DigestIncident struct {
	Number   int64         `json:"number"`
	Title    string        `json:"title"`
	Severity Severity      `json:"severity"`
	State    IncidentState `json:"state"`
	RepeatOf int64         `json:"repeat_of,omitempty"`
	OpenedAt time.Time     `json:"opened_at"`
}

// IncidentMiss is a "should have been notified" mark on an incident's causing action.
type IncidentMiss struct {
	Incident   int64    `json:"incident"`
	ActionID   string   `json:"action_id"`
	ActionType string   `json:"action_type"`
	Resources  []string `json:"resources"` // the action's resource keys
	Who        string   `json:"who"`       // the person or team that should have been told
}

// DigestItem is an overdue action item.
type DigestItem struct {
	ID       int64     `json:"id"`
	Incident int64     `json:"incident"`
	Title    string    `json:"title"`
	Owner    string    `json:"owner"`                 // person id
	OwnerRef string    `json:"owner_slack,omitempty"` // the owner's Slack user id, when known
	Due      time.Time `json:"due"`                   // a date, midnight UTC
}

// Suggestion kinds.
const (
	SuggestRule      = "rule"
	SuggestOwnership = "ownership"
)

// DigestSuggestion is a change to routing or ownership the figures point to; a human
// decides.
type DigestSuggestion struct {
	Kind    string `json:"kind"`    // SuggestRule or SuggestOwnership
	Subject string `json:"subject"` // the rule, or the resource key
	Text    string `json:"text"`
}

// DigestTeam is one team's line in the admins' digest.
type DigestTeam struct {
	Team       string `json:"team"`
	Actions    int    `json:"actions"`
	NeedAnswer int    `json:"need_answer"`
	Answered   int    `json:"answered"`
	Unowned    int    `json:"unowned_actions"`
	Incidents  int    `json:"incidents"`
	Overdue    int    `json:"overdue_items"`
}

// DigestQuery is what a digest covers.
type DigestQuery struct {
	// Team is the team's id, "" for the whole organisation. A team's digest covers the
	// actions whose teams include it (its agents' actions and those it was told about),
	// the notifications sent to its channel or its members, and the incidents touching it.
	Team    string
	Members []string // the team's people (members and lead)
	Start   time.Time
	End     time.Time
	// Days are the day starts splitting [Start, End) for the per-day series: Days[0] is
	// Start, each later one is after the one before and before End.
	Days []time.Time
}

// Scheduled run kinds.
const (
	RunTeamDigest  = "team"
	RunAdminDigest = "admin"
	RunNag         = "nag"
)

// DigestRun is one send of a digest (or one daily nag) for one period. Kind, Team and
// Start identify it: it is sent once.
type DigestRun struct {
	Kind   string
	Team   string // "" for the admins' digest and the nag
	Start  time.Time
	End    time.Time
	Manual bool // sent by hand, not by the schedule
}
