package incidents

import (
	"context"
	"errors"
	"slices"
	"strconv"
	"strings"

	"github.com/slack-go/slack"

	"github.com/mandatehq/mandate"
	"github.com/mandatehq/mandate/blocks"
	"github.com/mandatehq/mandate/config"
	"github.com/mandatehq/mandate/notify"
	"github.com/mandatehq/mandate/postgres"
)

// Slack's limit on channel names.
const maxChannelName = 80

// maxNameTries bounds the suffixes tried when a channel name is taken.
const maxNameTries = 20

// ChannelName is the incident channel's name: "inc-<number>-<slug>", the slug made from
// the title (lower case letters, digits and hyphens), cut so the name fits Slack's 80
// characters with room for a "-N" suffix should the name be taken.
func ChannelName(number int64, title string) string {
	prefix := "inc-" + strconv.FormatInt(number, 10)
	var b strings.Builder
	dash := false
	for _, r := range latin.Replace(strings.ToLower(title)) {
		switch {
		case r >= 'a' && r <= 'z' || r >= '0' && r <= '9':
			if dash && b.Len() > 0 {
				b.WriteByte('-')
			}
			dash = false
			b.WriteRune(r)
		default:
			dash = true
		}
	}
	slug := b.String()
	room := maxChannelName - len(prefix) - 1 - 3 // "-" before the slug, "-NN" for a suffix
	if len(slug) > room {
		slug = strings.TrimRight(slug[:max(room, 0)], "-")
	}
	if slug == "" {
		return prefix
	}
	return prefix + "-" + slug
}

// latin folds the accented letters of Latin scripts to their base letters, so a title
// in French or German keeps readable words in its channel's name ("café" → "cafe").
var latin = strings.NewReplacer(
	"à", "a", "á", "a", "â", "a", "ã", "a", "ä", "ae", "å", "a", "æ", "ae", "ç", "c",
	"è", "e", "é", "e", "ê", "e", "ë", "e", "ì", "i", "í", "i", "î", "i", "ï", "i",
	"ñ", "n", "ò", "o", "ó", "o", "ô", "o", "õ", "o", "ö", "oe", "ø", "o", "œ", "oe",
	"ù", "u", "ú", "u", "û", "u", "ü", "ue", "ý", "y", "ÿ", "y", "ß", "ss",
)

// withSuffix is the k-th alternative of a taken name.
func withSuffix(name string, k int) string {
	if k <= 1 {
		return name
	}
	return name + "-" + strconv.Itoa(k)
}

// metadataType marks the incident header in Slack, so a retried job finds a header it
// posted but could not record.
const metadataType = "mandate_incident"

// OpenChannel is the JobIncidentChannel handler: it creates the incident's channel (once),
// invites everyone who should be there, sets the topic and posts the header. Each step is
// recorded or idempotent, so after a crash or a Slack failure the retried job carries on
// where it stopped.
func (s *Service) OpenChannel(ctx context.Context, number int64, attempt int) error {
	if s.Slack == nil {
		return nil
	}
	inc, err := s.Store.Get(ctx, number)
	if err != nil {
		if mandate.ErrorCode(err) == mandate.ENOTFOUND {
			return postgres.Permanent{Err: err}
		}
		return err
	}
	if inc.Channel == "" {
		if err := s.createChannel(ctx, inc); err != nil {
			return err
		}
	}
	if err := s.invite(ctx, inc); err != nil {
		return err
	}
	v := s.View(inc)
	if _, err := s.Slack.SetTopicOfConversationContext(ctx, inc.Channel, blocks.IncidentTopic(v)); err != nil {
		if retry := slackRetry(err); retry != nil {
			return retry
		}
		s.log().Warn("cannot set the incident channel's topic", "incident", inc.Ref(), "err", err)
	}
	if inc.HeaderTS != "" {
		s.updateHeader(ctx, inc)
		return nil
	}
	if attempt > 1 {
		if ts, ok := s.findHeader(ctx, inc); ok {
			return s.Store.SetHeader(ctx, number, ts)
		}
	}
	fallback, bs := blocks.IncidentHeader(v)
	_, ts, err := s.Slack.PostMessageContext(ctx, inc.Channel, slack.MsgOptionText(fallback, false), slack.MsgOptionBlocks(bs...),
		slack.MsgOptionMetadata(slack.SlackMetadata{EventType: metadataType, EventPayload: map[string]any{"incident": inc.Number}}))
	if err != nil {
		if retry := slackRetry(err); retry != nil {
			return retry
		}
		return postgres.Permanent{Err: err}
	}
	return s.Store.SetHeader(ctx, number, ts)
}

