package handlers

import (
	"context"

	"github.com/slack-go/slack"
)

// Features beyond a single notification (incidents, action items, digests) each live in
// a file of their own and register their buttons, subcommands and modals here from an
// init function, so adding one does not touch the dispatch of the others.

// buttonFunc handles a button that is not about a notification; act.Value carries what
// it is about (e.g. "incident:42").
type buttonFunc func(h *Handlers, ctx context.Context, cb slack.InteractionCallback, act *slack.BlockAction)

// commandFunc answers `/mandate SUB ARGS…`; person is the caller's person id ("" when
// their Slack account is not linked), and the result is the slash command's ack.
type commandFunc func(h *Handlers, ctx context.Context, cmd slack.SlashCommand, person string, args []string) any

// viewFunc handles a modal's submission; the result is the view_submission ack.
type viewFunc func(h *Handlers, ctx context.Context, cb slack.InteractionCallback) any

var (
	buttons  = map[string]buttonFunc{}  // by action_id
	commands = map[string]commandFunc{} // by subcommand
	views    = map[string]viewFunc{}    // by callback_id
)
