package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/emersion/go-imap/v2"

	"github.com/mailshift/mailshift/internal/testrig/corpus"
	"github.com/mailshift/mailshift/internal/testrig/courier"
	"github.com/mailshift/mailshift/internal/testrig/cyrus"
	"github.com/mailshift/mailshift/internal/testrig/dovecot"
	"github.com/mailshift/mailshift/internal/testrig/imaptest"
)

// strictInteropEnv set to "1" turns the known gaps of TestInterop from
// skips into failures.
const strictInteropEnv = "MAILSHIFT_INTEROP_STRICT"

// interopServer is one real IMAP server of the interop matrix, with what a
// test needs to predict where mailshift puts a folder.
type interopServer struct {
	kind    string
	addr    string
	prefix  string // personal namespace prefix
	sep     string // hierarchy separator
	addUser func(name, password string)
	// mailOrFolders: a folder holds either mail or subfolders (Dovecot
	// storing mbox files), not both.
	mailOrFolders bool
}

// interopKinds start each kind of server the matrix uses.
var interopKinds = map[string]func(t *testing.T) *interopServer{
	"dovecot": func(t *testing.T) *interopServer {
		s := dovecot.Start(t, dovecot.Options{})
		return &interopServer{kind: "Dovecot Maildir /", addr: s.Addr, sep: "/", addUser: s.AddUser}
	},
	"dovecot-dot": func(t *testing.T) *interopServer {
		s := dovecot.Start(t, dovecot.Options{Separator: ".", Prefix: "INBOX."})
		return &interopServer{kind: "Dovecot Maildir . INBOX.", addr: s.Addr, prefix: "INBOX.", sep: ".", addUser: s.AddUser}
	},
	"dovecot-mbox": func(t *testing.T) *interopServer {
		s := dovecot.Start(t, dovecot.Options{Mbox: true})
		return &interopServer{kind: "Dovecot mbox", addr: s.Addr, sep: "/", addUser: s.AddUser, mailOrFolders: true}
	},
	"cyrus": func(t *testing.T) *interopServer {
		s := cyrus.Start(t, cyrus.Options{})
		return &interopServer{kind: "Cyrus", addr: s.Addr, prefix: "INBOX.", sep: ".", addUser: s.AddUser}
	},
	// Cyrus storing 8-bit header bytes as they come, so that the rest of
	// the migration can be compared byte for byte.
	"cyrus-8bit": func(t *testing.T) *interopServer {
		s := cyrus.Start(t, cyrus.Options{Keep8bitHeaders: true})
		return &interopServer{kind: "Cyrus (munge8bit: no)", addr: s.Addr, prefix: "INBOX.", sep: ".", addUser: s.AddUser}
	},
	// Cyrus with "/" as its separator (unixhierarchysep), 8-bit headers kept.
	"cyrus-slash": func(t *testing.T) *interopServer {
		s := cyrus.Start(t, cyrus.Options{Separator: "/", Keep8bitHeaders: true})
		return &interopServer{kind: "Cyrus / (munge8bit: no)", addr: s.Addr, prefix: "INBOX/", sep: "/", addUser: s.AddUser}
	},
	"courier": func(t *testing.T) *interopServer {
		s := courier.Start(t, courier.Options{})
		return &interopServer{kind: "Courier", addr: s.Addr, prefix: "INBOX.", sep: ".", addUser: s.AddUser}
	},
	// Courier without QUOTA in its capabilities: what comes after collect
	// while the bare QUOTA answer stops the stock one there.
	"courier-noquota": func(t *testing.T) *interopServer {
		s := courier.Start(t, courier.Options{DisableCaps: []string{"QUOTA"}})
		return &interopServer{kind: "Courier (QUOTA not advertised)", addr: s.Addr, prefix: "INBOX.", sep: ".", addUser: s.AddUser}
	},
}

// name is the server's name for a folder path with "/" as separator
// ("Archive/2019"): a separator inside a component becomes "_", as
// mailshift's mapping does.
func (s *interopServer) name(path string) string {
	if strings.EqualFold(path, "INBOX") {
		return "INBOX"
	}
	parts := strings.Split(path, "/")
	for i, p := range parts {
		parts[i] = strings.ReplaceAll(p, s.sep, "_")
	}
	return s.prefix + strings.Join(parts, s.sep)
}

