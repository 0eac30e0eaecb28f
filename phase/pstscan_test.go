package phase

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/mailshift/mailshift/internal/testrig/corpus"
	"github.com/mailshift/mailshift/internal/testrig/dovecot"
	"github.com/mailshift/mailshift/internal/testrig/imaptest"
	"github.com/mailshift/mailshift/internal/users"
	"github.com/mailshift/mailshift/source"
	"github.com/mailshift/mailshift/state"
)

// The fromConfig backends scan for PST files as internal/endpoint does.

func (b fromConfig) ScansFiles() bool { return b.pair().ScansFiles() }

func (b fromConfig) ScanFiles(ctx context.Context) ([]state.PSTFile, error) {
	return b.pair().ScanFiles(ctx)
}

func (b fromConfig) OpenFiles(ctx context.Context, r users.Row, paths []string) (source.Source, error) {
	return b.pair().OpenFiles(ctx, r, paths)
}

// Environment of the child process of TestPSTRetireSurvivesKill.
const (
	killDirEnv    = "MAILSHIFT_TEST_PSTKILL_DIR"
	killTargetEnv = "MAILSHIFT_TEST_PSTKILL_TARGET"
)

// retireProject is a project in dir whose source is a pstscan: of
// dir/home, where alice's file is, and whose target is the Dovecot at
// addr; files are moved to dir/done after the cutover.
func retireProject(t *testing.T, dir, addr string) *Project {
	t.Helper()
	usersFile := filepath.Join(dir, "users.csv")
	rows, _, err := users.Load(usersFile)
	must(t, err)
	store, err := state.Open(filepath.Join(dir, "mailshift.db"))
	must(t, err)
	t.Cleanup(func() { store.Close() })
	cfg := Defaults()
	cfg.Source.URL = "pstscan:" + filepath.Join(dir, "home")
	cfg.Target.URL = "imap://" + addr + "?tls=none"
	cfg.Users.File = usersFile
	cfg.PST.OwnerRules = []map[string]any{{"path": filepath.Join(dir, "home") + "/{user}/*.pst"}}
	cfg.PST.Retire = "move:" + filepath.Join(dir, "done")
	must(t, cfg.Validate())
	p := &Project{Config: cfg, Users: rows, Store: store, Dir: dir}
	p.Backends = fromConfig{p}
	return p
}

