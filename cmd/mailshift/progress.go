package main

import (
	"fmt"
	"io"
	"log/slog"
	"os"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/schollz/progressbar/v3"
	"golang.org/x/term"

	"github.com/mailshift/mailshift/phase"
)

// progress shows what the phases report: on a terminal one bar per running
// user plus a total, redrawn in place; elsewhere (CI) a log line every few
// seconds. It implements phase.Progress.
type progress struct {
	w     io.Writer
	tty   bool
	quiet bool
	log   *slog.Logger

	mu      sync.Mutex
	users   map[string]*userProgress
	order   []string
	start   time.Time
	lines   int // lines drawn last time (terminal)
	stop    chan struct{}
	stopped chan struct{}
}

type userProgress struct {
	totalMsgs, totalBytes int64
	msgs, bytes           int64
	done                  bool
	err                   error
	bar                   *progressbar.ProgressBar
}

func newProgress(w io.Writer, quiet bool, log *slog.Logger) *progress {
	return newProgressBars(w, quiet, log, true)
}

// newProgressBars is newProgress that draws bars on a terminal only if
// bars is set; without, progress is log lines there too (--log-format
// json: everything on stderr is JSON).
func newProgressBars(w io.Writer, quiet bool, log *slog.Logger, bars bool) *progress {
	p := &progress{w: w, quiet: quiet, log: log, users: map[string]*userProgress{}, start: time.Now(),
		stop: make(chan struct{}), stopped: make(chan struct{})}
	if f, ok := w.(*os.File); ok && bars && term.IsTerminal(int(f.Fd())) {
		p.tty = true
	}
	interval := 10 * time.Second
	if p.tty {
		interval = 200 * time.Millisecond
	}
	go p.loop(interval)
	return p
}

func (p *progress) loop(interval time.Duration) {
	defer close(p.stopped)
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		select {
		case <-p.stop:
			p.render(true)
			return
		case <-t.C:
			p.render(false)
		}
	}
}

// Start implements phase.Progress.
func (p *progress) Start(user string, msgs, bytes int64) {
	p.mu.Lock()
	defer p.mu.Unlock()
	u, ok := p.users[user]
	if !ok {
		u = &userProgress{}
		p.users[user] = u
		p.order = append(p.order, user)
	}
	*u = userProgress{totalMsgs: msgs, totalBytes: bytes}
	if p.tty {
		u.bar = progressbar.NewOptions64(max(msgs, 1),
			progressbar.OptionSetWriter(io.Discard),
			progressbar.OptionSetDescription(fmt.Sprintf("%-24s", truncate(user, 24))),
			progressbar.OptionSetWidth(30),
			progressbar.OptionShowCount(),
			progressbar.OptionSetPredictTime(true),
			progressbar.OptionUseANSICodes(true),
		)
	}
}

// Add implements phase.Progress.
func (p *progress) Add(user string, msgs, bytes int64) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if u, ok := p.users[user]; ok {
		u.msgs += msgs
		u.bytes += bytes
		if u.bar != nil {
			u.bar.Add64(msgs)
		}
	}
}

// Done implements phase.Progress.
func (p *progress) Done(user string, err error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if u, ok := p.users[user]; ok {
		u.done, u.err = true, err
	}
}

// Close stops redrawing and leaves the final state on screen.
func (p *progress) Close() {
	select {
	case <-p.stop:
	default:
		close(p.stop)
	}
	<-p.stopped
}

func (p *progress) render(final bool) {
	if p.quiet {
		return
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if len(p.order) == 0 {
		return
	}
	var msgs, totalMsgs, bytes int64
	running, done := 0, 0
	for _, name := range p.order {
		u := p.users[name]
		msgs += u.msgs
		totalMsgs += u.totalMsgs
		bytes += u.bytes
		if u.done {
			done++
		} else {
			running++
		}
	}
	elapsed := time.Since(p.start)
	rate := float64(bytes) / max(elapsed.Seconds(), 0.001)
	total := fmt.Sprintf("total: %d/%d users done, %d/%d messages, %s, %s/s, %s elapsed",
		done, len(p.order), msgs, totalMsgs, phase.FormatBytes(bytes), phase.FormatBytes(int64(rate)), elapsed.Round(time.Second))
	if !p.tty {
		if !final && running > 0 {
			p.log.Info("progress", "users_done", done, "users", len(p.order), "messages", msgs, "of", totalMsgs, "bytes", bytes, "rate_bytes_per_s", int64(rate))
		}
		return
	}
	var b strings.Builder
	if p.lines > 0 {
		fmt.Fprintf(&b, "\x1b[%dA", p.lines)
	}
	lines := 0
	shown := slices.Clone(p.order)
	for _, name := range shown {
		u := p.users[name]
		if u.done && !final {
			continue
		}
		state := ""
		switch {
		case u.done && u.err != nil:
			state = " FAILED"
		case u.done:
			state = " done"
		}
		fmt.Fprintf(&b, "\r\x1b[K%s%s\n", u.bar.String(), state)
		lines++
	}
	fmt.Fprintf(&b, "\r\x1b[K%s\n", total)
	lines++
	// Clear what is left of a longer previous drawing.
	for i := lines; i < p.lines; i++ {
		b.WriteString("\r\x1b[K\n")
	}
	if p.lines > lines {
		fmt.Fprintf(&b, "\x1b[%dA", p.lines-lines)
	}
	p.lines = lines
	io.WriteString(p.w, b.String())
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n-1] + "…"
}

// writeFile0600 writes a file readable by its owner only.
func writeFile0600(path, text string) error {
	return os.WriteFile(path, []byte(text), 0o600)
}
