package phase

import (
	"context"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/emersion/go-imap/v2"
	"github.com/emersion/go-imap/v2/imapclient"

	"github.com/mailshift/mailshift/internal/testrig/corpus"
	"github.com/mailshift/mailshift/internal/testrig/dovecot"
	"github.com/mailshift/mailshift/internal/testrig/imaptest"
	"github.com/mailshift/mailshift/state"
)

// sourceClient logs in to user's source mailbox for the test to change it.
func (e *testEnv) sourceClient(user string) *imapclient.Client {
	e.t.Helper()
	c := imaptest.Login(e.t, e.src.Addr, user, e.pw[user])
	e.t.Cleanup(func() { c.Logout().Wait() })
	return c
}

func do(t *testing.T, cmd interface{ Close() error }) {
	t.Helper()
	if err := cmd.Close(); err != nil {
		t.Fatal(err)
	}
}

func run(t *testing.T, cmd interface{ Wait() error }) {
	t.Helper()
	if err := cmd.Wait(); err != nil {
		t.Fatal(err)
	}
}

func wait[T any](t *testing.T, cmd interface{ Wait() (T, error) }) T {
	t.Helper()
	v, err := cmd.Wait()
	if err != nil {
		t.Fatal(err)
	}
	return v
}

// targetFolders lists the target folders of user.
func (e *testEnv) targetFolders(user string) []string {
	e.t.Helper()
	c := imaptest.Login(e.t, e.dst.Addr, user, e.pw[user])
	defer func() { c.Logout().Wait() }()
	return imaptest.Folders(e.t, c)
}