// createChannel creates the channel, trying "-2", "-3", … when the name is taken, and
// records it on the incident (inc.Channel is set on return).
func (s *Service) createChannel(ctx context.Context, inc *mandate.Incident) error {
	base := ChannelName(inc.Number, inc.Title)
	for k := 1; k <= maxNameTries; k++ {
		name := withSuffix(base, k)
		ch, err := s.Slack.CreateConversationContext(ctx, slack.CreateConversationParams{ChannelName: name})
		if err != nil {
			if slackCode(err) == "name_taken" {
				continue
			}
			if retry := slackRetry(err); retry != nil {
				return retry
			}
			return postgres.Permanent{Err: err}
		}
		stored, _, err := s.Store.SetChannel(ctx, inc.Number, ch.ID, name, s.now())
		if err != nil {
			return err
		}
		inc.Channel, inc.ChannelName = stored, name
		s.log().Info("incident channel created", "incident", inc.Ref(), "channel", ch.ID, "name", name)
		return nil
	}
	return postgres.Permanent{Err: errors.New("every channel name from " + base + " to " + withSuffix(base, maxNameTries) + " is taken")}
}

// invite brings everyone into the channel. A user Slack refuses (deactivated, a guest)
// does not keep the others out: the batch is retried one by one.
func (s *Service) invite(ctx context.Context, inc *mandate.Incident) error {
	users := s.Invitees(inc)
	if len(users) == 0 {
		return nil
	}
	_, err := s.Slack.InviteUsersToConversationContext(ctx, inc.Channel, users...)
	if err == nil || slackCode(err) == "already_in_channel" {
		return nil
	}
	if retry := slackRetry(err); retry != nil {
		return retry
	}
	for _, u := range users {
		_, err := s.Slack.InviteUsersToConversationContext(ctx, inc.Channel, u)
		switch {
		case err == nil, slackCode(err) == "already_in_channel":
		case slackRetry(err) != nil:
			return slackRetry(err)
		default:
			s.log().Warn("cannot invite to the incident channel", "incident", inc.Ref(), "user", u, "err", err)
		}
	}
	return nil
}

// Invitees are the Slack users an incident's channel should hold: the owners of every
// affected resource (its resources and its causes' blast radius), the members of their
// owning teams, whoever is on call for them (and the team leads), the reporter and the
// commander.
func (s *Service) Invitees(inc *mandate.Incident) []string {
	cfg := s.Config()
	snap := s.Owners.Snapshot()
	var people []string
	add := func(ids ...string) {
		for _, id := range ids {
			if id != "" && !slices.Contains(people, id) {
				people = append(people, id)
			}
		}
	}
	for _, r := range affectedOf(inc) {
		o := snap.Resolve(r)
		add(o.People...)
		add(o.Escalation...)
		for _, t := range o.Teams {
			if team, ok := cfg.Team(t); ok {
				add(team.Members...)
			}
		}
		if kind, id, ok := strings.Cut(o.Fallback, ":"); ok && kind == "person" {
			add(id)
		} else if ok && kind == "team" {
			if team, ok := cfg.Team(id); ok {
				add(team.Members...)
				add(team.Lead)
			}
		}
	}
	add(inc.Commander)
	var users []string
	for _, p := range people {
		if u := slackID(cfg, p); u != "" && !slices.Contains(users, u) {
			users = append(users, u)
		}
	}
	if u := slackID(cfg, inc.OpenedBy); u != "" && !slices.Contains(users, u) {
		users = append(users, u)
	}
	return users
}

// slackID is the Slack user id of a person id or of "slack:U…"; "" for anyone else
// (an agent, a rule).
func slackID(cfg *config.Config, who string) string {
	if u, ok := strings.CutPrefix(who, "slack:"); ok {
		return u
	}
	if p, ok := cfg.Person(who); ok {
		return p.Slack
	}
	return ""
}

// findHeader looks in the channel for a header an earlier attempt posted.
func (s *Service) findHeader(ctx context.Context, inc *mandate.Incident) (string, bool) {
	h, err := s.Slack.GetConversationHistoryContext(ctx, &slack.GetConversationHistoryParameters{ChannelID: inc.Channel, Limit: 200, IncludeAllMetadata: true})
	if err != nil {
		s.log().Warn("cannot read the incident channel to avoid a second header", "incident", inc.Ref(), "err", err)
		return "", false
	}
	for _, m := range h.Messages {
		if m.Metadata.EventType != metadataType {
			continue
		}
		if v, ok := m.Metadata.EventPayload["incident"].(float64); ok && int64(v) == inc.Number {
			return m.Timestamp, true
		}
	}
	return "", false
}

