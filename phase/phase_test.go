package phase

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/emersion/go-imap/v2"

	"github.com/mailshift/mailshift/internal/testrig/corpus"
	"github.com/mailshift/mailshift/internal/testrig/dovecot"
	"github.com/mailshift/mailshift/internal/testrig/imaptest"
	"github.com/mailshift/mailshift/internal/users"
	"github.com/mailshift/mailshift/state"
)

// testEnv is a source and a target Dovecot and a project between them.
type testEnv struct {
	t        testing.TB
	src, dst *dovecot.Server
	p        *Project
	pw       map[string]string
}

// newEnv starts the two servers with the given options and a project for
// the named users (password "pw-NAME" on both sides).
func newEnv(t testing.TB, srcOpts, dstOpts dovecot.Options, names ...string) *testEnv {
	t.Helper()
	e := &testEnv{t: t, src: dovecot.Start(t, srcOpts), dst: dovecot.Start(t, dstOpts), pw: map[string]string{}}
	var csv strings.Builder
	csv.WriteString("source_user,source_password,target_user,target_password,batch\n")
	for i, n := range names {
		pw := "pw-" + n
		e.pw[n] = pw
		e.src.AddUser(n, pw)
		e.dst.AddUser(n, pw)
		fmt.Fprintf(&csv, "%s,%s,%s,%s,wave%d\n", n, pw, n, pw, i%2+1)
	}
	dir := t.TempDir()
	usersFile := filepath.Join(dir, "users.csv")
	if err := os.WriteFile(usersFile, []byte(csv.String()), 0o600); err != nil {
		t.Fatal(err)
	}
	rows, _, err := users.Load(usersFile)
	if err != nil {
		t.Fatal(err)
	}
	store, err := state.Open(filepath.Join(dir, "mailshift.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { store.Close() })
	cfg := Defaults()
	cfg.Source.URL = "imap://" + e.src.Addr + "?tls=none"
	cfg.Target.URL = "imap://" + e.dst.Addr + "?tls=none"
	cfg.Users.File = usersFile
	cfg.TestUsers = names[:1]
	cfg.Copy.BatchSize = 25
	if err := cfg.Validate(); err != nil {
		t.Fatal(err)
	}
	e.p = &Project{Config: cfg, Users: rows, Store: store, Dir: dir}
	e.p.Backends = fromConfig{e.p}
	if os.Getenv("MAILSHIFT_TEST_LOG") != "" { // the engine's log, to debug a test
		e.p.Log = slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	return e
}

func (e *testEnv) seed(user string, msgs []corpus.Message) {
	e.t.Helper()
	var ms []imaptest.Message
	for _, m := range msgs {
		ms = append(ms, imaptest.Message{Folder: m.Folder, Body: m.Body, Flags: m.Flags, InternalDate: m.InternalDate})
	}
	imaptest.Seed(e.t, e.src.Addr, user, e.pw[user], ms)
}

// mapName is the mapping the tests expect: the source's prefix dropped and
// its separator replaced by the target's.
func (e *testEnv) mapName(name string) string {
	if strings.EqualFold(name, "INBOX") {
		return "INBOX"
	}
	name = strings.TrimPrefix(name, e.src.Options.Prefix)
	sep := e.src.Options.Separator
	if sep == "" {
		sep = "/"
	}
	tsep := e.dst.Options.Separator
	if tsep == "" {
		tsep = "/"
	}
	parts := strings.Split(name, sep)
	for i, p := range parts {
		parts[i] = strings.ReplaceAll(p, tsep, "_")
	}
	return e.dst.Options.Prefix + strings.Join(parts, tsep)
}

// compare checks every source folder of user against its target folder:
// same bytes, flags and internal dates, duplicates included.
func (e *testEnv) compare(user string) {
	e.t.Helper()
	src := imaptest.Snapshot(e.t, e.src.Addr, user, e.pw[user])
	dst := imaptest.Snapshot(e.t, e.dst.Addr, user, e.pw[user])
	for folder, msgs := range src {
		tf := e.mapName(folder)
		got, ok := dst[tf]
		if !ok {
			e.t.Errorf("%s: source folder %q has no target folder %q (target has %v)", user, folder, tf, keys(dst))
			continue
		}
		imaptest.Compare(e.t, user+" "+folder, msgs, got)
	}
}

func keys[M ~map[string]V, V any](m M) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	slices.Sort(out)
	return out
}

func mustErr(t *testing.T, err, want error) {
	t.Helper()
	if !errors.Is(err, want) {
		t.Fatalf("got error %v, want %v", err, want)
	}
}

func must(t testing.TB, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

// TestLifecycle drives all six steps between a Courier-like source
// ("INBOX." prefix, "." separator) and a "/" target, with the gates in
// between, then changes on the source carried over by sync.
func TestLifecycle(t *testing.T) {
	ctx := context.Background()
	e := newEnv(t, dovecot.Options{Separator: ".", Prefix: "INBOX."}, dovecot.Options{}, "alice", "bob")
	alice := corpus.Mailbox(1, 120, 3000)
	e.seed("alice", alice)
	e.seed("bob", corpus.Mailbox(2, 40, 2000))

	_, err := Bulk(ctx, e.p, BulkOptions{})
	mustErr(t, err, ErrNotApproved)
	_, err = Approve(ctx, e.p, ApproveOptions{Yes: true, By: "Test"})
	mustErr(t, err, ErrNotCollected)

	cr, err := Collect(ctx, e.p, Selection{})
	must(t, err)
	if cr.Messages != 160 {
		t.Errorf("collect counted %d messages, want 160", cr.Messages)
	}
	ar, err := Approve(ctx, e.p, ApproveOptions{Yes: true, By: "Jane Doe"})
	must(t, err)
	for _, want := range []string{"alice", "bob", "Jane Doe", ar.Hash, "Sent"} {
		if !strings.Contains(ar.Text, want) {
			t.Errorf("scope of work lacks %q", want)
		}
	}
	_, err = Bulk(ctx, e.p, BulkOptions{})
	mustErr(t, err, ErrNotTested)
	_, err = Sync(ctx, e.p, SyncOptions{})
	mustErr(t, err, ErrBulkNotDone)

	tr, err := Test(ctx, e.p, TestOptions{})
	must(t, err)
	if !tr.Passed || tr.Messages != 120 || tr.EstimatedBulk <= 0 {
		t.Fatalf("test: passed %v, %d messages, estimate %v", tr.Passed, tr.Messages, tr.EstimatedBulk)
	}
	e.compare("alice")

	br, err := Bulk(ctx, e.p, BulkOptions{})
	must(t, err)
	if br.Messages != 40 { // alice was copied by the test already
		t.Errorf("bulk copied %d messages, want bob's 40", br.Messages)
	}
	e.compare("alice")
	e.compare("bob")
	br, err = Bulk(ctx, e.p, BulkOptions{})
	must(t, err)
	if br.Messages != 0 {
		t.Errorf("second bulk copied %d messages, want 0", br.Messages)
	}

	// The source lives on: new mail, flag changes, an expunge.
	c := imaptest.Login(t, e.src.Addr, "alice", e.pw["alice"])
	imaptest.Append(t, c, "INBOX", []string{"$Important"}, time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC), corpus.Generate(99, 1, 1000)[0].Body)
	if _, err := c.Select("INBOX", nil).Wait(); err != nil {
		t.Fatal(err)
	}
	seq := imap.SeqSetNum(1, 2)
	if err := c.Store(seq, &imap.StoreFlags{Op: imap.StoreFlagsAdd, Silent: true, Flags: []imap.Flag{imap.FlagFlagged, "Work"}}, nil).Close(); err != nil {
		t.Fatal(err)
	}
	if err := c.Store(imap.SeqSetNum(3), &imap.StoreFlags{Op: imap.StoreFlagsAdd, Silent: true, Flags: []imap.Flag{imap.FlagDeleted}}, nil).Close(); err != nil {
		t.Fatal(err)
	}
	if err := c.Expunge().Close(); err != nil {
		t.Fatal(err)
	}
	e.p.Config.Sync.Deletions = "mirror"
	sr, err := Sync(ctx, e.p, SyncOptions{})
	must(t, err)
	if sr.Messages != 1 || sr.FlagUpdates < 1 || sr.Expunged != 1 {
		t.Errorf("sync: %d new, %d flag updates, %d expunged; want 1, >=1, 1", sr.Messages, sr.FlagUpdates, sr.Expunged)
	}
	e.compare("alice")

	vr, err := Verify(ctx, e.p, Selection{})
	must(t, err)
	if vr.Differences != 0 || vr.Messages != 160 {
		t.Errorf("verify: %d differences over %d messages", vr.Differences, vr.Messages)
	}

	cu, err := Cutover(ctx, e.p, CutoverOptions{Selection: Selection{Users: []string{"alice"}}, Yes: true})
	must(t, err)
	if len(cu.Users) != 1 || !cu.Users[0].Verified {
		t.Fatalf("cutover: %+v", cu.Users)
	}
	report, err := os.ReadFile(cu.Report)
	must(t, err)
	if !strings.Contains(string(report), "alice") || !strings.Contains(string(report), "1 of 1 users verified") {
		t.Errorf("cutover report:\n%s", report)
	}
	// Plain sync leaves alice, cut over, alone and syncs bob.
	sr, err = Sync(ctx, e.p, SyncOptions{})
	mustErr(t, err, ErrPartial)
	if sr.Users != 1 || len(sr.Waiting) != 1 || sr.Waiting[0].User != "alice" || !strings.Contains(sr.Waiting[0].Reason, "cut over") {
		t.Errorf("sync after alice's cutover: %d users run, waiting %+v", sr.Users, sr.Waiting)
	}
	_, err = Sync(ctx, e.p, SyncOptions{Selection: Selection{Users: []string{"alice"}}})
	mustErr(t, err, ErrCutOver)
	_, err = Sync(ctx, e.p, SyncOptions{Selection: Selection{Users: []string{"bob"}}})
	must(t, err)
	_, err = Sync(ctx, e.p, SyncOptions{PostCutover: true})
	must(t, err)

	st, err := Status(e.p, Selection{})
	must(t, err)
	stages := map[string]string{}
	for _, u := range st.Users {
		stages[u.SourceUser] = u.Stage
	}
	if stages["alice"] != "cut-over" || stages["bob"] != "synced" {
		t.Errorf("stages: %v", stages)
	}

	// A changed folder mapping voids the approval.
	e.p.Config.Folders.Exclude = []string{"Trash"}
	_, err = Sync(ctx, e.p, SyncOptions{Selection: Selection{Users: []string{"bob"}}})
	mustErr(t, err, ErrPlanChanged)
}

// approved collects and approves the project, skipping the test.
func (e *testEnv) approved() {
	e.t.Helper()
	ctx := context.Background()
	_, err := Collect(ctx, e.p, Selection{})
	must(e.t, err)
	_, err = Approve(ctx, e.p, ApproveOptions{Yes: true, By: "Test"})
	must(e.t, err)
}

// TestExactlyOnceAfterCrash simulates the two crash windows of a batch:
// after the intents were committed but before APPEND, and after APPEND but
// before the pairs were committed. A re-run must leave every message on the
// target exactly once.
func TestExactlyOnceAfterCrash(t *testing.T) {
	ctx := context.Background()
	e := newEnv(t, dovecot.Options{}, dovecot.Options{Separator: "."}, "carol")
	e.seed("carol", corpus.Mailbox(3, 80, 2500))
	e.approved()
	_, err := Bulk(ctx, e.p, BulkOptions{SkipTest: true})
	must(t, err)
	e.compare("carol")

	pairs, err := e.p.Store.UserPairs("carol")
	must(t, err)
	c := imaptest.Login(t, e.dst.Addr, "carol", e.pw["carol"])
	var expunge = map[string][]uint32{}
	err = e.p.Store.Write(func(tx *state.Tx) error {
		for i, p := range pairs {
			switch i % 3 {
			case 0: // appended, pair not recorded
				p.Status, p.TargetUID, p.Hash = state.Intent, 0, ""
			case 1: // intent recorded, never appended
				expunge[p.TargetFolder] = append(expunge[p.TargetFolder], p.TargetUID)
				p.Status, p.TargetUID, p.Hash = state.Intent, 0, ""
			default:
				continue
			}
			if err := tx.PutPair(p); err != nil {
				return err
			}
		}
		return nil
	})
	must(t, err)
	for folder, uids := range expunge {
		if _, err := c.Select(folder, nil).Wait(); err != nil {
			t.Fatal(err)
		}
		var set imap.UIDSet
		for _, u := range uids {
			set.AddNum(imap.UID(u))
		}
		if err := c.Store(set, &imap.StoreFlags{Op: imap.StoreFlagsAdd, Silent: true, Flags: []imap.Flag{imap.FlagDeleted}}, nil).Close(); err != nil {
			t.Fatal(err)
		}
		if err := c.UIDExpunge(set).Close(); err != nil {
			t.Fatal(err)
		}
	}
	c.Logout().Wait()

	br, err := Bulk(ctx, e.p, BulkOptions{SkipTest: true})
	must(t, err)
	want := 0
	for _, uids := range expunge {
		want += len(uids)
	}
	if br.Messages != int64(want) {
		t.Errorf("re-run copied %d messages, want the %d never appended", br.Messages, want)
	}
	e.compare("carol")
	vr, err := Verify(ctx, e.p, Selection{})
	must(t, err)
	if vr.Differences != 0 || vr.Extra != 0 {
		t.Errorf("verify: %d differences, %d extra: %v", vr.Differences, vr.Extra, vr.List)
	}
}

// TestTargetWithoutUIDPlus copies to a target that does not report
// APPENDUID: pairs are found by content, re-runs copy nothing.
func TestTargetWithoutUIDPlus(t *testing.T) {
	ctx := context.Background()
	e := newEnv(t, dovecot.Options{}, dovecot.Options{DisableCaps: []string{"UIDPLUS"}}, "dave")
	e.seed("dave", corpus.Mailbox(4, 50, 2000))
	e.approved()
	_, err := Bulk(ctx, e.p, BulkOptions{SkipTest: true})
	must(t, err)
	br, err := Bulk(ctx, e.p, BulkOptions{SkipTest: true})
	must(t, err)
	if br.Messages != 0 {
		t.Errorf("re-run copied %d", br.Messages)
	}
	e.compare("dave")
	vr, err := Verify(ctx, e.p, Selection{})
	must(t, err)
	if vr.Differences != 0 {
		t.Errorf("verify: %v", vr.List)
	}
}

// TestOneUserFailsOthersFinish: a wrong password fails one user with the
// reason recorded, never the password, and the others are migrated.
func TestOneUserFailsOthersFinish(t *testing.T) {
	ctx := context.Background()
	e := newEnv(t, dovecot.Options{}, dovecot.Options{}, "erin", "frank")
	e.seed("erin", corpus.Mailbox(5, 20, 2000))
	e.seed("frank", corpus.Mailbox(6, 20, 2000))
	e.approved()
	secret := "S3cret-wrong-pw"
	for i, r := range e.p.Users {
		if r.SourceUser == "frank" {
			rows, err := users.Parse("users.csv", strings.NewReader("source_user,source_password,target_user,target_password\nfrank,"+secret+",frank,"+secret+"\n"))
			must(t, err)
			e.p.Users[i].SourcePassword = rows[0].SourcePassword
		}
	}
	res, err := Bulk(ctx, e.p, BulkOptions{SkipTest: true})
	mustErr(t, err, ErrPartial)
	if len(res.Failed) != 1 || res.Failed[0].User != "frank" {
		t.Fatalf("failed: %+v", res.Failed)
	}
	if strings.Contains(err.Error(), secret) {
		t.Errorf("the password leaked into the error: %v", err)
	}
	e.compare("erin")
	st, err := Status(e.p, Selection{Users: []string{"frank"}})
	must(t, err)
	if st.Users[0].Error == "" || strings.Contains(st.Users[0].Error, secret) {
		t.Errorf("frank's status error: %q", st.Users[0].Error)
	}
}

// TestMessyCorpus migrates real-world malformed messages: whatever the
// source serves, the target serves the same.
func TestMessyCorpus(t *testing.T) {
	ctx := context.Background()
	messy := corpus.Messy(t)
	e := newEnv(t, dovecot.Options{}, dovecot.Options{Separator: "."}, "gina")
	var msgs []corpus.Message
	names := keys(messy)
	for i, name := range names {
		folder := "INBOX"
		if strings.Contains(name, "mail-parser") {
			folder = "Parser/" + filepath.Base(filepath.Dir(name))
		}
		msgs = append(msgs, corpus.Message{Folder: folder, Body: messy[name], Flags: []string{`\Seen`}, InternalDate: time.Date(2020, 1, 1, 0, 0, i, 0, time.UTC)})
	}
	e.seed("gina", msgs)
	e.approved()
	_, err := Bulk(ctx, e.p, BulkOptions{SkipTest: true})
	must(t, err)
	e.compare("gina")
	vr, err := Verify(ctx, e.p, Selection{})
	must(t, err)
	if vr.Differences != 0 || vr.Messages != int64(len(msgs)) {
		t.Errorf("verify: %d differences over %d messages (seeded %d): %v", vr.Differences, vr.Messages, len(msgs), vr.List)
	}
}

// TestRefusedMessagesAndFolderRules: the target refuses messages over its
// size limit; collect foresees it, the rest of the mailbox arrives, the
// refusals are recorded per message (exit 4 in the command). Excluded
// folders stay behind, mapped ones go where the map says, empty folders
// are created.
func TestRefusedMessagesAndFolderRules(t *testing.T) {
	ctx := context.Background()
	e := newEnv(t, dovecot.Options{}, dovecot.Options{AppendLimit: 20000, ExtraCaps: []string{"APPENDLIMIT=20000"}}, "hank")
	msgs := corpus.Mailbox(7, 40, 3000)
	big := corpus.Generate(70, 1, 60000)[0]
	big.Folder = "INBOX"
	msgs = append(msgs, big)
	e.seed("hank", msgs)
	c := imaptest.Login(t, e.src.Addr, "hank", e.pw["hank"])
	must(t, c.Create("Leer", nil).Wait())
	must(t, c.Create("Projects", nil).Wait())
	must(t, c.Create("projects", nil).Wait())
	c.Logout().Wait()
	e.p.Config.Folders.Exclude = []string{"Trash"}
	e.p.Config.Folders.Map = map[string]string{"Notes.old": "Archive/Notes"}
	e.approved()

	problems, err := e.p.Store.Problems()
	must(t, err)
	kinds := map[string]bool{}
	for _, p := range problems {
		kinds[p.Kind] = true
	}
	if !kinds["oversize"] {
		t.Errorf("collect did not foresee the oversize message: %+v", problems)
	}
	if !kinds["case"] {
		t.Errorf("collect did not warn about Projects and projects: %+v", problems)
	}

	res, err := Bulk(ctx, e.p, BulkOptions{SkipTest: true})
	mustErr(t, err, ErrPartial)
	if res.FailedMsgs != 1 {
		t.Errorf("%d messages refused, want 1", res.FailedMsgs)
	}
	rep, err := BuildReport(e.p, Selection{})
	must(t, err)
	if len(rep.FailedMessages) != 1 || rep.FailedMessages[0].Folder != "INBOX" || !strings.Contains(rep.FailedMessages[0].Reason, "LIMIT") {
		t.Errorf("report failed messages: %+v", rep.FailedMessages)
	}

	src := imaptest.Snapshot(t, e.src.Addr, "hank", e.pw["hank"])
	dst := imaptest.Snapshot(t, e.dst.Addr, "hank", e.pw["hank"])
	var inbox []imaptest.Message
	for _, m := range src["INBOX"] {
		if len(m.Body) < 20000 {
			inbox = append(inbox, m)
		}
	}
	imaptest.Compare(t, "INBOX without the refused message", inbox, dst["INBOX"])
	imaptest.Compare(t, "Notes.old mapped", src["Notes.old"], dst["Archive/Notes"])
	if _, ok := dst["Notes.old"]; ok {
		t.Error("the mapped folder was also copied under its own name")
	}
	if len(dst["Trash"]) != 0 {
		t.Errorf("excluded Trash has %d messages on the target", len(dst["Trash"]))
	}
	if _, ok := dst["Leer"]; !ok {
		t.Error("the empty folder was not created")
	}
	vr, err := Verify(ctx, e.p, Selection{})
	mustErr(t, err, ErrDifferences)
	if vr.Differences != 1 || !strings.Contains(vr.List[0].What, "refused") {
		t.Errorf("verify: %+v", vr.List)
	}
}

// TestSmallAndHugeInOneBatch copies a folder whose batch mixes messages
// gathered into MULTIAPPEND groups with ones over the group limit that
// stream through one by one (and one that is neither: it fills a group by
// itself): every message arrives once, byte for byte, with its flags and
// date, and the state agrees.
func TestSmallAndHugeInOneBatch(t *testing.T) {
	e := newEnv(t, dovecot.Options{}, dovecot.Options{}, "ivan")
	e.p.Config.Copy.BatchSize = 1000
	var msgs []corpus.Message
	for i, size := range []int{3000, maxBatchedMessage + 200_000, 300_000, maxBatchBytes - 1000, 2500, maxBatchedMessage - 1000, 6 << 20} {
		part := corpus.Generate(int64(80+i), 25, 3000)
		one := padTo(corpus.Generate(int64(90+i), 1, 2000)[0], size)
		msgs = append(msgs, part...)
		msgs = append(msgs, one)
	}
	var streamed int
	for _, m := range msgs {
		if len(m.Body) > maxBatchedMessage {
			streamed++
		}
	}
	if streamed < 2 {
		t.Fatalf("only %d messages over %d bytes: the test needs more", streamed, maxBatchedMessage)
	}
	e.seed("ivan", msgs)
	e.approved()
	res, err := Bulk(context.Background(), e.p, BulkOptions{SkipTest: true})
	must(t, err)
	if res.Messages != int64(len(msgs)) {
		t.Errorf("%d messages copied, want %d", res.Messages, len(msgs))
	}
	e.compare("ivan")
	vr, err := Verify(context.Background(), e.p, Selection{})
	must(t, err)
	if vr.Differences != 0 || vr.Extra != 0 {
		t.Errorf("verify: %+v", vr.List)
	}
}

// padTo returns m with lines of text added to its body, up to n bytes
// (less than a line short of it).
func padTo(m corpus.Message, n int) corpus.Message {
	line := []byte(strings.Repeat("padding ", 9) + "pad\r\n")
	b := slices.Clip(m.Body)
	for len(b)+len(line) <= n {
		b = append(b, line...)
	}
	m.Body = b
	return m
}

// TestTargetConnectionCap copies to targets that let a user have only two
// or three connections at once, fewer than two lanes with their MULTIAPPEND
// connections want: the logins over the cap are refused, and the copy goes
// on over the connections it has (one by one where no MULTIAPPEND
// connection could be had), every message exactly once.
func TestTargetConnectionCap(t *testing.T) {
	for _, limit := range []int{2, 3} {
		t.Run(fmt.Sprint(limit), func(t *testing.T) {
			e := newEnv(t, dovecot.Options{}, dovecot.Options{MaxConnections: limit}, "jack")
			e.seed("jack", corpus.Mailbox(17, 300, 16_000)) // above oneLaneBytes: the user wants two lanes
			e.p.Config.Copy.Retries = 1
			e.approved()
			res, err := Bulk(context.Background(), e.p, BulkOptions{SkipTest: true})
			must(t, err)
			if res.Messages != 300 {
				t.Errorf("%d messages copied, want 300", res.Messages)
			}
			e.exactlyOnce("jack")
		})
	}
}