// TestSyncCarriesEveryChange makes every kind of change on a live source
// between passes and checks the target message by message after each.
func TestSyncCarriesEveryChange(t *testing.T) {
	ctx := context.Background()
	e := newEnv(t, dovecot.Options{}, dovecot.Options{Separator: "."}, "dave")
	e.seed("dave", corpus.Mailbox(7, 150, 2000))
	e.approved()
	e.p.Config.Sync.Deletions = "mirror"
	_, err := Bulk(ctx, e.p, BulkOptions{SkipTest: true})
	must(t, err)
	e.compare("dave")

	// Nothing changed: every folder is skipped on its counters alone.
	sr, err := Sync(ctx, e.p, SyncOptions{})
	must(t, err)
	if sr.Messages != 0 || sr.Unchanged == 0 || sr.Unchanged != sr.Folders {
		t.Fatalf("nothing-changed sync: %d copied, %d of %d folders unchanged", sr.Messages, sr.Unchanged, sr.Folders)
	}

	c := e.sourceClient("dave")
	// New mail in two folders.
	imaptest.Append(t, c, "INBOX", []string{"$Label1"}, time.Date(2026, 3, 4, 5, 6, 7, 0, time.UTC), corpus.Generate(70, 1, 1500)[0].Body)
	imaptest.Append(t, c, "Archive/2023", nil, time.Date(2023, 3, 4, 5, 6, 7, 0, time.UTC), corpus.Generate(71, 1, 1500)[0].Body)
	// Flags added and removed, keywords too.
	wait[*imap.SelectData](t, c.Select("INBOX", nil))
	do(t, c.Store(imap.SeqSetNum(1), &imap.StoreFlags{Op: imap.StoreFlagsAdd, Silent: true, Flags: []imap.Flag{imap.FlagFlagged, imap.FlagAnswered, "Urgent"}}, nil))
	do(t, c.Store(imap.SeqSetNum(2, 3, 4), &imap.StoreFlags{Op: imap.StoreFlagsSet, Silent: true, Flags: []imap.Flag{}}, nil))
	// An expunge, and a message moved to another folder.
	do(t, c.Store(imap.SeqSetNum(5), &imap.StoreFlags{Op: imap.StoreFlagsAdd, Silent: true, Flags: []imap.Flag{imap.FlagDeleted}}, nil))
	do(t, c.Expunge())
	wait[*imapclient.MoveData](t, c.Move(imap.SeqSetNum(5), "Archive"))

	sr, err = Sync(ctx, e.p, SyncOptions{})
	must(t, err)
	// (EXPUNGE also removes the messages the corpus marked \Deleted.)
	if sr.Messages != 3 || sr.Expunged < 2 || sr.FlagUpdates < 1 {
		t.Errorf("sync: %d copied, %d expunged, %d flag updates; want 3, >=2, >=1", sr.Messages, sr.Expunged, sr.FlagUpdates)
	}
	e.compare("dave")

	// Folders: one created, one renamed (with a child), one deleted.
	run(t, c.Create("Clients/Acme", nil))
	imaptest.Append(t, c, "Clients/Acme", []string{string(imap.FlagSeen)}, time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC), corpus.Generate(72, 1, 900)[0].Body)
	run(t, c.Rename("Projekte", "Old Projects", nil))
	run(t, c.Delete("Notes.old"))
	before := e.targetFolders("dave")
	if !slices.Contains(before, "Projekte.Überblick") || !slices.Contains(before, "Notes_old") {
		t.Fatalf("target folders before: %v", before)
	}

	// Deleting a whole folder with copies needs --force.
	// The folder waits alone: the user's other changes go through.
	held, err := Sync(ctx, e.p, SyncOptions{})
	mustErr(t, err, ErrPartial)
	if len(held.Failed) != 1 || !strings.Contains(held.Failed[0].Reason, "sync --force") {
		t.Fatalf("sync without --force: %+v", held.Failed)
	}
	if len(held.SkippedFolders) != 1 || held.SkippedFolders[0].Folder != "Notes.old" {
		t.Fatalf("sync without --force skipped %+v, want only the deleted folder", held.SkippedFolders)
	}
	if !slices.Contains(e.targetFolders("dave"), "Notes_old") {
		t.Fatal("target folder deleted without --force")
	}
	sr, err = Sync(ctx, e.p, SyncOptions{Force: true})
	must(t, err)
	after := e.targetFolders("dave")
	// (An empty parent "Projekte" that only existed as a hierarchy node
	// may stay behind on the target.)
	for _, gone := range []string{"Notes_old", "Projekte.Überblick"} {
		if slices.Contains(after, gone) {
			t.Errorf("target folder %q still there: %v", gone, after)
		}
	}
	for _, want := range []string{"Old Projects.Überblick", "Clients.Acme"} {
		if !slices.Contains(after, want) {
			t.Errorf("target folder %q missing: %v", want, after)
		}
	}
	if n := held.Messages + sr.Messages; n != 1 || held.Messages != 1 {
		t.Errorf("after the rename %d messages were copied (%d while the deleted folder waited), want only the one in the new folder, at once", n, held.Messages)
	}
	e.compare("dave")

	// A folder deleted and created again with the same messages gets a new
	// UIDVALIDITY: its pairs are found again by content, nothing doubles.
	snap := imaptest.Snapshot(t, e.src.Addr, "dave", e.pw["dave"])["Archive/2023"]
	run(t, c.Delete("Archive/2023"))
	run(t, c.Create("Archive/2023", nil))
	for _, m := range snap {
		imaptest.Append(t, c, "Archive/2023", m.Flags, m.InternalDate, m.Body)
	}
	sr, err = Sync(ctx, e.p, SyncOptions{})
	must(t, err)
	if sr.Messages != 0 {
		t.Errorf("after a UIDVALIDITY change %d messages were copied again, want 0", sr.Messages)
	}
	e.compare("dave")
	vr, err := Verify(ctx, e.p, Selection{})
	must(t, err)
	if vr.Differences != 0 {
		t.Errorf("verify: %d differences", vr.Differences)
	}
}

