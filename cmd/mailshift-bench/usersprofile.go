package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"runtime/debug"
	"strings"
	"time"

	"github.com/mailshift/mailshift/internal/testrig/corpus"
	"github.com/mailshift/mailshift/internal/testrig/dovecot"
)

// The users profile measures mailshift on a project of many small
// mailboxes: every step of it, not only the copy, must grow with the work
// rather than with users × something.
const (
	usersProfileName     = "users"
	usersProfileMessages = 10   // per user, at scale 1
	usersProfileSize     = 4000 // average message size in bytes
	usersProfileSeed     = 41
)

// stepRow is one timed mailshift command of the users profile.
type stepRow struct {
	step   string
	wall   time.Duration
	rssKiB int64
	note   string
}

// usersProfileUsers names the profile's n source users.
func usersProfileUsers(n int) []string {
	users := make([]string, n)
	for i := range users {
		users[i] = fmt.Sprintf("%s-u%d", usersProfileName, i+1)
	}
	return users
}

// seedUsers writes every user's mailbox straight into the source's
// Maildirs (corpus.Mailbox: the messages spread over corpus.Folders) and
// returns what each holds, without reading it back: the copies are checked
// against it at the end, which checks the source on the way.
func seedUsers(o options, users []string, src *dovecot.Server) (map[string]userFolders, int, int64, error) {
	n := max(1, int(float64(usersProfileMessages)*o.scale+0.5))
	logf("%s: writing %d users × %d messages of ~%d KB into the source", usersProfileName, len(users), n, usersProfileSize/1000)
	start := time.Now()
	plan := make(map[string]userFolders, len(users))
	var msgs int
	var size int64
	for i, u := range users {
		box, err := seedMaildir(src, u, corpus.Folders, corpus.Mailbox(usersProfileSeed+int64(i), n, usersProfileSize))
		if err != nil {
			return nil, 0, 0, fmt.Errorf("user %s: %w", u, err)
		}
		plan[u] = box
		m, s := box.totals()
		msgs, size = msgs+m, size+s
	}
	debug.FreeOSMemory()
	logf("%s: %d messages, %.1f MB written in %v", usersProfileName, msgs, float64(size)/1e6, time.Since(start).Round(time.Millisecond))
	return plan, msgs, size, nil
}

// runUsersProfile creates a project of o.users users on the two servers
// and times each step of it with the mailshift binary: collect, approve,
// bulk, a sync with nothing changed, status and report (Markdown and
// HTML). It returns the rows, a description and notes (the state file's
// size, whether the copies are complete).
func runUsersProfile(ctx context.Context, o options, src, dst *dovecot.Server, work string, bin string) ([]stepRow, string, []string, error) {
	users := usersProfileUsers(o.users)
	plan, msgs, size, err := seedUsers(o, users, src)
	if err != nil {
		return nil, "", nil, err
	}
	desc := fmt.Sprintf("%d users, %d messages, %.1f MB (many small mailboxes: every step timed)", len(users), msgs, float64(size)/1e6)
	pwork := filepath.Join(work, usersProfileName)
	if err := os.MkdirAll(pwork, 0o700); err != nil {
		return nil, "", nil, err
	}
	e := &env{src: src, dst: dst, users: users, password: password, work: pwork, workers: o.workers}
	ms, targets, err := mailshiftProject(ctx, e, bin, src.Addr, "")
	if err != nil {
		return nil, "", nil, err
	}
	steps := []struct {
		name string
		args []string
	}{
		{"collect", []string{"collect"}},
		{"approve", []string{"approve", "--yes", "--by", "bench"}},
		{"bulk", []string{"bulk", "--skip-test"}},
		{"sync, nothing changed", []string{"sync"}},
		{"status", []string{"status"}},
		{"status --json", []string{"status", "--json"}},
		{"report (Markdown)", []string{"report", "-o", "report.md"}},
		{"report --format html", []string{"report", "--format", "html", "-o", "report.html"}},
		{"report --format csv", []string{"report", "--format", "csv", "-o", "report.csv"}},
		// The cutover window: a first full verification records what it
		// found; then an incremental one and the cutover (final sync and
		// incremental verification) look only at what changed since.
		{"verify --full", []string{"verify", "--full"}},
		{"verify, nothing changed", []string{"verify"}},
		{"cutover (final sync, verification)", []string{"cutover", "--yes"}},
	}
	var rows []stepRow
	for _, s := range steps {
		if err := ctx.Err(); err != nil {
			return rows, desc, nil, err
		}
		logf("%s: mailshift %s", usersProfileName, strings.Join(s.args, " "))
		if o.pprofDir != "" {
			base := filepath.Join(o.pprofDir, strings.NewReplacer(" ", "-", ",", "", "(", "", ")", "").Replace(s.name))
			os.Setenv("MAILSHIFT_CPUPROFILE", base+".cpu.pprof")
			os.Setenv("MAILSHIFT_MEMPROFILE", base+".mem.pprof")
		}
		p, err := ms(s.args...)
		r := stepRow{step: s.name, wall: p.wall, rssKiB: p.rssKiB}
		if err != nil {
			r.note = "FAILED: " + firstLine(err.Error())
			rows = append(rows, r)
			return rows, desc, []string{err.Error()}, nil
		}
		logf("%s: %s: %.2f s, peak RSS %.1f MiB", usersProfileName, s.name, r.wall.Seconds(), float64(r.rssKiB)/1024)
		rows = append(rows, r)
	}
	var notes []string
	if fi, err := os.Stat(filepath.Join(pwork, "mailshift", "mailshift.db")); err == nil {
		notes = append(notes, fmt.Sprintf("State file: %.1f MB (%.1f KB a user).", float64(fi.Size())/1e6, float64(fi.Size())/1e3/float64(len(users))))
	}
	notes = append(notes, "Copies: "+checkUsers(ctx, o, dst, users, targets, plan))
	notes = append(notes, loginFloor(ctx, o, dst, targets))
	return rows, desc, notes, nil
}

