// Command bench compares mailshift with its peers in one run, on the same
// machine and the same generated mail, and prints a Markdown table per
// profile: wall time, messages/s, MB/s, peak RSS, the time of a re-run with
// nothing changed, and whether the copies are complete.
//
//	go run ./internal/bench [-profiles small,inbox,large,huge,sync] [-scale 1] [-workers 4]
//
// It builds mailshift, starts two throwaway Dovecots on tmpfs (/dev/shm,
// mail_fsync = never), and for each profile fills the source by writing
// Maildir files straight into the source server's storage, then copies
// into fresh target users with:
//
//   - mailshift: a project (mailshift.yaml, users.csv), collect, approve,
//     then the timed `bulk --skip-test` and a timed `sync`;
//   - mbsync (Debian isync; skipped with a note when not installed), one
//     IMAP-to-IMAP channel per user, as many processes at a time as
//     mailshift has workers;
//   - doveadm backup with an imapc: source, as many at a time: Dovecot
//     writing into its own storage, the ceiling for a Dovecot target
//     rather than a peer;
//   - a fetch-only client: every body fetched and discarded, one
//     connection per folder, the most any client can read from the source.
//   - an append-only client: every message read into memory first, then
//     timed while it is stored into fresh target users with MULTIAPPEND
//     groups of 8 MiB, one connection per folder and then two (the faster
//     is shown): the most an IMAP client can put into the target. A copy can
//     be no faster than the slower of the two ceilings, and where source,
//     target and copier share the cores, hardly faster than their sum.
//
// Each copy is checked against the source folder by folder: message
// counts for every tool, and the bytes (a hash over all bodies) as well,
// which mailshift must match. `make bench` runs it after the Go
// benchmarks; `-scale 0.05` makes a quick run.
//
// The sync profile (not in the default list: a full run takes about six
// minutes on two cores, most of it the first copies) measures incremental
// sync instead: 100,000 messages of ~2 KB in 20 folders, copied by
// mailshift and mbsync through a proxy that counts the commands each sends
// to the source and the bytes it reads back; then each runs again with
// nothing changed, and once more after 100 changes made on the source
// (flags, new messages, expunges; mailshift with sync.deletions: mirror).
// Its table shows wall time, commands and bytes per run, and mailshift's
// copy is compared with the source: counts, bytes and flags.
package main

import (
	"bufio"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"runtime"
	"runtime/debug"
	"slices"
	"strings"
	"syscall"
	"time"

	"github.com/mailshift/mailshift/internal/testrig/corpus"
	"github.com/mailshift/mailshift/internal/testrig/dovecot"
)

// profile is one shape of mailbox data.
type profile struct {
	name     string
	users    int
	messages int      // per user, at scale 1
	size     int      // average message size in bytes
	inbox    bool     // everything in INBOX (else spread over corpus.Folders)
	folders  []string // spread over these instead (see spread)
	sync     bool     // measures incremental sync (runSyncProfile)
	seed     int64
	about    string
}

// userNames are the profile's source users.
func (p profile) userNames() []string {
	users := make([]string, p.users)
	for i := range users {
		users[i] = fmt.Sprintf("%s-u%d", p.name, i+1)
	}
	return users
}

var profiles = []profile{
	{name: "small", users: 4, messages: 5000, size: 20_000, seed: 1, about: "many small messages over several users and folders"},
	{name: "inbox", users: 1, messages: 20_000, size: 20_000, inbox: true, seed: 11, about: "one big INBOX"},
	{name: "large", users: 1, messages: 200, size: 1_000_000, seed: 21, about: "large messages"},
	{name: "huge", users: 4, messages: 2, size: 30_000_000, inbox: true, seed: 6, about: "a few huge messages, four users at once"},
	{name: "sync", users: 1, messages: 100_000, size: 2_000, folders: syncFolders, sync: true, seed: 31, about: "the cost of incremental sync: nothing changed, then 100 changes"},
	{name: usersProfileName, about: "every step of a project of many small mailboxes (-users of them)"},
}

// options are the command line.
type options struct {
	profiles    []profile
	scale       float64
	workers     int
	tools       []string
	dir         string
	keep        bool
	fsync       bool
	ceilingConn int
	users       int    // users of the users profile
	pprofDir    string // the users profile writes each step's profiles here
	// performance runs both Dovecots as Dovecot advises for a busy site
	// (dovecot.Options.HighPerformance) instead of in its default
	// high-security mode.
	performance bool
}

