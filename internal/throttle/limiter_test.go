package throttle

import (
	"bytes"
	"context"
	"errors"
	"io"
	"math"
	"runtime"
	"sync"
	"testing"
	"time"
)

var t0 = time.Date(2025, 3, 3, 12, 0, 0, 0, time.UTC)

// drive runs fn in a goroutine and, whenever it waits on a timer of c,
// moves c to that timer, until fn returns. It returns the clock time fn
// took. Nothing sleeps for real.
func drive(t *testing.T, c *ManualClock, fn func()) time.Duration {
	t.Helper()
	start := c.Now()
	done := make(chan struct{})
	go func() {
		defer close(done)
		fn()
	}()
	for {
		select {
		case <-done:
			return c.Now().Sub(start)
		default:
		}
		if next, ok := c.NextTimer(); ok {
			c.Set(next)
		} else {
			runtime.Gosched()
		}
	}
}

func near(got, want, tolerance time.Duration) bool {
	d := got - want
	return d >= -tolerance && d <= tolerance
}

func TestNilLimiterIsUnlimited(t *testing.T) {
	var l *Limiter
	ctx := context.Background()
	if err := l.WaitMessage(ctx); err != nil {
		t.Fatal(err)
	}
	if err := l.WaitBytes(ctx, 1<<30); err != nil {
		t.Fatal(err)
	}
	src := bytes.NewReader([]byte("hello"))
	if r := l.Reader(ctx, src); r != io.Reader(src) {
		t.Error("nil Limiter wrapped the reader")
	}
	var buf bytes.Buffer
	if w := l.Writer(ctx, &buf); w != io.Writer(&buf) {
		t.Error("nil Limiter wrapped the writer")
	}
	l.Slow()
	if b, m := l.Rates(); b != 0 || m != 0 {
		t.Errorf("Rates = %v, %v; want 0, 0", b, m)
	}
	cancelled, cancel := context.WithCancel(ctx)
	cancel()
	if err := l.WaitMessage(cancelled); !errors.Is(err, context.Canceled) {
		t.Errorf("WaitMessage on an ended context: %v", err)
	}
}

func TestUnlimitedNeverWaits(t *testing.T) {
	c := NewManualClock(t0)
	l := NewLimiter(LimiterConfig{Clock: c})
	for range 1000 {
		if err := l.WaitMessage(context.Background()); err != nil {
			t.Fatal(err)
		}
		if err := l.WaitBytes(context.Background(), 1<<20); err != nil {
			t.Fatal(err)
		}
	}
	if c.Pending() != 0 {
		t.Error("an unlimited Limiter started a timer")
	}
}

func TestMessageRate(t *testing.T) {
	c := NewManualClock(t0)
	l := NewLimiter(LimiterConfig{MessagesPerSecond: 10, Clock: c})
	// Burst of one message, then one every 100 ms: 100 messages in 9.9 s.
	took := drive(t, c, func() {
		for range 100 {
			if err := l.WaitMessage(context.Background()); err != nil {
				t.Error(err)
				return
			}
		}
	})
	if !near(took, 9900*time.Millisecond, time.Millisecond) {
		t.Errorf("100 messages at 10/s took %v, want 9.9s", took)
	}
}

func TestByteRateShared(t *testing.T) {
	c := NewManualClock(t0)
	const rate = 100_000
	l := NewLimiter(LimiterConfig{BytesPerSecond: rate, Clock: c})
	// Four workers, 250 KB each, share 100 KB/s: 1 MB less the 10 KB
	// burst takes 9.9 s.
	took := drive(t, c, func() {
		var wg sync.WaitGroup
		for range 4 {
			wg.Go(func() {
				for range 25 {
					if err := l.WaitBytes(context.Background(), 10_000); err != nil {
						t.Error(err)
						return
					}
				}
			})
		}
		wg.Wait()
	})
	// Never faster than the rate; slower by how the workers' turns fall
	// on the manual clock (it may move on while a worker is between two
	// waits).
	if took < 9898*time.Millisecond || took > 11500*time.Millisecond {
		t.Errorf("1 MB at 100 KB/s by 4 workers took %v, want 9.9s", took)
	}
}

