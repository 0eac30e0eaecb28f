package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

	"golang.org/x/term"

	"github.com/mailshift/mailshift/phase"
)

// progress is the one renderer of the terminal. It implements
// phase.Progress: while a step runs it keeps a live area at the bottom of
// the terminal (a bar per running user and a total line with the step's
// name, rate and ETA) and redraws it in place. Everything else a command
// prints meanwhile (its narration on stdout, log lines on stderr) goes
// through it too (Stdout, Stderr): it clears the live area, prints the
// line and draws the area again below it, so that nothing is overwritten.
// A user that finishes leaves a line with its completed bar above the live
// area; a step that ends leaves its total line.
//
// Rates and the ETA count from the step's start and only the work of this
// run: messages found already on the target bring a bar nearer its end
// but do not make the run look faster than it is.
//
// When stderr is not a terminal (CI, a pipe), or logs are JSON, it draws
// nothing and logs a "progress" line every interval instead, with the
// same facts, and a "step done" line at a step's end.
type progress struct {
	w        io.Writer // stderr
	tty      bool      // draw a live area on w
	size     func() (width, height int)
	quiet    bool
	interval time.Duration // between redraws (terminal) or log lines
	now      func() time.Time

	mu      sync.Mutex
	log     *slog.Logger
	step    *stepProgress // nil between steps
	drawn   int           // lines of the live area on the screen now
	midLine bool          // the last narration written left the cursor mid-line
	writers []*narration
	stop    chan struct{}
	stopped chan struct{}
}

// stepProgress is what is known of the running step.
type stepProgress struct {
	name  string
	start time.Time
	users map[string]*userProgress
	order []string
	// marks are this run's work at moments of the last etaWindow, at most
	// one a second: what the ETA's rate is measured over.
	marks []workMark
}

// workMark is how much of its own work a step had done at a moment.
type workMark struct {
	at          time.Time
	msgs, bytes int64
}

// etaWindow is how far back the ETA's rate looks: long enough to smooth
// over a batch being settled or a short back-off, short enough to follow a
// link that got slower or faster, or a throttle that changed.
const etaWindow = 30 * time.Second

// userProgress is one user's part of a step.
type userProgress struct {
	name string
	// Messages and bytes the user's pass has to reach: the inventory's
	// figures until Start gives the source's own.
	totalMsgs, totalBytes int64
	// Reached so far in this pass: copied, or found already there.
	msgs, bytes int64
	// Found already on the target, over the step.
	alreadyMsgs int64
	// This run's work over the step: what the rate counts.
	copiedMsgs, copiedBytes int64
	// byMessages: the step's work is counted in messages (verify reads
	// few bodies, so bytes say nothing of its speed).
	byMessages    bool
	started, done bool
	err           error
	start, end    time.Time
}

// newProgress builds the renderer for stderr w. quiet shows nothing;
// jsonLogs keeps stderr JSON (no bars, log lines only).
func newProgress(w io.Writer, quiet, jsonLogs bool) *progress {
	p := &progress{w: w, quiet: quiet, interval: 10 * time.Second, now: time.Now, size: terminalSize(-1), log: slog.New(slog.DiscardHandler)}
	if f, ok := w.(*os.File); ok && term.IsTerminal(int(f.Fd())) && !jsonLogs {
		p.tty, p.size, p.interval = true, terminalSize(int(f.Fd())), 200*time.Millisecond
	}
	return p
}

// setLog gives the renderer the logger for its lines on a non-terminal.
func (p *progress) setLog(log *slog.Logger) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.log = log
}

// Stdout returns the writer through which a command prints to w, its
// standard output: w itself, unless bars are drawn and w is a terminal
// too (or the very writer they are drawn on), whose lines must then be
// printed above them.
func (p *progress) Stdout(w io.Writer) io.Writer {
	if !p.drawing() {
		return w
	}
	if f, ok := w.(*os.File); !(ok && term.IsTerminal(int(f.Fd()))) && w != p.w {
		return w
	}
	return p.narrate(w)
}

// Stderr returns the writer for log lines and messages to stderr.
func (p *progress) Stderr() io.Writer {
	if !p.drawing() {
		return p.w
	}
	return p.narrate(p.w)
}