// path is the inverse of name: "INBOX.Archive.2019" on a "." server with
// prefix "INBOX." is "Archive/2019".
func (s *interopServer) path(name string) string {
	if strings.EqualFold(name, "INBOX") {
		return "INBOX"
	}
	return strings.ReplaceAll(strings.TrimPrefix(name, s.prefix), s.sep, "/")
}

// interopGap is an engine gap a pair is known to meet: while it is not
// fixed, the pair's subtest stops with t.Skip("known gap: ...") at the
// step where it shows (unless MAILSHIFT_INTEROP_STRICT=1), so that CI
// stays green and the gap stays visible.
type interopGap struct {
	step string // where it shows: collect, approve, test, bulk, compare after bulk, change, sync, compare after sync, cutover, compare after cutover
	what string
}

// interopPairs is the matrix: source and target kinds, and the gaps known
// today.
var interopPairs = []struct {
	src, dst string
	gaps     []interopGap
}{
	{src: "dovecot", dst: "dovecot-dot"},
	{src: "dovecot", dst: "dovecot-mbox"},
	{src: "dovecot", dst: "cyrus-8bit"},
	{src: "dovecot", dst: "cyrus", gaps: []interopGap{cyrusMungeGap}},
	{src: "cyrus", dst: "dovecot"},
	{src: "cyrus-slash", dst: "dovecot-dot"},
	{src: "dovecot", dst: "courier"},
	{src: "courier", dst: "dovecot"},
	{src: "dovecot", dst: "courier-noquota"},
	{src: "courier-noquota", dst: "dovecot"},
}

// The gaps known today, by the step where each shows.
var (
	cyrusMungeGap = interopGap{"test",
		"cyrus munge8bit: stock Cyrus stores 8-bit header bytes as X; the copies differ from the source and nothing warns before verification reports content differences"}
)

// interopUsers are the users of every pair: alice is the test user and
// lives on during sync, bob is copied by bulk.
var interopUsers = []struct {
	name  string
	seed  int64
	count int
}{{"alice", 31, 60}, {"bob", 32, 25}}

// TestInterop drives the six commands through each pair of real servers of
// different kinds with a messy mailbox, changes the source the way a
// living mailbox changes, and compares both servers message by message
// (bytes, flags with keywords, internal date) after bulk, sync and
// cutover.
func TestInterop(t *testing.T) {
	if testing.Short() {
		t.Skip("starts two real servers per pair")
	}
	strict := os.Getenv(strictInteropEnv) == "1"
	for _, pair := range interopPairs {
		t.Run(pair.src+"_to_"+pair.dst, func(t *testing.T) {
			t.Parallel()
			r := &interopRun{t: t, dir: t.TempDir(), strict: strict, gaps: pair.gaps}
			r.src = interopKinds[pair.src](t)
			r.dst = interopKinds[pair.dst](t)
			t.Logf("%s (%s) to %s (%s)", r.src.kind, r.src.addr, r.dst.kind, r.dst.addr)
			r.run()
		})
	}
}

// interopRun is one pair's migration project.
type interopRun struct {
	t        *testing.T
	dir      string
	src, dst *interopServer
	strict   bool
	gaps     []interopGap
	// moved are the folders.map entries the project needed, source path to
	// target path ("/" as separator).
	moved map[string]string
}

