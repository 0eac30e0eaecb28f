package pst_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/mailshift/mailshift/internal/endpoint"
	"github.com/mailshift/mailshift/internal/mailbox"
	"github.com/mailshift/mailshift/internal/testrig/corpus"
	"github.com/mailshift/mailshift/internal/testrig/dovecot"
	"github.com/mailshift/mailshift/internal/testrig/imaptest"
	"github.com/mailshift/mailshift/internal/users"
	"github.com/mailshift/mailshift/phase"
	"github.com/mailshift/mailshift/source/pst"
	"github.com/mailshift/mailshift/state"
)

var day = time.Date(2021, 3, 4, 9, 0, 0, 0, time.UTC)

// mailOf is a message of the test files.
func mailOf(i int, from string, to ...string) pst.FixtureMessage {
	return pst.FixtureMessage{Subject: fmt.Sprintf("Message %d", i), From: from, To: to, MsgID: fmt.Sprintf("<m%d.%s>", i, from),
		Date: day.Add(time.Duration(i) * time.Hour), Body: fmt.Sprintf("Body of message %d.\r\n", i), Read: i%2 == 0}
}

// scanTree is the tree of the test: PST files scattered over home
// directories and a share.
type scanTree struct {
	root, home, share string
	alice, aliceCopy  string // one file and its copy
	broken, password  string
	bob, carol, erin  string
	frank, nobody     string
}

// buildTree writes the tree: alice's archive and a copy of it, a damaged
// copy, bob's file (a sample), dave's file with a password, carol's file
// on the share under a name without .pst that only its addresses tie to
// her, erin's named after her, frank's owned by his uid, and a sample
// nobody owns.
func buildTree(t *testing.T) scanTree {
	t.Helper()
	td := filepath.Join(corpus.TestdataDir(t), "pst")
	root := t.TempDir()
	tr := scanTree{root: root, home: filepath.Join(root, "home"), share: filepath.Join(root, "share")}
	for _, d := range []string{"home/alice/backup", "home/bob", "home/dave", "share/old"} {
		must(t, os.MkdirAll(filepath.Join(root, d), 0o755))
	}
	inbox := []pst.FixtureMessage{mailOf(1, "x@example.net", "alice@example.com"), mailOf(2, "y@example.net", "alice@example.com"),
		mailOf(3, "x@example.net", "alice@example.com"), mailOf(4, "z@example.net", "alice@example.com")}
	old := mailOf(5, "x@example.net", "alice@example.com")
	old.Date = time.Date(1999, 5, 1, 0, 0, 0, 0, time.UTC)
	inbox = append(inbox, old)
	tr.alice = filepath.Join(tr.home, "alice", "archive.pst")
	must(t, pst.WriteFixture(tr.alice, "Alice's archive", []pst.FixtureFolder{
		{Name: "Inbox", Messages: inbox},
		{Name: "Sent Items", Messages: []pst.FixtureMessage{mailOf(6, "alice@example.com", "x@example.net")}},
		{Name: "Deleted Items", Messages: []pst.FixtureMessage{mailOf(7, "spam@example.net", "alice@example.com")}},
	}))
	tr.aliceCopy = filepath.Join(tr.home, "alice", "backup", "archive.pst")
	copyFile(t, tr.alice, tr.aliceCopy)
	tr.broken = filepath.Join(tr.home, "alice", "broken.pst")
	data, err := os.ReadFile(tr.alice)
	must(t, err)
	must(t, os.WriteFile(tr.broken, data[:len(data)/3], 0o600))
	tr.bob = filepath.Join(tr.home, "bob", "mail.pst")
	copyFile(t, filepath.Join(td, "pstsdk-sample1.pst"), tr.bob)
	tr.password = filepath.Join(tr.home, "dave", "contacts.pst")
	copyFile(t, filepath.Join(corpus.TestdataDir(t), "pst-more", "jl-passworded.pst"), tr.password)
	tr.carol = filepath.Join(tr.share, "old", "mailbox.dat")
	var carolIn []pst.FixtureMessage
	for i := 20; i < 23; i++ {
		carolIn = append(carolIn, mailOf(i, "x@example.net", "carol@example.com"))
	}
	must(t, pst.WriteFixture(tr.carol, "Personal Folders", []pst.FixtureFolder{{Name: "Inbox", Messages: carolIn}}))
	tr.erin = filepath.Join(tr.share, "e.pst")
	must(t, pst.WriteFixture(tr.erin, "erin", []pst.FixtureFolder{{Name: "Inbox", Messages: []pst.FixtureMessage{mailOf(30, "x@example.net", "e@example.org")}}}))
	tr.frank = filepath.Join(tr.share, "f.pst")
	copyFile(t, filepath.Join(td, "pstsdk-sample2.pst"), tr.frank)
	must(t, os.Chown(tr.frank, 4242, 4242))
	tr.nobody = filepath.Join(tr.share, "unknown.pst")
	copyFile(t, filepath.Join(td, "pstsdk-submessage.pst"), tr.nobody)
	// Not PST files, whatever their names say.
	must(t, os.WriteFile(filepath.Join(tr.share, "notes.pst"), []byte("not a PST file"), 0o600))
	return tr
}

