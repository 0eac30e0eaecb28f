package phase

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/mailshift/mailshift/internal/testrig/corpus"
	"github.com/mailshift/mailshift/internal/testrig/dovecot"
	"github.com/mailshift/mailshift/internal/testrig/imaptest"
)

// TestWindowsPauseBulk runs bulk copy outside its copy window: nothing is
// copied, status says until when it is paused, Ctrl-C stops the wait; --now
// copies at once.
func TestWindowsPauseBulk(t *testing.T) {
	e := newEnv(t, dovecot.Options{}, dovecot.Options{}, "hank")
	e.seed("hank", corpus.Mailbox(13, 30, 1500))
	// A one-minute window twelve hours from now.
	open := time.Now().UTC().Add(12 * time.Hour)
	e.p.Config.Throttle.TimeZone = "UTC"
	e.p.Config.Throttle.Windows = []string{fmt.Sprintf("daily %02d:%02d-%02d:%02d", open.Hour(), open.Minute(), open.Add(time.Minute).Hour(), open.Add(time.Minute).Minute())}
	must(t, e.p.Config.Validate())
	e.approved()

	ctx, cancel := context.WithCancel(context.Background())
	done := e.bulkInBackground(ctx)
	deadline := time.Now().Add(10 * time.Second)
	for {
		st, err := Status(e.p, Selection{})
		must(t, err)
		if p := st.Users[0].PausedUntil; p != nil {
			if d := p.Sub(open.Truncate(time.Minute)); d < -time.Minute || d > time.Minute {
				t.Errorf("paused until %v, want the window's start %v", p, open.Truncate(time.Minute))
			}
			if text := RenderStatus(st); !strings.Contains(text, "paused until") {
				t.Errorf("status does not say it is paused:\n%s", text)
			}
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("status never showed the pause")
		}
		time.Sleep(50 * time.Millisecond)
	}
	if n := len(imaptest.Snapshot(t, e.dst.Addr, "hank", e.pw["hank"])["INBOX"]); n != 0 {
		t.Errorf("%d messages copied outside the window", n)
	}
	cancel()
	out := <-done
	if !isInterrupt(out.err) {
		t.Errorf("bulk ended with %v, want the interruption", out.err)
	}

	_, err := Bulk(context.Background(), e.p, BulkOptions{SkipTest: true, Now: true})
	must(t, err)
	e.compare("hank")
	st, err := Status(e.p, Selection{})
	must(t, err)
	if st.Users[0].PausedUntil != nil {
		t.Errorf("still paused after the copy: %v", st.Users[0].PausedUntil)
	}
}

// TestThrottleBandwidthAndConnections copies under a bandwidth limit (it
// cannot be faster than the limit allows) and with one connection per
// server for two users that want two each (they take turns, nothing waits
// forever).
func TestThrottleBandwidthAndConnections(t *testing.T) {
	e := newEnv(t, dovecot.Options{}, dovecot.Options{}, "ida", "jon")
	e.seed("ida", corpus.Generate(14, 40, 120_000)) // above oneLaneBytes: two lanes wanted
	e.seed("jon", corpus.Generate(15, 40, 120_000))
	var total int64
	for _, n := range []string{"ida", "jon"} {
		for _, m := range imaptest.Snapshot(t, e.src.Addr, n, e.pw[n])["INBOX"] {
			total += int64(len(m.Body))
		}
	}
	e.p.Config.Throttle.Bandwidth = fmt.Sprintf("%dB/s", total/2) // about two seconds' worth
	e.p.Config.Throttle.MaxConnections = 1
	e.p.Config.Copy.ConnectionsPerUser = 2
	e.p.Config.Copy.BatchSize = 10
	must(t, e.p.Config.Validate())
	e.approved()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	start := time.Now()
	res, err := Bulk(ctx, e.p, BulkOptions{SkipTest: true})
	must(t, err)
	if took := time.Since(start); took < 1500*time.Millisecond {
		t.Errorf("%d bytes at %s took %v: faster than the limit", res.Bytes, e.p.Config.Throttle.Bandwidth, took)
	}
	e.compare("ida")
	e.compare("jon")
}

// TestWindowClosesMidBatch closes the copy window in the middle of a batch
// (one batch holds the whole folder): bulk stops between two messages,
// status says until when it is paused, nothing is copied while the window
// is shut, and once the next window opens the rest is copied, every
// message exactly once.
func TestWindowClosesMidBatch(t *testing.T) {
	e := newEnv(t, dovecot.Options{}, dovecot.Options{}, "iris")
	msgs := corpus.Generate(16, 300, 60_000)
	e.seed("iris", msgs)
	e.p.Config.Copy.BatchSize = 1000
	// Slow enough that the window shuts while most of the folder is still
	// to be fetched (a lane holds up to three 8 MiB groups on the way).
	e.p.Config.Throttle.MessagesPerSecond = 100
	e.p.Config.Throttle.TimeZone = "UTC"
	e.p.Config.Throttle.Windows = []string{"daily 01:00-02:00"}
	must(t, e.p.Config.Validate())
	day := time.Date(2026, 3, 2, 0, 0, 0, 0, time.UTC)
	var now atomic.Int64
	set := func(d time.Duration) { now.Store(day.Add(d).UnixNano()) }
	set(90 * time.Minute) // 01:30, inside
	e.p.Now = func() time.Time { return time.Unix(0, now.Load()).UTC() }
	e.approved()
	// The window shuts once 60 messages are on the target.
	e.p.Progress = &closeAfter{n: 60, close: func() { set(150 * time.Minute) }}

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	done := e.bulkInBackground(ctx)
	deadline := time.Now().Add(20 * time.Second)
	for {
		st, err := Status(e.p, Selection{})
		must(t, err)
		if p := st.Users[0].PausedUntil; p != nil {
			if want := day.Add(25 * time.Hour); !p.Equal(want) {
				t.Errorf("paused until %v, want the next window's start %v", p, want)
			}
			break
		}
		select {
		case out := <-done:
			t.Fatalf("bulk ended (%v) without pausing", out.err)
		default:
		}
		if time.Now().After(deadline) {
			t.Fatal("status never showed the pause")
		}
		time.Sleep(20 * time.Millisecond)
	}
	count := func() int { return len(imaptest.Snapshot(t, e.dst.Addr, "iris", e.pw["iris"])["INBOX"]) }
	paused := count()
	if paused < 60 || paused >= len(msgs) {
		t.Errorf("%d of %d messages copied when the window shut after 60: the batch did not stop", paused, len(msgs))
	}
	time.Sleep(500 * time.Millisecond)
	if n := count(); n != paused {
		t.Errorf("%d messages copied while the window was shut", n-paused)
	}
	cancel()
	if out := <-done; !isInterrupt(out.err) {
		t.Errorf("bulk ended with %v, want the interruption", out.err)
	}

	set(25*time.Hour + 30*time.Minute) // 01:30 the next day
	e.p.Progress = nil
	_, err := Bulk(context.Background(), e.p, BulkOptions{SkipTest: true})
	must(t, err)
	e.exactlyOnce("iris")
}

// closeAfter is a Progress that calls close once n messages are reported.
type closeAfter struct {
	NoProgress
	mu    sync.Mutex
	seen  int64
	n     int64
	close func()
}

func (c *closeAfter) Add(user string, messages, bytes int64) {
	c.mu.Lock()
	defer c.mu.Unlock()
	before := c.seen
	c.seen += messages
	if before < c.n && c.seen >= c.n {
		c.close()
	}
}