const password = "bench-pw"

var allTools = []string{"mailshift", "mbsync", "doveadm", "fetch", "append"}

func main() {
	if len(os.Args) > 1 && (os.Args[1] == "ceiling-fetch" || os.Args[1] == "ceiling-append") {
		run := ceilingFetchMain
		if os.Args[1] == "ceiling-append" {
			run = ceilingAppendMain
		}
		if err := run(os.Args[2:]); err != nil {
			fmt.Fprintln(os.Stderr, os.Args[1]+":", err)
			os.Exit(1)
		}
		return
	}
	o, err := parseFlags(os.Args[1:])
	if err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return
		}
		fmt.Fprintln(os.Stderr, "bench:", err)
		os.Exit(2)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err = runBench(ctx, o, os.Stdout)
	interrupted := ctx.Err() != nil
	stop()
	if err != nil {
		fmt.Fprintln(os.Stderr, "bench:", err)
		if interrupted {
			os.Exit(130)
		}
		os.Exit(1)
	}
}

func parseFlags(args []string) (options, error) {
	fs := flag.NewFlagSet("bench", flag.ContinueOnError)
	var names, tools string
	o := options{}
	fs.StringVar(&names, "profiles", "small,inbox,large,huge", "profiles to run: small (4 users × 5,000 × ~20 KB), inbox (20,000 × ~20 KB in one INBOX), large (200 × ~1 MB), huge (4 users × 2 × ~30 MB), sync (incremental sync of 100,000 × ~2 KB in 20 folders: nothing changed, then 100 changes; mailshift and mbsync only; not in the default list, as a full run takes about six minutes on two cores), users (every mailshift step of a project of -users users × 10 messages of ~4 KB; mailshift only; not in the default list)")
	fs.Float64Var(&o.scale, "scale", 1, "multiply the message counts by this (e.g. 0.05 for a quick run)")
	fs.IntVar(&o.workers, "workers", 4, "mailshift's copy.workers; also how many mbsync and doveadm processes run at a time")
	fs.StringVar(&tools, "tools", strings.Join(allTools, ","), "tools to measure")
	fs.StringVar(&o.dir, "dir", "/dev/shm", "directory (tmpfs) for the servers' mail and the tools' state")
	fs.BoolVar(&o.keep, "keep", false, "keep the work directory (servers' mail, configs, logs)")
	fs.BoolVar(&o.fsync, "fsync", false, "keep Dovecot's default mail_fsync instead of never (durable writes)")
	fs.IntVar(&o.ceilingConn, "fetch-conns", 8, "connections of the fetch-only client (one per folder)")
	fs.StringVar(&o.pprofDir, "pprof-dir", "", "users profile: write a CPU and a heap profile of each mailshift step into this directory (MAILSHIFT_CPUPROFILE, MAILSHIFT_MEMPROFILE)")
	fs.IntVar(&o.users, "users", 10_000, "users of the users profile (10 messages of ~4 KB each at scale 1); e.g. 1000 for a quicker run")
	var login string
	fs.StringVar(&login, "dovecot-login", "security", "how both Dovecots start their processes: security (Dovecot's default, a new process at both stages of every connection) or performance (as Dovecot advises for a busy site: login processes that take many connections, imap processes reused; about ten times the logins per second here)")
	if err := fs.Parse(args); err != nil {
		return o, err
	}
	switch login {
	case "security":
	case "performance":
		o.performance = true
	default:
		return o, fmt.Errorf("-dovecot-login %q: security or performance", login)
	}
	if fs.NArg() > 0 {
		return o, fmt.Errorf("unexpected argument %q", fs.Arg(0))
	}
	if o.scale <= 0 {
		return o, fmt.Errorf("-scale %v: must be more than 0", o.scale)
	}
	if o.users < 1 {
		return o, fmt.Errorf("-users %d: must be at least 1", o.users)
	}
	if o.workers < 1 {
		return o, fmt.Errorf("-workers %d: must be at least 1", o.workers)
	}
	for _, n := range strings.Split(names, ",") {
		i := slices.IndexFunc(profiles, func(p profile) bool { return p.name == strings.TrimSpace(n) })
		if i < 0 {
			return o, fmt.Errorf("-profiles: unknown profile %q (small, inbox, large, huge, sync, users)", n)
		}
		o.profiles = append(o.profiles, profiles[i])
	}
	for _, t := range strings.Split(tools, ",") {
		t = strings.TrimSpace(t)
		if !slices.Contains(allTools, t) {
			return o, fmt.Errorf("-tools: unknown tool %q (%s)", t, strings.Join(allTools, ", "))
		}
		o.tools = append(o.tools, t)
	}
	return o, nil
}