// TestPSTScanToDovecot drives a pstscan: migration the way a consultant
// would: collect finds every PST file of a tree of home directories and a
// share by content, reports what each is, assigns owners by the expected
// rules, leaves the file nobody owns for a decision and reports the
// damaged one; bulk copies each user's mail to a real Dovecot once,
// leaving out the copies, the mail the target held already and what the
// filters exclude; cutover retires the files with markers; the report
// accounts for every file.
func TestPSTScanToDovecot(t *testing.T) {
	ctx := context.Background()
	tr := buildTree(t)
	dst := dovecot.Start(t, dovecot.Options{})
	p := scanProject(t, tr, dst)

	// The target already holds alice's message 1, as the archive gives it.
	m1 := composed(t, tr.alice, "Inbox")[0]
	c := imaptest.Login(t, dst.Addr, "alice", "pw")
	imaptest.Append(t, c, "INBOX", nil, m1.InternalDate, m1.Body)
	c.Close()

	_, err := phase.Collect(ctx, p, phase.Selection{})
	must(t, err)
	files, err := p.Store.PSTFiles()
	must(t, err)
	byPath := map[string]state.PSTFile{}
	for _, f := range files {
		byPath[f.Path] = f
	}
	checkFound(t, tr, byPath)

	ar, err := phase.Approve(ctx, p, phase.ApproveOptions{Yes: true, By: "Test"})
	must(t, err)
	for _, want := range []string{"## PST files", "Waiting for a decision", tr.nobody, "Unreadable files", tr.broken, "Deleted Items", "before 2000-01-01"} {
		if !strings.Contains(ar.Text, want) {
			t.Errorf("the scope of work does not say %q", want)
		}
	}
	br, err := phase.Bulk(ctx, p, phase.BulkOptions{SkipTest: true, Now: true})
	must(t, err)
	if br.Messages != 4+3+1+1+1 { // alice 4, carol 3, erin 1, bob 1, frank 1
		t.Errorf("bulk copied %d messages, want 10", br.Messages)
	}
	checkAlice(t, tr, dst, m1)

	// Again: nothing is copied twice.
	_, err = phase.Collect(ctx, p, phase.Selection{})
	must(t, err)
	_, err = phase.Approve(ctx, p, phase.ApproveOptions{Yes: true, By: "Test"})
	must(t, err)
	br, err = phase.Bulk(ctx, p, phase.BulkOptions{SkipTest: true, Now: true})
	must(t, err)
	if br.Messages != 0 {
		t.Errorf("a second bulk copied %d messages", br.Messages)
	}
	checkAlice(t, tr, dst, m1)
	decide(t, p, tr, dst)

	_, err = phase.Cutover(ctx, p, phase.CutoverOptions{Yes: true, Selection: phase.Selection{Users: []string{"alice"}}})
	must(t, err)
	for _, f := range []string{tr.alice, tr.aliceCopy} {
		if _, err := os.Stat(f + ".migrated"); err != nil {
			t.Errorf("no marker beside %s after the cutover: %v", f, err)
		}
	}
	if _, err := os.Stat(tr.bob + ".migrated"); err == nil {
		t.Errorf("bob's file was retired before his cutover")
	}
	checkReport(t, p, tr)
}

