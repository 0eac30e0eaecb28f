package phase

import (
	"context"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/emersion/go-imap/v2"

	"github.com/mailshift/mailshift/internal/testrig/corpus"
	"github.com/mailshift/mailshift/internal/testrig/dovecot"
	"github.com/mailshift/mailshift/internal/testrig/imaptest"
)

// logins counts the successful logins of user in a Dovecot's log.
func logins(t *testing.T, s *dovecot.Server, user string) int {
	t.Helper()
	b, err := os.ReadFile(s.LogFile())
	if err != nil {
		t.Fatal(err)
	}
	return strings.Count(string(b), "Login: user=<"+user+">")
}

// TestNothingChangedSyncSkipsTarget: a bulk copy of a small mailbox logs
// in to its source once; a sync that finds a user's source
// exactly as the last pass left it logs in to the source only; one that
// finds a change logs in to both and copies it; and cutover's final sync
// always looks at the target.
func TestNothingChangedSyncSkipsTarget(t *testing.T) {
	ctx := context.Background()
	e := newEnv(t, dovecot.Options{}, dovecot.Options{}, "erin", "fred")
	e.seed("erin", corpus.Mailbox(3, 40, 1500))
	e.seed("fred", corpus.Mailbox(4, 40, 1500))
	e.approved()
	srcBefore := logins(t, e.src, "erin")
	_, err := Bulk(ctx, e.p, BulkOptions{SkipTest: true})
	must(t, err)
	// A mailbox this small is copied over the session's own connections:
	// a second lane's logins would cost more than they save.
	if n := logins(t, e.src, "erin") - srcBefore; n != 1 {
		t.Errorf("bulk of a small mailbox: %d source logins, want 1", n)
	}
	_, err = Sync(ctx, e.p, SyncOptions{}) // the cursors as a pass leaves them
	must(t, err)

	srcBefore, dstBefore := logins(t, e.src, "erin"), logins(t, e.dst, "erin")
	sr, err := Sync(ctx, e.p, SyncOptions{})
	must(t, err)
	if sr.Messages != 0 || sr.Unchanged == 0 || sr.Unchanged != sr.Folders || len(sr.Failed) > 0 {
		t.Fatalf("nothing-changed sync: %d copied, %d of %d folders unchanged, failed %v", sr.Messages, sr.Unchanged, sr.Folders, sr.Failed)
	}
	if n := logins(t, e.src, "erin") - srcBefore; n != 1 {
		t.Errorf("nothing-changed sync: %d source logins of erin, want 1", n)
	}
	if n := logins(t, e.dst, "erin") - dstBefore; n != 0 {
		t.Errorf("nothing-changed sync: %d target logins of erin, want none", n)
	}

	// A new message on erin's source: both sides, one source login, the
	// message copied; fred's pass still stops at his source.
	c := e.sourceClient("erin")
	imaptest.Append(t, c, "Sent", []string{`\Seen`}, time.Date(2026, 5, 6, 7, 8, 9, 0, time.UTC), corpus.Generate(99, 1, 1200)[0].Body)
	srcBefore, dstBefore = logins(t, e.src, "erin"), logins(t, e.dst, "erin")
	fredDst := logins(t, e.dst, "fred")
	sr, err = Sync(ctx, e.p, SyncOptions{})
	must(t, err)
	if sr.Messages != 1 {
		t.Errorf("sync after a new message: %d copied, want 1", sr.Messages)
	}
	if n := logins(t, e.src, "erin") - srcBefore; n != 1 {
		t.Errorf("changed sync: %d source logins of erin, want 1 (the connection that listed the source serves the pass)", n)
	}
	if n := logins(t, e.dst, "erin") - dstBefore; n < 1 {
		t.Errorf("changed sync: erin's target not logged in to")
	}
	if n := logins(t, e.dst, "fred") - fredDst; n != 0 {
		t.Errorf("changed sync: %d target logins of unchanged fred, want none", n)
	}
	e.compare("erin")
	e.compare("fred")

	// A flag changed on the source moves HIGHESTMODSEQ: the pass goes on.
	wait[*imap.SelectData](t, c.Select("INBOX", nil))
	do(t, c.Store(imap.SeqSetNum(1), &imap.StoreFlags{Op: imap.StoreFlagsAdd, Silent: true, Flags: []imap.Flag{imap.FlagFlagged}}, nil))
	sr, err = Sync(ctx, e.p, SyncOptions{})
	must(t, err)
	if sr.FlagUpdates != 1 {
		t.Errorf("sync after a flag change: %d flag updates, want 1", sr.FlagUpdates)
	}
	e.compare("erin")
}
