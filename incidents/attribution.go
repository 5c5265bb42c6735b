package incidents

import (
	"cmp"
	"fmt"
	"math"
	"slices"
	"strings"
	"time"

	"github.com/mandatehq/mandate"
	"github.com/mandatehq/mandate/config"
)

// HalfLife is how fast a candidate's likelihood fades with its distance from the
// incident: an action 30 minutes before counts half as much as one just before.
const HalfLife = 30 * time.Minute

// sensitivityWeight multiplies a candidate's score by how much the resources it shares
// with the incident matter.
var sensitivityWeight = map[string]float64{
	config.SensitivityLow:      0.5,
	config.SensitivityNormal:   1,
	config.SensitivityHigh:     2,
	config.SensitivityCritical: 4,
}

// failedWeight: an action that reported failure is a likelier cause than one that
// reported success or nothing.
const failedWeight = 2

// Rank orders the causes of an incident opened at at on keys. The actions the reporter
// named (given) come first, in their order; then the candidates (actions on the keys
// before the incident) by score: recency (halving every HalfLife) × the sensitivity of
// the most sensitive resource shared with the incident × 2 when the action failed. At
// most maxCauses are kept. sensitivity says how sensitive a resource is ("normal" for
// unknown).
func Rank(given, candidates []*mandate.Action, keys []string, sensitivity func(mandate.Resource) string, at time.Time) []mandate.IncidentCause {
	type scored struct {
		a      *mandate.Action
		score  float64
		reason string
	}
	score := func(a *mandate.Action, named bool) scored {
		sens, shared := "", ""
		for _, r := range a.Resources {
			k := r.Key()
			if len(keys) > 0 && !slices.Contains(keys, k) {
				continue
			}
			if s := sensitivity(r); shared == "" || config.SensitivityRank(s) > config.SensitivityRank(sens) {
				sens, shared = s, k
			}
		}
		if shared == "" && len(a.Resources) > 0 { // a named cause need not touch the incident's resources
			shared, sens = a.Resources[0].Key(), sensitivity(a.Resources[0])
		}
		age := max(at.Sub(a.OccurredAt), 0)
		s := math.Pow(0.5, float64(age)/float64(HalfLife)) * cmp.Or(sensitivityWeight[sens], 1)
		var why []string
		if named {
			why = append(why, "named when the incident was opened")
		}
		what := a.Type
		if shared != "" {
			what += " on " + shared
			if sens != "" && sens != config.SensitivityNormal {
				what += " (" + sens + ")"
			}
		}
		why = append(why, what+" "+ago(age))
		if a.Result != nil && a.Result.Status == mandate.StatusFailed {
			s *= failedWeight
			f := "failed"
			if a.Result.FailureMode != "" {
				f += " (" + a.Result.FailureMode + ")"
			}
			why = append(why, f)
		}
		return scored{a: a, score: math.Round(s*10000) / 10000, reason: strings.Join(why, "; ")}
	}
	var out []scored
	named := map[string]bool{}
	for _, a := range given {
		out = append(out, score(a, true))
		named[a.ID] = true
	}
	var rest []scored
	for _, a := range candidates {
		if !named[a.ID] {
			rest = append(rest, score(a, false))
		}
	}
	slices.SortStableFunc(rest, func(x, y scored) int {
		if c := cmp.Compare(y.score, x.score); c != 0 {
			return c
		}
		return y.a.OccurredAt.Compare(x.a.OccurredAt) // the later one is closer to the incident
	})
	out = append(out, rest...)
	if len(out) > maxCauses {
		out = out[:maxCauses]
	}
	causes := make([]mandate.IncidentCause, len(out))
	for i, c := range out {
		causes[i] = mandate.IncidentCause{ActionID: c.a.ID, Rank: i + 1, Score: c.score, Reason: c.reason, State: mandate.CauseCandidate, Action: c.a}
	}
	return causes
}

// ago says how long before the incident something happened: "4 m before".
func ago(d time.Duration) string {
	switch {
	case d < time.Minute:
		return fmt.Sprintf("%d s before", int(d/time.Second))
	case d < time.Hour:
		return fmt.Sprintf("%d m before", int(d/time.Minute))
	case d < 48*time.Hour:
		return fmt.Sprintf("%d h %d m before", int(d/time.Hour), int(d%time.Hour/time.Minute))
	}
	return fmt.Sprintf("%d d before", int(d/(24*time.Hour)))
}