// decide gives the file nobody owned to bob in the owners file: collect
// assigns it by the owners file, bob waits for an approval of the changed
// plan, then bulk brings its message to him.
func decide(t *testing.T, p *phase.Project, tr scanTree, dst *dovecot.Server) {
	t.Helper()
	ctx := context.Background()
	owners := filepath.Join(p.Dir, "pst-owners.csv")
	must(t, os.WriteFile(owners, []byte("path,user\n"+tr.nobody+",bob\n"), 0o600))
	p.Config.PST.Owners = "pst-owners.csv"
	_, err := phase.Collect(ctx, p, phase.Selection{})
	must(t, err)
	files, err := p.Store.PSTFiles()
	must(t, err)
	for _, f := range files {
		if f.Path == tr.nobody && (f.Owner != "bob" || f.Rule != "owners file") {
			t.Errorf("the owners file did not assign %s: %+v", tr.nobody, f)
		}
	}
	_, err = phase.Bulk(ctx, p, phase.BulkOptions{SkipTest: true, Now: true, Selection: phase.Selection{Users: []string{"bob"}}})
	if !errors.Is(err, phase.ErrOutOfOrder) || !strings.Contains(err.Error(), "PST file owners: "+tr.nobody+" → bob") {
		t.Fatalf("bulk went ahead for bob with a plan nobody approved: %v", err)
	}
	_, err = phase.Approve(ctx, p, phase.ApproveOptions{Yes: true, By: "Test"})
	must(t, err)
	br, err := phase.Bulk(ctx, p, phase.BulkOptions{SkipTest: true, Now: true})
	must(t, err)
	if br.Messages != 1 {
		t.Errorf("bulk copied %d messages of the decided file, want 1", br.Messages)
	}
	n := 0
	for _, ms := range imaptest.Snapshot(t, dst.Addr, "bob", "pw") {
		n += len(ms)
	}
	if n != 2 {
		t.Errorf("bob holds %d messages, want 2 (one of each of his files)", n)
	}
}

// checkFound checks what collect found and whom it gave each file.
func checkFound(t *testing.T, tr scanTree, got map[string]state.PSTFile) {
	t.Helper()
	want := []struct {
		path, owner, rule string
		damaged           bool
	}{
		{tr.alice, "alice", "path " + tr.home + "/{user}/**", false},
		{tr.aliceCopy, "alice", "path " + tr.home + "/{user}/**", false},
		{tr.broken, "alice", "path " + tr.home + "/{user}/**", true},
		{tr.bob, "bob", "path " + tr.home + "/{user}/**", false},
		{tr.password, "dave", "path " + tr.home + "/{user}/**", false},
		{tr.frank, "frank", "file_owner uid", false},
		{tr.erin, "erin", "store_name", false},
		{tr.carol, "carol", "addresses", false},
		{tr.nobody, "", "no rule matched", false},
	}
	if len(got) != len(want) {
		t.Errorf("collect found %d files, want %d: %v", len(got), len(want), slices.Sorted(mapsKeys(got)))
	}
	for _, w := range want {
		f, ok := got[w.path]
		if !ok {
			t.Errorf("collect did not find %s", w.path)
			continue
		}
		if f.Owner != w.owner || f.Rule != w.rule {
			t.Errorf("%s: owner %q by %q, want %q by %q", w.path, f.Owner, f.Rule, w.owner, w.rule)
		}
		if (f.Error != "") != w.damaged {
			t.Errorf("%s: error %q", w.path, f.Error)
		}
	}
	if r := got[tr.password].Record; !r.HasPassword || r.Format != "Unicode" || r.Classes["IPM.Contact"] != 1 {
		t.Errorf("the passworded file is recorded as %+v", r)
	}
	if r := got[tr.alice].Record; r.Format != "Unicode" || r.Encoding != "permute" || r.StoreName != "Alice's archive" ||
		r.Classes["IPM.Note"] != 7 || !r.First.Equal(time.Date(1999, 5, 1, 0, 0, 0, 0, time.UTC)) || len(r.Inbox) == 0 || r.Inbox[0].Address != "alice@example.com" || r.Size == 0 {
		t.Errorf("alice's archive is recorded as %+v", r)
	}
}

