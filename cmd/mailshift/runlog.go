package main

import (
	"context"
	"errors"
	"fmt"
	"html"
	"io/fs"
	"log/slog"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/mailshift/mailshift/phase"
)

// Commands that leave a run log: those that talk to the servers or change
// the state. status, report, init, version and demo do not.
var loggedCommands = map[string]bool{
	"collect": true, "approve": true, "test": true, "bulk": true, "sync": true,
	"cutover": true, "verify": true, "repair": true, "forget": true,
}

// runLogSuffix ends the name of every run log; nothing else in the logs
// directory is touched when old logs are deleted.
const runLogSuffix = ".jsonl"

// runLog is one run's JSON Lines log (ARCHITECTURE "Operating a run"):
// a first record naming the run, every record the phases log (with the
// step), every user's failure with its class, the error the run ended
// with, and a last record summing the run up. It is written 0600 under
// logs.dir and never holds a secret: it is written from the same records
// and errors as stderr, which never do.
type runLog struct {
	path    string
	command string
	sel     phase.Selection
	start   time.Time

	mu      sync.Mutex
	f       *os.File
	log     *slog.Logger // the file's own logger (every level)
	counts  runCounts
	classes map[string]int // users failed, by class
}

// runCounts are what the summary counts, from what the phases reported:
// users that finished (a pass of sync --follow counts each user again),
// and messages and bytes copied or skipped as already there.
type runCounts struct {
	users, usersDone, usersFailed int
	messages, bytes               int64
}

// openRunLog creates a run log in dir for command and deletes the oldest
// logs beyond keep (0: keep all).
func openRunLog(dir, command string, args []string, sel phase.Selection, keep int) (*runLog, error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("run log directory (logs.dir): %w", err)
	}
	start := time.Now()
	base := start.UTC().Format("20060102T150405.000Z") + "-" + command
	var f *os.File
	var path string
	for i := 1; ; i++ {
		name := base + runLogSuffix
		if i > 1 {
			name = fmt.Sprintf("%s-%d%s", base, i, runLogSuffix)
		}
		path = filepath.Join(dir, name)
		var err error
		f, err = os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
		if err == nil {
			break
		}
		if !errors.Is(err, fs.ErrExist) || i > 100 {
			return nil, fmt.Errorf("run log: %w", err)
		}
	}
	l := &runLog{path: path, command: command, sel: sel, start: start, f: f, classes: map[string]int{}}
	l.log = slog.New(slog.NewJSONHandler(lockedWriter{l}, &slog.HandlerOptions{Level: slog.LevelDebug})).With("step", command)
	host, _ := os.Hostname()
	l.log.Info("run started", "command", command, "args", args, "selection", selectionAttrs(sel),
		"version", version, "pid", os.Getpid(), "host", host)
	pruneRunLogs(dir, keep, path)
	return l, nil
}

// lockedWriter writes one record at a time to the run log's file, and
// nothing after it is closed.
type lockedWriter struct{ l *runLog }

func (w lockedWriter) Write(b []byte) (int, error) {
	w.l.mu.Lock()
	defer w.l.mu.Unlock()
	if w.l.f == nil {
		return len(b), nil
	}
	return w.l.f.Write(b)
}

func selectionAttrs(sel phase.Selection) slog.Value {
	u := sel.Users
	if u == nil {
		u = []string{}
	}
	return slog.GroupValue(slog.Any("users", u), slog.String("batch", sel.Batch))
}

// pruneRunLogs deletes the oldest run logs of dir beyond keep; current is
// never deleted. Names start with the time, so their order is their age.
func pruneRunLogs(dir string, keep int, current string) {
	if keep <= 0 {
		return
	}
	entries, err := os.ReadDir(dir)
	if err != nil {
		return
	}
	var logs []string
	for _, e := range entries {
		if e.Type().IsRegular() && strings.HasSuffix(e.Name(), runLogSuffix) {
			logs = append(logs, e.Name())
		}
	}
	slices.Sort(logs)
	for len(logs) > keep {
		if p := filepath.Join(dir, logs[0]); p != current {
			os.Remove(p)
		}
		logs = logs[1:]
	}
}

// latestRunLog is the newest run log in dir, "" if there is none.
func latestRunLog(dir string) string {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return ""
	}
	latest := ""
	for _, e := range entries {
		if e.Type().IsRegular() && strings.HasSuffix(e.Name(), runLogSuffix) && e.Name() > latest {
			latest = e.Name()
		}
	}
	if latest == "" {
		return ""
	}
	return filepath.Join(dir, latest)
}

// handler is the slog handler that writes the phases' records into the
// run log, with the step.
func (l *runLog) handler() slog.Handler { return l.log.Handler() }