// TestPSTRetireSurvivesKill kills a cutover with SIGKILL after it has
// verified alice's PST file and before it retires it: the file stays in
// place and the state says it is not retired; the next cutover retires it
// (moves it to the done folder) and records that, and a later collect
// still knows the file.
func TestPSTRetireSurvivesKill(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	dst := dovecot.Start(t, dovecot.Options{})
	dst.AddUser("alice", "pw")
	file := filepath.Join(dir, "home", "alice", "mail.pst")
	must(t, os.MkdirAll(filepath.Dir(file), 0o755))
	data, err := os.ReadFile(filepath.Join(corpus.TestdataDir(t), "pst", "pstsdk-sample1.pst"))
	must(t, err)
	must(t, os.WriteFile(file, data, 0o600))
	must(t, os.WriteFile(filepath.Join(dir, "users.csv"), []byte("source_user,target_user,target_password\nalice,alice,pw\n"), 0o600))

	p := retireProject(t, dir, dst.Addr)
	_, err = Collect(ctx, p, Selection{})
	must(t, err)
	_, err = Approve(ctx, p, ApproveOptions{Yes: true, By: "Test"})
	must(t, err)
	_, err = Bulk(ctx, p, BulkOptions{SkipTest: true, Now: true})
	must(t, err)
	must(t, p.Store.Close())

	ready := filepath.Join(dir, "verified")
	cmd := exec.Command(os.Args[0], "-test.run=^TestPSTRetireKillChild$", "-test.count=1")
	cmd.Env = append(os.Environ(), killDirEnv+"="+dir, killTargetEnv+"="+dst.Addr)
	out := &strings.Builder{}
	cmd.Stdout, cmd.Stderr = out, out
	must(t, cmd.Start())
	deadline := time.Now().Add(60 * time.Second)
	for {
		if _, err := os.Stat(ready); err == nil {
			break
		}
		if time.Now().After(deadline) {
			cmd.Process.Kill()
			cmd.Wait()
			t.Fatalf("the cutover never reached retiring:\n%s", out)
		}
		time.Sleep(20 * time.Millisecond)
	}
	must(t, cmd.Process.Signal(syscall.SIGKILL))
	cmd.Wait()

	if _, err := os.Stat(file); err != nil {
		t.Fatalf("the killed cutover moved the file: %v", err)
	}
	p = retireProject(t, dir, dst.Addr)
	f := pstFileOf(t, p, file)
	if f.RetireState != "" {
		t.Errorf("after the kill the state says the file is %q", f.RetireState)
	}
	cr, err := Cutover(ctx, p, CutoverOptions{Yes: true})
	must(t, err)
	if len(cr.AlreadyDone) != 1 {
		t.Errorf("the killed cutover did not record alice as cut over: %+v", cr)
	}
	moved := filepath.Join(dir, "done", retiredName(file))
	if _, err := os.Stat(file); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("the file is still in place after the second cutover: %v", err)
	}
	got, err := os.ReadFile(moved)
	must(t, err)
	if string(got) != string(data) {
		t.Errorf("the moved file differs from the original")
	}
	f = pstFileOf(t, p, file)
	if f.RetireState != state.RetireDone || f.RetiredTo != moved || f.RetireHow != "move" {
		t.Errorf("the state records the file as %+v", f)
	}
	_, err = Collect(ctx, p, Selection{})
	must(t, err)
	if f = pstFileOf(t, p, file); f.RetireState != state.RetireDone {
		t.Errorf("collect forgot the retired file: %+v", f)
	}
	snap := imaptest.Snapshot(t, dst.Addr, "alice", "pw")
	n := 0
	for _, ms := range snap {
		n += len(ms)
	}
	if n != 1 {
		t.Errorf("alice holds %d messages, want the file's 1", n)
	}
}

// TestPSTRetireKillChild is the cutover TestPSTRetireSurvivesKill kills:
// it runs only in that test's child process, and stops for the kill
// once the cutover is recorded and before anything is retired.
func TestPSTRetireKillChild(t *testing.T) {
	dir := os.Getenv(killDirEnv)
	if dir == "" {
		t.Skip("the child process of TestPSTRetireSurvivesKill")
	}
	p := retireProject(t, dir, os.Getenv(killTargetEnv))
	retireHook = func(string) {
		if err := os.WriteFile(filepath.Join(dir, "verified"), nil, 0o600); err != nil {
			panic(err)
		}
		time.Sleep(time.Minute) // killed here
	}
	_, err := Cutover(context.Background(), p, CutoverOptions{Yes: true})
	t.Fatalf("the cutover was not killed: %v", err)
}

func pstFileOf(t *testing.T, p *Project, path string) state.PSTFile {
	t.Helper()
	files, err := p.Store.PSTFiles()
	must(t, err)
	for _, f := range files {
		if f.Path == path {
			return f
		}
	}
	t.Fatalf("the state does not know %s", path)
	return state.PSTFile{}
}