// logf reports progress on stderr.
func logf(format string, args ...any) {
	fmt.Fprintf(os.Stderr, "%s  %s\n", time.Now().Format("15:04:05"), fmt.Sprintf(format, args...))
}

// row is one tool's line in a profile's table.
type row struct {
	key      string // the tool as -tools names it
	tool     string
	wall     time.Duration
	rerun    time.Duration // 0: not applicable
	rssKiB   int64
	copies   string
	failed   error  // the run failed: the row shows the failure
	skipped  string // not run: why
	messages int    // what the wall time moved (the profile's totals)
	bytes    int64
}

func runBench(ctx context.Context, o options, out io.Writer) error {
	work, err := os.MkdirTemp(o.dir, "mailshift-bench-")
	if err != nil {
		return fmt.Errorf("work directory in %s: %w", o.dir, err)
	}
	logf("work directory %s", work)
	if !o.keep {
		defer os.RemoveAll(work)
	}
	// Dovecot's mail processes run as another user (dovecot, as root) and
	// must reach the servers' directories inside.
	if err := os.Chmod(work, 0o711); err != nil {
		return err
	}

	tools, notes, err := findTools(ctx, o, work)
	if err != nil {
		return err
	}

	dopts := dovecot.Options{FSync: o.fsync, HighPerformance: o.performance}
	src, err := dovecot.StartDir(filepath.Join(work, "src"), dopts)
	if err != nil {
		return fmt.Errorf("source dovecot: %w", err)
	}
	defer src.Close()
	dst, err := dovecot.StartDir(filepath.Join(work, "dst"), dopts)
	if err != nil {
		return fmt.Errorf("target dovecot: %w", err)
	}
	defer dst.Close()
	logf("source dovecot %s, target dovecot %s", src.Addr, dst.Addr)
	addProfileUsers(o, src, dst)

	fmt.Fprintf(out, "# mailshift benchmark\n\n%s\n", machine(o, tools))
	for _, n := range notes {
		fmt.Fprintf(out, "\n> %s\n", n)
	}
	for _, p := range o.profiles {
		if p.name == usersProfileName {
			if tools["mailshift"] == "" {
				return fmt.Errorf("profile %s: measures mailshift only, which did not build", p.name)
			}
			rows, desc, notes, err := runUsersProfile(ctx, o, src, dst, work, tools["mailshift"])
			if err != nil {
				return fmt.Errorf("profile %s: %w", p.name, err)
			}
			printUsersTable(out, desc, rows, notes)
			continue
		}
		if p.sync {
			rows, desc, notes, err := runSyncProfile(ctx, o, p, src, dst, work, tools)
			if err != nil {
				return fmt.Errorf("profile %s: %w", p.name, err)
			}
			printSyncTable(out, p, desc, rows, notes)
			continue
		}
		rows, desc, err := runProfile(ctx, o, p, src, dst, work, tools)
		if err != nil {
			return fmt.Errorf("profile %s: %w", p.name, err)
		}
		printTable(out, p, desc, rows)
	}
	return nil
}

// findTools finds the binary of each tool o measures ("" when missing,
// with a note why): mailshift is built into work, the ceilings are this
// program, the peers are looked up on PATH.
func findTools(ctx context.Context, o options, work string) (map[string]string, []string, error) {
	tools := map[string]string{} // tool -> its binary, "" when missing
	var notes []string
	for _, t := range []string{"fetch", "append"} {
		if slices.Contains(o.tools, t) {
			self, err := os.Executable()
			if err != nil {
				return nil, nil, err
			}
			tools[t] = self
		}
	}
	if slices.Contains(o.tools, "mailshift") {
		bin := filepath.Join(work, "mailshift")
		logf("building mailshift")
		if err := buildMailshift(ctx, bin); err != nil {
			if ctx.Err() != nil {
				return nil, nil, ctx.Err()
			}
			notes = append(notes, "mailshift did not build: "+err.Error())
			tools["mailshift"] = ""
		} else {
			tools["mailshift"] = bin
		}
	}
	if slices.Contains(o.tools, "mbsync") {
		if bin, err := exec.LookPath("mbsync"); err == nil {
			tools["mbsync"] = bin
		} else {
			msg := "mbsync is not installed (Debian package isync; `make bench` installs it): its rows are skipped"
			logf("%s", msg)
			notes = append(notes, msg)
			tools["mbsync"] = ""
		}
	}
	if slices.Contains(o.tools, "doveadm") {
		if bin, err := exec.LookPath("doveadm"); err == nil {
			tools["doveadm"] = bin
		} else {
			notes = append(notes, "doveadm is not installed: its rows are skipped")
			tools["doveadm"] = ""
		}
	}
	return tools, notes, nil
}

