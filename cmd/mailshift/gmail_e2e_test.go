package main

import (
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/mailshift/mailshift/internal/testrig/dovecot"
	"github.com/mailshift/mailshift/internal/testrig/gmaillike"
	"github.com/mailshift/mailshift/internal/testrig/imaptest"
)

// gmailMsg is a message seeded on the Gmail-like source.
type gmailMsg struct {
	n      int
	labels []string
	flags  []string
	trash  bool // in Trash, outside All Mail
}

func (m gmailMsg) body() []byte {
	return fmt.Appendf(nil, "From: sender%d@example.com\r\nTo: alice@example.com\r\nSubject: message %d\r\nMessage-ID: <g%d@example.com>\r\nDate: Mon, 1 Jan 2024 10:00:00 +0000\r\n\r\nText of message %d.\r\n", m.n, m.n, m.n, m.n)
}

func (m gmailMsg) date() time.Time { return time.Date(2024, 1, m.n, 9, 30, 0, 0, time.UTC) }

// gmailMailbox is alice's Gmail: labelled, archived (no label), starred
// and important only, sent, trashed.
var gmailMailbox = []gmailMsg{
	{n: 1, labels: []string{`\Inbox`, "Work"}, flags: []string{`\Seen`}},
	{n: 2, labels: []string{"Work", "Muy Importante"}},
	{n: 3},
	{n: 4, labels: []string{`\Sent`}, flags: []string{`\Seen`}},
	{n: 5, labels: []string{`\Important`, `\Starred`}, flags: []string{`\Flagged`}},
	{n: 6, trash: true},
	{n: 7, labels: []string{`\Inbox`}},
}

// gmailProject is a project from the Gmail-like server to Dovecot, with
// the gmail: section given.
func gmailProject(t *testing.T, gmailKeys string) (*project, *gmaillike.Server) {
	t.Helper()
	g, err := gmaillike.Start(io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { g.Close() })
	if err := g.AddUser("alice@gmail.example", "old-alice"); err != nil {
		t.Fatal(err)
	}
	for _, m := range gmailMailbox {
		gm := gmaillike.Message{Body: m.body(), Date: m.date(), Flags: m.flags, Labels: m.labels}
		if m.trash {
			_, err = g.AddOutside("alice@gmail.example", gmaillike.Trash, gm)
		} else {
			_, err = g.Add("alice@gmail.example", gm)
		}
		if err != nil {
			t.Fatal(err)
		}
	}
	p := &project{t: t, dir: t.TempDir(), dst: dovecot.Start(t, dovecot.Options{})}
	p.dst.AddUser("alice", "new-alice")
	p.write("users.csv", "source_user,source_password,target_user,target_password,batch\nalice@gmail.example,old-alice,alice,new-alice,pilot\n")
	p.write("mailshift.yaml", "source:\n  url: imap://"+g.Addr+"?tls=none\n"+
		"target:\n  url: imap://"+p.dst.Addr+"\n  tls: none\n"+
		"users:\n  file: users.csv\ntest_users: [alice@gmail.example]\n"+gmailKeys)
	return p, g
}

// sixSteps runs collect, approve, test, bulk, sync and cutover, adding
// message 8 (in the inbox, labelled Work) on the source before sync.
func sixSteps(t *testing.T, p *project, g *gmaillike.Server, wantCollect string) {
	t.Helper()
	out, _ := p.expect(exitOK, "collect")
	if !strings.Contains(out, wantCollect) {
		t.Errorf("collect should count each message as the policy copies it (%s):\n%s", wantCollect, out)
	}
	p.expect(exitOK, "approve", "--yes", "--by", "Jane Doe")
	if code, out, errOut := p.mailshift("test"); code != exitOK {
		b, _ := os.ReadFile(filepath.Join(p.dir, "reports", "test.md"))
		t.Fatalf("test: exit %d\n%s%s\n%s", code, out, errOut, b)
	}
	p.expect(exitOK, "bulk")
	m := gmailMsg{n: 8, labels: []string{`\Inbox`, "Work"}}
	if _, err := g.Add("alice@gmail.example", gmaillike.Message{Body: m.body(), Date: m.date(), Labels: m.labels}); err != nil {
		t.Fatal(err)
	}
	p.expect(exitOK, "sync")
	out, _ = p.expect(exitOK, "cutover", "--yes")
	if !strings.Contains(out, "1 of 1 users verified") {
		t.Errorf("cutover: %s", out)
	}
	p.expect(exitOK, "verify")
}

