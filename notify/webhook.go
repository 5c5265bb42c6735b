package notify

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"
)

// DeliveryError is a failed delivery by PagerDuty, Email or Webhook, classified so the
// durable queue knows whether to try again. Callers usually need only Retryable and
// RetryAfter; the fields are there for logs and metrics.
type DeliveryError struct {
	Channel string // "pagerduty", "email" or "webhook"
	// Code is the HTTP status or SMTP reply code, 0 when the failure happened before the
	// server answered (bad input, bad configuration, network).
	Code int
	// Temporary says whether the same request may succeed later.
	Temporary bool
	// Wait is the server's Retry-After, 0 if it gave none.
	Wait time.Duration
	msg  string
	err  error
}

func (e *DeliveryError) Error() string { return e.msg }

// Unwrap exposes the cause (a net.Error, context.DeadlineExceeded, an SMTP error …).
func (e *DeliveryError) Unwrap() error { return e.err }

// Retryable reports whether a failed send is worth retrying: network errors, timeouts,
// HTTP 5xx, 408 and 429, and SMTP 4xx are; HTTP 4xx, SMTP 5xx, invalid input and bad
// configuration are not. Errors the senders did not classify count as retryable, like
// the queue's own default, because dropping a page by mistake is worse than a late
// duplicate attempt (the attempts are bounded by the queue anyway).
func Retryable(err error) bool {
	if err == nil {
		return false
	}
	var de *DeliveryError
	if errors.As(err, &de) {
		return de.Temporary
	}
	return true
}

// RetryAfter returns how long the server asked us to wait (HTTP 429 with Retry-After),
// so the caller can return postgres.RetryAfter{D: d} instead of backing off blindly.
// It reports false when the server gave no usable Retry-After.
func RetryAfter(err error) (time.Duration, bool) {
	var de *DeliveryError
	if errors.As(err, &de) && de.Temporary && de.Wait > 0 {
		return de.Wait, true
	}
	return 0, false
}

// permanentf is bad input or configuration: retrying the same request cannot help.
func permanentf(channel, format string, args ...any) *DeliveryError {
	return &DeliveryError{Channel: channel, msg: label(channel) + ": " + fmt.Sprintf(format, args...)}
}

// transportError is a request that got no HTTP answer: refused, reset, timed out. All of
// them may heal, so all are retryable, including the caller's own cancellation (the job
// runs again after a restart).
func transportError(channel string, err error) *DeliveryError {
	return &DeliveryError{Channel: channel, Temporary: true, msg: label(channel) + ": " + err.Error(), err: err}
}

// label prefixes error messages; "pagerduty events" says which PagerDuty API failed,
// as Mandate also reads on-call schedules from the REST API.
func label(channel string) string {
	if channel == chPagerDuty {
		return "pagerduty events"
	}
	return channel
}

// httpRetryable is the HTTP half of the classification: the server is overloaded or
// broken (5xx), asked us to slow down (429) or gave up waiting for us (408).
func httpRetryable(code int) bool {
	return code >= 500 || code == http.StatusTooManyRequests || code == http.StatusRequestTimeout
}

// parseRetryAfter reads a Retry-After header: delay-seconds or an HTTP date (RFC 9110
// §10.2.3). A date in the past, or garbage, gives 0: retry with the usual backoff.
func parseRetryAfter(v string, now time.Time) time.Duration {
	v = strings.TrimSpace(v)
	if v == "" {
		return 0
	}
	if s, err := strconv.Atoi(v); err == nil {
		if s <= 0 {
			return 0
		}
		return time.Duration(s) * time.Second
	}
	if t, err := http.ParseTime(v); err == nil && t.After(now) {
		return t.Sub(now)
	}
	return 0
}

// snippet shortens a response body for an error message: servers can answer errors with
// whole HTML pages, and the message ends up in the database and in logs.
func snippet(b []byte) string {
	s := strings.TrimSpace(string(b))
	const limit = 200
	if len(s) <= limit {
		return s
	}
	cut := limit
	for cut > 0 && !utf8.RuneStart(s[cut]) {
		cut--
	}
	return s[:cut] + "…"
}

// maxErrorBody bounds how much of an error response we read: enough for any JSON error
// document, small enough that a misbehaving server cannot make us buffer megabytes.
const maxErrorBody = 64 << 10

// defaultHTTPTimeout bounds a whole request for PagerDuty and Webhook when the caller
// brings no client, so a hung endpoint costs a worker seconds, not forever.
const defaultHTTPTimeout = 10 * time.Second