// addProfileUsers adds every profile's users to the servers. Every user is
// added before the first login: Dovecot notices a change of its
// passwd-file by the file's time, and may miss a second change within the
// same second.
func addProfileUsers(o options, src, dst *dovecot.Server) {
	for _, p := range o.profiles {
		if p.name == usersProfileName {
			addUsers(src, dst, usersProfileUsers(o.users))
			continue
		}
		for _, u := range p.userNames() {
			src.AddUser(u, password)
			for _, prefix := range targetPrefixes {
				dst.AddUser(prefix+"-"+u, password)
			}
		}
	}
}

// buildMailshift builds the binary from the module this program is in.
func buildMailshift(ctx context.Context, bin string) error {
	modFile, err := exec.CommandContext(ctx, "go", "env", "GOMOD").Output()
	if err != nil {
		return fmt.Errorf("go env GOMOD: %w", err)
	}
	root := filepath.Dir(strings.TrimSpace(string(modFile)))
	cmd := exec.CommandContext(ctx, "go", "build", "-o", bin, "./cmd/mailshift")
	cmd.Dir = root
	if out, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("%v\n%s", err, out)
	}
	return nil
}

// runProfile seeds the source for p and measures every tool on it.
func runProfile(ctx context.Context, o options, p profile, src, dst *dovecot.Server, work string, tools map[string]string) ([]row, string, error) {
	users := p.userNames()
	plan, totalMsgs, totalBytes, err := seedSource(ctx, o, p, src)
	if err != nil {
		return nil, "", err
	}

	desc := fmt.Sprintf("%d user(s), %d messages, %.1f MB (%s)", p.users, totalMsgs, float64(totalBytes)/1e6, p.about)
	pwork := filepath.Join(work, p.name)
	if err := os.MkdirAll(pwork, 0o700); err != nil {
		return nil, "", err
	}
	pr := &profileRun{o: o, p: p, dst: dst, users: users, plan: plan, msgs: totalMsgs, bytes: totalBytes,
		e: &env{src: src, dst: dst, users: users, password: password, work: pwork, workers: o.workers}}
	var rows []row
	for _, tool := range o.tools {
		if err := ctx.Err(); err != nil {
			return nil, "", err
		}
		bin := tools[tool]
		var r row
		switch tool {
		case "fetch":
			r = pr.fetchRow(ctx, bin)
		case "append":
			r = pr.appendRow(ctx, bin)
		case "mailshift", "mbsync", "doveadm":
			r = pr.copierRow(ctx, tool, bin)
		default:
			continue
		}
		r.messages, r.bytes = totalMsgs, totalBytes
		rows = append(rows, r)
		if err := ctx.Err(); err != nil {
			return nil, "", err
		}
		if r.failed == nil && r.skipped == "" {
			logf("%s: %s: %.2f s, re-run %.2f s, peak RSS %.1f MiB, copies: %s", p.name, r.tool, r.wall.Seconds(), r.rerun.Seconds(), float64(r.rssKiB)/1024, r.copies)
		}
	}
	if !o.keep {
		for _, u := range users {
			os.RemoveAll(filepath.Join(src.Dir, "mail", u))
		}
	}
	return rows, desc, nil
}

// profileRun is one profile's source, seeded, and what the tools' copies
// are judged against.
type profileRun struct {
	o     options
	p     profile
	e     *env
	dst   *dovecot.Server
	users []string
	plan  map[string]userFolders
	msgs  int
	bytes int64
}