// TestPSTOwnerRules assigns files by each rule, in order, and by the
// owners file over any rule; a rule that names two users leaves the file
// in conflict with both as candidates.
func TestPSTOwnerRules(t *testing.T) {
	rows := []users.Row{
		{SourceUser: "alice", TargetUser: "alice@example.com", Extra: map[string]string{"login": "ali"}},
		{SourceUser: "bob", TargetUser: "bob@example.com", Extra: map[string]string{"login": "1001"}},
		{SourceUser: "carol", TargetUser: "carol@example.com"},
	}
	cfg := PSTConfig{OwnerRules: []map[string]any{
		{"path": "//fs1/pst/{user}.pst"}, {"path": "/home/{user}/**"}, {"file_owner": "login"}, {"store_name": true}, {"addresses": true},
	}}
	rules, err := cfg.rules()
	must(t, err)
	rec := func(owner, uid, store string, addrs ...state.AddressCount) state.PSTRecord {
		return state.PSTRecord{OwnerName: owner, OwnerUID: uid, StoreName: store, Inbox: addrs}
	}
	for _, c := range []struct {
		path       string
		rec        state.PSTRecord
		owner      string
		rule       string
		candidates []string
	}{
		{`//fs1/pst/carol.pst`, rec("root", "0", ""), "carol", "path //fs1/pst/{user}.pst", nil},
		{"/home/bob/Documents/Outlook/x.pst", rec("alice", "0", "alice"), "bob", "path /home/{user}/**", nil},
		{"/home/zed/x.pst", rec("ali", "1", ""), "alice", "file_owner login", nil},
		{"/srv/x.pst", rec("nobody", "1001", ""), "bob", "file_owner login", nil},
		{"/srv/y.pst", rec("", "", "Carol"), "carol", "store_name", nil},
		{"/srv/z.pst", rec("", "", "Personal Folders", state.AddressCount{Address: "x@example.net", Count: 9}, state.AddressCount{Address: "Bob@example.com", Count: 5}), "bob", "addresses", nil},
		{"/srv/w.pst", rec("", "", "", state.AddressCount{Address: "alice@example.com", Count: 3}, state.AddressCount{Address: "carol@example.com", Count: 3}), "", "conflict: addresses names alice, carol", []string{"alice", "carol"}},
		{"/srv/v.pst", rec("", "", ""), "", "no rule matched", nil},
		{"/srv/owned.pst", rec("", "", "Carol"), "alice", "owners file", nil},
	} {
		owner, rule, cands := assignOwner(state.PSTFile{Path: c.path, Record: c.rec}, rows, rules, map[string]string{"/srv/owned.pst": "alice"})
		if owner != c.owner || rule != c.rule || fmt.Sprint(cands) != fmt.Sprint(c.candidates) {
			t.Errorf("%s: %q by %q %v, want %q by %q %v", c.path, owner, rule, cands, c.owner, c.rule, c.candidates)
		}
	}
	for _, bad := range []map[string]any{{"path": "/home/x/**"}, {"store_name": "yes"}, {"owner": "x"}, {"path": "/{user}", "addresses": true}} {
		c := Config(Defaults())
		c.PST.OwnerRules = []map[string]any{bad}
		if err := c.Validate(); err == nil || !strings.Contains(err.Error(), "pst.owner_rules[0]") {
			t.Errorf("rule %v: %v", bad, err)
		}
	}
}

