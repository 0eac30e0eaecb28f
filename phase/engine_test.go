package phase

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/mailshift/mailshift/internal/mailbox"
	"github.com/mailshift/mailshift/internal/testrig/corpus"
	"github.com/mailshift/mailshift/internal/testrig/fakemail"
	"github.com/mailshift/mailshift/internal/users"
	"github.com/mailshift/mailshift/state"
	"github.com/mailshift/mailshift/target"
)

// Engine tests: the copy engine between two in-memory servers
// (internal/testrig/fakemail), with faults injected between any two calls.
// Each runs in well under a second; the Dovecot tests beside them cover
// the same ground against a real server.

// fakeEnv is a project between two fake servers, collected and approved.
type fakeEnv struct {
	t        *testing.T
	src, dst *fakemail.Server
	p        *Project
}

// newFakeEnv seeds each named user's source with msgs(i) and approves the
// plan. Connections that break connect again at their next call, as IMAP
// connections do.
func newFakeEnv(t *testing.T, src, dst fakemail.Options, msgs func(i int) []corpus.Message, names ...string) *fakeEnv {
	t.Helper()
	src.Redial, dst.Redial = true, true
	e := &fakeEnv{t: t, src: fakemail.NewServer(), dst: fakemail.NewServer()}
	e.src.SetOptions(src)
	e.dst.SetOptions(dst)
	var rows []users.Row
	for i, n := range names {
		e.src.AddUser(n)
		e.dst.AddUser(n)
		for _, m := range msgs(i) {
			e.src.Put(n, m.Folder, m.Body, m.Flags, m.InternalDate)
		}
		rows = append(rows, users.Row{Line: i + 2, SourceUser: n, TargetUser: n, Batch: "wave1"})
	}
	dir := t.TempDir()
	store, err := state.Open(filepath.Join(dir, "mailshift.db"))
	must(t, err)
	t.Cleanup(func() { store.Close() })
	cfg := Defaults()
	cfg.Source.URL, cfg.Target.URL = "memory:old", "memory:new"
	cfg.Copy.BatchSize = 50
	cfg.Copy.RetryWait = "1ms"
	must(t, cfg.Validate())
	e.p = &Project{Config: cfg, Users: rows, Store: store, Dir: dir, Backends: fakeBackends{src: e.src, dst: e.dst},
		settleQuiet: time.Millisecond}
	ctx := context.Background()
	_, err = Collect(ctx, e.p, Selection{})
	must(t, err)
	_, err = Approve(ctx, e.p, ApproveOptions{Yes: true, By: "Test"})
	must(t, err)
	return e
}

func (e *fakeEnv) bulk() (RunResult, error) {
	return Bulk(context.Background(), e.p, BulkOptions{SkipTest: true, Now: true})
}

// same checks that the target holds exactly the source's messages (bytes,
// flags, internal date) in the same folders, each once.
func (e *fakeEnv) same(users ...string) {
	e.t.Helper()
	for _, u := range users {
		fakemail.Compare(e.t, e.src, u, e.dst, u)
	}
}

// stored is how many messages the target server stored for user so far.
func (e *fakeEnv) stored(user string) int64 { return e.dst.Counters(user).Stored }

func mailbox80(i int) []corpus.Message { return corpus.Mailbox(int64(60+i), 80, 3000) }

// A target connection cut in the middle of groups, again and again, with
// the answer lost (the group was stored) or not (it was not): settling
// finds what arrived, the rest is copied again, nothing twice.
func TestEngineCutsMidGroup(t *testing.T) {
	for _, lost := range []bool{false, true} {
		t.Run(fmt.Sprintf("answer_lost=%v", lost), func(t *testing.T) {
			e := newFakeEnv(t, fakemail.Options{}, fakemail.Options{}, mailbox80, "ann")
			e.dst.SetCut("ann", fakemail.Cut{After: 40_000, AnswerLost: lost, Times: 4})
			_, err := e.bulk()
			must(t, err)
			if c := e.dst.Counters("ann"); c.Cuts != 4 {
				t.Errorf("%d cuts, want 4", c.Cuts)
			}
			e.same("ann")
			if n := e.stored("ann"); n != 80 && !lost {
				t.Errorf("the target stored %d messages, want 80 (nothing stored twice)", n)
			}
			vr, err := Verify(context.Background(), e.p, Selection{})
			must(t, err)
			if vr.Differences != 0 || vr.Extra != 0 {
				t.Errorf("verify: %d differences, %d extra", vr.Differences, vr.Extra)
			}
		})
	}
}