// finish writes the error the run ended with and the summary, and closes
// the file. It is safe to call on a nil *runLog.
func (l *runLog) finish(code int, err error) {
	if l == nil {
		return
	}
	if err != nil {
		l.log.Error("run failed", "error", err.Error(), "class", errorClass(code, err), "exit_code", code)
	}
	l.log.Info("run finished", l.summary(code)...)
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.f != nil {
		l.f.Sync()
		l.f.Close()
		l.f = nil
	}
}

// summary is the attributes of a run's last record, in the run log and,
// with --log-format json, on stderr.
func (l *runLog) summary(code int) []any {
	l.mu.Lock()
	c := l.counts
	c.users = c.usersDone + c.usersFailed
	failedByClass := make([]any, 0, len(l.classes))
	for _, k := range slices.Sorted(maps.Keys(l.classes)) {
		failedByClass = append(failedByClass, slog.Int(k, l.classes[k]))
	}
	l.mu.Unlock()
	return []any{
		"command", l.command,
		"selection", selectionAttrs(l.sel),
		"exit_code", code,
		"duration_s", time.Since(l.start).Round(time.Millisecond).Seconds(),
		slog.Group("counts",
			"users", c.users, "users_done", c.usersDone, "users_failed", c.usersFailed,
			"messages", c.messages, "bytes", c.bytes),
		slog.Group("failed_by_class", failedByClass...),
	}
}

// errorClass classifies the error a run ended with: a user's failure
// keeps its kind (transient, busy, refused, protocol, auth, config), and
// the errors of the run as a whole are named after their exit code.
func errorClass(code int, err error) string {
	switch code {
	case exitUsage:
		return "config"
	case exitOutOfOrder:
		return "out_of_order"
	case exitPartial:
		return "partial"
	case exitDifferences:
		return "differences"
	case exitState:
		return "state"
	case exitInterrupted:
		return "interrupted"
	}
	if errors.Is(err, phase.ErrUnreachable) {
		return "unreachable"
	}
	return phase.FailureClass(err)
}

// loggedProgress passes the phases' progress on to the terminal and
// counts it for the run log, where every user's failure is written with
// its class.
type loggedProgress struct {
	phase.Progress
	l *runLog
}

// Add implements phase.Progress.
func (p loggedProgress) Add(user string, msgs, bytes int64) {
	p.Progress.Add(user, msgs, bytes)
	p.l.mu.Lock()
	p.l.counts.messages += msgs
	p.l.counts.bytes += bytes
	p.l.mu.Unlock()
}

// Done implements phase.Progress.
func (p loggedProgress) Done(user string, err error) {
	p.Progress.Done(user, err)
	if err == nil {
		p.l.mu.Lock()
		p.l.counts.usersDone++
		p.l.mu.Unlock()
		p.l.log.Debug("user done", "user", user)
		return
	}
	class := phase.FailureClass(err)
	p.l.mu.Lock()
	p.l.counts.usersFailed++
	p.l.classes[class]++
	p.l.mu.Unlock()
	p.l.log.Error("user failed", "user", user, "class", class, "error", err.Error())
}

// teeHandler sends every record to two handlers: the terminal's and the
// run log's, each at its own level.
type teeHandler struct{ a, b slog.Handler }

func (t teeHandler) Enabled(ctx context.Context, level slog.Level) bool {
	return t.a.Enabled(ctx, level) || t.b.Enabled(ctx, level)
}

func (t teeHandler) Handle(ctx context.Context, r slog.Record) error {
	var errs []error
	if t.a.Enabled(ctx, r.Level) {
		errs = append(errs, t.a.Handle(ctx, r.Clone()))
	}
	if t.b.Enabled(ctx, r.Level) {
		errs = append(errs, t.b.Handle(ctx, r.Clone()))
	}
	return errors.Join(errs...)
}

func (t teeHandler) WithAttrs(attrs []slog.Attr) slog.Handler {
	return teeHandler{t.a.WithAttrs(attrs), t.b.WithAttrs(attrs)}
}

func (t teeHandler) WithGroup(name string) slog.Handler {
	return teeHandler{t.a.WithGroup(name), t.b.WithGroup(name)}
}

// withLatestRunLog names the newest run log of p in a Markdown or HTML
// report, so that whoever reads the report finds the evidence of the last
// run; other formats are returned as they are.
func withLatestRunLog(p *phase.Project, format, text string) string {
	dir := p.Config.LogsDir()
	if !filepath.IsAbs(dir) && p.Dir != "" {
		dir = filepath.Join(p.Dir, dir)
	}
	path := latestRunLog(dir)
	if path == "" {
		return text
	}
	switch format {
	case "md", "":
		return strings.TrimRight(text, "\n") + "\n\n## Run log\n\nThe latest run's log (JSON Lines): `" + path + "`\n"
	case "html":
		note := "<section><h2>Run log</h2><p>The latest run's log (JSON Lines): <code>" + html.EscapeString(path) + "</code></p></section>\n"
		if i := strings.LastIndex(text, "</body>"); i >= 0 {
			return text[:i] + note + text[i:]
		}
		return text + note
	}
	return text
}
