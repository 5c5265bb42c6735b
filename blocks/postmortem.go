package blocks

import (
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/slack-go/slack"

	"github.com/mandatehq/mandate"
)

// Postmortem and action-item buttons. Their values say what they are about:
// IncidentValue(number) for the postmortem's, ItemValue(id) for an item's Done.
const (
	ActionAddActionItem     = "add_action_item"
	ActionPublishPostmortem = "publish_postmortem"
	ActionClosePostmortem   = "close_postmortem"
	ActionItemDone          = "action_item_done"
	// ActionMissedNotification opens MissedModal: during review, someone says who should
	// have been told about one of the incident's causes.
	ActionMissedNotification = "missed_notification"
)

// Block id prefixes of the postmortem card and the overdue reminder; the full block_id
// ends in ":<incident number>" (":<item id>" for items and reminders).
const (
	BlockPostmortemTitle   = "pm_title"
	BlockPostmortemStatus  = "pm_status"
	BlockPostmortemItems   = "pm_items"
	BlockPostmortemItem    = "pm_item"
	BlockPostmortemActions = "pm_actions"
	BlockItemNag           = "nag"
)

// The "Add action item" modal's ids: the submission reads the title, the owner (a Slack
// user or a person id) and the due date from View.State.Values[block][input]; the
// incident, and the card to refresh, from PrivateMetadata (ItemModalMetadata).
const (
	ItemCallbackID  = "action_item"
	ItemTitleBlock  = "item_title"
	ItemTitleInput  = "item_title_input"
	ItemOwnerBlock  = "item_owner"
	ItemOwnerInput  = "item_owner_input"
	ItemPersonBlock = "item_person"
	ItemPersonInput = "item_person_input"
	ItemDueBlock    = "item_due"
	ItemDueInput    = "item_due_input"
	// ItemTitleMax is the longest title accepted; Slack enforces it in the input.
	ItemTitleMax = 300
)

// The "Should have been notified" modal's ids: the submission reads the causing action
// (an option whose value is the action id), who was missed (a Slack user, or a team whose
// option value is the team id) and a note from View.State.Values[block][input]; the
// incident and the card to refresh from PrivateMetadata (ItemModalMetadata).
const (
	MissedCallbackID  = "missed_notification"
	MissedCauseBlock  = "missed_cause"
	MissedCauseInput  = "missed_cause_select"
	MissedPersonBlock = "missed_person"
	MissedPersonInput = "missed_person_select"
	MissedTeamBlock   = "missed_team"
	MissedTeamInput   = "missed_team_select"
	MissedNoteBlock   = "missed_note"
	MissedNoteInput   = "missed_note_input"
	// MissedNoteMax is the longest note accepted, as for POST /v1/routing/missed; Slack
	// enforces it in the input.
	MissedNoteMax = 2000
)

// maxCardItems bounds the items listed on a card, each a block with its own Done button.
const maxCardItems = 20

// PostmortemCard is the message that stands for an incident's postmortem in its channel.
type PostmortemCard struct {
	Incident int64
	Title    string
	// State is draft, published or closed.
	State string
	// PublishedBy is a Slack user id or a name.
	PublishedBy string
	// Causes counts the root cause candidates the draft lists.
	Causes int
	// Missed counts the "should have been notified" marks on those causes.
	Missed int
	Items  []ActionItem
	// Link is where the full draft is read (the thread has it too).
	Link string
	// At is when the draft was last written.
	At time.Time
}

// ActionItem is a promise made in a postmortem, as a card or a reminder shows it.
type ActionItem struct {
	ID    int64
	Title string
	// Owner and DoneBy are Slack user ids or names.
	Owner   string
	Due     time.Time
	Done    bool
	DoneBy  string
	Overdue bool
}

// ItemValue is the value of an action item's Done button.
func ItemValue(id int64) string { return "item:" + strconv.FormatInt(id, 10) }

// ParseItemValue reads a value made by ItemValue.
func ParseItemValue(v string) (int64, bool) {
	rest, ok := strings.CutPrefix(v, "item:")
	if !ok {
		return 0, false
	}
	id, err := strconv.ParseInt(rest, 10, 64)
	return id, err == nil && id > 0
}

// ItemModalMetadata is the modal's private_metadata: the incident, and the card message
// (channel and ts, empty when unknown) to refresh once the item is added.
func ItemModalMetadata(number int64, channel, ts string) string {
	return strings.Join([]string{IncidentValue(number), channel, ts}, " ")
}

// ParseItemModalMetadata reads what ItemModalMetadata wrote.
func ParseItemModalMetadata(s string) (number int64, channel, ts string, ok bool) {
	parts := strings.Split(s, " ")
	number, _, ok = ParseIncidentValue(parts[0])
	if len(parts) == 3 {
		channel, ts = parts[1], parts[2]
	}
	return number, channel, ts, ok
}