// More cuts than copy.retries: each attempt stores some groups before
// its cut, so the budget (which counts attempts that stored nothing) is
// never used up, and the groups shrink so that they fit between cuts.
func TestEngineMoreCutsThanRetries(t *testing.T) {
	e := newFakeEnv(t, fakemail.Options{}, fakemail.Options{},
		func(int) []corpus.Message { return corpus.Generate(61, 400, 5000) }, "ann")
	e.p.Config.Copy.Retries = 2
	e.p.Config.Copy.BatchSize = 1000
	e.dst.SetCut("ann", fakemail.Cut{After: 150_000, Times: 12})
	_, err := e.bulk()
	must(t, err)
	if c := e.dst.Counters("ann"); c.Cuts != 12 {
		t.Errorf("%d cuts, want 12", c.Cuts)
	}
	e.same("ann")
}

// Messages the target refuses are recorded against the message; the rest
// arrive, bulk counts as done (sync may follow), and the run says so with
// exit 4. errors.max stops the user after that many refusals.
func TestEngineRefusedMessages(t *testing.T) {
	refuse := func(folder string, flags []string, body []byte) *target.RejectedError {
		if slices.Contains(flags, "$Label1") {
			return &target.RejectedError{Reason: "keywords are not allowed here"}
		}
		return nil
	}
	e := newFakeEnv(t, fakemail.Options{}, fakemail.Options{Refuse: refuse}, mailbox80, "ann")
	refused := 0
	for _, msgs := range e.src.Snapshot("ann") {
		for _, m := range msgs {
			if slices.Contains(m.Flags, "$Label1") {
				refused++
			}
		}
	}
	if refused == 0 {
		t.Fatal("the corpus has no message with $Label1: change the seed")
	}
	res, err := e.bulk()
	mustErr(t, err, ErrPartial)
	if res.FailedMsgs != int64(refused) || res.Messages != int64(80-refused) {
		t.Errorf("bulk: %d copied, %d refused; want %d, %d", res.Messages, res.FailedMsgs, 80-refused, refused)
	}
	u, err := e.p.Store.User("ann")
	must(t, err)
	if u.BulkDoneAt.IsZero() {
		t.Error("bulk is not recorded as done for a user with refused messages: sync would refuse the user")
	}
	if _, err := Sync(context.Background(), e.p, SyncOptions{}); !errors.Is(err, ErrPartial) {
		t.Errorf("sync after a partial bulk: %v, want the refusals reported again (exit 4)", err)
	}
	failed, err := e.p.Store.FailedPairs("ann")
	must(t, err)
	if len(failed) != refused || !strings.Contains(failed[0].Error, "keywords") {
		t.Errorf("%d refusals recorded, want %d with the reason: %+v", len(failed), refused, failed)
	}

	// errors.max: a user with more refusals than allowed is given up.
	e2 := newFakeEnv(t, fakemail.Options{}, fakemail.Options{Refuse: refuse}, mailbox80, "bob")
	e2.p.Config.Errors.Max = 2
	res, err = e2.bulk()
	mustErr(t, err, ErrPartial)
	if len(res.Failed) != 1 || !strings.Contains(res.Failed[0].Reason, "errors.max") {
		t.Errorf("with errors.max 2: %+v", res.Failed)
	}
}