func mapsKeys(m map[string]state.PSTFile) func(func(string) bool) {
	return func(yield func(string) bool) {
		for k := range m {
			if !yield(k) {
				return
			}
		}
	}
}

// checkAlice checks alice's mailbox: each of her messages once, as the
// archive gives it (bytes, flags, date); the copy, the old message and
// the deleted one left out; the message the target held not added again.
func checkAlice(t *testing.T, tr scanTree, dst *dovecot.Server, m1 imaptest.Message) {
	t.Helper()
	snap := imaptest.Snapshot(t, dst.Addr, "alice", "pw")
	var all []imaptest.Message
	for _, ms := range snap {
		all = append(all, ms...)
	}
	if len(all) != 5 {
		t.Errorf("alice's mailbox holds %d messages, want 5 (4 from the archive, 1 there before): %v", len(all), folderCounts(snap))
	}
	if in := snap["INBOX"]; len(in) != 1 || !bytes.Equal(in[0].Body, m1.Body) {
		t.Errorf("alice's INBOX: %d messages, want only the one there before", len(in))
	}
	want := composed(t, tr.alice, "Inbox")[1:4]
	imaptest.Compare(t, "alice archive/Inbox", want, snap["archive/Inbox"])
	imaptest.Compare(t, "alice archive/Sent Items", composed(t, tr.alice, "Sent Items"), snap["archive/Sent Items"])
	for f, ms := range snap {
		if strings.HasPrefix(f, "archive (2)") && len(ms) > 0 {
			t.Errorf("%s holds %d messages: the copy's messages are duplicates", f, len(ms))
		}
	}
	if len(snap["archive/Deleted Items"]) > 0 {
		t.Errorf("the filtered Deleted Items arrived")
	}
}

func folderCounts(snap map[string][]imaptest.Message) map[string]int {
	out := map[string]int{}
	for f, ms := range snap {
		out[f] = len(ms)
	}
	return out
}

// composed reads a folder of a PST file as mailshift gives it: bytes,
// flags and dates, by UID.
func composed(t *testing.T, path, folder string) []imaptest.Message {
	t.Helper()
	s, err := pst.Open(path)
	must(t, err)
	defer s.Close()
	_, msgs, err := s.Messages(context.Background(), folder)
	must(t, err)
	var out []imaptest.Message
	err = s.Fetch(context.Background(), folder, msgs, func(m mailbox.Message, b mailbox.Body) error {
		data, err := io.ReadAll(b)
		out = append(out, imaptest.Message{Folder: folder, Body: data, Flags: m.Flags, InternalDate: m.InternalDate})
		return err
	})
	must(t, err)
	return out
}

