package notify

import (
	"bytes"
	"context"
	"errors"
	"io"
	"mime"
	"mime/multipart"
	"mime/quotedprintable"
	"net"
	"net/mail"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/emersion/go-smtp"
)

// smtpMail is one message as the test server received it.
type smtpMail struct {
	from string
	to   []string
	data []byte
}

// smtpBackend accepts everything except recipients rcptErr rejects.
type smtpBackend struct {
	rcptErr error
	got     chan smtpMail
}

func (b *smtpBackend) NewSession(*smtp.Conn) (smtp.Session, error) {
	return &smtpSession{b: b}, nil
}

type smtpSession struct {
	b   *smtpBackend
	cur smtpMail
}

func (s *smtpSession) Reset()        { s.cur = smtpMail{} }
func (s *smtpSession) Logout() error { return nil }
func (s *smtpSession) Mail(from string, _ *smtp.MailOptions) error {
	s.cur.from = from
	return nil
}

func (s *smtpSession) Rcpt(to string, _ *smtp.RcptOptions) error {
	if s.b.rcptErr != nil {
		return s.b.rcptErr
	}
	s.cur.to = append(s.cur.to, to)
	return nil
}

func (s *smtpSession) Data(r io.Reader) error {
	data, err := io.ReadAll(r)
	if err != nil {
		return err
	}
	s.cur.data = data
	s.b.got <- s.cur
	return nil
}

// newSMTPServer runs a plain-text SMTP server on 127.0.0.1 for the test and returns an
// Email sender pointed at it.
func newSMTPServer(t *testing.T, rcptErr error) (*Email, chan smtpMail) {
	t.Helper()
	be := &smtpBackend{rcptErr: rcptErr, got: make(chan smtpMail, 10)}
	srv := smtp.NewServer(be)
	srv.Domain = "localhost"
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		srv.Serve(l)
	}()
	t.Cleanup(func() {
		srv.Close()
		<-done
	})
	port := l.Addr().(*net.TCPAddr).Port
	return &Email{Host: "127.0.0.1", Port: port, From: "mandate@example.com", TLS: "none", Timeout: 5 * time.Second}, be.got
}

func TestEmailSend(t *testing.T) {
	e, got := newSMTPServer(t, nil)
	err := e.Send(context.Background(), Message{
		To:      []string{"alice@example.com", "bob@example.com"},
		Subject: "Gate waiting: deploy-bot wants to drop table orders",
		Text:    "deploy-bot wants to drop table orders in prod.\nApprove or deny in Slack: https://mandate.example/a/42\n",
	})
	if err != nil {
		t.Fatalf("Send: %v", err)
	}
	var m smtpMail
	select {
	case m = <-got:
	default:
		t.Fatal("the server received nothing")
	}
	if m.from != "mandate@example.com" || strings.Join(m.to, ",") != "alice@example.com,bob@example.com" {
		t.Errorf("envelope from %q to %v", m.from, m.to)
	}
	msg, err := mail.ReadMessage(bytes.NewReader(m.data))
	if err != nil {
		t.Fatalf("parse %s: %v", m.data, err)
	}
	for k, want := range map[string]string{
		"From":           "<mandate@example.com>",
		"To":             "<alice@example.com>, <bob@example.com>",
		"Auto-Submitted": "auto-generated",
	} {
		if v := msg.Header.Get(k); v != want {
			t.Errorf("%s = %q, want %q", k, v, want)
		}
	}
	subject, err := new(mime.WordDecoder).DecodeHeader(msg.Header.Get("Subject"))
	if err != nil || subject != "Gate waiting: deploy-bot wants to drop table orders" {
		t.Errorf("Subject = %q (%v)", subject, err)
	}
	if body := textBody(t, msg.Header, msg.Body); body != "deploy-bot wants to drop table orders in prod.\r\nApprove or deny in Slack: https://mandate.example/a/42\r\n" {
		t.Errorf("text body %q", body)
	}
}

func TestEmailSendTextAndHTML(t *testing.T) {
	e, got := newSMTPServer(t, nil)
	err := e.Send(context.Background(), Message{To: []string{"alice@example.com"}, Subject: "s", Text: "plain words", HTML: "<p>html words</p>"})
	if err != nil {
		t.Fatalf("Send: %v", err)
	}
	m := <-got
	msg, err := mail.ReadMessage(bytes.NewReader(m.data))
	if err != nil {
		t.Fatal(err)
	}
	mt, params, err := mime.ParseMediaType(msg.Header.Get("Content-Type"))
	if err != nil || mt != "multipart/alternative" {
		t.Fatalf("Content-Type %q (%v), want multipart/alternative", msg.Header.Get("Content-Type"), err)
	}
	parts := map[string]string{}
	mr := multipart.NewReader(msg.Body, params["boundary"])
	for {
		p, err := mr.NextPart()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		ct, _, _ := mime.ParseMediaType(p.Header.Get("Content-Type"))
		parts[ct] = textBody(t, mail.Header(p.Header), p)
	}
	if parts["text/plain"] != "plain words" || parts["text/html"] != "<p>html words</p>" {
		t.Errorf("parts %q", parts)
	}
}