func (r *interopRun) run() {
	t := r.t
	var rows strings.Builder
	rows.WriteString("source_user,source_password,target_user,target_password,batch\n")
	for _, u := range interopUsers {
		r.src.addUser(u.name, "old-"+u.name)
		r.dst.addUser(u.name, "new-"+u.name)
		fmt.Fprintf(&rows, "%s,old-%s,%s,new-%s,wave1\n", u.name, u.name, u.name, u.name)
	}
	for _, u := range interopUsers {
		r.seed(u.name, u.seed, u.count)
	}
	r.write("users.csv", rows.String())
	config := "source:\n  url: imap://" + r.src.addr + "?tls=none\n" +
		"target:\n  url: imap://" + r.dst.addr + "?tls=none\n" +
		"users:\n  file: users.csv\ntest_users: [alice]\nsync:\n  deletions: mirror\n"
	r.write("mailshift.yaml", config)

	r.command("collect", "collect")
	if r.dst.mailOrFolders {
		// collect foresees that "Archive" (mail and a subfolder) cannot be
		// held; the consultant gives its mail a folder of its own.
		r.step("collect foresees the hierarchy", r.foreseen)
		r.moved = map[string]string{"Archive/2023": "Archive (subfolders)/2023"}
		r.write("mailshift.yaml", config+"folders:\n  map:\n    Archive/2023: \"Archive (subfolders)/2023\"\n")
	}
	r.command("approve", "approve", "--yes", "--by", "Interop Test")
	r.command("test", "test")
	r.command("bulk", "bulk")
	r.compareAll("compare after bulk")
	r.step("change", r.change)
	r.command("sync", "sync")
	r.compareAll("compare after sync")
	r.command("cutover", "cutover", "--yes")
	r.compareAll("compare after cutover")
	t.Logf("%s to %s: all six steps passed", r.src.kind, r.dst.kind)
	for _, g := range r.gaps {
		t.Logf("known gap no longer shows at %s: %s (take it out of interopPairs)", g.step, g.what)
	}
}

// step runs fn; if it fails where a known gap shows, the subtest is
// skipped (or, strict, failed) naming the gap; otherwise it fails.
func (r *interopRun) step(name string, fn func() error) {
	r.t.Helper()
	err := fn()
	if err == nil {
		return
	}
	for _, g := range r.gaps {
		if g.step == name {
			if r.strict {
				r.t.Fatalf("%s (known gap: %s): %v", name, g.what, err)
			}
			r.t.Skipf("known gap: %s (shows at %s, %s=1 fails here instead): %v", g.what, name, strictInteropEnv, err)
		}
	}
	r.t.Fatalf("%s: %v", name, err)
}

// command runs mailshift with args as a step that must exit 0.
func (r *interopRun) command(step string, args ...string) {
	r.t.Helper()
	r.step(step, func() error {
		var out, errOut bytes.Buffer
		full := append([]string{"--config", filepath.Join(r.dir, "mailshift.yaml"), "--state", filepath.Join(r.dir, "mailshift.db")}, args...)
		start := time.Now()
		code := run(context.Background(), full, &out, &errOut)
		r.t.Logf("mailshift %s: exit %d in %v: %s", strings.Join(args, " "), code, time.Since(start).Round(time.Millisecond), tail(out.String(), 3))
		if code != exitOK {
			report := ""
			if b, err := os.ReadFile(filepath.Join(r.dir, "reports", args[0]+".md")); err == nil && code == exitDifferences {
				report = "\nreports/" + args[0] + ".md:\n" + tail(string(b), 60)
			}
			return fmt.Errorf("mailshift %s: exit %d\nstdout:\n%s\nstderr:\n%s%s", strings.Join(args, " "), code, tail(out.String(), 40), tail(errOut.String(), 40), report)
		}
		return nil
	})
}

func tail(s string, n int) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	if len(lines) > n {
		lines = append([]string{"..."}, lines[len(lines)-n:]...)
	}
	return strings.Join(lines, "\n")
}

func (r *interopRun) write(name, text string) {
	r.t.Helper()
	if err := os.WriteFile(filepath.Join(r.dir, name), []byte(text), 0o600); err != nil {
		r.t.Fatal(err)
	}
}

