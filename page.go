package mandate

// What a human's answer in Slack does to the PagerDuty incidents Mandate opened about the
// same action (an escalation that ran out of Slack, an expired gate, a notification Slack
// could not deliver).
const (
	PageAcknowledge = "acknowledge" // someone is on it: stop paging, keep the incident open
	PageResolve     = "resolve"     // someone decided: the incident is over
)

// PageAnswer says what an intervention of the given kind does to the action's pages.
//
// A decision ends the matter, so it resolves: the action looks fine or was not relevant,
// the agent was paused (the damage stops) or resumed, a gate was approved or denied.
// Anything else a human does says someone is on it without ending it, so it acknowledges:
// an acknowledgement, a flag for review, a recovery started (not finished), a question to
// the agent, and kinds this list does not know yet. Acknowledging is the safe default: it
// stops PagerDuty from waking more people but leaves the incident for a human to close.
func PageAnswer(kind string) string {
	switch kind {
	case "looks_ok", "not_relevant", "paused", "resumed", "approved", "denied":
		return PageResolve
	}
	return PageAcknowledge
}
