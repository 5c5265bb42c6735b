package routing

import (
	"fmt"
	"sync/atomic"
	"time"

	"github.com/mandatehq/mandate"
	"github.com/mandatehq/mandate/glob"
)

// Live holds the watches and snoozes people set from Slack. They change at run time, so a
// Router reads them through Live, which is swapped atomically when they change; one per
// process, shared across config reloads.
type Live struct {
	p atomic.Pointer[liveSet]
}

type liveSet struct {
	watches []watch
	snoozes []snooze
}

type snooze struct {
	rule  string    // a rule name, or
	glob  glob.Glob // a resource key pattern
	until time.Time
	by    string
}

// NewLive returns an empty Live.
func NewLive() *Live {
	l := &Live{}
	l.p.Store(&liveSet{})
	return l
}

// Set replaces the watches and snoozes.
func (l *Live) Set(watches []mandate.Watch, snoozes []mandate.Snooze) error {
	set := &liveSet{}
	for _, w := range watches {
		g, err := glob.Compile(w.Pattern)
		if err != nil {
			return fmt.Errorf("watch %q: %w", w.Pattern, err)
		}
		set.watches = append(set.watches, watch{person: w.Person, globs: []glob.Glob{g}})
	}
	for _, s := range snoozes {
		sz := snooze{until: s.Until, by: s.By}
		if s.Kind == "rule" {
			sz.rule = s.Target
		} else {
			g, err := glob.Compile(s.Target)
			if err != nil {
				return fmt.Errorf("snooze %q: %w", s.Target, err)
			}
			sz.glob = g
		}
		set.snoozes = append(set.snoozes, sz)
	}
	l.p.Store(set)
	return nil
}

func (l *Live) get() *liveSet {
	if l == nil {
		return &liveSet{}
	}
	return l.p.Load()
}

// snoozed reports the snooze silencing a decision, if any. Gated actions are never
// silenced: the agent waits for a human.
func (s *liveSet) snoozed(d *mandate.Decision, keys []string, now time.Time) *snooze {
	if d.Path == mandate.PathGated || d.Path == mandate.PathAuto {
		return nil
	}
	for i := range s.snoozes {
		sz := &s.snoozes[i]
		if !now.Before(sz.until) {
			continue
		}
		if sz.rule != "" && sz.rule == d.Rule {
			return sz
		}
		if sz.rule == "" {
			for _, k := range keys {
				if sz.glob.Match(k) {
					return sz
				}
			}
		}
	}
	return nil
}