// Signature scheme of outbound webhooks.
//
// Each request carries
//
//	X-Mandate-Timestamp: <unix seconds>
//	X-Mandate-Signature: t=<unix seconds>,v1=<hex>
//
// where <hex> is the lowercase hex HMAC-SHA256, keyed with the shared secret, of the
// timestamp in decimal, a ".", and the exact request body bytes:
//
//	hex(HMAC-SHA256(secret, "<timestamp>.<body>"))
//
// Signing the timestamp with the body stops an attacker from replaying an old delivery
// with a fresh timestamp; receivers reject timestamps outside a tolerance (VerifySignature).
// The "v1" label leaves room for another scheme, and receivers accept any of several v1
// values so a secret can be rotated by sending both signatures for a while.
const (
	headerSignature = "X-Mandate-Signature"
	headerTimestamp = "X-Mandate-Timestamp"
	headerEvent     = "X-Mandate-Event"
)

// Webhook posts signed JSON events to URLs of the customers' choosing.
type Webhook struct {
	// Secret keys the HMAC signature; Send refuses to send unsigned requests unless
	// AllowUnsigned is set.
	Secret string
	// AllowUnsigned sends without X-Mandate-Signature when Secret is empty: for the
	// backup webhook, whose receiver (a chat's or pager's incoming webhook) has no way
	// to check one, and which must work before anyone has set a secret. Playbooks,
	// which act on what they receive, never get unsigned events.
	AllowUnsigned bool
	// HTTPClient defaults to one with a 10 s timeout that does not follow redirects: a
	// signed POST silently turned into a GET elsewhere would be a delivery nobody got.
	HTTPClient *http.Client
	// Now stamps sent_at and the signature timestamp; tests set it.
	Now func() time.Time
}

// webhookClient is the default client. It is shared so connections are reused.
var webhookClient = &http.Client{
	Timeout: defaultHTTPTimeout,
	CheckRedirect: func(*http.Request, []*http.Request) error {
		return http.ErrUseLastResponse
	},
}

// webhookBody is the envelope every receiver gets, whatever the event. Text, when set,
// is a one-line summary for people: chat incoming webhooks (Slack, Mattermost) show a
// top-level "text" as the message, so a backup webhook can point straight at one.
type webhookBody struct {
	Event  string `json:"event"`
	SentAt string `json:"sent_at"`
	Text   string `json:"text,omitempty"`
	Data   any    `json:"data"`
}

// Event is one webhook event: its name (e.g. "action.notification"), an optional
// one-line Text for people, and its Data.
type Event struct {
	Name string
	Text string
	Data any
}

// Send posts {"event": event, "sent_at": RFC 3339, "data": payload} to target, signed.
// A 2xx is delivered. 429 (with its Retry-After), 408, 5xx and network failures are
// retryable; any other status, an empty secret or a bad URL is permanent.
func (w *Webhook) Send(ctx context.Context, target string, event string, payload any) error {
	return w.SendEvent(ctx, target, Event{Name: event, Data: payload})
}

// SendEvent is Send with a Text for people in the envelope.
func (w *Webhook) SendEvent(ctx context.Context, target string, ev Event) error {
	const ch = "webhook"
	event, payload := ev.Name, ev.Data
	if w.Secret == "" && !w.AllowUnsigned {
		return permanentf(ch, "no signing secret configured; refusing to send unsigned events")
	}
	if event == "" {
		return permanentf(ch, "empty event name")
	}
	u, err := url.Parse(target)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		// The URL itself stays out of the message: customers put tokens in them.
		return permanentf(ch, "invalid URL: want an absolute http or https URL")
	}
	now := time.Now
	if w.Now != nil {
		now = w.Now
	}
	t := now()
	body, err := json.Marshal(webhookBody{Event: event, SentAt: t.UTC().Format(time.RFC3339), Text: ev.Text, Data: payload})
	if err != nil {
		return permanentf(ch, "encode %s payload: %v", event, err)
	}
	ts := t.Unix()

	req, err := http.NewRequestWithContext(ctx, http.MethodPost, target, bytes.NewReader(body))
	if err != nil {
		return permanentf(ch, "build request: %v", err)
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("User-Agent", "mandate")
	req.Header.Set(headerEvent, event)
	req.Header.Set(headerTimestamp, strconv.FormatInt(ts, 10))
	if w.Secret != "" {
		req.Header.Set(headerSignature, "t="+strconv.FormatInt(ts, 10)+","+Sign(w.Secret, ts, body))
	}

	client := w.HTTPClient
	if client == nil {
		client = webhookClient
	}
	resp, err := client.Do(req)
	if err != nil {
		var ue *url.Error
		if errors.As(err, &ue) {
			redacted := *ue
			redacted.URL = redactURL(u)
			err = &redacted
		}
		return transportError(ch, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode >= 200 && resp.StatusCode < 300 {
		// Drain so the connection goes back to the pool.
		_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, maxErrorBody))
		return nil
	}
	b, _ := io.ReadAll(io.LimitReader(resp.Body, maxErrorBody))
	msg := fmt.Sprintf("%s: %s %s: %d", ch, event, redactURL(u), resp.StatusCode)
	if resp.StatusCode >= 300 && resp.StatusCode < 400 {
		msg += " redirect to " + resp.Header.Get("Location") + " (not followed; configure the final URL)"
	} else if s := snippet(b); s != "" {
		msg += ": " + s
	} else {
		msg += " " + http.StatusText(resp.StatusCode)
	}
	return &DeliveryError{
		Channel:   ch,
		Code:      resp.StatusCode,
		Temporary: httpRetryable(resp.StatusCode),
		Wait:      parseRetryAfter(resp.Header.Get("Retry-After"), t),
		msg:       msg,
	}
}

