package phase

import (
	"context"
	"slices"
	"strings"
	"testing"

	"github.com/mailshift/mailshift/internal/testrig/corpus"
	"github.com/mailshift/mailshift/internal/testrig/dovecot"
	"github.com/mailshift/mailshift/internal/testrig/imaptest"
	"github.com/mailshift/mailshift/internal/testrig/quirkproxy"
)

// Real Dovecots made to answer like the servers mailshift meets: the
// source answers one folder's STATUS with something unparseable and
// GETQUOTAROOT with Courier's bare `* QUOTA "ROOT"`; the target does the
// same for its quota and refuses every APPEND that carries a keyword.
// collect records what it could not read and goes on; bulk copies every
// other message exactly once, records each refusal against its message and
// skips the unreadable folder alone; status and the report name them.
func TestQuirkyServers(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	e := newEnv(t, dovecot.Options{}, dovecot.Options{}, "quinn")
	e.seed("quinn", corpus.Mailbox(51, 120, 3000))
	bad := "Archive/2023"
	proxy := func(addr string, q quirkproxy.Quirks) string {
		p, err := quirkproxy.Start(addr, q)
		must(t, err)
		t.Cleanup(func() { p.Close() })
		return "imap://" + p.Addr + "?tls=none"
	}
	e.p.Config.Source.URL = proxy(e.src.Addr, quirkproxy.Quirks{BareQuota: true, BadStatus: bad})
	e.p.Config.Target.URL = proxy(e.dst.Addr, quirkproxy.Quirks{BareQuota: true, RefuseKeywords: true})

	cr, err := Collect(ctx, e.p, Selection{})
	must(t, err)
	probs, err := e.p.Store.Problems()
	must(t, err)
	kinds := map[string]bool{}
	for _, pr := range probs {
		kinds[pr.Kind+" "+pr.Folder] = true
	}
	if !kinds["folder "+bad] || !kinds["feature "] {
		t.Errorf("collect (%d problems) did not record the unreadable folder and quota: %+v", cr.Problems, probs)
	}
	_, err = Approve(ctx, e.p, ApproveOptions{Yes: true, By: "Test"})
	must(t, err)
	res, err := Bulk(ctx, e.p, BulkOptions{SkipTest: true})
	mustErr(t, err, ErrPartial)

	// What should have arrived: every message outside the unreadable
	// folder that carries no keyword.
	src := imaptest.Snapshot(t, e.src.Addr, "quinn", e.pw["quinn"])
	dst := imaptest.Snapshot(t, e.dst.Addr, "quinn", e.pw["quinn"])
	refused := 0
	for folder, msgs := range src {
		var want []imaptest.Message
		for _, m := range msgs {
			if slices.ContainsFunc(m.Flags, func(f string) bool { return !strings.HasPrefix(f, `\`) }) {
				if folder != bad {
					refused++
				}
				continue
			}
			want = append(want, m)
		}
		if folder == bad {
			want = nil
		}
		imaptest.Compare(t, folder, want, dst[e.mapName(folder)])
	}
	if refused == 0 {
		t.Fatal("the corpus has no message with a keyword: change the seed")
	}
	if res.FailedMsgs != int64(refused) || len(res.SkippedFolders) != 1 || res.SkippedFolders[0].Folder != bad {
		t.Errorf("bulk: %d refused (want %d), skipped %+v (want %s)", res.FailedMsgs, refused, res.SkippedFolders, bad)
	}
	st, err := Status(e.p, Selection{})
	must(t, err)
	if u := st.Users[0]; u.FailedMessages != int64(refused) || len(u.SkippedFolders) != 1 || u.BulkDoneAt == nil {
		t.Errorf("status: %d failed, skipped %+v, bulk done %v", u.FailedMessages, u.SkippedFolders, u.BulkDoneAt)
	}
	rep, err := BuildReport(e.p, Selection{})
	must(t, err)
	md, err := rep.Render("md")
	must(t, err)
	if !strings.Contains(md, "## Folders skipped (1)") || !strings.Contains(md, "CANNOT") {
		t.Errorf("the report does not name the skipped folder and the refusals:\n%s", md)
	}
}