func TestReaderStreamsAtRate(t *testing.T) {
	c := NewManualClock(t0)
	l := NewLimiter(LimiterConfig{BytesPerSecond: 200_000, Clock: c})
	data := bytes.Repeat([]byte("0123456789abcdef"), 1<<16) // 1 MiB
	var got []byte
	var reads int
	took := drive(t, c, func() {
		r := l.Reader(context.Background(), bytes.NewReader(data))
		buf := make([]byte, 1<<20)
		for {
			n, err := r.Read(buf)
			if n > readChunk {
				t.Errorf("one read returned %d bytes; want at most %d while limited", n, readChunk)
			}
			got = append(got, buf[:n]...)
			reads++
			if err == io.EOF {
				return
			}
			if err != nil {
				t.Error(err)
				return
			}
		}
	})
	if !bytes.Equal(got, data) {
		t.Fatalf("read %d bytes, not the %d written", len(got), len(data))
	}
	want := time.Duration(float64(len(data)-20_000) / 200_000 * float64(time.Second))
	if !near(took, want, 2*time.Millisecond) {
		t.Errorf("1 MiB at 200 KB/s took %v, want %v", took, want)
	}
	if reads < 30 {
		t.Errorf("%d reads: the bytes did not stream in small pieces", reads)
	}
}

func TestWriterStreamsAtRate(t *testing.T) {
	c := NewManualClock(t0)
	l := NewLimiter(LimiterConfig{BytesPerSecond: 100_000, Clock: c})
	data := bytes.Repeat([]byte{'x'}, 510_000)
	var out bytes.Buffer
	took := drive(t, c, func() {
		n, err := l.Writer(context.Background(), &out).Write(data)
		if n != len(data) || err != nil {
			t.Errorf("Write = %d, %v", n, err)
		}
	})
	if !bytes.Equal(out.Bytes(), data) {
		t.Fatal("written bytes differ")
	}
	if !near(took, 5*time.Second, 2*time.Millisecond) {
		t.Errorf("510 KB at 100 KB/s (10 KB burst) took %v, want 5s", took)
	}
}

func TestCancelEndsWaitAtOnceAndGivesTokensBack(t *testing.T) {
	c := NewManualClock(t0)
	l := NewLimiter(LimiterConfig{MessagesPerSecond: 1, Clock: c})
	ctx := context.Background()
	if err := l.WaitMessage(ctx); err != nil { // the burst
		t.Fatal(err)
	}
	wctx, cancel := context.WithCancel(ctx)
	errc := make(chan error)
	go func() { errc <- l.WaitMessage(wctx) }()
	c.BlockUntil(1)
	cancel() // the clock does not move: the wait must end by itself
	if err := <-errc; !errors.Is(err, context.Canceled) {
		t.Fatalf("cancelled wait returned %v", err)
	}
	if c.Pending() != 0 {
		t.Error("the cancelled wait left its timer running")
	}
	// The cancelled message's token came back: the next one waits 1 s, not 2.
	go func() { errc <- l.WaitMessage(ctx) }()
	c.BlockUntil(1)
	if next, _ := c.NextTimer(); next.Sub(c.Now()) != time.Second {
		t.Errorf("next message waits %v, want 1s", next.Sub(c.Now()))
	}
	c.Advance(time.Second)
	if err := <-errc; err != nil {
		t.Fatal(err)
	}

	// A reader fails with the context's error.
	rctx, rcancel := context.WithCancel(ctx)
	rcancel()
	if _, err := l.Reader(rctx, bytes.NewReader([]byte("x"))).Read(make([]byte, 1)); !errors.Is(err, context.Canceled) {
		t.Errorf("Read after cancel: %v", err)
	}
}