// updateHeader re-renders the header from the incident's state. It is best effort: a
// failed update leaves an older header, and the next change renders it afresh.
func (s *Service) updateHeader(ctx context.Context, inc *mandate.Incident) {
	if s.Slack == nil || inc.Channel == "" || inc.HeaderTS == "" {
		return
	}
	fallback, bs := blocks.IncidentHeader(s.View(inc))
	if _, _, _, err := s.Slack.UpdateMessageContext(ctx, inc.Channel, inc.HeaderTS, slack.MsgOptionText(fallback, false), slack.MsgOptionBlocks(bs...)); err != nil {
		s.log().Warn("cannot update the incident header", "incident", inc.Ref(), "err", err)
	}
	if _, err := s.Slack.SetTopicOfConversationContext(ctx, inc.Channel, blocks.IncidentTopic(s.View(inc))); err != nil {
		s.log().Warn("cannot update the incident channel's topic", "incident", inc.Ref(), "err", err)
	}
}

// Note posts text (mrkdwn) in the incident's channel, when it has one.
func (s *Service) Note(ctx context.Context, inc *mandate.Incident, text string) {
	if s.Slack == nil || inc.Channel == "" {
		return
	}
	if _, _, err := s.Slack.PostMessageContext(ctx, inc.Channel, slack.MsgOptionText(text, false)); err != nil {
		s.log().Warn("cannot post in the incident channel", "incident", inc.Ref(), "err", err)
	}
}

// View builds the header's view model from the incident and the config in force.
func (s *Service) View(inc *mandate.Incident) blocks.Incident {
	cfg := s.Config()
	snap := s.Owners.Snapshot()
	who := func(id string) string {
		if u := slackID(cfg, id); u != "" {
			return u
		}
		return id
	}
	v := blocks.Incident{
		Number: inc.Number, Title: inc.Title, Severity: string(inc.Severity), State: string(inc.State),
		Commander: who(inc.Commander), OpenedBy: who(inc.OpenedBy), Via: inc.Via, OpenedAt: inc.OpenedAt,
		MitigatedAt: inc.MitigatedAt, ResolvedAt: inc.ResolvedAt, MultiTeam: inc.MultiTeam, Paged: inc.PagedAt != nil,
	}
	for _, c := range inc.Causes {
		bc := blocks.IncidentCause{ActionID: c.ActionID, Reason: c.Reason, State: string(c.State)}
		if c.Action != nil {
			bc.Actor, bc.ActionType, bc.Summary = c.Action.ActorID, c.Action.Type, c.Action.Summary
		}
		v.Causes = append(v.Causes, bc)
	}
	// Each team's portion of the blast radius, in the order the incident lists its teams.
	portions := map[string]*blocks.IncidentTeam{}
	var order []string
	for _, r := range affectedOf(inc) {
		o := snap.Resolve(r)
		var owners []string
		for _, p := range o.People {
			if u := slackID(cfg, p); u != "" {
				owners = append(owners, "<@"+u+">")
			} else {
				owners = append(owners, blocks.Escape(p))
			}
		}
		team := o.Team
		if _, ok := portions[team]; !ok {
			name := team
			if t, ok := cfg.Team(team); ok && t.Name != "" {
				name = t.Name
			}
			portions[team] = &blocks.IncidentTeam{Team: name}
			order = append(order, team)
		}
		portions[team].Resources = append(portions[team].Resources, blocks.Resource{Key: r.Key(), Owners: owners})
	}
	slices.SortStableFunc(order, func(a, b string) int {
		ia, ib := slices.Index(inc.Teams, a), slices.Index(inc.Teams, b)
		if ia < 0 {
			ia = len(inc.Teams)
		}
		if ib < 0 {
			ib = len(inc.Teams)
		}
		return ia - ib
	})
	for _, t := range order {
		v.Teams = append(v.Teams, *portions[t])
	}
	return v
}

// slackCode is Slack's error code of a failed call ("name_taken"), or "".
func slackCode(err error) string {
	var se slack.SlackErrorResponse
	if errors.As(err, &se) {
		return se.Err
	}
	return ""
}

// slackRetry classifies a Slack failure for the job queue, as notify does for
// deliveries: nil when retrying cannot help (a bad request, a missing scope), a
// postgres.RetryAfter for rate limits, and the error itself (retried with backoff) for
// 5xx, network errors, timeouts and Slack's transient codes.
func slackRetry(err error) error {
	var rate *slack.RateLimitedError
	switch {
	case errors.As(err, &rate):
		return postgres.RetryAfter{D: rate.RetryAfter}
	case notify.SlackRetryable(err):
		return err
	}
	return nil
}