// fetchRow measures the fetch-only client.
func (pr *profileRun) fetchRow(ctx context.Context, bin string) row {
	logf("%s: fetch-only client", pr.p.name)
	proc, res, err := ceilingRun(ctx, pr.e, bin, pr.o.ceilingConn)
	r := row{key: "fetch", tool: fmt.Sprintf("ceiling: fetch only (%d connections)", pr.o.ceilingConn), wall: proc.wall, rssKiB: proc.rssKiB, failed: err}
	if err == nil {
		r.copies = "read all"
		if res.Messages != pr.msgs || res.Bytes != pr.bytes {
			r.copies = fmt.Sprintf("NO: read %d messages, %d bytes", res.Messages, res.Bytes)
		}
	}
	return r
}

// appendRow measures the append-only client. One connection per folder is
// faster for large messages, two for small ones: the ceiling is the better
// of the two.
func (pr *profileRun) appendRow(ctx context.Context, bin string) row {
	targets := pr.e.targetUsers("ceil")
	var r row
	for _, per := range []int{1, 2} {
		logf("%s: append-only client, %d connection(s) per folder", pr.p.name, per)
		res, err := ceilingAppendRun(ctx, pr.e, bin, targets, pr.o.ceilingConn, per)
		wall := time.Duration(res.Millis) * time.Millisecond
		if err == nil && (r.wall == 0 || wall < r.wall) {
			r = row{key: "append", tool: fmt.Sprintf("ceiling: append from memory (%d connections, %d per folder, MULTIAPPEND)", pr.o.ceilingConn, per), wall: wall}
			r.copies = pr.check(ctx, targets, true)
		} else if err != nil && r.wall == 0 {
			r = row{key: "append", tool: "ceiling: append from memory", failed: err}
		}
		pr.cleanup(targets)
	}
	return r
}

// copierRow measures a tool that copies (mailshift, mbsync, doveadm).
func (pr *profileRun) copierRow(ctx context.Context, tool, bin string) row {
	c := copiers[tool]
	r := row{key: tool, tool: c.label(pr.o, pr.p)}
	if bin == "" {
		r.skipped = c.missing
		return r
	}
	logf("%s: %s", pr.p.name, tool)
	first, rerun, targets, err := c.run(ctx, pr.e, bin)
	r.wall, r.rerun, r.rssKiB, r.failed = first.wall, rerun.wall, max(first.rssKiB, rerun.rssKiB), err
	if err == nil {
		r.copies = pr.check(ctx, targets, c.exact)
	}
	pr.cleanup(targets)
	return r
}

// check compares the target users of a tool with the source.
func (pr *profileRun) check(ctx context.Context, targets []string, wantBytes bool) string {
	snap, err := readAll(ctx, pr.dst.Addr, targets, password, pr.o.ceilingConn, true)
	if err != nil {
		return "NO: " + err.Error()
	}
	bytesOK := true
	for i, u := range pr.users {
		if d := compare(pr.plan[u], snap[targets[i]], false); d != "" {
			return "NO: " + d
		}
		if compare(pr.plan[u], snap[targets[i]], true) != "" {
			bytesOK = false
		}
	}
	switch {
	case bytesOK:
		return "yes, byte-exact"
	case wantBytes:
		return "NO: counts match but bytes differ"
	default:
		return "counts yes, bytes differ"
	}
}

// cleanup removes a tool's target users' mail.
func (pr *profileRun) cleanup(targets []string) {
	for _, t := range targets {
		os.RemoveAll(filepath.Join(pr.dst.Dir, "mail", t))
	}
}