func (p *progress) drawing() bool { return p.tty && !p.quiet }

func (p *progress) narrate(w io.Writer) io.Writer {
	p.mu.Lock()
	defer p.mu.Unlock()
	n := &narration{p: p, w: w}
	p.writers = append(p.writers, n)
	return n
}

// narration is a writer whose complete lines are printed above the live
// area; a partial line waits for its end while a step runs.
type narration struct {
	p   *progress
	w   io.Writer
	buf []byte
}

// Write implements io.Writer.
func (n *narration) Write(b []byte) (int, error) {
	p := n.p
	p.mu.Lock()
	defer p.mu.Unlock()
	n.buf = append(n.buf, b...)
	out := n.buf
	if p.step != nil { // a partial line waits until the bars are cleared for its end
		i := bytes.LastIndexByte(n.buf, '\n')
		if i < 0 {
			return len(b), nil
		}
		out = n.buf[:i+1]
	}
	p.clear()
	_, err := n.w.Write(out)
	p.midLine = out[len(out)-1] != '\n'
	n.buf = append(n.buf[:0], n.buf[len(out):]...)
	p.draw()
	if err != nil {
		return 0, err
	}
	return len(b), nil
}

// flush writes what is left of a partial line, with mu held.
func (n *narration) flush() {
	if len(n.buf) > 0 {
		n.w.Write(n.buf)
		n.p.midLine = n.buf[len(n.buf)-1] != '\n'
		n.buf = n.buf[:0]
	}
}

// Begin implements phase.Progress.
func (p *progress) Begin(step string, work []phase.Work) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.step != nil {
		p.endStep()
	}
	s := &stepProgress{name: step, start: p.now(), users: map[string]*userProgress{}}
	for _, w := range work {
		if _, ok := s.users[w.User]; !ok {
			s.order = append(s.order, w.User)
		}
		s.users[w.User] = &userProgress{name: w.User, totalMsgs: w.Messages, totalBytes: w.Bytes, byMessages: byMessages(step)}
	}
	p.step = s
	if p.stop == nil && !p.quiet {
		p.stop, p.stopped = make(chan struct{}), make(chan struct{})
		go p.loop()
	}
	p.draw()
}

// user returns the running step's user, adding it if Begin did not name
// it; nil between steps.
func (p *progress) user(name string) *userProgress {
	if p.step == nil {
		return nil
	}
	u, ok := p.step.users[name]
	if !ok {
		u = &userProgress{name: name, byMessages: byMessages(p.step.name)}
		p.step.users[name] = u
		p.step.order = append(p.step.order, name)
	}
	return u
}

// Start implements phase.Progress.
func (p *progress) Start(user string, msgs, bytes int64) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if u := p.user(user); u != nil {
		if !u.started {
			u.start = p.now()
		}
		u.started, u.done, u.err = true, false, nil
		u.totalMsgs, u.totalBytes = msgs, bytes
		u.msgs, u.bytes = 0, 0
	}
}

// Add implements phase.Progress.
func (p *progress) Add(user string, msgs, bytes int64) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if u := p.user(user); u != nil {
		u.msgs += msgs
		u.bytes += bytes
		u.copiedMsgs += msgs
		u.copiedBytes += bytes
	}
}

// AlreadyCopied implements phase.Progress.
func (p *progress) AlreadyCopied(user string, msgs, bytes int64) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if u := p.user(user); u != nil {
		if bytes == 0 && msgs > 0 && u.totalMsgs > 0 {
			bytes = msgs * u.totalBytes / u.totalMsgs // sizes not told: the user's average
		}
		u.msgs += msgs
		u.bytes += bytes
		u.alreadyMsgs += msgs
	}
}

