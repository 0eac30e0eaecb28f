package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hinshun/vt10x"

	"github.com/mailshift/mailshift/phase"
)

// clock is a settable time for the renderer's measurements.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *clock) advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

// syncBuffer is a bytes.Buffer safe for the renderer's goroutine and the
// test's.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// TestProgressLinesOnANonTerminal: away from a terminal the renderer logs
// a line every interval with the step, the totals, the rate and ETA of
// this run's work since the step began, and the users in progress; and a
// line when the step ends.
func TestProgressLinesOnANonTerminal(t *testing.T) {
	var stderr syncBuffer
	c := &clock{t: time.Date(2026, 12, 2, 12, 0, 0, 0, time.UTC)}
	p := newProgress(&stderr, false, false)
	p.now, p.interval = c.now, 20*time.Millisecond
	p.setLog(slog.New(slog.NewTextHandler(p.Stderr(), nil)))
	if p.Stderr() != io.Writer(&stderr) {
		t.Fatal("on a non-terminal log lines go straight to stderr")
	}

	c.advance(time.Minute) // time before the step does not count
	p.Begin("bulk", []phase.Work{{User: "alice", Messages: 100, Bytes: 1_000_000}, {User: "bob", Messages: 50, Bytes: 500_000}})
	p.Start("alice", 100, 1_000_000)
	p.AlreadyCopied("alice", 40, 400_000) // an earlier run's: no work of this one
	c.advance(2 * time.Second)
	p.Add("alice", 10, 100_000)

	line := waitForLine(t, &stderr, "msg=progress")
	// 100 kB in 2 s; left: alice's 500 kB and bob's 500 kB at 50 kB/s.
	for _, want := range []string{"step=bulk", "elapsed=2s", "users_done=0", "users=2", "messages=50", "messages_total=150",
		"bytes=500000", "bytes_total=1500000", "already_copied=40", `rate="50.0 kB/s"`, "eta=20s", `running="alice 50% (50/100)"`} {
		if !strings.Contains(line, want) {
			t.Errorf("progress line lacks %s:\n%s", want, line)
		}
	}

	p.Done("alice", nil)
	p.Start("bob", 50, 500_000)
	p.Add("bob", 50, 500_000)
	c.advance(2 * time.Second)
	p.Done("bob", nil)
	p.End("bulk")
	p.Close()
	line = waitForLine(t, &stderr, `msg="step done"`)
	for _, want := range []string{"step=bulk", "seconds=4", "users=2", "users_failed=0", "messages=60", "bytes=600000", "already_copied=40", `rate="150.0 kB/s"`} {
		if !strings.Contains(line, want) {
			t.Errorf("step done line lacks %s:\n%s", want, line)
		}
	}
	t.Logf("stderr:\n%s", stderr.String())
}