// seedSource writes p's users into the source server's storage and reads
// them back over IMAP to check the server serves what was written. It
// returns each user's mailbox and the totals.
func seedSource(ctx context.Context, o options, p profile, src *dovecot.Server) (plan map[string]userFolders, totalMsgs int, totalBytes int64, err error) {
	n := max(1, int(float64(p.messages)*o.scale+0.5))
	users := p.userNames()
	logf("%s: writing %d user(s) × %d messages of ~%d KB into the source", p.name, p.users, n, p.size/1000)
	start := time.Now()
	plan = map[string]userFolders{}
	for i, u := range users {
		var msgs []corpus.Message
		folders := corpus.Folders
		switch {
		case p.inbox:
			msgs = corpus.Generate(p.seed+int64(i), n, p.size)
		case p.folders != nil:
			msgs, folders = spread(p.seed+int64(i), n, p.size, p.folders), p.folders
		default:
			msgs = corpus.Mailbox(p.seed+int64(i), n, p.size)
		}
		box, err := seedMaildir(src, u, folders, msgs)
		if err != nil {
			return nil, 0, 0, err
		}
		plan[u] = box
	}
	debug.FreeOSMemory()
	for _, b := range plan {
		m, s := b.totals()
		totalMsgs += m
		totalBytes += s
	}
	logf("%s: %d messages, %.1f MB written in %v; indexing and checking them over IMAP", p.name, totalMsgs, float64(totalBytes)/1e6, time.Since(start).Round(time.Millisecond))
	start = time.Now()
	got, err := readAll(ctx, src.Addr, users, password, o.ceilingConn, true)
	if err != nil {
		return nil, 0, 0, fmt.Errorf("reading the seeded source: %w", err)
	}
	for _, u := range users {
		if d := compare(plan[u], got[u], true); d != "" {
			return nil, 0, 0, fmt.Errorf("the source does not serve what was written for %s: %s", u, d)
		}
	}
	logf("%s: source ready and checked in %v", p.name, time.Since(start).Round(time.Millisecond))
	return plan, totalMsgs, totalBytes, nil
}

// compare reports the first difference between the source's mailbox and
// a copy, folder by folder: message counts, and with bytes also the hash
// over the bodies. Folders only one side has must be empty.
func compare(want, got userFolders, bytes bool) string {
	names := map[string]bool{}
	for f := range want {
		names[f] = true
	}
	for f := range got {
		names[f] = true
	}
	sorted := make([]string, 0, len(names))
	for f := range names {
		sorted = append(sorted, f)
	}
	slices.Sort(sorted)
	for _, f := range sorted {
		w, g := want[f], got[f]
		if w == nil {
			w = &folderSum{}
		}
		if g == nil {
			g = &folderSum{}
		}
		if w.Messages != g.Messages {
			return fmt.Sprintf("folder %q: %d messages on the source, %d on the target", f, w.Messages, g.Messages)
		}
		if bytes && (w.Bytes != g.Bytes || w.digest() != g.digest()) {
			return fmt.Sprintf("folder %q: the messages' bytes differ (%d bytes on the source, %d on the target)", f, w.Bytes, g.Bytes)
		}
	}
	return ""
}

// printTable writes one profile's Markdown table.
func printTable(w io.Writer, p profile, desc string, rows []row) {
	fmt.Fprintf(w, "\n## %s: %s\n\n", p.name, desc)
	fmt.Fprintln(w, "| tool | wall s | msgs/s | MB/s | peak RSS MB | re-run s | copies ok |")
	fmt.Fprintln(w, "|---|---:|---:|---:|---:|---:|---|")
	var failures []string
	for _, r := range rows {
		switch {
		case r.skipped != "":
			fmt.Fprintf(w, "| %s | — | — | — | — | — | skipped: %s |\n", r.tool, r.skipped)
		case r.failed != nil:
			fmt.Fprintf(w, "| %s | — | — | — | — | — | FAILED (below) |\n", r.tool)
			failures = append(failures, fmt.Sprintf("%s: %v", r.tool, r.failed))
		default:
			s := r.wall.Seconds()
			rerun := "—"
			if r.rerun > 0 {
				rerun = fmt.Sprintf("%.2f", r.rerun.Seconds())
			}
			rss := "—" // the append-only client holds all mail in memory on purpose
			if r.rssKiB > 0 {
				rss = fmt.Sprintf("%.1f", float64(r.rssKiB)/1024)
			}
			fmt.Fprintf(w, "| %s | %.2f | %.0f | %.1f | %s | %s | %s |\n", r.tool, s,
				float64(r.messages)/s, float64(r.bytes)/1e6/s, rss, rerun, r.copies)
		}
	}
	for _, f := range failures {
		fmt.Fprintf(w, "\n```\n%s\n```\n", f)
	}
	if r := ratios(rows); r != "" {
		fmt.Fprintf(w, "\n%s\n", r)
	}
}