// Done implements phase.Progress. A user that finished without error has
// reached its end: its bar is completed, also when the source held fewer
// messages than it listed when the pass began (expunged meanwhile).
func (p *progress) Done(user string, err error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.step == nil {
		return
	}
	u, ok := p.step.users[user]
	if !ok {
		return
	}
	u.done, u.err, u.end = true, err, p.now()
	if !u.started {
		u.start = u.end
	}
	if err == nil {
		// What the pass reached is the user's end: fewer messages when
		// some were expunged meanwhile, more when mail arrived.
		u.totalMsgs, u.totalBytes = u.msgs, u.bytes
	}
	if !p.drawing() || (err == nil && u.copiedMsgs == 0) {
		return // nothing done, nothing to tell but in the total
	}
	p.clear()
	io.WriteString(p.w, p.finishedLine(u, p.width())+"\n")
	p.draw()
}

// End implements phase.Progress.
func (p *progress) End(step string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.step != nil && p.step.name == step {
		p.endStep()
	}
}

// endStep leaves the step's total on the screen (or logs it), with mu held.
func (p *progress) endStep() {
	s := p.step
	t := s.totals(p.now())
	switch {
	case p.quiet:
	case p.tty:
		p.clear()
		io.WriteString(p.w, t.endLine()+"\n") // it stays: it may wrap
	default:
		p.log.Info("step done", "step", s.name, "seconds", round2(t.elapsed.Seconds()), "users", t.users,
			"users_failed", t.failed, "users_interrupted", t.stopped, "messages", t.copiedMsgs, "bytes", t.copiedBytes,
			"already_copied", t.alreadyMsgs, "rate", t.rateText())
	}
	p.step = nil
	for _, n := range p.writers {
		n.flush()
	}
}

// Close ends a step left running and stops redrawing.
func (p *progress) Close() {
	p.mu.Lock()
	if p.step != nil {
		p.endStep()
	}
	for _, n := range p.writers {
		n.flush()
	}
	stop := p.stop
	p.mu.Unlock()
	if stop != nil {
		select {
		case <-stop:
		default:
			close(stop)
		}
		<-p.stopped
	}
}

func (p *progress) loop() {
	defer close(p.stopped)
	t := time.NewTicker(p.interval)
	defer t.Stop()
	for {
		select {
		case <-p.stop:
			return
		case <-t.C:
			p.mu.Lock()
			if p.tty {
				p.redraw()
			} else if p.step != nil {
				p.logLine()
			}
			p.mu.Unlock()
		}
	}
}

// clear erases the live area, with mu held; the cursor is left where its
// first line was.
func (p *progress) clear() {
	if p.drawn > 0 {
		fmt.Fprintf(p.w, "\x1b[%dA\r\x1b[J", p.drawn)
		p.drawn = 0
	}
}

// draw writes the live area below the cursor, with mu held.
func (p *progress) draw() {
	if !p.drawing() || p.step == nil || p.drawn > 0 {
		return
	}
	if p.midLine { // the live area starts on a line of its own
		io.WriteString(p.w, "\n")
		p.midLine = false
	}
	lines := p.frame()
	io.WriteString(p.w, strings.Join(lines, "\n")+"\n")
	p.drawn = len(lines)
}

// redraw draws the live area over itself in one write, with mu held.
func (p *progress) redraw() {
	if p.step == nil {
		p.clear()
		return
	}
	if p.drawn == 0 {
		p.draw()
		return
	}
	var b strings.Builder
	fmt.Fprintf(&b, "\x1b[%dA", p.drawn)
	lines := p.frame()
	for _, l := range lines {
		b.WriteString("\r" + l + "\x1b[K\n")
	}
	b.WriteString("\x1b[J")
	io.WriteString(p.w, b.String())
	p.drawn = len(lines)
}

// frame is the live area: a bar per running user (as many as the screen
// holds) and the step's total line.
func (p *progress) frame() []string {
	width, height := p.size()
	s := p.step
	now := p.now()
	var running []*userProgress
	for _, name := range s.order {
		if u := s.users[name]; u.started && !u.done {
			running = append(running, u)
		}
	}
	var lines []string
	room := max(height-3, 1)
	for i, u := range running {
		if i == room-1 && len(running) > room {
			lines = append(lines, fit(fmt.Sprintf("  … and %d more users running", len(running)-i), width))
			break
		}
		lines = append(lines, fit(userLine(u, "  ", "", s.nameWidth(), width, now), width))
	}
	return append(lines, fit(s.totals(now).liveLine(), width))
}

