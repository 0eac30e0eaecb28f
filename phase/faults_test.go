package phase

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/mailshift/mailshift/internal/testrig/corpus"
	"github.com/mailshift/mailshift/internal/testrig/dovecot"
	"github.com/mailshift/mailshift/internal/testrig/faultproxy"
)

// Fault tests: the network or a server misbehaves in the middle of a bulk
// copy. Every run must finish, with every source message on the target
// exactly once and verification clean. Faults are injected when the
// traffic through a proxy reaches a volume, not after a delay, so that
// they always land in the middle of the copy.

// faultMailbox is the mailbox the fault tests copy: about 150 messages of
// about 4 kB (some far larger) in several folders, some 700 kB in all.
func faultMailbox(seed int64) []corpus.Message { return corpus.Mailbox(seed, 150, 4000) }

// behind puts one side of the project behind a fault proxy; it must be
// called before approved (the endpoint is part of the plan). Retries start
// after a quarter of a second, to keep the tests fast.
func (e *testEnv) behind(side string) *faultproxy.Proxy {
	e.t.Helper()
	e.p.Config.Copy.RetryWait = "250ms"
	ep, srv := &e.p.Config.Target, e.dst
	if side == "source" {
		ep, srv = &e.p.Config.Source, e.src
	}
	px := faultproxy.Start(e.t, srv.Addr)
	ep.URL = "imap://" + px.Addr + "?tls=none"
	return px
}

// bulkInBackground starts Bulk and returns a channel with its outcome.
func (e *testEnv) bulkInBackground(ctx context.Context) <-chan bulkOutcome {
	done := make(chan bulkOutcome, 1)
	go func() {
		res, err := Bulk(ctx, e.p, BulkOptions{SkipTest: true})
		done <- bulkOutcome{res, err}
	}()
	return done
}

type bulkOutcome struct {
	res RunResult
	err error
}

// faultDeadline bounds a faulty run: long enough for backing off and
// reconnecting a few times, short enough to keep the test fast.
const faultDeadline = 18 * time.Second

// runFaulty runs Bulk to its end within faultDeadline and fails the test,
// saying what went wrong, unless it succeeded.
func (e *testEnv) runFaulty(what string) RunResult {
	e.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), faultDeadline)
	defer cancel()
	res, err := Bulk(ctx, e.p, BulkOptions{SkipTest: true})
	e.mustFinish(what, res, err, ctx)
	return res
}

func (e *testEnv) mustFinish(what string, res RunResult, err error, ctx context.Context) {
	e.t.Helper()
	if ctx.Err() != nil {
		e.t.Fatalf("bulk %s did not finish within %v: %v", what, faultDeadline, err)
	}
	if err != nil {
		for _, f := range res.Failed {
			e.t.Logf("user %s failed: %s", f.User, f.Reason)
		}
		e.t.Fatalf("bulk %s: %v", what, err)
	}
}

// exactlyOnce checks that every user's target holds each source message
// exactly once, and that verify agrees.
func (e *testEnv) exactlyOnce(names ...string) {
	e.t.Helper()
	for _, n := range names {
		e.compare(n)
	}
	vr, err := Verify(context.Background(), e.p, Selection{Users: names})
	if err != nil {
		e.t.Fatalf("verify: %v", err)
	}
	if vr.Differences != 0 || vr.Extra != 0 {
		e.t.Errorf("verify: %d differences, %d extra: %+v", vr.Differences, vr.Extra, vr.List)
	}
}

