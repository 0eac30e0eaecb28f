package throttle

import (
	"context"
	"errors"
	"runtime"
	"sync"
	"sync/atomic"
	"testing"
)

// acquireAsync starts an Acquire and returns a channel with its result.
func acquireAsync(ctx context.Context, g *Gate, key string) chan func() {
	ch := make(chan func(), 1)
	go func() {
		release, err := g.Acquire(ctx, key)
		if err != nil {
			release = nil
		}
		ch <- release
	}()
	return ch
}

// waitersOf returns how many wait for key (white box: for synchronising
// tests without sleeping).
func waitersOf(g *Gate, key string) int {
	g.mu.Lock()
	defer g.mu.Unlock()
	if k := g.keys[key]; k != nil {
		return len(k.waiters)
	}
	return 0
}

func untilWaiters(g *Gate, key string, n int) {
	for waitersOf(g, key) < n {
		runtime.Gosched()
	}
}

func TestGateCapsPerKey(t *testing.T) {
	ctx := context.Background()
	g := NewGate(2)
	r1, err := g.Acquire(ctx, "src:993")
	if err != nil {
		t.Fatal(err)
	}
	r2, _ := g.Acquire(ctx, "src:993")
	if n := g.InUse("src:993"); n != 2 {
		t.Fatalf("InUse = %d", n)
	}
	// Another server is not affected.
	rOther, err := g.Acquire(ctx, "dst:993")
	if err != nil {
		t.Fatal(err)
	}
	rOther()

	third := acquireAsync(ctx, g, "src:993")
	untilWaiters(g, "src:993", 1)
	select {
	case <-third:
		t.Fatal("a third holder got in with a cap of 2")
	default:
	}
	r1()
	r1() // releasing twice frees one slot only
	r3 := <-third
	if r3 == nil {
		t.Fatal("third Acquire failed")
	}
	if n := g.InUse("src:993"); n != 2 {
		t.Fatalf("InUse after a double release = %d, want 2", n)
	}
	r2()
	r3()
	if n := g.InUse("src:993"); n != 0 {
		t.Fatalf("InUse = %d after all released", n)
	}
	if len(g.keys) != 0 {
		t.Errorf("idle keys kept: %v", g.keys)
	}
}

func TestGateFIFO(t *testing.T) {
	ctx := context.Background()
	g := NewGate(1)
	hold, _ := g.Acquire(ctx, "k")
	var order []int
	var mu sync.Mutex
	var wg sync.WaitGroup
	for i := range 5 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			r, err := g.Acquire(ctx, "k")
			if err != nil {
				t.Error(err)
				return
			}
			mu.Lock()
			order = append(order, i)
			mu.Unlock()
			r()
		}()
		untilWaiters(g, "k", i+1) // queue them in a known order
	}
	hold()
	wg.Wait()
	for i, v := range order {
		if v != i {
			t.Fatalf("served in order %v, want 0..4", order)
		}
	}
}

func TestGateCancelWhileWaiting(t *testing.T) {
	g := NewGate(1)
	hold, _ := g.Acquire(context.Background(), "k")
	ctx, cancel := context.WithCancel(context.Background())
	errc := make(chan error)
	go func() {
		_, err := g.Acquire(ctx, "k")
		errc <- err
	}()
	untilWaiters(g, "k", 1)
	cancel()
	if err := <-errc; !errors.Is(err, context.Canceled) {
		t.Fatalf("cancelled Acquire: %v", err)
	}
	if waitersOf(g, "k") != 0 {
		t.Fatal("the cancelled waiter is still queued")
	}
	hold()
	if n := g.InUse("k"); n != 0 {
		t.Fatalf("a cancelled waiter holds a slot: InUse = %d", n)
	}
	// An ended context fails at once, even with free slots.
	if _, err := g.Acquire(ctx, "k"); !errors.Is(err, context.Canceled) {
		t.Fatalf("Acquire on an ended context: %v", err)
	}
}

func TestGateLimitPerKeyAndUnlimited(t *testing.T) {
	ctx := context.Background()
	var nilGate *Gate
	r, err := nilGate.Acquire(ctx, "x")
	if err != nil {
		t.Fatal(err)
	}
	r()
	nilGate.Limit("x", 1)

	var zero Gate // unlimited
	for range 100 {
		if _, err := zero.Acquire(ctx, "x"); err != nil {
			t.Fatal(err)
		}
	}

	g := NewGate(0)
	g.Limit("busy:143", 1)
	hold, _ := g.Acquire(ctx, "busy:143")
	for range 10 {
		if _, err := g.Acquire(ctx, "free:143"); err != nil {
			t.Fatal(err)
		}
	}
	waiter := acquireAsync(ctx, g, "busy:143")
	untilWaiters(g, "busy:143", 1)
	g.Limit("busy:143", 2) // raising the limit lets the waiter in
	if r := <-waiter; r == nil {
		t.Fatal("waiter not let in after raising the limit")
	}
	hold()
}

func TestGateNeverExceedsUnderLoad(t *testing.T) {
	ctx := context.Background()
	g := NewGate(3)
	var in, peak atomic.Int32
	var wg sync.WaitGroup
	for i := range 50 {
		wg.Go(func() {
			cctx := ctx
			if i%7 == 0 { // some give up at once
				c, cancel := context.WithCancel(ctx)
				cancel()
				cctx = c
			}
			for range 20 {
				r, err := g.Acquire(cctx, "srv")
				if err != nil {
					return
				}
				n := in.Add(1)
				for {
					p := peak.Load()
					if n <= p || peak.CompareAndSwap(p, n) {
						break
					}
				}
				runtime.Gosched()
				in.Add(-1)
				r()
			}
		})
	}
	wg.Wait()
	if p := peak.Load(); p > 3 || p < 1 {
		t.Fatalf("peak holders %d, cap 3", p)
	}
	if g.InUse("srv") != 0 {
		t.Fatal("slots left held")
	}
}
