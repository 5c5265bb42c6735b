package notify

import (
	"context"
	"crypto/tls"
	"errors"
	"net/textproto"
	"strings"
	"time"

	mail "github.com/wneessen/go-mail"
	"github.com/wneessen/go-mail/smtp"
)

const chEmail = "email"

// Email sends mail through an SMTP relay, for people who are not in Slack or when Slack
// is down.
type Email struct {
	Host string
	// Port defaults by TLS mode: 25 for "none", 587 for "starttls", 465 for "tls".
	Port               int
	Username, Password string // no authentication when Username is empty
	From               string
	// TLS is "none", "starttls" (the default: refuse a server that cannot upgrade, since
	// the password and the message would otherwise cross the network in clear) or "tls"
	// (implicit TLS, "SMTPS").
	TLS string
	// Timeout bounds connecting and each SMTP command; default 10 s. ctx bounds
	// connecting too (go-mail does not watch ctx once the session is up).
	Timeout time.Duration
}

// Message is one email. Text, HTML or both (sent as multipart/alternative) is required.
type Message struct {
	To      []string
	Subject string
	Text    string
	HTML    string
}

// Send delivers m in one SMTP session. Failures are *DeliveryError: network failures,
// timeouts and SMTP 4xx replies are retryable; SMTP 5xx replies (550 mailbox
// unavailable, 535 bad credentials), invalid addresses and bad configuration are not.
func (e *Email) Send(ctx context.Context, m Message) error {
	if len(m.To) == 0 {
		return permanentf(chEmail, "no recipients")
	}
	if strings.TrimSpace(m.Subject) == "" {
		return permanentf(chEmail, "empty subject")
	}
	if m.Text == "" && m.HTML == "" {
		return permanentf(chEmail, "empty body: set Text, HTML or both")
	}
	client, err := e.client()
	if err != nil {
		return err
	}

	msg := mail.NewMsg()
	if err := msg.From(e.From); err != nil {
		return permanentf(chEmail, "from address %q: %v", e.From, err)
	}
	if err := msg.To(m.To...); err != nil {
		return permanentf(chEmail, "recipient: %v", err)
	}
	msg.Subject(m.Subject)
	msg.SetDate()
	msg.SetMessageID()
	// RFC 3834: this is machine-generated, so vacation responders and auto-replies must
	// not answer it (their replies would land in the From mailbox nobody reads).
	msg.SetGenHeader("Auto-Submitted", "auto-generated")
	switch {
	case m.Text != "" && m.HTML != "":
		msg.SetBodyString(mail.TypeTextPlain, m.Text)
		msg.AddAlternativeString(mail.TypeTextHTML, m.HTML)
	case m.Text != "":
		msg.SetBodyString(mail.TypeTextPlain, m.Text)
	default:
		msg.SetBodyString(mail.TypeTextHTML, m.HTML)
	}

	if err := client.DialAndSendWithContext(ctx, msg); err != nil {
		return classifySMTP(err)
	}
	return nil
}

// client builds a go-mail client from the configuration; every problem here is a
// configuration error, so permanent.
func (e *Email) client() (*mail.Client, error) {
	if e.Host == "" {
		return nil, permanentf(chEmail, "no SMTP host configured")
	}
	if e.From == "" {
		return nil, permanentf(chEmail, "no From address configured")
	}
	timeout := e.Timeout
	if timeout <= 0 {
		timeout = defaultHTTPTimeout
	}
	opts := []mail.Option{mail.WithTimeout(timeout)}
	port := e.Port
	switch e.TLS {
	case "none":
		opts = append(opts, mail.WithTLSPolicy(mail.NoTLS))
		if port == 0 {
			port = mail.DefaultPort
		}
	case "", "starttls":
		opts = append(opts, mail.WithTLSPolicy(mail.TLSMandatory))
		if port == 0 {
			port = mail.DefaultPortTLS
		}
	case "tls":
		opts = append(opts, mail.WithSSL())
		if port == 0 {
			port = mail.DefaultPortSSL
		}
	default:
		return nil, permanentf(chEmail, "TLS mode %q: want none, starttls or tls", e.TLS)
	}
	opts = append(opts, mail.WithPort(port))
	if e.Username != "" {
		// Auto-discovery picks the strongest mechanism the server offers and never sends
		// PLAIN or LOGIN over an unencrypted connection.
		opts = append(opts, mail.WithSMTPAuth(mail.SMTPAuthAutoDiscover),
			mail.WithUsername(e.Username), mail.WithPassword(e.Password))
	}
	c, err := mail.NewClient(e.Host, opts...)
	if err != nil {
		return nil, permanentf(chEmail, "%v", err)
	}
	return c, nil
}

// classifySMTP sorts a go-mail failure. The SMTP reply code decides when there is one
// (RFC 5321 §4.2.1: 4yz is transient, 5yz permanent). go-mail's SendError does not
// unwrap to the reply, but carries its code; errors while connecting (greeting, EHLO,
// STARTTLS, AUTH) arrive as *textproto.Error.
func classifySMTP(err error) *DeliveryError {
	de := &DeliveryError{Channel: chEmail, Temporary: true, msg: chEmail + ": " + err.Error(), err: err}
	var send *mail.SendError
	var reply *textproto.Error
	switch {
	case errors.As(err, &send):
		de.Code = send.ErrorCode()
		switch {
		case de.Code >= 500:
			de.Temporary = false
		case de.Code >= 400:
		case send.Reason == mail.ErrGetSender, send.Reason == mail.ErrGetRcpts, send.Reason == mail.ErrNoUnencoded:
			// Our message or the server's abilities, not the weather: retrying won't help.
			de.Temporary = false
		}
	case errors.As(err, &reply):
		de.Code = reply.Code
		de.Temporary = reply.Code < 500
	case isSMTPConfigError(err):
		de.Temporary = false
	}
	// Otherwise a network failure or timeout: retry.
	return de
}

// isSMTPConfigError recognises failures an operator must fix: a server that cannot do
// what we configured (no STARTTLS, no acceptable AUTH mechanism) or a certificate that
// does not verify for Host.
func isSMTPConfigError(err error) bool {
	var cert *tls.CertificateVerificationError
	if errors.As(err, &cert) || errors.Is(err, mail.ErrNoSupportedAuthDiscovered) ||
		errors.Is(err, smtp.ErrUnencrypted) || errors.Is(err, smtp.ErrWrongHostname) {
		return true
	}
	// go-mail builds these with fmt.Errorf and no sentinel to test against.
	s := err.Error()
	return strings.Contains(s, "does not support STARTTLS") || strings.Contains(s, "server does not support SMTP AUTH")
}