// TestPSTDecide leaves out what the filters exclude (date, folder inside
// the file and its subfolders, class) and every later copy of a message
// or one the target holds, keeps a copied item whatever changed since,
// and keeps every copy with pst.keep_duplicates.
func TestPSTDecide(t *testing.T) {
	day := time.Date(2020, 1, 2, 0, 0, 0, 0, time.UTC)
	cand := func(folder, key, id, class string, date time.Time) pstCandidate {
		inner := folder[strings.Index(folder, "/")+1:]
		return pstCandidate{item: state.PSTItem{Folder: folder, Key: key, Identity: id}, date: date, class: class, inner: inner}
	}
	cands := []pstCandidate{
		cand("a/Inbox", "a:1", "m1", "IPM.Note", day),
		cand("a/Inbox", "a:2", "m2", "IPM.Note", day.AddDate(-15, 0, 0)),                            // too old
		cand("a/Deleted Items/Old", "a:3", "m3", "IPM.Note", day),                                   // excluded folder's subfolder
		cand("a/Inbox", "a:4", "m4", "REPORT.IPM.Note.NDR", day),                                    // excluded class
		cand("a (2)/Inbox", "b:1", "m1", "IPM.Note", day),                                           // a copy of a:1
		cand("a (2)/Inbox", "b:5", "held", "IPM.Note", day),                                         // the target has it
		cand("a (2)/Inbox", "b:6", "m6", "IPM.Note", day),                                           // new
		cand("a/Sent Items", "a:7", "m6", "IPM.Note", day),                                          // copied before: kept, and b:6 becomes its copy
		cand("a/Inbox", "a:8", "m8", "IPM.Note.SMIME", time.Date(2031, 1, 1, 0, 0, 0, 0, time.UTC)), // too new
	}
	p := &Project{Config: Defaults()}
	p.Config.PST.Filters = PSTFilters{After: "2010-01-01", Before: "2030-01-01", ExcludeFolders: []string{"deleted items"}, ExcludeClasses: []string{"REPORT.*"}}
	must(t, p.Config.Validate())
	copied := map[string]bool{"a/Sent Items\x00a:7": true}
	items, err := p.decide(cands, copied, map[string]bool{"held": true})
	must(t, err)
	got := map[string]string{}
	for _, it := range items {
		got[it.Key] = it.Decision
		if it.Decision != state.PSTKeep && it.Reason == "" {
			t.Errorf("%s is left out without a reason", it.Key)
		}
	}
	want := map[string]string{"a:1": "keep", "a:2": "filtered", "a:3": "filtered", "a:4": "filtered", "b:1": "duplicate",
		"b:5": "duplicate", "b:6": "duplicate", "a:7": "keep", "a:8": "filtered"}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("decisions %v, want %v", got, want)
	}
	p.Config.PST.KeepDuplicates = true
	items, err = p.decide(cands, copied, nil)
	must(t, err)
	for _, it := range items {
		if it.Decision == state.PSTDuplicate {
			t.Errorf("%s left out as a duplicate with keep_duplicates", it.Key)
		}
	}
}

// TestPSTRetireResumes finishes a retiring that a crash interrupted at
// each point: the intent recorded and the file still in place, or the
// file moved and the state not told.
func TestPSTRetireResumes(t *testing.T) {
	dir := t.TempDir()
	store, err := state.OpenMemory()
	must(t, err)
	defer store.Close()
	p := &Project{Config: Defaults(), Store: store, Dir: dir}
	done := filepath.Join(dir, "done")
	for i, crash := range []string{"intent recorded", "file moved"} {
		file := filepath.Join(dir, fmt.Sprintf("f%d.pst", i))
		must(t, os.WriteFile(file, []byte("!BDN..."), 0o600))
		must(t, store.SavePSTFiles([]state.PSTFile{{Path: file, Owner: "alice", Rule: "test", SeenAt: time.Now()}}))
		to := filepath.Join(done, retiredName(file))
		must(t, store.SetPSTRetire(file, state.RetireRetiring, "move", to, time.Now()))
		if crash == "file moved" {
			must(t, os.MkdirAll(done, 0o700))
			must(t, os.Rename(file, to))
		}
		f := pstFileOf(t, p, file)
		must(t, p.retireFile(f, "move", done))
		f = pstFileOf(t, p, file)
		if f.RetireState != state.RetireDone || f.RetiredTo != to {
			t.Errorf("%s: the state says %+v", crash, f)
		}
		if _, err := os.Stat(to); err != nil {
			t.Errorf("%s: the file is not in the done folder: %v", crash, err)
		}
		if _, err := os.Stat(file); !errors.Is(err, fs.ErrNotExist) {
			t.Errorf("%s: the file is still in place", crash)
		}
	}
	// A marker written again is the same marker.
	file := filepath.Join(dir, "m.pst")
	must(t, os.WriteFile(file, []byte("!BDN..."), 0o600))
	must(t, store.SavePSTFiles([]state.PSTFile{{Path: file, Owner: "alice", Rule: "test", SeenAt: time.Now()}}))
	for range 2 {
		must(t, p.retireFile(pstFileOf(t, p, file), "marker", ""))
	}
	if _, err := os.Stat(file + markerSuffix); err != nil {
		t.Errorf("no marker: %v", err)
	}
	if f := pstFileOf(t, p, file); f.RetireState != state.RetireDone || f.RetireHow != "marker" {
		t.Errorf("the state says %+v", f)
	}
}
