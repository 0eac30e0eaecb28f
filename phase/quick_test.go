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
	"github.com/mailshift/mailshift/internal/testrig/quirkproxy"
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
// finds a change logs in to both and copies it; one with --check-target
// always looks at the target, and finds a target folder deleted behind
// mailshift's back.
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

	// A target folder deleted behind mailshift's back, the source
	// unchanged: a plain sync does not look, --check-target does and copies
	// the folder again.
	dc := imaptest.Login(t, e.dst.Addr, "fred", e.pw["fred"])
	run(t, dc.Delete("Sent"))
	dc.Logout().Wait()
	dstBefore = logins(t, e.dst, "fred")
	_, err = Sync(ctx, e.p, SyncOptions{})
	must(t, err)
	if n := logins(t, e.dst, "fred") - dstBefore; n != 0 {
		t.Errorf("plain sync, fred's source unchanged: %d target logins, want none", n)
	}
	sr, err = Sync(ctx, e.p, SyncOptions{CheckTarget: true})
	must(t, err)
	if logins(t, e.dst, "fred") == dstBefore || sr.Messages == 0 {
		t.Errorf("sync --check-target: fred's target not looked at, or nothing copied again (%d)", sr.Messages)
	}
	e.compare("fred")
}

// TestNothingChangedCutoverListsOnce: a cutover of a user with nothing
// changed since the last verification logs in to each side once and lists
// each side's folders once: the final sync finds nothing to do, and the
// verification reads the listing the sync began with. A user whose final
// sync copied a message is listed again before it is verified, and the
// new copy is verified with the rest.
func TestNothingChangedCutoverListsOnce(t *testing.T) {
	ctx := context.Background()
	e := newEnv(t, dovecot.Options{}, dovecot.Options{}, "gina", "hal")
	e.seed("gina", corpus.Mailbox(6, 50, 1500))
	e.seed("hal", corpus.Mailbox(7, 50, 1500))
	proxy := func(addr string) *quirkproxy.Proxy {
		p, err := quirkproxy.Start(addr, quirkproxy.Quirks{})
		must(t, err)
		t.Cleanup(func() { p.Close() })
		return p
	}
	src, dst := proxy(e.src.Addr), proxy(e.dst.Addr)
	e.p.Config.Source.URL = "imap://" + src.Addr + "?tls=none"
	e.p.Config.Target.URL = "imap://" + dst.Addr + "?tls=none"
	e.approved()
	_, err := Bulk(ctx, e.p, BulkOptions{SkipTest: true})
	must(t, err)
	_, err = VerifyWith(ctx, e.p, VerifyOptions{Full: true})
	must(t, err)

	type tally struct{ conns, lists int64 }
	count := func(p *quirkproxy.Proxy) tally { return tally{p.Connections(), p.Commands("LIST")} }
	cutover := func(user string) (tally, tally) {
		t.Helper()
		s0, d0 := count(src), count(dst)
		res, err := Cutover(ctx, e.p, CutoverOptions{Selection: Selection{Users: []string{user}}, Yes: true})
		must(t, err)
		if len(res.Users) != 1 || !res.Users[0].Verified || res.Verify.Kind != VerifyIncremental || res.Verify.Differences != 0 {
			t.Fatalf("cutover of %s: %+v, verification %+v", user, res.Users, res.Verify)
		}
		s1, d1 := count(src), count(dst)
		return tally{s1.conns - s0.conns, s1.lists - s0.lists}, tally{d1.conns - d0.conns, d1.lists - d0.lists}
	}

	s, d := cutover("gina")
	if s != (tally{1, 1}) || d != (tally{1, 1}) {
		t.Errorf("nothing-changed cutover: source %d logins and %d LISTs, target %d and %d; want one of each per side", s.conns, s.lists, d.conns, d.lists)
	}
	e.compare("gina")

	c := e.sourceClient("hal")
	imaptest.Append(t, c, "INBOX", nil, time.Date(2026, 6, 7, 8, 9, 10, 0, time.UTC), corpus.Generate(77, 1, 1300)[0].Body)
	s, d = cutover("hal")
	if d.lists < 2 {
		t.Errorf("cutover after a new message: the target was listed %d time(s) before verifying, want again after the final sync", d.lists)
	}
	e.compare("hal")
}