func TestSlowHalvesToFloorAndRecovers(t *testing.T) {
	c := NewManualClock(t0)
	l := NewLimiter(LimiterConfig{BytesPerSecond: 1_600_000, MessagesPerSecond: 160, Clock: c})
	rates := func() (float64, float64) { return l.Rates() }

	l.Slow()
	if b, m := rates(); b != 800_000 || m != 80 {
		t.Fatalf("after Slow: %v B/s, %v msg/s; want half", b, m)
	}
	l.Slow() // within the hold: the same "busy" heard by another worker
	if b, _ := rates(); b != 800_000 {
		t.Fatalf("a second Slow within the hold changed the rate to %v", b)
	}
	for range 10 {
		c.Advance(DefaultHold)
		l.Slow()
	}
	if b, m := rates(); b != 100_000 || m != 10 {
		t.Fatalf("after many Slows: %v B/s, %v msg/s; want the floor, 1/16", b, m)
	}

	// Quiet period: nothing changes before it ends.
	c.Advance(DefaultQuiet - time.Second)
	if b, _ := rates(); b != 100_000 {
		t.Fatalf("recovering before the quiet period ended: %v", b)
	}
	// Then an eighth of the configured rate per step.
	c.Advance(time.Second)
	if b, m := rates(); b != 300_000 || m != 30 {
		t.Fatalf("first recovery step: %v B/s, %v msg/s; want 300000, 30", b, m)
	}
	c.Advance(DefaultRecoverStep)
	if b, _ := rates(); b != 500_000 {
		t.Fatalf("second recovery step: %v, want 500000", b)
	}
	c.Advance(10 * DefaultRecoverStep)
	if b, m := rates(); b != 1_600_000 || m != 160 {
		t.Fatalf("after recovery: %v B/s, %v msg/s; want the configured rates", b, m)
	}
	// A Slow during recovery halves the rate in force then.
	l.Slow()
	c.Advance(DefaultQuiet)
	l.Slow()
	if b, _ := rates(); b != 500_000 {
		t.Fatalf("Slow during recovery at 1000000 B/s: %v, want 500000", b)
	}
}

func TestSlowSlowsWaits(t *testing.T) {
	c := NewManualClock(t0)
	l := NewLimiter(LimiterConfig{MessagesPerSecond: 10, Clock: c})
	send := func(n int) time.Duration {
		return drive(t, c, func() {
			for range n {
				if err := l.WaitMessage(context.Background()); err != nil {
					t.Error(err)
				}
			}
		})
	}
	send(10)
	l.Slow()
	if took := send(10); !near(took, 2*time.Second, 5*time.Millisecond) {
		t.Errorf("10 messages at the halved rate took %v, want 2s", took)
	}
}

func TestSlowUnlimitedFromMeasuredRate(t *testing.T) {
	c := NewManualClock(t0)
	l := NewLimiter(LimiterConfig{Clock: c})
	l.Slow() // nothing measured: stays unlimited
	if b, m := l.Rates(); b != 0 || m != 0 {
		t.Fatalf("Slow with nothing measured: %v, %v", b, m)
	}
	// 4 MB/s and 200 msg/s for two seconds.
	for range 20 {
		for range 20 {
			l.WaitMessage(context.Background())
			l.WaitBytes(context.Background(), 20_000)
		}
		c.Advance(100 * time.Millisecond)
	}
	c.Advance(DefaultHold)
	l.Slow()
	b, m := l.Rates()
	if math.Abs(b-2_000_000) > 200_000 || math.Abs(m-100) > 10 {
		t.Fatalf("Slow on unlimited after 4 MB/s, 200 msg/s: %v B/s, %v msg/s; want about half", b, m)
	}
	// Waits are now paced.
	took := drive(t, c, func() {
		for range 50 {
			l.WaitMessage(context.Background())
		}
	})
	if took < 300*time.Millisecond {
		t.Errorf("50 messages after Slow took %v; want about 0.5s", took)
	}
	// Back to unlimited after recovery.
	c.Advance(DefaultQuiet + 20*DefaultRecoverStep)
	if b, m := l.Rates(); b != 0 || m != 0 {
		t.Fatalf("after recovery: %v, %v; want unlimited again", b, m)
	}
	if c.Pending() != 0 {
		t.Fatal("timers left")
	}
}
