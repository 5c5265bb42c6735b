package notify

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/slack-go/slack"
)

// TestSlackRetryable: what may succeed later is retried; what retrying cannot fix is not.
func TestSlackRetryable(t *testing.T) {
	for _, c := range []struct {
		err  error
		want bool
	}{
		{&slack.RateLimitedError{RetryAfter: time.Second}, true},
		{slack.StatusCodeError{Code: 502, Status: "502 Bad Gateway"}, true},
		{slack.StatusCodeError{Code: 404, Status: "404 Not Found"}, false},
		{fmt.Errorf("post: %w", context.DeadlineExceeded), true},
		{slack.SlackErrorResponse{Err: "internal_error"}, true},
		{slack.SlackErrorResponse{Err: "request_timeout"}, true},
		{slack.SlackErrorResponse{Err: "channel_not_found"}, false},
		{slack.SlackErrorResponse{Err: "invalid_auth"}, false},
		{errors.New("something else"), false},
	} {
		if got := SlackRetryable(c.err); got != c.want {
			t.Errorf("SlackRetryable(%v) = %v, want %v", c.err, got, c.want)
		}
	}
}