// seed fills a user's source mailbox: corpus.Mailbox (flags, keywords,
// dates, duplicates, an "Archive" that holds mail and has a child, a
// non-ASCII folder, an empty one) plus mail in Old/2019, whose parent Old
// is only a parent.
func (r *interopRun) seed(user string, seed int64, n int) {
	msgs := corpus.Mailbox(seed, n, 3000)
	extra := corpus.Generate(seed+100, 3, 2000)
	for i := range extra {
		extra[i].Folder = "Old/2019"
	}
	var ms []imaptest.Message
	for _, m := range append(msgs, extra...) {
		// "Notes.old" becomes "Notes-old": a name the "." servers can hold
		// as one folder, so that the source is the same on every kind.
		ms = append(ms, imaptest.Message{Folder: strings.ReplaceAll(m.Folder, ".", "-"), Body: m.Body, Flags: m.Flags, InternalDate: m.InternalDate})
	}
	// The folders first, parents before children (Cyrus creates the
	// parents of a nested CREATE itself): then Seed only appends.
	c := imaptest.Login(r.t, r.src.addr, user, "old-"+user)
	for _, f := range corpus.Folders {
		name := r.src.name(strings.ReplaceAll(f, ".", "-"))
		if slices.Contains(imaptest.Folders(r.t, c), name) {
			continue
		}
		if err := c.Create(name, nil).Wait(); err != nil {
			r.t.Fatalf("create %s on the source: %v", name, err)
		}
	}
	c.Logout().Wait()
	imaptest.Seed(r.t, r.src.addr, user, "old-"+user, ms)
}