// logLine logs the step's progress on a non-terminal, with mu held.
func (p *progress) logLine() {
	s := p.step
	now := p.now()
	t := s.totals(now)
	var running []string
	for _, name := range s.order {
		if u := s.users[name]; u.started && !u.done {
			running = append(running, fmt.Sprintf("%s %d%% (%d/%d)", u.name, percent(u.msgs, u.totalMsgs), min(u.msgs, u.totalMsgs), u.totalMsgs))
		}
	}
	p.log.Info("progress", "step", s.name, "elapsed", t.elapsed.Round(time.Second).String(),
		"users_done", t.done, "users", t.users, "messages", t.msgs, "messages_total", t.totalMsgs,
		"bytes", t.bytes, "bytes_total", t.totalBytes, "already_copied", t.alreadyMsgs,
		"rate", t.rateText(), "eta", t.etaText("unknown"), "running", strings.Join(running, ", "))
}

// width is the terminal's width, with mu held.
func (p *progress) width() int {
	w, _ := p.size()
	return w
}

// terminalSize asks the terminal on fd for its size, 80×24 if it cannot
// tell.
func terminalSize(fd int) func() (width, height int) {
	return func() (int, int) {
		if fd >= 0 {
			if w, h, err := term.GetSize(fd); err == nil && w > 0 && h > 0 {
				return w, h
			}
		}
		return 80, 24
	}
}

// stepTotals sums a step's users at one moment.
type stepTotals struct {
	step                          string
	elapsed                       time.Duration
	users, done, failed           int
	msgs, totalMsgs               int64 // reached, to reach
	bytes, totalBytes             int64
	alreadyMsgs                   int64
	copiedMsgs, copiedBytes       int64
	rate                          float64 // bytes per second of this run's work
	msgRate                       float64 // messages per second of this run's work
	byMessages                    bool    // the step's rate is in messages (verify)
	eta                           time.Duration
	etaKnown                      bool
	stopped                       int // users stopped by an interruption
	remainingBytes, remainingMsgs int64
}

// nameWidth is the column the step's user names take: the longest, up to
// 28 characters.
func (s *stepProgress) nameWidth() int {
	n := 8
	for _, name := range s.order {
		n = max(n, utf8.RuneCountInString(name))
	}
	return min(n, 28)
}

func (s *stepProgress) totals(now time.Time) stepTotals {
	t := stepTotals{step: s.name, elapsed: now.Sub(s.start), users: len(s.order), byMessages: byMessages(s.name)}
	for _, name := range s.order {
		u := s.users[name]
		t.msgs += min(u.msgs, u.totalMsgs)
		t.totalMsgs += u.totalMsgs
		t.bytes += min(u.bytes, u.totalBytes)
		t.totalBytes += u.totalBytes
		t.alreadyMsgs += u.alreadyMsgs
		t.copiedMsgs += u.copiedMsgs
		t.copiedBytes += u.copiedBytes
		if u.done {
			t.done++
			switch {
			case errors.Is(u.err, context.Canceled):
				t.stopped++
			case u.err != nil:
				t.failed++
			}
			continue
		}
		t.remainingBytes += max(u.totalBytes-u.bytes, 0)
		t.remainingMsgs += max(u.totalMsgs-u.msgs, 0)
	}
	secs := t.elapsed.Seconds()
	if secs > 0 {
		t.rate, t.msgRate = float64(t.copiedBytes)/secs, float64(t.copiedMsgs)/secs
	}
	// The estimate waits for a second of measurement, then follows the
	// rate of the last etaWindow (the whole step until it is that long);
	// in bytes when sizes are known, messages otherwise. Nothing copied
	// over the whole window (a copy window shut, a long back-off) leaves
	// it unknown rather than infinite.
	since := s.mark(now, t.copiedMsgs, t.copiedBytes)
	span := now.Sub(since.at).Seconds()
	doneMsgs, doneBytes := t.copiedMsgs-since.msgs, t.copiedBytes-since.bytes
	switch {
	case secs < 1 || t.copiedMsgs == 0 || span <= 0 || doneMsgs <= 0:
	case t.remainingBytes > 0 && doneBytes > 0 && !t.byMessages:
		t.eta, t.etaKnown = time.Duration(float64(t.remainingBytes)/(float64(doneBytes)/span)*float64(time.Second)), true
	default:
		t.eta, t.etaKnown = time.Duration(float64(t.remainingMsgs)/(float64(doneMsgs)/span)*float64(time.Second)), true
	}
	return t
}

