// Package slackfake is a Slack stand-in that speaks the real protocols: the
// Web API methods a Socket Mode bot uses (under /api/) and the Socket Mode
// websocket (under /link/). It exists so Mandate's bot, built on
// github.com/slack-go/slack and its socketmode package, can be tested end to
// end against a real HTTP server and a real websocket instead of mocks, and so
// `mandate demo` can show a conversation without a Slack workspace.
//
// Point a client at it with
//
//	fake := slackfake.New(slackfake.Options{})
//	fake.Start()
//	defer fake.Close()
//	api := slack.New(fake.BotToken(),
//		slack.OptionAppLevelToken(fake.AppToken()),
//		slack.OptionAPIURL(fake.URL()+"/api/"))
//	sm := socketmode.New(api)
//
// A test then acts as a user (PressButton, ClickButton, SubmitView,
// SlashCommand, OpenHome, SendEvent): each builds the envelope Slack would
// send, pushes it over the websocket and waits for the bot's ack. The Wait*
// methods block until the bot has done something observable (posted, updated,
// answered a response_url), so tests never sleep.
//
// Everything is in memory and safe for concurrent use. Production code never
// imports this package.
package slackfake
