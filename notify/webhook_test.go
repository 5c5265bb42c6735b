package notify

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"
	"time"
)

const testSecret = "whsec_test"

// received is one request as the receiver saw it.
type received struct {
	header http.Header
	body   []byte
	verify error
}

// receiver is a customer's endpoint: it verifies the signature like a real receiver,
// with its own clock (now), and answers status.
func receiver(t *testing.T, now time.Time, status int, extra http.Header) (*httptest.Server, chan received) {
	t.Helper()
	got := make(chan received, 10)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		err := VerifySignature(testSecret, r.Header.Get("X-Mandate-Signature"), body, now, 5*time.Minute)
		got <- received{header: r.Header.Clone(), body: body, verify: err}
		for k, v := range extra {
			w.Header()[k] = v
		}
		if err != nil {
			http.Error(w, err.Error(), http.StatusUnauthorized)
			return
		}
		w.WriteHeader(status)
	}))
	t.Cleanup(srv.Close)
	return srv, got
}

func one(t *testing.T, c chan received) received {
	t.Helper()
	select {
	case r := <-c:
		return r
	default:
		t.Fatal("nothing reached the receiver")
		return received{}
	}
}

func TestWebhookSendSigned(t *testing.T) {
	at := time.Date(2025, 3, 4, 5, 6, 7, 0, time.UTC)
	srv, got := receiver(t, at.Add(2*time.Second), http.StatusNoContent, nil)
	w := &Webhook{Secret: testSecret, HTTPClient: srv.Client(), Now: func() time.Time { return at }}

	payload := map[string]any{"action_id": "act_42", "services": []string{"orders"}}
	if err := w.Send(context.Background(), srv.URL+"/hooks/mandate", "action.gated", payload); err != nil {
		t.Fatalf("Send: %v", err)
	}
	r := one(t, got)
	if r.verify != nil {
		t.Fatalf("receiver rejected the signature: %v", r.verify)
	}
	ts := strconv.FormatInt(at.Unix(), 10)
	for k, want := range map[string]string{
		"Content-Type":        "application/json",
		"User-Agent":          "mandate",
		"X-Mandate-Event":     "action.gated",
		"X-Mandate-Timestamp": ts,
		"X-Mandate-Signature": "t=" + ts + "," + Sign(testSecret, at.Unix(), r.body),
	} {
		if v := r.header.Get(k); v != want {
			t.Errorf("%s = %q, want %q", k, v, want)
		}
	}
	var body struct {
		Event  string         `json:"event"`
		SentAt string         `json:"sent_at"`
		Data   map[string]any `json:"data"`
	}
	if err := json.Unmarshal(r.body, &body); err != nil {
		t.Fatalf("body %s: %v", r.body, err)
	}
	if body.Event != "action.gated" || body.SentAt != "2025-03-04T05:06:07Z" || body.Data["action_id"] != "act_42" {
		t.Errorf("body %s", r.body)
	}
}

func TestSignKnownVector(t *testing.T) {
	// Computed independently: printf '1700000000.{"a":1}' | openssl dgst -sha256 -hmac secret
	// (the receivers' documentation quotes it, so the scheme must never drift).
	const want = "v1=49f24e537407743fa4a0242bb63b94b9a47ee99cbbe071ccd8a22550ae411686"
	if got := Sign("secret", 1700000000, []byte(`{"a":1}`)); got != want {
		t.Errorf("Sign = %q, want %q", got, want)
	}
}

func TestVerifySignature(t *testing.T) {
	at := time.Unix(1700000000, 0)
	body := []byte(`{"event":"x","data":{}}`)
	good := "t=1700000000," + Sign(testSecret, at.Unix(), body)
	for name, tc := range map[string]struct {
		header string
		body   []byte
		now    time.Time
		want   error
	}{
		"good":             {good, body, at, nil},
		"within tolerance": {good, body, at.Add(4 * time.Minute), nil},
		"rotated secret":   {"t=1700000000,v1=00ff," + Sign(testSecret, at.Unix(), body), body, at, nil},
		"tampered body":    {good, []byte(`{"event":"y","data":{}}`), at, ErrSignatureInvalid},
		"wrong secret":     {"t=1700000000," + Sign("other", at.Unix(), body), body, at, ErrSignatureInvalid},
		"moved timestamp":  {"t=1700000300," + Sign(testSecret, at.Unix(), body), body, at, ErrSignatureInvalid},
		"old timestamp":    {good, body, at.Add(6 * time.Minute), ErrSignatureExpired},
		"future timestamp": {good, body, at.Add(-6 * time.Minute), ErrSignatureExpired},
		"no signature":     {"t=1700000000", body, at, ErrSignatureMissing},
		"no timestamp":     {Sign(testSecret, at.Unix(), body), body, at, ErrSignatureMissing},
		"empty":            {"", body, at, ErrSignatureMissing},
		"not hex":          {"t=1700000000,v1=zz", body, at, ErrSignatureInvalid},
	} {
		t.Run(name, func(t *testing.T) {
			err := VerifySignature(testSecret, tc.header, tc.body, tc.now, 5*time.Minute)
			if !errors.Is(err, tc.want) || (tc.want == nil) != (err == nil) {
				t.Errorf("VerifySignature = %v, want %v", err, tc.want)
			}
		})
	}
}