// redactURL keeps error messages from leaking credentials or tokens that customers put in
// webhook URLs (user info, query strings such as ?token=…).
func redactURL(u *url.URL) string {
	r := *u
	r.User = nil
	if r.RawQuery != "" {
		r.RawQuery = "…"
	}
	r.Fragment = ""
	return r.String()
}

// Sign returns "v1=" + hex(HMAC-SHA256(secret, "<timestamp>.<body>")), the v1 part of
// the X-Mandate-Signature header.
func Sign(secret string, timestamp int64, body []byte) string {
	mac := hmac.New(sha256.New, []byte(secret))
	mac.Write([]byte(strconv.FormatInt(timestamp, 10)))
	mac.Write([]byte{'.'})
	mac.Write(body)
	return "v1=" + hex.EncodeToString(mac.Sum(nil))
}

// Errors from VerifySignature, for receivers that answer them differently.
var (
	ErrSignatureInvalid = errors.New("webhook signature does not match")
	ErrSignatureExpired = errors.New("webhook timestamp outside tolerance")
	ErrSignatureMissing = errors.New("webhook signature header missing or malformed")
)

// DefaultSignatureTolerance is how far a receiver should accept a signed timestamp from
// its own clock: long enough for slow networks and clock skew, short enough to make
// replays of captured requests useless.
const DefaultSignatureTolerance = 5 * time.Minute

// VerifySignature checks an X-Mandate-Signature header ("t=<unix>,v1=<hex>[,v1=<hex>…]")
// against the raw body: one v1 must match Sign(secret, t, body), and t must be within
// tolerance of now (tolerance <= 0 means DefaultSignatureTolerance). Comparison is in
// constant time.
func VerifySignature(secret, header string, body []byte, now time.Time, tolerance time.Duration) error {
	if secret == "" {
		return errors.New("webhook: empty secret")
	}
	if tolerance <= 0 {
		tolerance = DefaultSignatureTolerance
	}
	var (
		ts    int64
		hasTS bool
		sigs  []string
	)
	for part := range strings.SplitSeq(header, ",") {
		k, v, ok := strings.Cut(strings.TrimSpace(part), "=")
		if !ok {
			continue
		}
		switch k {
		case "t":
			n, err := strconv.ParseInt(v, 10, 64)
			if err != nil {
				return ErrSignatureMissing
			}
			ts, hasTS = n, true
		case "v1":
			sigs = append(sigs, v)
		}
	}
	if !hasTS || len(sigs) == 0 {
		return ErrSignatureMissing
	}
	// Check the signature before the clock, so a forged request learns nothing about
	// our tolerance window.
	want, _ := hex.DecodeString(strings.TrimPrefix(Sign(secret, ts, body), "v1="))
	matched := false
	for _, s := range sigs {
		got, err := hex.DecodeString(s)
		if err == nil && hmac.Equal(got, want) {
			matched = true
		}
	}
	if !matched {
		return ErrSignatureInvalid
	}
	if d := now.Sub(time.Unix(ts, 0)); d > tolerance || d < -tolerance {
		return fmt.Errorf("%w: signed at %s, %s from now", ErrSignatureExpired, time.Unix(ts, 0).UTC().Format(time.RFC3339), d.Round(time.Second))
	}
	return nil
}