// Connections cut after a number of bytes, again and again, on both
// sides: the source's while it sends bodies, the target's while it takes
// appends.
func TestFaultConnectionsCut(t *testing.T) {
	t.Parallel()
	e := newEnv(t, dovecot.Options{}, dovecot.Options{}, "cut")
	e.seed("cut", faultMailbox(41))
	src, dst := e.behind("source"), e.behind("target")
	e.approved()
	src.SetCut(faultproxy.Cut{Down: 250_000, Max: 2})
	dst.SetCut(faultproxy.Cut{Up: 120_000, Max: 4})
	e.runFaulty("through connections cut after 250 kB (source) and 120 kB (target)")
	t.Logf("source: %d connections, %d cut; target: %d connections, %d cut", src.Connections(), src.Cuts(), dst.Connections(), dst.Cuts())
	if src.Cuts() == 0 || dst.Cuts() == 0 {
		t.Errorf("no fault was injected (source cuts %d, target cuts %d): make the mailbox bigger", src.Cuts(), dst.Cuts())
	}
	src.SetCut(faultproxy.Cut{})
	dst.SetCut(faultproxy.Cut{})
	e.exactlyOnce("cut")
}

// A server that stops answering but keeps the connection open: the
// endpoint's timeout ends the wait, and the copy goes on.
func TestFaultStall(t *testing.T) {
	t.Parallel()
	for _, side := range []string{"source", "target"} {
		t.Run(side, func(t *testing.T) {
			t.Parallel()
			e := newEnv(t, dovecot.Options{}, dovecot.Options{}, "stall")
			e.seed("stall", faultMailbox(42))
			px := e.behind(side)
			e.p.Config.Source.Timeout = "1s"
			e.p.Config.Target.Timeout = "1s"
			must(t, e.p.Config.Validate())
			e.approved()
			stalled := make(chan struct{})
			px.At(250_000, func() {
				px.Stall(2500 * time.Millisecond)
				close(stalled)
			})
			start := time.Now()
			e.runFaulty("through a " + side + " that stalls for 2.5 s with timeout 1s")
			select {
			case <-stalled:
			default:
				t.Fatal("no stall was injected: make the mailbox bigger")
			}
			t.Logf("finished in %v with %d connections", time.Since(start).Round(time.Millisecond), px.Connections())
			if px.Connections() < 2 {
				t.Errorf("the stalled connection was never replaced (%d connections)", px.Connections())
			}
			e.exactlyOnce("stall")
		})
	}
}

// Every connection is cut and new ones are refused for a few seconds,
// either accepted and closed at once or not even accepted.
func TestFaultRefused(t *testing.T) {
	t.Parallel()
	for _, mode := range []struct {
		name string
		r    faultproxy.Refusal
	}{{"accept-close", faultproxy.AcceptClose}, {"not-listening", faultproxy.NotListening}} {
		t.Run(mode.name, func(t *testing.T) {
			t.Parallel()
			e := newEnv(t, dovecot.Options{}, dovecot.Options{}, "refused")
			e.seed("refused", faultMailbox(43))
			px := e.behind("target")
			e.approved()
			fired := make(chan error, 1)
			px.At(250_000, func() {
				px.CutAll()
				fired <- px.Refuse(mode.r, 3*time.Second)
			})
			e.runFaulty("while the target refuses connections for 3 s (" + mode.name + ")")
			select {
			case err := <-fired:
				must(t, err)
			default:
				t.Fatal("no refusal was injected: make the mailbox bigger")
			}
			t.Logf("%d connections, %d refused", px.Connections(), px.Refused())
			e.exactlyOnce("refused")
		})
	}
}

// The target server restarts in the middle of the copy.
func TestFaultTargetRestart(t *testing.T) {
	t.Parallel()
	e := newEnv(t, dovecot.Options{}, dovecot.Options{}, "restart")
	e.seed("restart", faultMailbox(44))
	px := e.behind("target")
	e.approved()
	reached, restarted := make(chan struct{}), make(chan struct{})
	px.At(250_000, func() {
		close(reached)
		<-restarted // this connection waits while the server restarts
	})
	ctx, cancel := context.WithTimeout(context.Background(), faultDeadline)
	defer cancel()
	done := e.bulkInBackground(ctx)
	select {
	case <-reached:
	case out := <-done:
		close(restarted)
		t.Fatalf("bulk finished before the restart (%v): make the mailbox bigger", out.err)
	}
	e.dst.Restart(t)
	close(restarted)
	out := <-done
	e.mustFinish("across a restart of the target server", out.res, out.err, ctx)
	e.exactlyOnce("restart")
}