// checkReport checks the per-file report: found, migrated, deduplicated,
// filtered, with reasons, in reports/pst-files.csv and the report.
func checkReport(t *testing.T, p *phase.Project, tr scanTree) {
	t.Helper()
	rep, err := phase.BuildReport(p, phase.Selection{})
	must(t, err)
	got := map[string]phase.PSTFileReport{}
	for _, f := range rep.PSTFiles {
		got[f.Path] = f
	}
	for _, w := range []struct {
		path                                  string
		mail, migrated, dups, filtered, found int64
	}{
		{tr.alice, 7, 4, 1, 2, 7},
		{tr.aliceCopy, 7, 0, 5, 2, 7},
		{tr.carol, 3, 3, 0, 0, 3},
		{tr.nobody, 1, 1, 0, 0, 1},
	} {
		f := got[w.path]
		if f.Mail != w.mail || f.Migrated != w.migrated || f.Deduplicated != w.dups || f.Filtered != w.filtered || f.Found != w.found {
			t.Errorf("%s: report %+v, want mail %d migrated %d deduplicated %d filtered %d", w.path, f, w.mail, w.migrated, w.dups, w.filtered)
		}
	}
	if f := got[tr.alice]; f.Reasons["duplicate: the target mailbox holds it already"] != 1 || !strings.HasPrefix(f.Retired, "marker ") {
		t.Errorf("alice's archive: reasons %v, retired %q", f.Reasons, f.Retired)
	}
	if f := got[tr.password]; f.Found != 2 || f.Reasons["not mail (contacts, calendar items, tasks, ...): not migrated"] != 2 || !f.HasPassword {
		t.Errorf("dave's file with a password: %+v", f)
	}
	md, err := rep.Render("md")
	must(t, err)
	if !strings.Contains(md, "## PST files (9)") || !strings.Contains(md, "unreadable: ") {
		t.Errorf("the report has no PST files section:\n%s", md)
	}
	html, err := rep.Render("html")
	must(t, err)
	if !strings.Contains(html, `<table id="pst-files">`) || !strings.Contains(html, tr.aliceCopy) {
		t.Errorf("the HTML report has no PST files section")
	}
	csv, err := os.ReadFile(filepath.Join(p.Dir, "reports", "pst-files.csv"))
	must(t, err)
	if lines := strings.Count(string(csv), "\n"); lines != 10 || !strings.Contains(string(csv), tr.aliceCopy+",alice,") {
		t.Errorf("reports/pst-files.csv has %d lines:\n%s", lines, csv)
	}
}

// scanProject is a project whose source is the tree and whose target is
// dst, with the users of the tree.
func scanProject(t *testing.T, tr scanTree, dst *dovecot.Server) *phase.Project {
	t.Helper()
	dir := t.TempDir()
	var csv strings.Builder
	csv.WriteString("source_user,target_user,target_password,uid\n")
	for _, u := range []struct{ src, dst, uid string }{
		{"alice", "alice", ""}, {"bob", "bob", ""}, {"carol", "carol@example.com", ""}, {"dave", "dave", ""},
		{"erin", "erin", ""}, {"frank", "frank", "4242"},
	} {
		dst.AddUser(u.dst, "pw")
		fmt.Fprintf(&csv, "%s,%s,pw,%s\n", u.src, u.dst, u.uid)
	}
	usersFile := filepath.Join(dir, "users.csv")
	must(t, os.WriteFile(usersFile, []byte(csv.String()), 0o600))
	cfg := phase.Defaults()
	cfg.Source.URL = "pstscan:" + tr.home + "," + tr.share
	cfg.Target.URL = "imap://" + dst.Addr + "?tls=none"
	cfg.Users.File = usersFile
	cfg.PST.OwnerRules = []map[string]any{
		{"path": tr.home + "/{user}/**"}, {"file_owner": "uid"}, {"store_name": true}, {"addresses": true},
	}
	cfg.PST.Filters = phase.PSTFilters{After: "2000-01-01", ExcludeFolders: []string{"Deleted Items"}}
	cfg.PST.Retire = "marker"
	must(t, cfg.Validate())
	rows, _, err := users.Load(usersFile, cfg.ExtraColumns()...)
	must(t, err)
	store, err := state.Open(filepath.Join(dir, "mailshift.db"))
	must(t, err)
	t.Cleanup(func() { store.Close() })
	pair := endpoint.Pair{Source: endpoint.Settings(cfg.Source), Target: endpoint.Settings(cfg.Target), Dir: dir}
	must(t, pair.Validate())
	return &phase.Project{Config: cfg, Users: rows, Store: store, Dir: dir, Backends: pair}
}

func copyFile(t *testing.T, from, to string) {
	t.Helper()
	data, err := os.ReadFile(from)
	must(t, err)
	must(t, os.WriteFile(to, data, 0o600))
}

func must(t testing.TB, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}