// waitForLine waits for a line holding want and returns the last such.
func waitForLine(t *testing.T, b *syncBuffer, want string) string {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for {
		var found string
		for _, l := range strings.Split(b.String(), "\n") {
			if strings.Contains(l, want) {
				found = l
			}
		}
		if found != "" {
			return found
		}
		if time.Now().After(deadline) {
			t.Fatalf("no line with %s in:\n%s", want, b.String())
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// TestProgressBarsEndComplete: a user that finishes has reached its end,
// also when its source held fewer messages than listed; one that fails
// stays where it stopped.
func TestProgressBarsEndComplete(t *testing.T) {
	p := newProgress(io.Discard, false, false)
	p.Begin("bulk", nil)
	p.Start("alice", 100, 1000)
	p.AlreadyCopied("alice", 50, 0) // sizes unknown: taken as the average
	if a := p.step.users["alice"]; a.bytes != 500 {
		t.Errorf("50 of 100 messages of 1000 bytes already there, of unknown size, count as %d bytes", a.bytes)
	}
	p.Add("alice", 42, 420) // 8 expunged meanwhile
	p.Done("alice", nil)
	p.Start("bob", 10, 100)
	p.Add("bob", 3, 30)
	p.Done("bob", errors.New("link down"))
	a, b := p.step.users["alice"], p.step.users["bob"]
	if a.msgs != a.totalMsgs || a.bytes != a.totalBytes || percent(a.msgs, a.totalMsgs) != 100 {
		t.Errorf("alice finished at %d/%d messages, %d/%d bytes", a.msgs, a.totalMsgs, a.bytes, a.totalBytes)
	}
	if percent(b.msgs, b.totalMsgs) != 30 {
		t.Errorf("bob failed at %d/%d, shown as %d%%", b.msgs, b.totalMsgs, percent(b.msgs, b.totalMsgs))
	}
	p.Start("carol", 10, 100)
	p.Done("carol", fmt.Errorf("copy: %w", context.Canceled)) // Ctrl-C
	tot := p.step.totals(p.now())
	if tot.done != 3 || tot.failed != 1 || tot.stopped != 1 || tot.copiedMsgs != 45 || tot.alreadyMsgs != 50 {
		t.Errorf("totals %+v", tot)
	}
	if l := tot.endLine(); !regexp.MustCompile(`^bulk interrupted after [0-9.]+s: 1 of 3 users done, 1 failed, 1 interrupted, 45 messages copied \(450 B, .*\), 50 already there$`).MatchString(l) {
		t.Errorf("end line %q", l)
	}
	p.End("bulk")
	p.Close()
}

// virtualTerminal is a terminal emulator fed as a terminal's line
// discipline would (a newline also returns the cursor).
type virtualTerminal struct {
	mu sync.Mutex
	vt vt10x.Terminal
}

func (v *virtualTerminal) Write(b []byte) (int, error) {
	v.mu.Lock()
	defer v.mu.Unlock()
	if _, err := v.vt.Write(bytes.ReplaceAll(b, []byte("\n"), []byte("\r\n"))); err != nil {
		return 0, err
	}
	return len(b), nil
}

// TestNarrationIsNeverOverwritten drives the renderer on a virtual
// terminal while it redraws every few milliseconds: what a command prints
// on stdout and stderr before, during and after a step is on the final
// screen, in order, and so are the finished users' bars and the step's
// total; no live line is left.
func TestNarrationIsNeverOverwritten(t *testing.T) {
	term := &virtualTerminal{vt: vt10x.New(vt10x.WithSize(90, 40))}
	p := newProgress(term, false, false)
	p.tty, p.interval, p.size = true, 2*time.Millisecond, func() (int, int) { return 90, 40 }
	out, errw := p.Stdout(term), p.Stderr()

	fmt.Fprintln(out, "before the step")
	p.Begin("bulk", []phase.Work{{User: "alice", Messages: 100, Bytes: 100_000}, {User: "bob", Messages: 100, Bytes: 100_000}})
	p.Start("alice", 100, 100_000)
	p.Start("bob", 100, 100_000)
	for i := range 100 {
		p.Add("alice", 1, 1000)
		if i < 60 {
			p.Add("bob", 1, 1000)
		}
		switch i {
		case 20:
			fmt.Fprintln(out, "narration while the bars run")
		case 40:
			fmt.Fprintln(errw, `level=WARN msg="retrying after a transient failure"`)
		case 50:
			io.WriteString(out, "a line written ")
			time.Sleep(5 * time.Millisecond)
			io.WriteString(out, "in two parts\n")
		}
		time.Sleep(200 * time.Microsecond)
	}
	p.Done("alice", nil)
	fmt.Fprintln(out, "alice is done")
	p.Done("bob", errors.New("link down"))
	p.End("bulk")
	fmt.Fprintln(out, "after the step")
	p.Close()

	screen := screenLines(term.vt)
	t.Logf("screen:\n%s", strings.Join(screen, "\n"))
	want := []string{
		"before the step",
		"narration while the bars run",
		`level=WARN msg="retrying after a transient failure"`,
		"a line written in two parts",
		`^✓ alice +\[█+\] 100% 100/100  100\.0 kB in `,
		"alice is done",
		`^✗ bob +\[█+░+\]  60% 60/100  FAILED: link down$`,
		`^bulk ended after [0-9.]+s: 1 of 2 users done, 1 failed, 160 messages copied \(160\.0 kB, `,
		"after the step",
	}
	inOrder(t, screen, want)
	for _, l := range screen {
		if strings.Contains(l, "ETA") {
			t.Errorf("a live line is left on the screen: %q", l)
		}
	}
}

// inOrder checks that lines holds a line matching each pattern of want,
// in that order (a plain pattern matches as a substring).
func inOrder(t *testing.T, lines, want []string) {
	t.Helper()
	i := 0
	for _, w := range want {
		re := regexp.MustCompile(w)
		if !strings.ContainsAny(w, `^\[(`) {
			re = regexp.MustCompile(regexp.QuoteMeta(w))
		}
		for i < len(lines) && !re.MatchString(lines[i]) {
			i++
		}
		if i == len(lines) {
			t.Errorf("screen lacks %q (in order)", w)
			return
		}
		i++
	}
}

// attrWrap is vt10x's mark on the last cell of a row that wrapped.
const attrWrap = 1 << 6

// screenLines is what the terminal shows, one entry per line written:
// rows that wrapped are joined, trailing blanks and empty rows at the
// bottom cut.
func screenLines(vt vt10x.Terminal) []string {
	vt.Lock()
	defer vt.Unlock()
	cols, rows := vt.Size()
	var lines []string
	var cur strings.Builder
	for y := range rows {
		for x := range cols {
			cur.WriteRune(vt.Cell(x, y).Char)
		}
		if vt.Cell(cols-1, y).Mode&attrWrap != 0 {
			continue
		}
		lines = append(lines, strings.TrimRight(cur.String(), " \x00"))
		cur.Reset()
	}
	for len(lines) > 0 && lines[len(lines)-1] == "" {
		lines = lines[:len(lines)-1]
	}
	return lines
}

// TestETAFollowsTheRecentRate: the ETA is measured over the last half
// minute, so a link that got faster shows in it at once (the rate shown
// stays the step's average), and a step that copies nothing for the whole
// window has no ETA rather than an endless one.
func TestETAFollowsTheRecentRate(t *testing.T) {
	c := &clock{t: time.Date(2026, 12, 2, 1, 0, 0, 0, time.UTC)}
	p := newProgress(io.Discard, true, false)
	p.now = c.now
	p.Begin("bulk", nil)
	p.Start("alice", 1000, 1000<<20)
	step := func(secs int, bytesPerSec int64) {
		for range secs {
			c.advance(time.Second)
			if bytesPerSec > 0 {
				p.Add("alice", 1, bytesPerSec)
			}
			p.step.totals(c.now()) // as the redraw does
		}
	}
	step(60, 1<<20)  // a minute at 1 MiB/s
	step(30, 10<<20) // then half a minute at 10 MiB/s
	tot := p.step.totals(c.now())
	// 640 MiB left at 10 MiB/s: 64 s; the average (4 MiB/s) would say 160 s.
	if !tot.etaKnown || tot.eta < 60*time.Second || tot.eta > 70*time.Second {
		t.Errorf("ETA %v (known %v) after the link got faster, want about 64 s", tot.eta, tot.etaKnown)
	}
	if want := float64(360<<20) / 90; tot.rate < want*0.99 || tot.rate > want*1.01 {
		t.Errorf("rate shown %.0f B/s, want the step's average %.0f", tot.rate, want)
	}
	step(31, 0) // a copy window shut: nothing for over half a minute
	if tot := p.step.totals(c.now()); tot.etaKnown {
		t.Errorf("ETA %v after half a minute without progress, want unknown", tot.eta)
	}
	p.End("bulk")
	p.Close()
}

// TestVerifyProgressInMessages: verification reads the content of a
// sample only, so its bars, total and rate count messages verified, never
// bytes copied.
func TestVerifyProgressInMessages(t *testing.T) {
	c := &clock{t: time.Date(2026, 12, 2, 1, 0, 0, 0, time.UTC)}
	p := newProgress(io.Discard, true, false)
	p.now = c.now
	p.Begin("verify", []phase.Work{{User: "alice", Messages: 400, Bytes: 4 << 20}})
	p.Start("alice", 400, 4<<20)
	c.advance(2 * time.Second)
	p.Add("alice", 100, 0)
	live := p.step.totals(c.now()).liveLine()
	if !strings.Contains(live, "100/400 messages  50 messages/s  ETA 6s") || strings.Contains(live, "B/s") {
		t.Errorf("live line %q", live)
	}
	c.advance(2 * time.Second)
	p.Add("alice", 300, 0)
	p.Done("alice", nil)
	if tail := p.finishedLine(p.step.users["alice"], 120); !strings.Contains(tail, "400 messages in 4.00s, 100 messages/s") {
		t.Errorf("finished line %q", tail)
	}
	if end := p.step.totals(c.now()).endLine(); !strings.HasSuffix(end, "1 user, 400 messages verified (100 messages/s)") {
		t.Errorf("end line %q", end)
	}
	p.End("verify")
	p.Close()
}