// A source folder that cannot be read is skipped and recorded; the user's
// other folders are copied; once it can be read, the next run copies it
// and forgets the failure.
func TestEngineFolderFailure(t *testing.T) {
	e := newFakeEnv(t, fakemail.Options{}, fakemail.Options{}, mailbox80, "ann")
	bad := mailbox.Mark(mailbox.ErrProtocol, errors.New("unreadable STATUS answer"))
	e.src.FailFolder("ann", "Archive/2023", bad, fakemail.OpMessages)
	res, err := e.bulk()
	mustErr(t, err, ErrPartial)
	if len(res.SkippedFolders) != 1 || res.SkippedFolders[0].Folder != "Archive/2023" {
		t.Fatalf("skipped folders: %+v, want Archive/2023 only (%+v)", res.SkippedFolders, res.Failed)
	}
	snap := e.dst.Snapshot("ann")
	if len(snap["INBOX"]) == 0 || len(snap["Archive/2023"]) != 0 {
		t.Errorf("target after the folder failed: INBOX %d, Archive/2023 %d messages", len(snap["INBOX"]), len(snap["Archive/2023"]))
	}
	ff, err := e.p.Store.FolderFailures("ann")
	must(t, err)
	if len(ff) != 1 || !strings.Contains(ff[0].Reason, "unreadable STATUS") {
		t.Errorf("recorded folder failures: %+v", ff)
	}
	if calls := e.src.Counters("ann").Listings; calls > 20 {
		t.Errorf("%d listings: an unreadable answer was retried", calls)
	}
	// status and the report name the folder and why.
	st, err := Status(e.p, Selection{})
	must(t, err)
	if sf := st.Users[0].SkippedFolders; len(sf) != 1 || sf[0].Folder != "Archive/2023" || !strings.Contains(RenderStatus(st), `1 folder(s) skipped: "Archive/2023"`) {
		t.Errorf("status: %+v\n%s", sf, RenderStatus(st))
	}
	rep, err := BuildReport(e.p, Selection{})
	must(t, err)
	md, err := rep.Render("md")
	must(t, err)
	if !strings.Contains(md, "## Folders skipped (1)") || !strings.Contains(md, "| ann | Archive/2023 |") {
		t.Errorf("report:\n%s", md)
	}

	// Verification checks the other folders and counts the unreadable one
	// as a difference instead of giving up on the user.
	vr, err := Verify(context.Background(), e.p, Selection{})
	mustErr(t, err, ErrDifferences)
	if len(vr.Failed) != 0 || vr.Differences != 1 || !strings.Contains(vr.List[0].What, "could not be read") || vr.Messages == 0 {
		t.Errorf("verify while a folder cannot be read: %+v", vr)
	}

	e.src.Change(func(o *fakemail.Options) { o.FolderFaults = nil })
	_, err = e.bulk()
	must(t, err)
	e.same("ann")
	if ff, _ := e.p.Store.FolderFailures("ann"); len(ff) != 0 {
		t.Errorf("folder failures after a clean run: %+v", ff)
	}
	if st, _ := Status(e.p, Selection{}); len(st.Users[0].SkippedFolders) != 0 {
		t.Errorf("status after a clean run still names skipped folders: %+v", st.Users[0].SkippedFolders)
	}
}

// A target folder the target refuses to create is skipped; the others go.
func TestEngineTargetFolderRefused(t *testing.T) {
	e := newFakeEnv(t, fakemail.Options{}, fakemail.Options{}, mailbox80, "ann")
	e.dst.FailFolder("ann", "Archive/2023", mailbox.Mark(mailbox.ErrRefused, errors.New("NO [CANNOT] name not allowed")), fakemail.OpCreate)
	res, err := e.bulk()
	mustErr(t, err, ErrPartial)
	if len(res.SkippedFolders) != 1 || !strings.Contains(res.SkippedFolders[0].Reason, "folders.map") {
		t.Errorf("skipped folders: %+v, want Archive/2023 with what to do", res.SkippedFolders)
	}
	want := 0
	for name, msgs := range e.src.Snapshot("ann") {
		if name != "Archive/2023" {
			want += len(msgs)
		}
	}
	if res.Messages != int64(want) {
		t.Errorf("copied %d messages, want the %d outside the refused folder", res.Messages, want)
	}
}

