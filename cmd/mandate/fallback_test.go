package main

import (
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/emersion/go-smtp"

	"github.com/mandatehq/mandate/slackfake"
)

// mailbox is an SMTP server in the test process that hands over every message received.
type mailbox struct{ got chan string }

func (m *mailbox) NewSession(*smtp.Conn) (smtp.Session, error) { return &mailSession{m: m}, nil }

type mailSession struct {
	m  *mailbox
	to []string
}

func (s *mailSession) Reset()        { s.to = nil }
func (s *mailSession) Logout() error { return nil }
func (s *mailSession) Mail(string, *smtp.MailOptions) error {
	return nil
}
func (s *mailSession) Rcpt(to string, _ *smtp.RcptOptions) error {
	s.to = append(s.to, to)
	return nil
}
func (s *mailSession) Data(r io.Reader) error {
	b, err := io.ReadAll(r)
	if err != nil {
		return err
	}
	s.m.got <- "To: " + strings.Join(s.to, ",") + "\n" + string(b)
	return nil
}

func startMailbox(t *testing.T) (port int, got chan string) {
	t.Helper()
	mb := &mailbox{got: make(chan string, 10)}
	srv := smtp.NewServer(mb)
	srv.Domain = "localhost"
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func() { defer close(done); srv.Serve(l) }()
	t.Cleanup(func() { srv.Close(); <-done })
	return l.Addr().(*net.TCPAddr).Port, mb.got
}

// startPagerDuty is a PagerDuty Events API v2 endpoint in the test process that accepts
// every event and hands it over.
func startPagerDuty(t *testing.T) (url string, events chan map[string]any) {
	t.Helper()
	events = make(chan map[string]any, 10)
	pd := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var ev map[string]any
		json.NewDecoder(r.Body).Decode(&ev)
		events <- ev
		w.WriteHeader(http.StatusAccepted)
		io.WriteString(w, `{"status":"success","message":"Event processed"}`)
	}))
	t.Cleanup(pd.Close)
	return pd.URL, events
}

// TestSlackDownFallsBackToPagerDutyAndEmail: Slack answers 500 to every post; after the
// threshold the same notification goes to PagerDuty and to its people by email, and the
// admins are told Slack is failing.
func TestSlackDownFallsBackToPagerDutyAndEmail(t *testing.T) {
	pdURL, paged := startPagerDuty(t)
	port, mail := startMailbox(t)
	e := startSlackServeWith(t, "../../examples/quickstart/mandate.yaml",
		"PAGERDUTY_ROUTING_KEY", "R0UTINGKEY1234", "MANDATE_PAGERDUTY_EVENTS_URL", pdURL,
		"MANDATE_SMTP_HOST", "127.0.0.1", "MANDATE_SMTP_PORT", fmt.Sprint(port), "MANDATE_SMTP_FROM", "mandate@acme.test",
		"MANDATE_SMTP_TLS", "none", "MANDATE_SLACK_FALLBACK_AFTER", "1s")
	e.fake.Fail("chat.postMessage", slackfake.Fault{Status: 500, Times: -1})
	ctx := waitCtx(t)
	ans := e.post(t, "/v1/actions", e.token, deployAction)

	select {
	case ev := <-paged:
		payload, _ := ev["payload"].(map[string]any)
		if ev["event_action"] != "trigger" || !strings.Contains(fmt.Sprint(payload["summary"]), "Slack is failing") ||
			!strings.HasPrefix(fmt.Sprint(ev["dedup_key"]), "mandate-notification-") {
			t.Errorf("PagerDuty event: %v", ev)
		}
	case <-ctx.Done():
		t.Fatal("Slack down: nothing reached PagerDuty")
	}
	// The owners' email (the team's members, and alice's own) and the admins' warning.
	var mails []string
	for !strings.Contains(strings.Join(mails, ""), "Slack delivery is failing") {
		select {
		case m := <-mail:
			mails = append(mails, m)
		case <-ctx.Done():
			t.Fatalf("Slack down: no email to the admins among %q", mails)
		}
	}
	all := strings.Join(mails, "\n----\n")
	if !strings.Contains(all, "To: alice@acme.test") || !strings.Contains(all, "Deploy payments-api v1.42") || !strings.Contains(all, "To: erin@acme.test") {
		t.Errorf("emails:\n%s", all)
	}
	// Recorded as delivered by fallback, not lost: the notifications' state says so.
	e.logs.waitFor(t, "delivered by PagerDuty and email instead", 1)
	states := fmt.Sprint(e.get(t, "/v1/actions/"+ans["action_id"].(string)+"/notifications", e2eAdmin)["notifications"])
	if !strings.Contains(states, "state:fallback") {
		t.Errorf("notifications %s, want one in state fallback", states)
	}
}
