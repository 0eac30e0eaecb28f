package throttle

import (
	"context"
	"errors"
	"testing"
	"time"
)

func TestBackoffGrowsToCap(t *testing.T) {
	b := Backoff{Initial: time.Second, Max: 10 * time.Second, Jitter: -1}
	want := []time.Duration{1, 2, 4, 8, 10, 10}
	for i, w := range want {
		if d := b.Next(); d != w*time.Second {
			t.Errorf("attempt %d: %v, want %v", i, d, w*time.Second)
		}
	}
	if b.Attempt() != len(want) {
		t.Errorf("Attempt = %d", b.Attempt())
	}
	for range 2000 { // no overflow however long it fails
		if d := b.Next(); d != 10*time.Second {
			t.Fatalf("after many attempts: %v", d)
		}
	}
	b.Reset()
	if d := b.Next(); d != time.Second {
		t.Errorf("after Reset: %v", d)
	}
}

func TestBackoffDefaultsAndJitter(t *testing.T) {
	r := 0.0
	b := Backoff{Rand: func() float64 { return r }}
	if d := b.Next(); d != DefaultBackoffInitial {
		t.Errorf("zero Backoff first delay %v", d)
	}
	r = 0.5 // default jitter 0.5: the delay loses a quarter
	if d := b.Next(); d != 1500*time.Millisecond {
		t.Errorf("second delay with jitter %v, want 1.5s", d)
	}
	b.Reset()
	for range 30 {
		b.Next()
	}
	r = 0.999999
	if d := b.Next(); d < DefaultBackoffMax/2-time.Millisecond || d > DefaultBackoffMax {
		t.Errorf("capped delay with jitter %v, want within [Max/2, Max]", d)
	}

	// The real random source stays within bounds.
	b2 := Backoff{Initial: 100 * time.Millisecond, Max: time.Second, Jitter: 0.3}
	for i := range 50 {
		d := b2.Next()
		base := min(100*time.Millisecond<<min(i, 10), time.Second)
		if d > base || d < time.Duration(float64(base)*0.7)-time.Microsecond {
			t.Fatalf("attempt %d: %v outside [0.7, 1]×%v", i, d, base)
		}
	}
}

func TestBackoffWait(t *testing.T) {
	c := NewManualClock(t0)
	b := Backoff{Initial: 3 * time.Second, Jitter: -1}
	done := make(chan error)
	go func() { done <- b.Wait(context.Background(), c) }()
	c.BlockUntil(1)
	c.Advance(3 * time.Second)
	if err := <-done; err != nil {
		t.Fatal(err)
	}

	ctx, cancel := context.WithCancel(context.Background())
	go func() { done <- b.Wait(ctx, c) }()
	c.BlockUntil(1)
	cancel()
	if err := <-done; !errors.Is(err, context.Canceled) {
		t.Fatalf("cancelled Wait: %v", err)
	}
}