// loginFloor measures what the server alone needs for the logins of a
// step that logs in once per user on one side: up to 2,000 of the target
// users log in and out, o.workers at a time (as many as mailshift's
// workers), and the time is scaled to all of them.
func loginFloor(ctx context.Context, o options, dst *dovecot.Server, targets []string) string {
	n := min(len(targets), 2000)
	logf("%s: timing %d logins alone", usersProfileName, n)
	start := time.Now()
	err := inParallel(o.workers, targets[:n], func(u string) error {
		_, done, err := login(ctx, dst.Addr, u, password)
		if err == nil {
			done()
		}
		return err
	})
	if err != nil {
		return "Logins alone: NOT MEASURED: " + err.Error()
	}
	each := time.Since(start) / time.Duration(n)
	return fmt.Sprintf("Logins alone (the server's floor): %d logins and logouts on the target, %d at a time, took %.1f ms each, so %.1f s for the %d users: the least any step that logs in once per user on one side can take here, whatever the client.",
		n, o.workers, float64(each.Microseconds())/1000, (each * time.Duration(len(targets))).Seconds(), len(targets))
}

// checkUsers compares every target user with its source mailbox: counts
// and bytes, folder by folder.
func checkUsers(ctx context.Context, o options, dst *dovecot.Server, users, targets []string, plan map[string]userFolders) string {
	logf("%s: checking the copies", usersProfileName)
	snap, err := readUsers(ctx, dst.Addr, targets, password, o.ceilingConn)
	if err != nil {
		return "NO: " + err.Error()
	}
	for i, u := range users {
		if d := compare(plan[u], snap[targets[i]], true); d != "" {
			return fmt.Sprintf("NO: %s: %s", u, d)
		}
	}
	return "every user's folders complete, byte-exact"
}

// firstLine is s up to its first line break.
func firstLine(s string) string {
	line, _, _ := strings.Cut(s, "\n")
	return line
}

// printUsersTable writes the users profile's Markdown table.
func printUsersTable(w io.Writer, desc string, rows []stepRow, notes []string) {
	fmt.Fprintf(w, "\n## %s: %s\n\n", usersProfileName, desc)
	fmt.Fprintln(w, "| mailshift step | wall s | peak RSS MB | |")
	fmt.Fprintln(w, "|---|---:|---:|---|")
	for _, r := range rows {
		fmt.Fprintf(w, "| %s | %.2f | %.1f | %s |\n", r.step, r.wall.Seconds(), float64(r.rssKiB)/1024, r.note)
	}
	for _, n := range notes {
		fmt.Fprintf(w, "\n%s\n", n)
	}
}

// addUsers adds the users profile's source users to the source server and
// their mailshift target users (ms-USER) to the target.
func addUsers(src, dst *dovecot.Server, users []string) {
	for _, u := range users {
		src.AddUser(u, password)
		dst.AddUser("ms-"+u, password)
	}
}