// ratios says how mailshift's wall time compares with each other row's,
// and with the sum of the two ceilings: on a machine whose cores the
// source, the target and the copier share, a copy costs about what reading
// and writing cost apart.
func ratios(rows []row) string {
	wall := map[string]time.Duration{}
	for _, r := range rows {
		if r.failed == nil && r.skipped == "" && r.wall > 0 {
			wall[r.key] = r.wall
		}
	}
	ms, ok := wall["mailshift"]
	if !ok {
		return ""
	}
	var parts []string
	for _, k := range []string{"mbsync", "doveadm", "fetch", "append"} {
		if w, ok := wall[k]; ok {
			parts = append(parts, fmt.Sprintf("%.2f× %s", ms.Seconds()/w.Seconds(), map[string]string{
				"mbsync": "mbsync's", "doveadm": "doveadm backup's", "fetch": "the fetch ceiling", "append": "the append ceiling",
			}[k]))
		}
	}
	if f, ok := wall["fetch"]; ok {
		if a, ok := wall["append"]; ok {
			parts = append(parts, fmt.Sprintf("%.2f× the two ceilings' sum", ms.Seconds()/(f+a).Seconds()))
		}
	}
	return "mailshift's wall time is " + strings.Join(parts, ", ") + "."
}

// machine describes where and how the figures were measured.
func machine(o options, tools map[string]string) string {
	cpu := "unknown CPU"
	if f, err := os.Open("/proc/cpuinfo"); err == nil {
		sc := bufio.NewScanner(f)
		for sc.Scan() {
			if k, v, ok := strings.Cut(sc.Text(), ":"); ok && strings.TrimSpace(k) == "model name" {
				cpu = strings.TrimSpace(v)
				break
			}
		}
		f.Close()
	}
	kernel, _ := os.ReadFile("/proc/sys/kernel/osrelease")
	version := func(args ...string) string {
		out, err := exec.Command(args[0], args[1:]...).Output()
		if err != nil {
			return "?"
		}
		return strings.TrimSpace(strings.SplitN(string(out), "\n", 2)[0])
	}
	var b strings.Builder
	fmt.Fprintf(&b, "- date: %s\n", time.Now().Format("2006-01-02 15:04 MST"))
	fmt.Fprintf(&b, "- machine: %s, %d cores, Linux %s\n", cpu, runtime.NumCPU(), strings.TrimSpace(string(kernel)))
	fmt.Fprintf(&b, "- servers: two Dovecot %s on loopback, mail on tmpfs (%s)", version("dovecot", "--version"), o.dir)
	if o.performance {
		b.WriteString(", processes as for a busy site (login processes in high-performance mode, imap processes reused)")
	} else {
		b.WriteString(", processes in Dovecot's default high-security mode (a new one at both stages of every connection)")
	}
	if o.fsync {
		b.WriteString(", default mail_fsync\n")
	} else {
		b.WriteString(", mail_fsync = never\n")
	}
	if bin := tools["mailshift"]; bin != "" {
		fmt.Fprintf(&b, "- mailshift: %s, built with %s, copy.workers %d, state on tmpfs\n", version(bin, "version"), runtime.Version(), o.workers)
	}
	if bin := tools["mbsync"]; bin != "" {
		fmt.Fprintf(&b, "- mbsync: %s\n", version(bin, "--version"))
	}
	fmt.Fprintf(&b, "- scale %g; MB = 10^6 bytes of message data per second of wall time; peak RSS in MiB (the largest VmHWM of the tool's process and its children, polled from /proc; for mbsync and doveadm the largest of their processes); re-run: the same tool again with nothing changed (mailshift: `sync`)\n", o.scale)
	return b.String()
}

// copier is a tool that copies the profile's mail: how to run it and how
// to judge its copies.
type copier struct {
	label   func(o options, p profile) string
	missing string // why a row is empty when the tool is not there
	exact   bool   // its copies must be byte-identical
	run     func(ctx context.Context, e *env, bin string) (first, rerun proc, targets []string, err error)
}

var copiers = map[string]copier{
	"mailshift": {
		label:   func(o options, p profile) string { return fmt.Sprintf("mailshift (%d workers)", o.workers) },
		missing: "did not build", exact: true, run: mailshiftRun,
	},
	"mbsync": {
		label: func(o options, p profile) string {
			return fmt.Sprintf("mbsync (%d at a time)", min(o.workers, p.users))
		},
		missing: "not installed", run: mbsyncRun,
	},
	"doveadm": {
		label: func(o options, p profile) string {
			return fmt.Sprintf("doveadm backup, imapc (%d at a time; ceiling for a Dovecot target)", min(o.workers, p.users))
		},
		missing: "not installed", run: doveadmRun,
	},
}
