package dovecot

import (
	"bytes"
	"os"
	"path/filepath"
	"slices"
	"testing"

	"github.com/emersion/go-imap/v2"
)

// TestMbox checks Dovecot storing mbox files: a folder is a file, so a
// folder with mail (or created empty) cannot get children, while a nested
// CREATE makes its parents plain directories.
func TestMbox(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name string
		o    Options
		sep  string
	}{
		{"slash", Options{Mbox: true}, "/"},
		{"dot INBOX.", Options{Mbox: true, Separator: ".", Prefix: "INBOX.", NoSpecialUse: true}, "."},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			s := Start(t, tc.o)
			s.AddUser("alice", "secret")
			c := login(t, s.Addr, "alice", "secret")
			p, sep := tc.o.Prefix, tc.sep

			if err := c.Create(p+"a", nil).Wait(); err != nil {
				t.Fatal(err)
			}
			err := c.Create(p+"a"+sep+"b", nil).Wait()
			if err == nil {
				t.Fatal("CREATE a/b after CREATE a succeeded on mbox")
			}
			if code := imapCode(err); code != imap.ResponseCodeCannot {
				t.Errorf("CREATE a/b after CREATE a: %v (code %q), want NO [CANNOT]", err, code)
			}
			nested := p + "Archive" + sep + "2019"
			if err := c.Create(nested, nil).Wait(); err != nil {
				t.Fatalf("a single CREATE %s: %v", nested, err)
			}
			body := testMessage("in an mbox", 300)
			if _, err := appendMsg(c, nested, body, imap.FlagSeen, "$Label1"); err != nil {
				t.Fatal(err)
			}
			if _, err := appendMsg(c, "INBOX", body); err != nil {
				t.Fatal(err)
			}

			list, err := c.List("", "*", nil).Collect()
			if err != nil {
				t.Fatal(err)
			}
			attrs := map[string][]imap.MailboxAttr{}
			for _, l := range list {
				attrs[l.Mailbox] = l.Attrs
				if string(l.Delim) != sep {
					t.Errorf("%s: delimiter %q, want %q", l.Mailbox, l.Delim, sep)
				}
			}
			if a, ok := attrs[p+"Archive"]; !ok || !slices.Contains(a, imap.MailboxAttrNoSelect) {
				t.Errorf("parent %sArchive: %v (listed %v), want \\Noselect", p, a, ok)
			}
			if _, ok := attrs[nested]; !ok {
				t.Errorf("%s not listed: %v", nested, attrs)
			}
			if err := c.Create(p+"Archive", nil).Wait(); err == nil {
				t.Error("CREATE of the \\Noselect parent as a mail folder succeeded")
			}

			if _, err := c.Select(nested, nil).Wait(); err != nil {
				t.Fatal(err)
			}
			msgs, err := c.Fetch(imap.SeqSetNum(1), &imap.FetchOptions{Flags: true, BodySection: []*imap.FetchItemBodySection{{Peek: true}}}).Collect()
			if err != nil || len(msgs) != 1 {
				t.Fatalf("FETCH: %v %v", msgs, err)
			}
			if !slices.Contains(msgs[0].Flags, "$Label1") || !slices.Contains(msgs[0].Flags, imap.FlagSeen) {
				t.Errorf("flags %v", msgs[0].Flags)
			}
			if b := msgs[0].FindBodySection(&imap.FetchItemBodySection{}); !bytes.Equal(b, body) {
				t.Errorf("body differs:\n%q\n%q", b, body)
			}

			// The folder is a file in mbox format under MboxPath, the
			// INBOX a file beside it.
			f := filepath.Join(s.MboxPath("alice"), "Archive", "2019")
			if b, err := os.ReadFile(f); err != nil || !bytes.HasPrefix(b, []byte("From ")) {
				t.Errorf("%s: not an mbox file (%v): %.40q", f, err, b)
			}
			if _, err := os.Stat(filepath.Join(filepath.Dir(s.MboxPath("alice")), "inbox")); err != nil {
				t.Error(err)
			}
		})
	}
}