// Postmortem renders the postmortem card: where the draft stands, its action items with
// Done buttons, and the buttons that move it on. Publishing and closing are human acts;
// both confirm first and are refused without an action item that has an owner and a due
// date, which the card says before anyone presses.
func Postmortem(c PostmortemCard) (fallback string, blocks []slack.Block) {
	id := strconv.FormatInt(c.Incident, 10)
	ref := incidentRef(c.Incident)
	title := "📝 Postmortem · " + ref + " · " + clipPlain(orDash(c.Title), 200)
	blocks = append(blocks, slack.NewHeaderBlock(plain(clipPlain(title, maxHeaderText)), slack.HeaderBlockOptionBlockID(BlockPostmortemTitle+":"+id)))

	var status string
	switch c.State {
	case mandate.PostmortemPublished:
		status = "*Published* by " + mention(c.PublishedBy) + ". It keeps up with its action items until it is closed."
	case mandate.PostmortemClosed:
		status = "*Closed.* This postmortem is final."
	default:
		status = "*Draft* written by Mandate from what it recorded: the full text is in the thread"
		if c.Link != "" {
			status += " and at " + code(c.Link, 300)
		}
		status += ". Review it — root causes are candidates a human verifies, impact is yours to complete — then publish it."
	}
	facts := []string{status}
	if c.Causes > 0 {
		facts = append(facts, "Root cause candidates: "+strconv.Itoa(c.Causes)+" (a human verifies)")
	}
	if c.Missed > 0 {
		facts = append(facts, "Should have been notified: "+plural(c.Missed, "mark", "marks")+", in _What we'll change_")
	}
	if !c.At.IsZero() {
		facts = append(facts, "Last written "+formatTime(c.At))
	}
	blocks = append(blocks, section(BlockPostmortemStatus+":"+id, strings.Join(facts, "\n")))

	done := 0
	for _, it := range c.Items {
		if it.Done {
			done++
		}
	}
	head := "*Action items (" + strconv.Itoa(done) + " of " + strconv.Itoa(len(c.Items)) + " done)*"
	if len(c.Items) == 0 {
		head = "*Action items:* none yet. Publishing and closing need at least one, with an owner and a due date."
	}
	blocks = append(blocks, section(BlockPostmortemItems+":"+id, head))
	shown := c.Items[:min(len(c.Items), maxCardItems)]
	for _, it := range shown {
		s := section(BlockPostmortemItem+":"+strconv.FormatInt(it.ID, 10), pmItemLine(it))
		if !it.Done && c.State != mandate.PostmortemClosed {
			s.Accessory = slack.NewAccessory(slack.NewButtonBlockElement(ActionItemDone, ItemValue(it.ID), plain("✅ Done")))
		}
		blocks = append(blocks, s)
	}
	if more := len(c.Items) - len(shown); more > 0 {
		blocks = append(blocks, slack.NewContextBlock(BlockPostmortemItems+":"+id+":more",
			mrkdwn("… and "+plural(more, "more item", "more items")+" in the postmortem.")))
	}

	if c.State != mandate.PostmortemClosed {
		value := IncidentValue(c.Incident)
		btn := func(actionID, text string) *slack.ButtonBlockElement {
			return slack.NewButtonBlockElement(actionID, value, plain(text))
		}
		els := []slack.BlockElement{btn(ActionAddActionItem, "➕ Add action item"), btn(ActionMissedNotification, "🔕 Should have been notified")}
		if c.State != mandate.PostmortemPublished {
			els = append(els, btn(ActionPublishPostmortem, "📣 Publish").WithStyle(slack.StylePrimary).
				WithConfirm(confirm("Publish the postmortem?", "Publish "+ref+"'s postmortem? Check first that the root causes are verified and the impact is filled in.", "Publish", slack.StylePrimary)))
		}
		els = append(els, btn(ActionClosePostmortem, "🔒 Close").
			WithConfirm(confirm("Close the postmortem?", "Close "+ref+"'s postmortem and the incident? The text becomes final; its action items stay tracked.", "Close", slack.StyleDanger)))
		blocks = append(blocks, slack.NewActionBlock(BlockPostmortemActions+":"+id, els...))
	}
	fallback = "Postmortem " + pmStateWord(c.State) + " for " + ref + ": " + clipPlain(orDash(c.Title), 200)
	return fallback, capBlocks(blocks, maxBlocks, BlockPostmortemItems+":"+id+":cap")
}

func pmStateWord(state string) string {
	if state == "" {
		return mandate.PostmortemDraft
	}
	return state
}

