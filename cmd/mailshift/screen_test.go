package main

import (
	"bytes"
	"errors"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/creack/pty"
	"github.com/hinshun/vt10x"

	"github.com/mailshift/mailshift/internal/testrig/corpus"
	"github.com/mailshift/mailshift/internal/testrig/faultproxy"
)

// terminalRun is a command line run on a pseudo-terminal, as a user at a
// terminal runs it, and what a terminal emulator shows of it.
type terminalRun struct {
	code   int
	raw    string   // everything the process wrote to the terminal
	screen []string // the final screen, a line per line written
	live   []string // the screen halfway through a step's live area
}

// onTerminal runs the test binary as mailshift with args, its stdin,
// stdout and stderr a pseudo-terminal of cols×rows, and replays what it
// wrote on a terminal emulator of that size.
func onTerminal(t *testing.T, cols, rows int, args ...string) terminalRun {
	t.Helper()
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(self, args...)
	cmd.Env = append(os.Environ(), "MAILSHIFT_TEST_AS_MAIN=1", "TERM=xterm")
	f, err := pty.StartWithSize(cmd, &pty.Winsize{Cols: uint16(cols), Rows: uint16(rows)})
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var raw bytes.Buffer
	read := make(chan error, 1)
	go func() {
		_, err := io.Copy(&raw, f) // ends with EIO once the process and its terminal are gone
		read <- err
	}()
	werr := cmd.Wait()
	select {
	case err := <-read:
		if err != nil && !errors.Is(err, syscall.EIO) {
			t.Fatal(err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("the terminal's output did not end after the process")
	}
	var exit *exec.ExitError
	if werr != nil && !errors.As(werr, &exit) {
		t.Fatal(werr)
	}
	r := terminalRun{code: cmd.ProcessState.ExitCode(), raw: raw.String()}
	r.screen = replay(cols, rows, raw.Bytes())
	// A frame of a live area from the middle of the time users ran, with
	// an ETA: up to the end of its total line.
	var ends []int
	for _, m := range liveFrame.FindAllSubmatchIndex(raw.Bytes(), -1) {
		done, _ := strconv.Atoi(string(raw.Bytes()[m[2]:m[3]]))
		users, _ := strconv.Atoi(string(raw.Bytes()[m[4]:m[5]]))
		if done < users {
			ends = append(ends, m[1])
		}
	}
	if len(ends) > 0 {
		r.live = replay(cols, rows, raw.Bytes()[:ends[len(ends)/2]])
	}
	return r
}

// replay is the screen a terminal of cols×rows shows after out.
func replay(cols, rows int, out []byte) []string {
	vt := vt10x.New(vt10x.WithSize(cols, rows))
	vt.Write(out)
	return screenLines(vt)
}

var (
	csiSequence = regexp.MustCompile("\x1b\\[[0-9;?]*[A-Za-z]")
	liveTotal   = regexp.MustCompile(`^\S+  \d+/\d+ users  \d+/\d+ messages  `)
	liveFrame   = regexp.MustCompile(`[a-z]+  (\d+)/(\d+) users  \d+/\d+ messages  [0-9.]+ [kMG]?B/s  ETA \d+s[^\n]*\n`)
)

// isLive tells the renderer's passing lines: the bars of running users,
// and a step's total while it runs.
func isLive(l string) bool {
	return liveTotal.MatchString(l) || (strings.HasPrefix(l, "  ") && strings.ContainsAny(l, "█░")) || strings.HasPrefix(l, "  … and ")
}

// written is every line the process wrote to the terminal, in order, as
// its byte stream holds them, the renderer's passing lines left out: the
// command's output, its log lines, the bars finished users leave and the
// steps' totals.
func written(raw string) []string {
	var out []string
	for _, l := range strings.Split(csiSequence.ReplaceAllString(raw, ""), "\n") {
		l = strings.TrimSuffix(l, "\r")
		if i := strings.LastIndexByte(l, '\r'); i >= 0 {
			l = l[i+1:]
		}
		if l = strings.TrimRight(l, " "); l != "" && !isLive(l) {
			out = append(out, l)
		}
	}
	return out
}

// checkNothingOverwritten: every line written is on the final screen, in
// the order written, and no passing line is left.
func checkNothingOverwritten(t *testing.T, r terminalRun) {
	t.Helper()
	lines := written(r.raw)
	i := 0
	for _, w := range lines {
		j := i
		for j < len(r.screen) && r.screen[j] != w {
			j++
		}
		if j == len(r.screen) {
			t.Errorf("a line written is not on the final screen (in order): %q", w)
			continue
		}
		i = j + 1
	}
	for _, l := range r.screen {
		if isLive(l) {
			t.Errorf("a passing line is left on the screen: %q", l)
		}
	}
	if len(lines) == 0 {
		t.Error("nothing written")
	}
}

// stepRate reads the rate a step's total line shows when it ends.
func stepRate(t *testing.T, screen []string, step string) float64 {
	t.Helper()
	re := regexp.MustCompile(`^` + step + ` done in [0-9.]+s: .* messages copied \([0-9.]+ [kMG]?B, ([0-9.]+ [kMG]?B)/s\)`)
	for _, l := range screen {
		if m := re.FindStringSubmatch(l); m != nil {
			return parseBytes(t, m[1])
		}
	}
	t.Fatalf("no total line of %s on the screen", step)
	return 0
}

// parseBytes reads phase.FormatBytes's "12.3 MB".
func parseBytes(t *testing.T, s string) float64 {
	t.Helper()
	num, unit, _ := strings.Cut(s, " ")
	v, err := strconv.ParseFloat(num, 64)
	if err != nil {
		t.Fatalf("%q: %v", s, err)
	}
	return v * map[string]float64{"B": 1, "kB": 1e3, "MB": 1e6, "GB": 1e9}[unit]
}

// within tells whether got is want within the fraction tol.
func within(got, want, tol float64) bool {
	return want > 0 && got >= want*(1-tol) && got <= want*(1+tol)
}

func logScreen(t *testing.T, title string, lines []string) {
	t.Helper()
	t.Logf("%s:\n%s", title, strings.Join(lines, "\n"))
}

// TestDemoOnATerminal runs the demo on a terminal as a new user would and
// looks at the screen: every line it printed is there (the step results,
// the 6/6 heading, the reports), each step's bars ended at 100%, and the
// rate shown after bulk is that step's bytes over that step's time.
func TestDemoOnATerminal(t *testing.T) {
	dir := t.TempDir()
	r := onTerminal(t, 120, 200, "demo", "--dir", dir, "--messages", "300")
	logScreen(t, "final screen", r.screen)
	if r.code != 0 {
		t.Fatalf("demo: exit %d", r.code)
	}
	checkNothingOverwritten(t, r)
	inOrder(t, r.screen, []string{
		"1/6 collect", "2/6 approve",
		"3/6 test", `^✓ user1@demo\.example +\[█+\] 100% 300/300 `, `^test done in `, "    300 messages in ",
		"4/6 bulk", `^✓ user[23]@demo\.example +\[█+\] 100% 300/300 `, `^✓ user[23]@demo\.example +\[█+\] 100% 300/300 `,
		`^bulk done in [0-9.]+s: 3 users, 600 messages copied .*, 300 already there$`, "    600 messages, ",
		"5/6 sync", `^sync done in `, "    15 new messages",
		"6/6 cutover", `^cutover done in `, " messages verified", "State file:", "Reports:", "See where every user stands",
	})
	// The demo's own account of bulk: "    1200 messages, 7.3 MB in 0.52s".
	re := regexp.MustCompile(`^    600 messages, ([0-9.]+ [kMG]?B) in ([0-9.]+)s$`)
	var want float64
	for _, l := range r.screen {
		if m := re.FindStringSubmatch(l); m != nil {
			secs, _ := strconv.ParseFloat(m[2], 64)
			want = parseBytes(t, m[1]) / secs
		}
	}
	if got := stepRate(t, r.screen, "bulk"); !within(got, want, 0.10) {
		t.Errorf("bulk's rate on the screen is %.0f B/s; its bytes over its time make %.0f B/s", got, want)
	}
	// The test step's time on the screen is the step's own, not the
	// demo's since it started.
	screen := strings.Join(r.screen, "\n")
	shown := regexp.MustCompile(`(?m)^test done in ([0-9.]+)s: 1 user, 300 messages copied`).FindStringSubmatch(screen)
	told := regexp.MustCompile(`(?m)^    300 messages in ([0-9.]+)s`).FindStringSubmatch(screen)
	if shown == nil || told == nil {
		t.Fatal("no time of the test step")
	}
	a, _ := strconv.ParseFloat(shown[1], 64)
	b, _ := strconv.ParseFloat(told[1], 64)
	if !within(a, b, 0.10) {
		t.Errorf("the test step took %.2fs by its total line and %.2fs by the demo", a, b)
	}
}

// TestBulkOnATerminal runs a real bulk copy between two Dovecots on a
// terminal, its source link cut halfway so that log lines arrive while
// the bars run: every line is on the final screen, the users' bars end at
// 100%, the command's own summary is there, and the rate shown is the
// step's bytes over the step's time.
func TestBulkOnATerminal(t *testing.T) {
	p := newProject(t)
	srcPx := faultproxy.Start(t, p.src.Addr)
	p.write("mailshift.yaml", "source:\n  url: imap://"+srcPx.Addr+"?tls=none\n"+
		"target:\n  url: imap://"+p.dst.Addr+"?tls=none\n"+
		"users:\n  file: users.csv\ncopy:\n  retry_wait: 200ms\nthrottle:\n  bandwidth: 3MB/s\n")
	seed(t, p.src, "alice", "old-alice", corpus.Mailbox(31, 500, 8000))
	seed(t, p.src, "bob", "old-bob", corpus.Mailbox(32, 300, 8000))
	p.expect(exitOK, "collect")
	p.expect(exitOK, "approve", "--yes", "--by", "Test")
	up, down := srcPx.Bytes()
	srcPx.At(up+down+3<<20, srcPx.CutAll) // halfway through the copy

	r := onTerminal(t, 120, 100, "--config", filepath.Join(p.dir, "mailshift.yaml"), "--state", filepath.Join(p.dir, "mailshift.db"), "bulk", "--skip-test")
	logScreen(t, "a live frame", r.live)
	logScreen(t, "final screen", r.screen)
	if r.code != exitOK {
		t.Fatalf("bulk: exit %d", r.code)
	}
	checkNothingOverwritten(t, r)
	if n := strings.Count(r.raw, "retrying after a transient failure"); n == 0 {
		t.Error("no log line came while the bars ran: the cut did not happen")
	}
	inOrder(t, r.screen, []string{
		"retrying after a transient failure",
		`^✓ (alice|bob) +\[█+\] 100% (500/500|300/300) `,
		`^✓ (alice|bob) +\[█+\] 100% (500/500|300/300) `,
		`^bulk done in [0-9.]+s: 2 users, 800 messages copied `,
		`^bulk: 2 users, 800 messages copied \(`,
	})
	if !slicesContainMatch(r.live, `^  (alice|bob) +\[[█░]+\] +\d+% \d+/(500|300)`) || !slicesContainMatch(r.live, `^bulk  [01]/2 users  \d+/800 messages  [0-9.]+ [kM]B/s  ETA \d+s  \(`) {
		t.Errorf("no live area with a running user's bar and a total with a rate and an ETA was drawn")
	}
	// The command's own summary: "bulk: 2 users, 800 messages copied (6.3 MB) in 2.3s, ...".
	m := regexp.MustCompile(`(?m)^bulk: 2 users, 800 messages copied \(([0-9.]+ [kMG]?B)\) in ([0-9.]+)s`).FindStringSubmatch(strings.Join(r.screen, "\n"))
	if m == nil {
		t.Fatal("no summary")
	}
	secs, _ := strconv.ParseFloat(m[2], 64)
	want := parseBytes(t, m[1]) / secs
	if got := stepRate(t, r.screen, "bulk"); !within(got, want, 0.10) {
		t.Errorf("bulk's rate on the screen is %.0f B/s; its bytes over its time make %.0f B/s", got, want)
	}
	p.compare("alice", "old-alice", "alice@new", "new-alice")
	p.compare("bob", "old-bob", "bob@new", "new-bob")
}

func slicesContainMatch(lines []string, pattern string) bool {
	re := regexp.MustCompile(pattern)
	for _, l := range lines {
		if re.MatchString(l) {
			return true
		}
	}
	return false
}