// TestSyncCostFollowsChanges checks that an incremental pass over a
// CONDSTORE source touches only what changed: unchanged folders are
// skipped, and a flag change in a big folder is carried over without
// listing the folder.
func TestSyncCostFollowsChanges(t *testing.T) {
	ctx := context.Background()
	e := newEnv(t, dovecot.Options{}, dovecot.Options{}, "erin")
	msgs := corpus.Generate(8, 400, 600)
	e.seed("erin", msgs)
	e.approved()
	_, err := Bulk(ctx, e.p, BulkOptions{SkipTest: true})
	must(t, err)

	c := e.sourceClient("erin")
	wait[*imap.SelectData](t, c.Select("INBOX", nil))
	do(t, c.Store(imap.SeqSetNum(10), &imap.StoreFlags{Op: imap.StoreFlagsAdd, Silent: true, Flags: []imap.Flag{"Reviewed"}}, nil))

	// The pairs of the untouched messages must not be looked at: the state
	// is given wrong flags for all of them, which a pass that listed the
	// whole folder would see as 399 flag changes to carry over.
	pairs, err := e.p.Store.Pairs("erin", "INBOX")
	must(t, err)
	if len(pairs) != 400 {
		t.Fatalf("%d pairs", len(pairs))
	}
	must(t, e.p.Store.Write(func(tx *state.Tx) error {
		for _, p := range pairs {
			p.Flags = []string{"$Stale"}
			if err := tx.PutPair(p); err != nil {
				return err
			}
		}
		return nil
	}))
	sr, err := Sync(ctx, e.p, SyncOptions{})
	must(t, err)
	if sr.FlagUpdates != 1 || sr.Messages != 0 {
		t.Errorf("sync: %d flag updates, %d copied; want 1, 0", sr.FlagUpdates, sr.Messages)
	}
	e.compare("erin")
}

// TestSyncFollow keeps a target in step: a message delivered to the source
// INBOX appears on the target within seconds, long before the interval's
// next pass (IDLE), and the pass it starts brings the user's other folders
// along; Ctrl-C (the context ending) stops it.
func TestSyncFollow(t *testing.T) {
	e := newEnv(t, dovecot.Options{}, dovecot.Options{}, "fred")
	e.seed("fred", corpus.Mailbox(9, 40, 1500))
	e.approved()
	_, err := Bulk(context.Background(), e.p, BulkOptions{SkipTest: true})
	must(t, err)
	e.p.Config.Sync.Interval = "10m"

	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		_, err := Sync(ctx, e.p, SyncOptions{Follow: true})
		done <- err
	}()
	arrived := func(folder string, n int, within time.Duration) {
		t.Helper()
		deadline := time.Now().Add(within)
		for {
			got := len(imaptest.Snapshot(t, e.dst.Addr, "fred", e.pw["fred"])[folder])
			if got == n {
				return
			}
			if time.Now().After(deadline) {
				t.Fatalf("target %s holds %d messages after %v, want %d", folder, got, within, n)
			}
			time.Sleep(100 * time.Millisecond)
		}
	}
	before := imaptest.Snapshot(t, e.src.Addr, "fred", e.pw["fred"])
	// No waiting for the first pass or the watcher: mail that comes while
	// they start must not wait for the next interval either.
	c := e.sourceClient("fred")
	imaptest.Append(t, c, "Sent", nil, time.Now(), corpus.Generate(91, 1, 700)[0].Body)
	imaptest.Append(t, c, "INBOX", nil, time.Now(), corpus.Generate(90, 1, 700)[0].Body)
	arrived("INBOX", len(before["INBOX"])+1, 5*time.Second)
	arrived("Sent", len(before["Sent"])+1, 5*time.Second)

	cancel()
	select {
	case err := <-done:
		if !isInterrupt(err) {
			t.Errorf("follow ended with %v, want the interruption", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("follow did not stop within 10 s of the interruption")
	}
	e.compare("fred")
}
