package ingest

import (
	"bytes"
	"testing"
	"time"

	"github.com/mandatehq/mandate"
)

// FuzzDecodeAction checks the action decoder and validator on arbitrary bodies: it never
// panics, it rejects with a client error code only, and what it accepts satisfies the
// invariants the rest of Mandate relies on.
func FuzzDecodeAction(f *testing.F) {
	for _, seed := range []string{
		deployBody,
		`{"type":"read","summary":"x","resources":[{"kind":"service","name":"a"}]}`,
		`{"type":"deploy","summary":"x","resources":[{"kind":"file","repo":"r","path":"p"}],"params":null}`,
		`{"type":"Deploy!","summary":" ","resources":[{"kind":"file","repo":"acme/api"}],"colour":"red"}`,
		`{"type":"deploy","summary":5}`,
		`{"resources":"x"}`,
		`[1]`, `{`, ``, `null`, `{"params":{"a":[1,2,{"b":null}]}}`,
		`{"type":"x","summary":"\u00e9\ud800","resources":[{"kind":"a","name":"b","extra":1}],"occurred_at":"2026-11-25T10:00:00+02:00"}`,
	} {
		f.Add([]byte(seed))
	}
	now := time.Date(2026, 11, 25, 12, 0, 0, 0, time.UTC)
	f.Fuzz(func(t *testing.T, body []byte) {
		_, a, sha, err := decodeAction(body, now)
		if err != nil {
			if code := mandate.ErrorCode(err); code != mandate.EMALFORMED && code != mandate.EINVALID {
				t.Fatalf("error code %q for a bad body: %v", code, err)
			}
			return
		}
		if !typePattern.MatchString(a.Type) || len(a.Resources) == 0 || len(a.Resources) > maxResources ||
			!a.Reversibility.Valid() || a.Summary == "" || a.OccurredAt.After(now.Add(futureSkew)) || len(sha) != 32 {
			t.Fatalf("accepted an invalid action: %+v", a)
		}
		for _, r := range a.Resources {
			if _, ok := mandate.ParseResourceKey(r.Key()); !ok {
				t.Fatalf("resource %+v has no parseable key %q", r, r.Key())
			}
		}
		// Deterministic: the same body always means the same request.
		_, _, again, err := decodeAction(body, now)
		if err != nil || !bytes.Equal(sha, again) {
			t.Fatalf("second decode differs: %v", err)
		}
	})
}
