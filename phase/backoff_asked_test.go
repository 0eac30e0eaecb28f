package phase

import (
	"context"
	"testing"
	"time"

	"github.com/emersion/go-imap/v2"

	"github.com/mailshift/mailshift/internal/imapconn"
	"github.com/mailshift/mailshift/internal/mailbox"
	"github.com/mailshift/mailshift/internal/throttle"
)

// TestRetryWaitsTheSuggestedBackoff: Exchange's throttling answer is
// back-pressure with a delay, and the retry waits exactly that delay on
// the project's clock (no jitter, no cap), however long.
func TestRetryWaitsTheSuggestedBackoff(t *testing.T) {
	for _, tc := range []struct {
		text string
		want time.Duration
	}{
		{"Request is throttled. Suggested Backoff Time: 1500 milliseconds", 1500 * time.Millisecond},
		{"Request is throttled. Suggested Backoff Time: 299961 milliseconds", 299961 * time.Millisecond},
	} {
		err := imapconn.Classify(&imap.Error{Type: imap.StatusResponseTypeNo, Text: tc.text})
		if !busy(err) || !retryable(err) {
			t.Fatalf("%q: not back-pressure: %v", tc.text, err)
		}
		if d, ok := mailbox.RetryAfter(err); !ok || d != tc.want {
			t.Fatalf("%q: suggested %v %v, want %v", tc.text, d, ok, tc.want)
		}
		clock := throttle.NewManualClock(time.Date(2026, 3, 2, 10, 0, 0, 0, time.UTC))
		p := &Project{Config: Defaults(), Clock: clock}
		rt := retrier{p: p, what: "user alice"}
		done := make(chan bool)
		go func() { done <- rt.again(context.Background(), err) }()
		clock.BlockUntil(1)
		at, _ := clock.NextTimer()
		if wait := at.Sub(clock.Now()); wait != tc.want {
			t.Fatalf("%q: waits %v, want exactly %v", tc.text, wait, tc.want)
		}
		clock.Advance(tc.want - time.Millisecond)
		select {
		case <-done:
			t.Fatalf("%q: retried before the suggested time", tc.text)
		default:
		}
		clock.Advance(time.Millisecond)
		if !<-done {
			t.Fatalf("%q: not retried", tc.text)
		}
	}
}