// pmItemLine is one action item: state, title, owner, due date.
func pmItemLine(it ActionItem) string {
	mark := "⏳"
	switch {
	case it.Done:
		mark = "✅"
	case it.Overdue:
		mark = "⚠️"
	}
	s := mark + " *" + clip(orDash(it.Title), ItemTitleMax) + "* — " + mention(it.Owner) + " · due " + it.Due.Format(time.DateOnly)
	switch {
	case it.Done && it.DoneBy != "":
		s += " · done by " + mention(it.DoneBy)
	case it.Overdue:
		s += " · *overdue*"
	}
	return s
}

// ActionItemModal asks for an action item: what will be done, by whom, by when. The owner
// is a Slack user or, for someone Mandate knows without a Slack account, a person id.
func ActionItemModal(number int64, title, metadata string) slack.ModalViewRequest {
	about := "*" + incidentRef(number) + ":* " + clip(orDash(title), 2000) +
		"\nA promise made in the postmortem: Mandate reminds its owner by DM once it is overdue."
	owner := slack.NewOptionsSelectBlockElement(slack.OptTypeUser, plain("Choose a person"), ItemOwnerInput)
	ownerBlock := slack.NewInputBlock(ItemOwnerBlock, plain("Owner"), nil, owner)
	ownerBlock.Optional = true
	personBlock := slack.NewInputBlock(ItemPersonBlock, plain("…or the owner's person id in mandate.yaml"), nil,
		slack.NewPlainTextInputBlockElement(plain("e.g. bob"), ItemPersonInput).WithMaxLength(100))
	personBlock.Optional = true
	return slack.ModalViewRequest{
		Type:            slack.VTModal,
		CallbackID:      ItemCallbackID,
		PrivateMetadata: metadata,
		Title:           plain("Add action item"),
		Submit:          plain("Add"),
		Close:           plain("Cancel"),
		Blocks: slack.Blocks{BlockSet: []slack.Block{
			section("about", about),
			slack.NewInputBlock(ItemTitleBlock, plain("What will be done"), nil,
				slack.NewPlainTextInputBlockElement(plain("e.g. Canary deploys for payments-api"), ItemTitleInput).WithMaxLength(ItemTitleMax)),
			ownerBlock,
			personBlock,
			slack.NewInputBlock(ItemDueBlock, plain("Due"), nil, slack.NewDatePickerBlockElement(ItemDueInput)),
		}},
	}
}

// MissedForm is what the "Should have been notified" modal offers: the incident's causes
// nobody dismissed, likeliest first, and the teams of mandate.yaml.
type MissedForm struct {
	Incident int64
	Title    string
	Causes   []MissedCause
	Teams    []MissedTeam
}

// MissedCause is a causing action as the modal's select names it.
type MissedCause struct {
	ActionID   string
	Actor      string
	ActionType string
	Summary    string
}

// MissedTeam is a team the modal offers; Name may be empty.
type MissedTeam struct {
	ID   string
	Name string
}

// Slack's limits on a static select: its options, an option's text.
const (
	maxOptions    = 100
	maxOptionText = 75
)

// MissedModal asks, during an incident's review, who should have been told about one of
// its causes and was not: a person (any Slack user; the submission checks they are in
// mandate.yaml) or a team, and why. The select of causes starts on the likeliest one.
func MissedModal(f MissedForm, metadata string) slack.ModalViewRequest {
	about := "*" + incidentRef(f.Incident) + ":* " + clip(orDash(f.Title), 2000) +
		"\nSay who should have been told about a causing action and was not. It counts against the rule that routed it, and the postmortem suggests the change."
	var causes []*slack.OptionBlockObject
	for _, c := range f.Causes[:min(len(f.Causes), maxOptions)] {
		label := orDash(c.Actor) + " " + orDash(c.ActionType) + ": " + orDash(c.Summary)
		causes = append(causes, slack.NewOptionBlockObject(c.ActionID, plain(clipPlain(oneLine(label), maxOptionText)), nil))
	}
	causeSelect := slack.NewOptionsSelectBlockElement(slack.OptTypeStatic, plain("Choose the action"), MissedCauseInput, causes...)
	if len(causes) > 0 {
		causeSelect.InitialOption = causes[0]
	}
	person := slack.NewInputBlock(MissedPersonBlock, plain("Who should have been told"), plain("A person, or a team below."),
		slack.NewOptionsSelectBlockElement(slack.OptTypeUser, plain("Choose a person"), MissedPersonInput))
	person.Optional = true
	bs := []slack.Block{
		section("about", about),
		slack.NewInputBlock(MissedCauseBlock, plain("Causing action"), nil, causeSelect),
		person,
	}
	if len(f.Teams) > 0 {
		var teams []*slack.OptionBlockObject
		for _, t := range f.Teams[:min(len(f.Teams), maxOptions)] {
			name := t.ID
			if t.Name != "" && t.Name != t.ID {
				name = t.Name + " (" + t.ID + ")"
			}
			teams = append(teams, slack.NewOptionBlockObject(t.ID, plain(clipPlain(name, maxOptionText)), nil))
		}
		team := slack.NewInputBlock(MissedTeamBlock, plain("…or the team that should have been told"), nil,
			slack.NewOptionsSelectBlockElement(slack.OptTypeStatic, plain("Choose a team"), MissedTeamInput, teams...))
		team.Optional = true
		bs = append(bs, team)
	}
	note := slack.NewInputBlock(MissedNoteBlock, plain("Note"), nil,
		slack.NewPlainTextInputBlockElement(plain("e.g. owns the ledger this deploy migrated"), MissedNoteInput).
			WithMultiline(true).WithMaxLength(MissedNoteMax))
	note.Optional = true
	bs = append(bs, note)
	return slack.ModalViewRequest{
		Type:            slack.VTModal,
		CallbackID:      MissedCallbackID,
		PrivateMetadata: metadata,
		Title:           plain("Should have been told"),
		Submit:          plain("Record"),
		Close:           plain("Cancel"),
		Blocks:          slack.Blocks{BlockSet: bs},
	}
}