// One user's target goes down for good in the middle of the copy: that
// user ends failed with the reason, the others are copied, and once the
// server is back a new run completes the failed user exactly once.
func TestFaultServerStaysDown(t *testing.T) {
	t.Parallel()
	e := newEnv(t, dovecot.Options{}, dovecot.Options{}, "erin", "frank")
	e.seed("erin", corpus.Mailbox(45, 60, 3000))
	e.seed("frank", faultMailbox(46))
	// frank's target is reached through a proxy of his own (a row may name
	// its own hosts, as imapsync rows do).
	down := faultproxy.Start(t, e.dst.Addr)
	e.p.Config.Copy.RetryWait = "250ms"
	e.p.Config.Copy.Retries = 2
	must(t, e.p.Config.Validate())
	for i := range e.p.Users {
		if e.p.Users[i].SourceUser == "frank" {
			e.p.Users[i].TargetHost = down.Addr
		}
	}
	e.approved()
	down.At(200_000, func() {
		down.CutAll()
		if err := down.Refuse(faultproxy.NotListening, 0); err != nil {
			t.Error(err)
		}
	})

	ctx, cancel := context.WithTimeout(context.Background(), faultDeadline)
	defer cancel()
	res, err := Bulk(ctx, e.p, BulkOptions{SkipTest: true})
	if ctx.Err() != nil {
		t.Fatalf("bulk with frank's server down did not give up on frank within %v: %v", faultDeadline, err)
	}
	if !errors.Is(err, ErrPartial) {
		t.Fatalf("bulk with frank's server down: %v, want ErrPartial", err)
	}
	if len(res.Failed) != 1 || res.Failed[0].User != "frank" {
		t.Fatalf("failed users: %+v, want frank only", res.Failed)
	}
	reason := res.Failed[0].Reason
	t.Logf("frank: %s", reason)
	if !strings.Contains(reason, down.Addr) {
		t.Errorf("the reason does not name frank's server %s: %s", down.Addr, reason)
	}
	e.exactlyOnce("erin")
	st, err := Status(e.p, Selection{Users: []string{"frank"}})
	must(t, err)
	if st.Users[0].Error == "" {
		t.Errorf("frank's status shows no error: %+v", st.Users[0])
	}

	// The server is back: the next run completes frank, nothing twice.
	must(t, down.Admit())
	e.runFaulty("after frank's server came back")
	e.exactlyOnce("erin", "frank")
}

// A bad link to the target: every connection is cut after 256 kB to 2 MB
// of appends, again and again, so a MULTIAPPEND group of 8 MiB never
// passes whole. Groups shrink after each cut and grow back after groups
// that pass; each attempt keeps what it stored and the retry budget counts
// only attempts that stored nothing, so the copy finishes, exactly once.
func TestFaultBadLinkTarget(t *testing.T) {
	t.Parallel()
	e := newEnv(t, dovecot.Options{}, dovecot.Options{}, "badlink")
	e.seed("badlink", corpus.Generate(43, 700, 15_000)) // 10 MB in INBOX
	dst := e.behind("target")
	e.p.Config.Copy.Retries = 3 // fewer than the cuts: only attempts that stored nothing may count
	e.approved()
	dst.SetCut(faultproxy.Cut{Up: 256 << 10, Spread: 2<<20 - 256<<10})
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()
	res, err := Bulk(ctx, e.p, BulkOptions{SkipTest: true})
	if ctx.Err() != nil {
		t.Fatalf("bulk over a bad link did not finish: %v", err)
	}
	if err != nil {
		t.Fatalf("bulk over a bad link: %v (%+v)", err, res.Failed)
	}
	t.Logf("target: %d connections, %d cut; %d messages, %s", dst.Connections(), dst.Cuts(), res.Messages, FormatBytes(res.Bytes))
	if dst.Cuts() < 3 {
		t.Errorf("only %d cuts: make the mailbox bigger", dst.Cuts())
	}
	dst.SetCut(faultproxy.Cut{})
	e.exactlyOnce("badlink")
}