// change makes alice's source mailbox live: new mail in INBOX, flags and
// keywords set and cleared, a message expunged, a folder renamed and one
// created with mail in it.
func (r *interopRun) change() error {
	t := r.t
	c := imaptest.Login(t, r.src.addr, "alice", "old-alice")
	newMail := corpus.Generate(77, 3, 2500)
	for _, m := range newMail[:2] {
		imaptest.Append(t, c, "INBOX", m.Flags, m.InternalDate, m.Body)
	}
	inbox := imaptest.FolderMessages(t, c, "INBOX")
	if len(inbox) < 6 {
		return fmt.Errorf("INBOX holds %d messages, want at least 6", len(inbox))
	}
	if _, err := c.Select("INBOX", nil).Wait(); err != nil {
		return err
	}
	store := func(uid uint32, op imap.StoreFlagsOp, flags ...imap.Flag) error {
		return c.Store(imap.UIDSetNum(imap.UID(uid)), &imap.StoreFlags{Op: op, Silent: true, Flags: flags}, nil).Close()
	}
	// Set a flag and a new keyword on one message.
	if err := store(inbox[0].UID, imap.StoreFlagsAdd, imap.FlagFlagged, "$Label2"); err != nil {
		return fmt.Errorf("set flags: %w", err)
	}
	// Clear \Seen on one that has it, and a keyword on one that has one.
	seen := slices.IndexFunc(inbox[1:], func(m imaptest.Message) bool { return slices.Contains(m.Flags, `\Seen`) })
	if seen < 0 {
		return fmt.Errorf("no \\Seen message in INBOX")
	}
	if err := store(inbox[1+seen].UID, imap.StoreFlagsDel, imap.FlagSeen); err != nil {
		return fmt.Errorf("clear \\Seen: %w", err)
	}
	kw := -1
	var keyword string
	for i, m := range inbox[1:] {
		for _, f := range m.Flags {
			if !strings.HasPrefix(f, `\`) {
				kw, keyword = i+1, f
				break
			}
		}
		if kw >= 0 {
			break
		}
	}
	if kw < 0 {
		return fmt.Errorf("no message with a keyword in INBOX")
	}
	if err := store(inbox[kw].UID, imap.StoreFlagsDel, imap.Flag(keyword)); err != nil {
		return fmt.Errorf("clear keyword %s: %w", keyword, err)
	}
	// Expunge one message (UID EXPUNGE: other \Deleted messages stay).
	gone := inbox[len(inbox)-1].UID
	if err := store(gone, imap.StoreFlagsAdd, imap.FlagDeleted); err != nil {
		return err
	}
	if err := c.UIDExpunge(imap.UIDSetNum(imap.UID(gone))).Close(); err != nil {
		return fmt.Errorf("UID EXPUNGE: %w", err)
	}
	if err := c.Unselect().Wait(); err != nil {
		// Courier has no UNSELECT: selecting another folder closes INBOX
		// just as well before the RENAME below.
		if _, err := c.Select(r.src.name("Sent"), nil).Wait(); err != nil {
			return err
		}
	}
	// Rename a folder that holds mail, and create one with mail in it.
	from, to := r.src.name("Projekte/Überblick"), r.src.name("Projekte/Übersicht")
	if err := c.Rename(from, to, nil).Wait(); err != nil {
		return fmt.Errorf("RENAME %s %s: %w", from, to, err)
	}
	created := r.src.name("Neu")
	if err := c.Create(created, nil).Wait(); err != nil {
		return fmt.Errorf("CREATE %s: %w", created, err)
	}
	m := newMail[2]
	imaptest.Append(t, c, created, []string{`\Seen`, "Work"}, m.InternalDate, m.Body)
	c.Logout().Wait()
	return nil
}

// compareAll compares every user's target with the source as a step.
func (r *interopRun) compareAll(step string) {
	r.t.Helper()
	r.step(step, func() error {
		var diffs []string
		for _, u := range interopUsers {
			diffs = append(diffs, r.compare(u.name)...)
		}
		if len(diffs) > 0 {
			return fmt.Errorf("%d differences:\n%s", len(diffs), strings.Join(diffs, "\n"))
		}
		return nil
	})
}

// compare checks one user's target against the source: every source folder
// (also an empty one) exists on the target under the mapped name and holds
// the same messages (bytes, flags and keywords, internal date); the target
// holds no other messages.
func (r *interopRun) compare(user string) []string {
	src := imaptest.Snapshot(r.t, r.src.addr, user, "old-"+user)
	dst := imaptest.Snapshot(r.t, r.dst.addr, user, "new-"+user)
	rec := &diffRecorder{TB: r.t}
	srcTotal, dstTotal := 0, 0
	for folder, msgs := range src {
		srcTotal += len(msgs)
		path := r.src.path(folder)
		if to, ok := r.moved[path]; ok {
			path = to
		}
		tf := r.dst.name(path)
		got, ok := dst[tf]
		if !ok && len(msgs) == 0 && r.dst.mailOrFolders {
			continue // an empty parent: only its subfolders can be there
		}
		if !ok {
			rec.Errorf("%s: source folder %q has no target folder %q (target has %v)", user, folder, tf, slices.Sorted(maps.Keys(dst)))
			continue
		}
		imaptest.Compare(rec, user+" "+folder, msgs, got)
	}
	for _, msgs := range dst {
		dstTotal += len(msgs)
	}
	if srcTotal != dstTotal {
		rec.Errorf("%s: %d messages on the source, %d on the target", user, srcTotal, dstTotal)
	}
	return rec.errs
}

// diffRecorder collects what imaptest.Compare reports instead of failing
// the test, so that a known gap can skip the subtest instead.
type diffRecorder struct {
	testing.TB
	errs []string
}

func (d *diffRecorder) Errorf(format string, args ...any) {
	d.errs = append(d.errs, fmt.Sprintf(format, args...))
}
func (d *diffRecorder) Error(args ...any) { d.errs = append(d.errs, fmt.Sprint(args...)) }
func (d *diffRecorder) Helper()           {}

// foreseen checks that collect named "Archive" of every user whose
// Archive holds mail as a folder the target cannot hold with its
// subfolder.
func (r *interopRun) foreseen() error {
	var out, errOut bytes.Buffer
	code := run(context.Background(), []string{"--config", filepath.Join(r.dir, "mailshift.yaml"), "--state", filepath.Join(r.dir, "mailshift.db"), "report", "--format", "json"}, &out, &errOut)
	if code != exitOK {
		return fmt.Errorf("report: exit %d: %s", code, errOut.String())
	}
	var rep struct {
		Problems []struct{ User, Kind, Folder, Action string } `json:"problems"`
	}
	if err := json.Unmarshal(out.Bytes(), &rep); err != nil {
		return err
	}
	for _, u := range interopUsers {
		if len(imaptest.Snapshot(r.t, r.src.addr, u.name, "old-"+u.name)[r.src.name("Archive")]) == 0 {
			continue // an empty Archive is only the parent of its subfolder
		}
		if !slices.ContainsFunc(rep.Problems, func(p struct{ User, Kind, Folder, Action string }) bool {
			return p.User == u.name && p.Kind == "hierarchy" && p.Folder == "Archive" &&
				strings.Contains(p.Action, `"Archive/2023": "Archive (subfolders)/2023"`)
		}) {
			return fmt.Errorf("collect did not foresee that %s's Archive cannot hold mail and a subfolder: %+v", u.name, rep.Problems)
		}
	}
	return nil
}