// ItemNag is the reminder an owner gets by DM for an overdue action item, with its Done
// button; once done, the same message shows who did it.
func ItemNag(incident int64, incidentTitle string, it ActionItem, now time.Time) (fallback string, blocks []slack.Block) {
	ref := incidentRef(incident)
	id := strconv.FormatInt(it.ID, 10)
	var text string
	if it.Done {
		text = "✅ Done: *" + clip(orDash(it.Title), ItemTitleMax) + "* (" + ref + ")"
		if it.DoneBy != "" {
			text += " — marked by " + mention(it.DoneBy)
		}
		fallback = "Done: " + clipPlain(it.Title, 200)
		return fallback, []slack.Block{section(BlockItemNag+":"+id, text)}
	}
	late := now.Sub(it.Due.AddDate(0, 0, 1))
	text = "⏰ You said you'd fix this after *" + ref + "* (" + clip(orDash(incidentTitle), 200) + "):\n*" + clip(orDash(it.Title), ItemTitleMax) +
		"*\nIt was due " + it.Due.Format(time.DateOnly) + " and has been overdue for " + lateDays(late) + ". Done? Press the button; otherwise a reminder comes each day."
	s := section(BlockItemNag+":"+id, text)
	s.Accessory = slack.NewAccessory(slack.NewButtonBlockElement(ActionItemDone, ItemValue(it.ID), plain("✅ Done")).WithStyle(slack.StylePrimary))
	fallback = "Overdue action item from " + ref + ": " + clipPlain(orDash(it.Title), 200)
	return fallback, []slack.Block{s}
}

// lateDays is a lateness in whole days, at least one.
func lateDays(d time.Duration) string {
	n := int(d / (24 * time.Hour))
	return plural(max(n, 0)+1, "day", "days")
}

// maxSnippet is the most escaped text one message of a Markdown snippet carries: Slack
// shows up to 4,000 characters of a message's text before it truncates.
const maxSnippet = 3500

// MarkdownMessages splits a Markdown document into messages that each show as a code
// block: at line boundaries, each under maxSnippet characters once escaped (a longer
// line is cut). Posted in order in a thread, they read as the document.
func MarkdownMessages(md string) []string {
	const fence = "```"
	if strings.TrimSpace(md) == "" {
		return nil
	}
	budget := maxSnippet - 2*len(fence) - 2
	var out []string
	var cur strings.Builder
	n := 0
	flush := func() {
		if cur.Len() > 0 {
			out = append(out, fence+"\n"+strings.TrimRight(cur.String(), "\n")+"\n"+fence)
			cur.Reset()
			n = 0
		}
	}
	for _, line := range strings.Split(strings.TrimRight(md, "\n"), "\n") {
		line = Escape(strings.ReplaceAll(line, fence, "ˋˋˋ")) // a fence inside would end the block
		for utf8.RuneCountInString(line)+1 > budget {
			flush()
			cut := snippetCut(line, budget-1)
			cur.WriteString(line[:cut] + "\n")
			line = line[cut:]
			flush()
		}
		if n+utf8.RuneCountInString(line)+1 > budget {
			flush()
		}
		cur.WriteString(line + "\n")
		n += utf8.RuneCountInString(line) + 1
	}
	flush()
	return out
}

// snippetCut is the byte offset of the first n runes of s, backed off so no entity ("&amp;")
// is split.
func snippetCut(s string, n int) int {
	i, runes := 0, 0
	for i < len(s) && runes < n {
		_, size := utf8.DecodeRuneInString(s[i:])
		i += size
		runes++
	}
	if amp := strings.LastIndexByte(s[:i], '&'); amp >= 0 && !strings.Contains(s[amp:i], ";") && amp > 0 {
		i = amp
	}
	return i
}