// textBody decodes a body by its Content-Transfer-Encoding.
func textBody(t *testing.T, h mail.Header, r io.Reader) string {
	t.Helper()
	if strings.EqualFold(h.Get("Content-Transfer-Encoding"), "quoted-printable") {
		r = quotedprintable.NewReader(r)
	}
	b, err := io.ReadAll(r)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func TestEmailRecipientRejected(t *testing.T) {
	for _, tc := range []struct {
		err       *smtp.SMTPError
		retryable bool
	}{
		{&smtp.SMTPError{Code: 550, EnhancedCode: smtp.EnhancedCode{5, 1, 1}, Message: "mailbox unavailable"}, false},
		{&smtp.SMTPError{Code: 450, EnhancedCode: smtp.EnhancedCode{4, 2, 1}, Message: "mailbox busy, try later"}, true},
	} {
		t.Run(strconv.Itoa(tc.err.Code), func(t *testing.T) {
			e, got := newSMTPServer(t, tc.err)
			err := e.Send(context.Background(), Message{To: []string{"nobody@example.com"}, Subject: "s", Text: "t"})
			if err == nil {
				t.Fatal("Send succeeded")
			}
			if Retryable(err) != tc.retryable {
				t.Errorf("Retryable(%v) = %v, want %v", err, !tc.retryable, tc.retryable)
			}
			if !strings.Contains(err.Error(), tc.err.Message) || !strings.Contains(err.Error(), "nobody@example.com") {
				t.Errorf("%q does not say which recipient failed and why", err)
			}
			var de *DeliveryError
			if !errors.As(err, &de) || de.Code != tc.err.Code {
				t.Errorf("err %#v, want *DeliveryError with code %d", err, tc.err.Code)
			}
			select {
			case m := <-got:
				t.Errorf("a message was delivered: %+v", m)
			default:
			}
		})
	}
}

func TestEmailConnectionRefused(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := l.Addr().(*net.TCPAddr).Port
	l.Close() // nothing listens on port now
	e := &Email{Host: "127.0.0.1", Port: port, From: "mandate@example.com", TLS: "none"}
	err = e.Send(context.Background(), Message{To: []string{"alice@example.com"}, Subject: "s", Text: "t"})
	if err == nil || !Retryable(err) {
		t.Errorf("err = %v, want retryable", err)
	}
}

func TestEmailServerSilent(t *testing.T) {
	// A server that accepts the connection and never greets: the Timeout must end it.
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	accepted := make(chan net.Conn, 1)
	go func() {
		c, err := l.Accept()
		if err == nil {
			accepted <- c
		}
	}()
	t.Cleanup(func() {
		l.Close()
		select {
		case c := <-accepted:
			c.Close()
		default:
		}
	})
	e := &Email{Host: "127.0.0.1", Port: l.Addr().(*net.TCPAddr).Port, From: "mandate@example.com", TLS: "none", Timeout: 50 * time.Millisecond}
	err = e.Send(context.Background(), Message{To: []string{"alice@example.com"}, Subject: "s", Text: "t"})
	if err == nil || !Retryable(err) {
		t.Errorf("err = %v, want retryable", err)
	}
}

func TestEmailStartTLSRequired(t *testing.T) {
	// The default TLS mode refuses a server that cannot upgrade: an operator must either
	// fix the server or say TLS: "none" explicitly, so retrying is pointless.
	e, got := newSMTPServer(t, nil)
	e.TLS = ""
	err := e.Send(context.Background(), Message{To: []string{"alice@example.com"}, Subject: "s", Text: "t"})
	if err == nil || Retryable(err) || !strings.Contains(err.Error(), "STARTTLS") {
		t.Errorf("err = %v, want a permanent STARTTLS error", err)
	}
	select {
	case m := <-got:
		t.Errorf("sent in clear: %+v", m)
	default:
	}
}

func TestEmailRejectsBadInput(t *testing.T) {
	e := &Email{Host: "127.0.0.1", Port: 1, From: "mandate@example.com", TLS: "none"}
	ok := Message{To: []string{"alice@example.com"}, Subject: "s", Text: "t"}
	for name, tc := range map[string]struct {
		e    Email
		m    Message
		want string
	}{
		"no recipients": {*e, Message{Subject: "s", Text: "t"}, "no recipients"},
		"no subject":    {*e, Message{To: ok.To, Subject: " ", Text: "t"}, "empty subject"},
		"no body":       {*e, Message{To: ok.To, Subject: "s"}, "empty body"},
		"bad recipient": {*e, Message{To: []string{"not an address"}, Subject: "s", Text: "t"}, "recipient"},
		"no host":       {Email{From: "a@b.c"}, ok, "no SMTP host"},
		"no from":       {Email{Host: "h"}, ok, "no From"},
		"bad from":      {Email{Host: "h", From: "nope"}, ok, "from address"},
		"bad TLS":       {Email{Host: "h", From: "a@b.c", TLS: "ssl"}, ok, `TLS mode "ssl"`},
	} {
		t.Run(name, func(t *testing.T) {
			err := tc.e.Send(context.Background(), tc.m)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("err = %v, want it to mention %q", err, tc.want)
			}
			if Retryable(err) {
				t.Errorf("%v is retryable", err)
			}
		})
	}
}