func TestWebhookReceiverRejectsOldTimestamp(t *testing.T) {
	at := time.Date(2025, 3, 4, 5, 6, 7, 0, time.UTC)
	// The receiver's clock is ten minutes ahead of the signature: a replay.
	srv, got := receiver(t, at.Add(10*time.Minute), http.StatusOK, nil)
	w := &Webhook{Secret: testSecret, HTTPClient: srv.Client(), Now: func() time.Time { return at }}
	err := w.Send(context.Background(), srv.URL, "action.executed", nil)
	if r := one(t, got); !errors.Is(r.verify, ErrSignatureExpired) {
		t.Errorf("receiver verify = %v, want ErrSignatureExpired", r.verify)
	}
	if err == nil || Retryable(err) {
		t.Errorf("err = %v; want a permanent 401", err)
	}
}

func TestWebhookStatuses(t *testing.T) {
	at := time.Date(2025, 3, 4, 5, 6, 7, 0, time.UTC)
	for name, tc := range map[string]struct {
		status    int
		header    http.Header
		retryable bool
		wait      time.Duration
	}{
		"200":        {status: 200},
		"202":        {status: 202},
		"500":        {status: 500, retryable: true},
		"503":        {status: 503, retryable: true},
		"429":        {status: 429, header: http.Header{"Retry-After": {"120"}}, retryable: true, wait: 2 * time.Minute},
		"429 date":   {status: 429, header: http.Header{"Retry-After": {at.Add(90 * time.Second).Format(http.TimeFormat)}}, retryable: true, wait: 90 * time.Second},
		"429 no hdr": {status: 429, retryable: true},
		"410":        {status: 410},
		"404":        {status: 404},
		"302":        {status: 302, header: http.Header{"Location": {"http://elsewhere.example/"}}},
	} {
		t.Run(name, func(t *testing.T) {
			srv, got := receiver(t, at, tc.status, tc.header)
			w := &Webhook{Secret: testSecret, Now: func() time.Time { return at }}
			err := w.Send(context.Background(), srv.URL+"/hook?token=s3cret", "e", 1)
			one(t, got)
			if tc.status < 300 {
				if err != nil {
					t.Fatalf("Send: %v", err)
				}
				return
			}
			if err == nil {
				t.Fatalf("Send succeeded on %d", tc.status)
			}
			if !strings.Contains(err.Error(), strconv.Itoa(tc.status)) {
				t.Errorf("%q does not mention the status", err)
			}
			if strings.Contains(err.Error(), "s3cret") {
				t.Errorf("%q leaks the URL's query", err)
			}
			if Retryable(err) != tc.retryable {
				t.Errorf("Retryable(%v) = %v, want %v", err, !tc.retryable, tc.retryable)
			}
			d, ok := RetryAfter(err)
			if d != tc.wait || ok != (tc.wait > 0) {
				t.Errorf("RetryAfter = %v, %v; want %v", d, ok, tc.wait)
			}
		})
	}
}

func TestWebhookTimeoutAndRefused(t *testing.T) {
	release := make(chan struct{})
	hung := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-r.Context().Done():
		case <-release:
		}
	}))
	defer hung.Close()
	defer close(release)
	client := *hung.Client()
	client.Timeout = 50 * time.Millisecond
	w := &Webhook{Secret: testSecret, HTTPClient: &client}
	if err := w.Send(context.Background(), hung.URL, "e", nil); err == nil || !Retryable(err) {
		t.Errorf("timeout: err = %v, want retryable", err)
	}

	closed := httptest.NewServer(http.NotFoundHandler())
	url := closed.URL
	closed.Close()
	err := (&Webhook{Secret: testSecret}).Send(context.Background(), url+"/hook?token=s3cret", "e", nil)
	if err == nil || !Retryable(err) {
		t.Errorf("connection refused: err = %v, want retryable", err)
	}
	if strings.Contains(err.Error(), "s3cret") {
		t.Errorf("%q leaks the URL's query", err)
	}
}

func TestWebhookRefusesBadInput(t *testing.T) {
	ctx := context.Background()
	for name, call := range map[string]func() error{
		"no secret":   func() error { return (&Webhook{}).Send(ctx, "https://example.com/", "e", nil) },
		"no event":    func() error { return (&Webhook{Secret: "s"}).Send(ctx, "https://example.com/", "", nil) },
		"relative":    func() error { return (&Webhook{Secret: "s"}).Send(ctx, "/hook", "e", nil) },
		"scheme":      func() error { return (&Webhook{Secret: "s"}).Send(ctx, "ftp://example.com/", "e", nil) },
		"unencodable": func() error { return (&Webhook{Secret: "s"}).Send(ctx, "https://example.com/", "e", func() {}) },
	} {
		t.Run(name, func(t *testing.T) {
			err := call()
			if err == nil || Retryable(err) {
				t.Errorf("err = %v, want a permanent error", err)
			}
		})
	}
}

func TestRetryableUnclassified(t *testing.T) {
	if Retryable(nil) {
		t.Error("nil is retryable")
	}
	if !Retryable(errors.New("something odd")) {
		t.Error("an unclassified error is not retryable")
	}
	if _, ok := RetryAfter(errors.New("x")); ok {
		t.Error("RetryAfter on an unclassified error")
	}
}