// expectTarget checks Dovecot holds exactly want: folder -> messages (by
// number) with their flags; bytes and internal dates are the source's.
func expectTarget(t *testing.T, p *project, want map[string][]imaptest.Message) {
	t.Helper()
	got := imaptest.Snapshot(t, p.dst.Addr, "alice", "new-alice")
	for folder, msgs := range got {
		if len(msgs) > 0 && want[folder] == nil {
			t.Errorf("target folder %q holds %d messages, none expected", folder, len(msgs))
		}
	}
	for folder, msgs := range want {
		imaptest.Compare(t, "target "+folder, msgs, got[folder])
	}
}

// on builds the expected messages: message n with flags.
func on(n int, flags ...string) imaptest.Message {
	m := gmailMsg{n: n}
	fs := append([]string(nil), flags...)
	slices.Sort(fs)
	return imaptest.Message{Body: m.body(), Flags: fs, InternalDate: m.date()}
}

// TestGmailLabelsAsFolders: with gmail.labels: folders each label folder
// is copied once, All Mail is not, and the mail no copied folder shows
// (archived; only starred and important) lands in the archive folder.
func TestGmailLabelsAsFolders(t *testing.T) {
	p, g := gmailProject(t, "gmail:\n  labels: folders\nthrottle:\n  daily_per_user: 1GB\n")
	// INBOX 2, Work 2, Muy Importante 1, Sent 1, Trash 1, Archive 2.
	sixSteps(t, p, g, "9 messages")
	scope := p.read("reports/scope-of-work.md")
	for _, want := range []string{"The source is Gmail", "Labels are copied as folders", "goes to `Archive`", "each user copies at most 1.0 GB per 24 hours"} {
		if !strings.Contains(scope, want) {
			t.Errorf("the scope of work does not say %q:\n%s", want, scope)
		}
	}
	expectTarget(t, p, map[string][]imaptest.Message{
		"INBOX":          {on(1, `\Seen`), on(7), on(8)},
		"Work":           {on(1, `\Seen`), on(2), on(8)},
		"Muy Importante": {on(2)},
		"Sent":           {on(4, `\Seen`)},
		"Trash":          {on(6)},
		"Archive":        {on(3), on(5, `\Flagged`)},
	})
	if n := g.Served("alice@gmail.example"); n == 0 {
		t.Error("nothing was read from the source")
	}
}

// TestGmailLabelsAsKeywords: with gmail.labels: keywords each message is
// copied once, into INBOX, Sent or the archive folder, its user labels
// as keywords.
func TestGmailLabelsAsKeywords(t *testing.T) {
	p, g := gmailProject(t, "gmail:\n  labels: keywords\n  archive_folder: Archive\n")
	// INBOX 2 (1, 7), Sent 1, Archive 3 (2, 3, 5), Trash 1.
	sixSteps(t, p, g, "7 messages")
	if scope := p.read("reports/scope-of-work.md"); !strings.Contains(scope, "Each message is copied once (`gmail.labels: keywords`)") {
		t.Errorf("the scope of work does not name the policy:\n%s", scope)
	}
	expectTarget(t, p, map[string][]imaptest.Message{
		"INBOX":   {on(1, `\Seen`, "Work"), on(7), on(8, "Work")},
		"Sent":    {on(4, `\Seen`)},
		"Archive": {on(2, "Work", "Muy_Importante"), on(3), on(5, `\Flagged`, "$Important")},
		"Trash":   {on(6)},
	})
}

// read returns a project file's text.
func (p *project) read(name string) string {
	p.t.Helper()
	b, err := os.ReadFile(filepath.Join(p.dir, name))
	if err != nil {
		p.t.Fatal(err)
	}
	return string(b)
}
