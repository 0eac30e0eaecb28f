package imapsource

import (
	"bytes"
	"context"
	"testing"
	"time"

	"github.com/emersion/go-imap/v2"
)

// TestWatch: a watch opened on INBOX reports a message that arrives
// afterwards at once (IDLE), not when its wait runs out; a quiet folder
// reports no change when the wait ends.
func TestWatch(t *testing.T) {
	ctx := context.Background()
	fx := newFixture(t)
	s := fx.open(t, fx.Addr, nil)
	if changed, err := s.Watch(ctx, "INBOX", 0); err != nil || changed {
		t.Fatalf("Watch(INBOX, 0) = %v, %v; want false, nil", changed, err)
	}
	if changed, err := s.Watch(ctx, "INBOX", 300*time.Millisecond); err != nil || changed {
		t.Fatalf("a quiet INBOX: Watch = %v, %v; want false, nil", changed, err)
	}
	go func() {
		time.Sleep(200 * time.Millisecond)
		if _, err := fx.user.Append("INBOX", bytes.NewReader(msg("news", 3)), &imap.AppendOptions{Time: time.Now()}); err != nil {
			t.Error(err)
		}
	}()
	start := time.Now()
	changed, err := s.Watch(ctx, "INBOX", 20*time.Second)
	if err != nil || !changed {
		t.Fatalf("Watch = %v, %v; want true, nil", changed, err)
	}
	if d := time.Since(start); d > 10*time.Second {
		t.Errorf("the change was reported after %v", d)
	}
}
