package blocks

import (
	"math"
	"strconv"
	"strings"

	"github.com/slack-go/slack"
)

const (
	maxPausedListed = 20 // paused agents named in StatusText; Home lists them all (within limits)
	maxRecentShown  = 20
)

// StatusText is the answer to `/mandate status`, in mrkdwn. A healthy fleet gets one line:
//
//	✅ All systems nominal · 12 agents active | 0 paused · 47 actions in last hour | 0 incidents · 98% ownership coverage | 2 gaps
//
// A degraded one (a paused agent, an open incident, or a response kind slower than its
// target) starts with "⚠ Degraded" and names each paused agent, who paused it and when. Both
// forms end with the TTI p95 of each response kind against its target.
func StatusText(s Status) string {
	lines := []string{statusHeadline(s)}
	lines = append(lines, pausedLines(s, maxPausedListed)...)
	lines = append(lines, ttiLines(s.TTI)...)
	return fit(strings.Join(lines, "\n"), maxText)
}

// Home is the App Home tab: the same status as StatusText, laid out in sections, plus the
// recent actions.
func Home(s Status) slack.HomeTabViewRequest {
	blocks := []slack.Block{
		slack.NewHeaderBlock(plain("Mandate"), slack.HeaderBlockOptionBlockID("home_header")),
		section("home_status", statusHeadline(s)),
	}
	if pl := pausedLines(s, len(s.PausedAgents)); len(pl) > 0 {
		blocks = append(blocks, listSections("home_paused", "*Paused agents*", pl)...)
	}
	if tl := ttiLines(s.TTI); len(tl) > 0 {
		blocks = append(blocks, listSections("home_tti", tl[0], tl[1:])...)
	}
	blocks = append(blocks, slack.NewDividerBlock())
	var recent []string
	for i, a := range s.RecentActions {
		if i == maxRecentShown {
			recent = append(recent, "… "+strconv.Itoa(len(s.RecentActions)-i)+" more: `/mandate recent`")
			break
		}
		recent = append(recent, "• "+clip(a, 300))
	}
	if len(recent) == 0 {
		recent = []string{"No actions yet."}
	}
	blocks = append(blocks, listSections("home_recent", "*Recent actions*", recent)...)
	blocks = append(blocks, slack.NewContextBlock("home_updated", mrkdwn("Updated "+formatTime(s.Now))))
	return slack.HomeTabViewRequest{
		Type:   slack.VTHomeTab,
		Blocks: slack.Blocks{BlockSet: capBlocks(blocks, maxViewBlocks, "home_more")},
	}
}

// degraded reports whether the fleet needs attention: something is paused, an incident is
// open, or people answer slower than a target.
func degraded(s Status) bool {
	if s.Paused > 0 || len(s.PausedAgents) > 0 || s.Incidents > 0 {
		return true
	}
	for _, t := range s.TTI {
		if overTarget(t) {
			return true
		}
	}
	return false
}

func overTarget(t TTIStat) bool { return t.Samples > 0 && t.Target > 0 && t.P95 > t.Target }

// statusHeadline is the one-line summary shared by StatusText and Home.
func statusHeadline(s Status) string {
	mood := "✅ All systems nominal"
	if degraded(s) {
		mood = "⚠ Degraded"
	}
	return mood +
		" · " + plural(s.Agents, "agent", "agents") + " active | " + strconv.Itoa(s.Paused) + " paused" +
		" · " + plural(s.ActionsLastHour, "action", "actions") + " in last hour | " + plural(s.Incidents, "incident", "incidents") +
		" · " + coverage(s.CoveragePercent) + " ownership coverage | " + plural(s.Gaps, "gap", "gaps")
}

// coverage rounds down to one decimal, so that 99.96% never reads as a complete 100%.
func coverage(p float64) string {
	if math.IsNaN(p) || p < 0 {
		p = 0
	}
	p = math.Min(p, 100)
	return strconv.FormatFloat(math.Floor(p*10)/10, 'f', -1, 64) + "%"
}

// pausedLines is "⏸ deployer paused by <@U0ERIN> 12 m ago: reason" per paused agent, up to
// max, then a count of the rest.
func pausedLines(s Status, max int) []string {
	var lines []string
	for i, p := range s.PausedAgents {
		if i == max {
			lines = append(lines, "… and "+strconv.Itoa(len(s.PausedAgents)-i)+" more paused agents")
			break
		}
		l := "⏸ " + clip(orDash(p.ID), budgetActor) + " paused by " + mention(p.By) + " " + duration(s.Now.Sub(p.Since)) + " ago"
		if p.Reason != "" {
			l += ": " + clip(oneLine(p.Reason), 200)
		}
		lines = append(lines, l)
	}
	if unnamed := s.Paused - len(s.PausedAgents); len(s.PausedAgents) > 0 && unnamed > 0 {
		lines = append(lines, "… and "+strconv.Itoa(unnamed)+" more paused")
	}
	return lines
}

// ttiLines compares each response kind's p95 time-to-intervention with its target, e.g.
// "✅ pause: p95 42 s vs target 60 s (31 samples)". A kind with no samples has no p95; it is
// listed anyway so that a silent channel is not mistaken for a fast one.
func ttiLines(stats []TTIStat) []string {
	if len(stats) == 0 {
		return nil
	}
	lines := []string{"*Time to intervention (p95):*"}
	for _, t := range stats {
		kind := clip(orDash(t.Kind), 60)
		vs := ""
		if t.Target > 0 {
			vs = " vs target " + duration(t.Target)
		}
		if t.Samples == 0 {
			lines = append(lines, "– "+kind+": no samples"+vs)
			continue
		}
		mark := "✅"
		switch {
		case t.Target <= 0:
			mark = "•" // no target: nothing to judge against
		case overTarget(t):
			mark = "⚠"
		}
		lines = append(lines, mark+" "+kind+": p95 "+duration(t.P95)+vs+" ("+plural(t.Samples, "sample", "samples")+")")
	}
	return lines
}