// mark records the step's work at now (at most once a second), forgets
// what is older than etaWindow, and returns the oldest mark left: where
// the ETA's rate is measured from. The step's start is the first mark.
func (s *stepProgress) mark(now time.Time, msgs, bytes int64) workMark {
	if len(s.marks) == 0 {
		s.marks = append(s.marks, workMark{at: s.start})
	}
	if last := s.marks[len(s.marks)-1]; now.Sub(last.at) >= time.Second {
		s.marks = append(s.marks, workMark{at: now, msgs: msgs, bytes: bytes})
	}
	drop := 0
	for drop < len(s.marks)-1 && now.Sub(s.marks[drop+1].at) >= etaWindow {
		drop++ // the next one still covers the whole window
	}
	s.marks = s.marks[drop:]
	return s.marks[0]
}

func (t stepTotals) etaText(unknown string) string {
	if !t.etaKnown {
		return unknown
	}
	return phase.FormatDuration(t.eta.Round(time.Second))
}

// liveLine is the total line while the step runs.
func (t stepTotals) liveLine() string {
	if t.byMessages {
		return fmt.Sprintf("%s  %d/%d users  %d/%d messages  %s  ETA %s  (%s)",
			t.step, t.done, t.users, t.msgs, t.totalMsgs, t.rateText(), t.etaText("-"), t.elapsed.Round(time.Second))
	}
	return fmt.Sprintf("%s  %d/%d users  %d/%d messages  %s  ETA %s  (%s of %s, %s)",
		t.step, t.done, t.users, t.msgs, t.totalMsgs, t.rateText(), t.etaText("-"),
		phase.FormatBytes(t.bytes), phase.FormatBytes(t.totalBytes), t.elapsed.Round(time.Second))
}

// endLine is the total line a step leaves when it ends.
func (t stepTotals) endLine() string {
	var b strings.Builder
	switch {
	case t.done == t.users && t.failed == 0 && t.stopped == 0:
		fmt.Fprintf(&b, "%s done in %s: %s", t.step, secondsText(t.elapsed), plural(t.users, "user"))
	default:
		how := "ended"
		if t.stopped > 0 {
			how = "interrupted"
		}
		fmt.Fprintf(&b, "%s %s after %s: %d of %s done", t.step, how, secondsText(t.elapsed), t.done-t.failed-t.stopped, plural(t.users, "user"))
		if t.failed > 0 {
			fmt.Fprintf(&b, ", %d failed", t.failed)
		}
		if t.stopped > 0 {
			fmt.Fprintf(&b, ", %d interrupted", t.stopped)
		}
	}
	switch {
	case t.byMessages && t.copiedMsgs == 0:
		b.WriteString(", nothing to verify")
	case t.byMessages:
		fmt.Fprintf(&b, ", %s verified (%s)", plural(int(t.copiedMsgs), "message"), t.rateText())
	case t.copiedMsgs == 0:
		b.WriteString(", nothing to copy")
	default:
		fmt.Fprintf(&b, ", %s copied (%s, %s)", plural(int(t.copiedMsgs), "message"), phase.FormatBytes(t.copiedBytes), t.rateText())
	}
	if t.alreadyMsgs > 0 {
		fmt.Fprintf(&b, ", %d already there", t.alreadyMsgs)
	}
	return b.String()
}

func plural(n int, noun string) string {
	if n == 1 {
		return "1 " + noun
	}
	return fmt.Sprintf("%d %ss", n, noun)
}