// A folder renamed on a source that gives it a new UIDVALIDITY (Courier)
// is recognised by content: renamed on the target, nothing copied again,
// no --force needed.
func TestEngineRenameWithNewUIDValidity(t *testing.T) {
	e := newFakeEnv(t, fakemail.Options{RenameNewUIDValidity: true}, fakemail.Options{}, mailbox80, "ann")
	_, err := e.bulk()
	must(t, err)
	before := e.stored("ann")
	must(t, e.src.Rename("ann", "Archive/2023", "Old/2023"))
	e.p.Config.Sync.Deletions = "mirror"
	res, err := Sync(context.Background(), e.p, SyncOptions{})
	must(t, err)
	if n := e.stored("ann") - before; n != 0 || res.Messages != 0 {
		t.Errorf("the rename copied %d messages again (result %d), want 0", n, res.Messages)
	}
	snap := e.dst.Snapshot("ann")
	if _, ok := snap["Archive/2023"]; ok {
		t.Error("the old target folder is still there")
	}
	e.same("ann")
	// The pairs follow the new UIDVALIDITY: a second sync does nothing.
	res, err = Sync(context.Background(), e.p, SyncOptions{})
	must(t, err)
	if res.Messages != 0 || e.stored("ann") != before {
		t.Errorf("a second sync copied %d messages", res.Messages)
	}
}

// A folder deleted on the source waits for --force alone: the user's other
// changes go through, and the run names the folder (exit 4).
func TestEngineDeletedFolderWaitsAlone(t *testing.T) {
	e := newFakeEnv(t, fakemail.Options{}, fakemail.Options{}, mailbox80, "ann")
	_, err := e.bulk()
	must(t, err)
	e.p.Config.Sync.Deletions = "mirror"
	must(t, e.src.Delete("ann", "Archive/2023"))
	m := corpus.Generate(62, 1, 1000)[0]
	e.src.Put("ann", "INBOX", m.Body, nil, m.InternalDate)
	res, err := Sync(context.Background(), e.p, SyncOptions{})
	mustErr(t, err, ErrPartial)
	if res.Messages != 1 {
		t.Errorf("sync copied %d messages, want the new one while the deleted folder waits", res.Messages)
	}
	if len(res.SkippedFolders) != 1 || !strings.Contains(res.SkippedFolders[0].Reason, "--force") {
		t.Errorf("skipped: %+v", res.SkippedFolders)
	}
	if _, ok := e.dst.Folder("ann", "Archive/2023"); !ok {
		t.Error("the target folder was deleted without --force")
	}
	_, err = Sync(context.Background(), e.p, SyncOptions{Force: true})
	must(t, err)
	e.same("ann")
}

// Without UIDPLUS every copy is found by content; a re-run copies nothing.
func TestEngineWithoutUIDPlus(t *testing.T) {
	e := newFakeEnv(t, fakemail.Options{}, fakemail.Options{NoUIDPlus: true}, mailbox80, "ann")
	e.dst.SetCut("ann", fakemail.Cut{After: 60_000, AnswerLost: true, Times: 2})
	_, err := e.bulk()
	must(t, err)
	e.same("ann")
	before := e.stored("ann")
	res, err := e.bulk()
	must(t, err)
	if res.Messages != 0 || e.stored("ann") != before {
		t.Errorf("a re-run copied %d messages", res.Messages)
	}
}

// Settling after a lost answer reads the target in chunks and keeps what
// each chunk settled, so a settling that is itself cut does not start
// again from scratch, and nothing is stored twice.
func TestEngineSettlingCut(t *testing.T) {
	e := newFakeEnv(t, fakemail.Options{}, fakemail.Options{},
		func(int) []corpus.Message { return corpus.Generate(63, 1500, 6000) }, "ann")
	e.p.Config.Copy.BatchSize = 2000
	// The first group of 8 MB is stored, its answer lost; settling then
	// has about 1,400 candidates to read, and its reading is cut once.
	e.dst.SetCut("ann", fakemail.Cut{After: 8 << 20, AnswerLost: true})
	e.dst.SetFetchCut("ann", 4<<20, 1)
	_, err := e.bulk()
	must(t, err)
	e.same("ann")
	if n := e.stored("ann"); n != 1500 {
		t.Errorf("the target stored %d messages, want 1500", n)
	}
}