// finishedLine is the line a finished user leaves: its bar, and what the
// pass copied at what rate, or why it failed.
func (p *progress) finishedLine(u *userProgress, width int) string {
	mark, tail := "✓ ", ""
	switch {
	case errors.Is(u.err, context.Canceled):
		mark, tail = "✗ ", "  interrupted"
	case u.err != nil:
		mark, tail = "✗ ", "  FAILED: "+strings.ReplaceAll(u.err.Error(), "\n", " ")
	default:
		d := u.end.Sub(u.start)
		if u.byMessages {
			tail = fmt.Sprintf("  %s in %s, %s", plural(int(u.copiedMsgs), "message"), secondsText(d), msgRateText(float64(u.copiedMsgs)/max(d.Seconds(), 0.001)))
			break
		}
		tail = fmt.Sprintf("  %s in %s, %s", phase.FormatBytes(u.copiedBytes), secondsText(d), rateText(float64(u.copiedBytes)/max(d.Seconds(), 0.001)))
	}
	return userLine(u, mark, tail, p.step.nameWidth(), width, u.end)
}

// userLine draws a user's bar for a terminal of width columns, the user's
// name in a column of nameWidth; tail says more than fits beside the bar
// when it is long (a line that stays may wrap, a live one is cut).
func userLine(u *userProgress, lead, tail string, nameWidth, width int, now time.Time) string {
	name := truncate(u.name, nameWidth)
	count := fmt.Sprintf("%3d%% %d/%d", percent(u.msgs, u.totalMsgs), min(u.msgs, u.totalMsgs), u.totalMsgs)
	if tail == "" && u.started && now.Sub(u.start) >= time.Second {
		if u.byMessages {
			tail = "  " + msgRateText(float64(u.copiedMsgs)/now.Sub(u.start).Seconds())
		} else {
			tail = "  " + rateText(float64(u.copiedBytes)/now.Sub(u.start).Seconds())
		}
	}
	fixed := utf8.RuneCountInString(lead) + nameWidth + 1 + 2 + 1 + len(count)
	bar := min(30, width-1-fixed-min(utf8.RuneCountInString(tail), 32))
	line := lead + name + strings.Repeat(" ", nameWidth-utf8.RuneCountInString(name)) + " "
	if bar >= 8 {
		fill := int(float64(bar) * fraction(u.msgs, u.totalMsgs))
		line += "[" + strings.Repeat("█", fill) + strings.Repeat("░", bar-fill) + "] "
	}
	return line + count + tail
}

// fraction is how far reached is of total, 0 to 1; an empty total is
// reached at once.
func fraction(reached, total int64) float64 {
	if total <= 0 {
		return 1
	}
	return min(float64(reached)/float64(total), 1)
}

func percent(reached, total int64) int { return int(fraction(reached, total) * 100) }

func rateText(bytesPerSecond float64) string {
	return phase.FormatBytes(int64(bytesPerSecond)) + "/s"
}

func msgRateText(messagesPerSecond float64) string {
	return fmt.Sprintf("%.0f messages/s", messagesPerSecond)
}

// rateText is the step's rate: in bytes, or in messages for verify.
func (t stepTotals) rateText() string {
	if t.byMessages {
		return msgRateText(t.msgRate)
	}
	return rateText(t.rate)
}

// byMessages tells whether a step's work is counted in messages rather
// than bytes: verification, which reads the content of a sample only.
func byMessages(step string) bool { return step == "verify" }

func secondsText(d time.Duration) string {
	if d < 10*time.Second {
		return fmt.Sprintf("%.2fs", d.Seconds())
	}
	return phase.FormatDuration(d)
}

func round2(f float64) float64 { return float64(int64(f*100+0.5)) / 100 }

// fit cuts a line to the terminal's width less one column, so that it
// never wraps (a wrapped line would throw the redraw off by a line).
func fit(s string, width int) string {
	if n := width - 1; n > 0 && utf8.RuneCountInString(s) > n {
		r := []rune(s)
		return string(r[:n-1]) + "…"
	}
	return s
}

func truncate(s string, n int) string {
	if utf8.RuneCountInString(s) <= n {
		return s
	}
	r := []rune(s)
	return string(r[:n-1]) + "…"
}

// writeFile0600 writes a file readable by its owner only.
func writeFile0600(path, text string) error {
	return os.WriteFile(path, []byte(text), 0o600)
}
