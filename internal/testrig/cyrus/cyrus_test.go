package cyrus

import (
	"bytes"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/emersion/go-imap/v2"
	"github.com/emersion/go-imap/v2/imapclient"
	"github.com/mailshift/mailshift/internal/testrig/daemon"
)

func login(t *testing.T, addr, user, pass string) *imapclient.Client {
	t.Helper()
	c, err := imapclient.DialInsecure(addr, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	if err := c.Login(user, pass).Wait(); err != nil {
		t.Fatalf("login %s on %s: %v", user, addr, err)
	}
	return c
}

func testMessage(subject string) []byte {
	return []byte(fmt.Sprintf("From: a@example.org\r\nTo: b@example.org\r\nSubject: %s\r\nMessage-ID: <%s@example.org>\r\nDate: Mon, 02 Jan 2006 15:04:05 +0000\r\n\r\nHello.\r\n", subject, strings.ReplaceAll(subject, " ", ".")))
}

var appendDate = time.Date(2019, 3, 4, 5, 6, 7, 0, time.FixedZone("", 3600))

func appendMsg(t *testing.T, c *imapclient.Client, mailbox string, body []byte, flags ...imap.Flag) {
	t.Helper()
	cmd := c.Append(mailbox, int64(len(body)), &imap.AppendOptions{Flags: flags, Time: appendDate})
	if _, err := cmd.Write(body); err != nil {
		t.Fatal(err)
	}
	if err := cmd.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := cmd.Wait(); err != nil {
		t.Fatalf("APPEND to %s: %v", mailbox, err)
	}
}

// TestCyrus checks, for each namespace set-up, what mailshift relies on:
// logins, the namespace and separator, CREATE (nested), APPEND with
// keywords and a date, SELECT, RENAME (which keeps UIDVALIDITY, unlike
// Courier's) and the capabilities.
func TestCyrus(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name   string
		o      Options
		prefix string
		delim  rune
	}{
		{"dot", Options{}, "INBOX.", '.'},
		{"slash", Options{Separator: "/"}, "INBOX/", '/'},
		{"altnamespace", Options{AltNamespace: true}, "", '.'},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			s := Start(t, tc.o)
			if got := tc.o.Prefix(); got != tc.prefix {
				t.Errorf("Options.Prefix() = %q, want %q", got, tc.prefix)
			}
			s.AddUser("alice", "secret")
			s.AddUser("Bob", "pw with spaces")
			c := login(t, s.Addr, "alice", "secret")
			login(t, s.Addr, "bob", "pw with spaces")

			caps := c.Caps()
			for _, want := range []imap.Cap{imap.CapIMAP4rev1, imap.CapUIDPlus, imap.CapNamespace, imap.CapCondStore, imap.CapQResync,
				imap.CapMove, imap.CapSpecialUse, imap.CapListStatus, imap.CapLiteralPlus, "QUOTA", "MULTIAPPEND"} {
				if !caps.Has(want) {
					t.Errorf("capability %s missing: %v", want, caps)
				}
			}

			ns, err := c.Namespace().Wait()
			if err != nil {
				t.Fatal(err)
			}
			if len(ns.Personal) != 1 || ns.Personal[0].Prefix != tc.prefix || ns.Personal[0].Delim != tc.delim {
				t.Errorf("personal namespace %+v, want %q with %q", ns.Personal, tc.prefix, tc.delim)
			}
			list, err := c.List("", "*", nil).Collect()
			if err != nil {
				t.Fatal(err)
			}
			if len(list) != 1 || list[0].Mailbox != "INBOX" || list[0].Delim != tc.delim {
				t.Errorf("LIST of a new user: %+v, want INBOX alone with %q", list, tc.delim)
			}

			// A user created by the admin has no quota root: an answer
			// go-imap parses, unlike Courier's.
			if _, err := c.GetQuotaRoot("INBOX").Wait(); err != nil {
				t.Errorf("GETQUOTAROOT INBOX: %v", err)
			}

			sep := string(tc.delim)
			nested := tc.prefix + "Archive" + sep + "2019"
			if err := c.Create(nested, nil).Wait(); err != nil {
				t.Fatalf("CREATE %s: %v", nested, err)
			}
			appendMsg(t, c, nested, testMessage("old one"), imap.FlagSeen, imap.FlagFlagged, "$Label1")
			list, err = c.List("", "*", nil).Collect()
			if err != nil {
				t.Fatal(err)
			}
			var names []string
			for _, l := range list {
				names = append(names, l.Mailbox)
			}
			if want := []string{"INBOX", tc.prefix + "Archive", nested}; !slices.Equal(names, want) {
				t.Errorf("LIST: %v, want %v", names, want)
			}

			sel, err := c.Select(nested, nil).Wait()
			if err != nil {
				t.Fatal(err)
			}
			if sel.NumMessages != 1 || sel.UIDValidity == 0 || sel.HighestModSeq == 0 {
				t.Errorf("SELECT %s: %+v", nested, sel)
			}
			msgs, err := c.Fetch(imap.SeqSetNum(1), &imap.FetchOptions{Flags: true, InternalDate: true, BodySection: []*imap.FetchItemBodySection{{Peek: true}}}).Collect()
			if err != nil || len(msgs) != 1 {
				t.Fatalf("FETCH: %v %v", msgs, err)
			}
			m := msgs[0]
			for _, f := range []imap.Flag{imap.FlagSeen, imap.FlagFlagged, "$Label1"} {
				if !slices.Contains(m.Flags, f) {
					t.Errorf("flags %v lack %s", m.Flags, f)
				}
			}
			if !m.InternalDate.Equal(appendDate) {
				t.Errorf("INTERNALDATE %v, want %v", m.InternalDate, appendDate)
			}
			if b := m.FindBodySection(&imap.FetchItemBodySection{}); !bytes.Equal(b, testMessage("old one")) {
				t.Errorf("body %q", b)
			}
			if err := c.Unselect().Wait(); err != nil {
				t.Fatal(err)
			}

			renamed := tc.prefix + "Old"
			if err := c.Rename(nested, renamed, nil).Wait(); err != nil {
				t.Fatal(err)
			}
			st, err := c.Status(renamed, &imap.StatusOptions{UIDValidity: true, NumMessages: true}).Wait()
			if err != nil {
				t.Fatal(err)
			}
			if *st.NumMessages != 1 || st.UIDValidity != sel.UIDValidity {
				t.Errorf("after RENAME: %d messages, UIDVALIDITY %d; want 1 and %d kept", *st.NumMessages, st.UIDValidity, sel.UIDValidity)
			}

			bad, err := imapclient.DialInsecure(s.Addr, nil)
			if err != nil {
				t.Fatal(err)
			}
			defer bad.Close()
			if err := bad.Login("alice", "wrong").Wait(); err == nil {
				t.Error("a wrong password was accepted")
			}
			if err := bad.Login("nobody", "secret").Wait(); err == nil {
				t.Error("an unknown user was accepted")
			}
		})
	}
}

// TestAdmin checks the admin login and that another user's mailboxes are
// the admin's to manage (what AddUser relies on).
func TestAdmin(t *testing.T) {
	t.Parallel()
	s := Start(t, Options{})
	s.AddUser("alice", "secret")
	if err := s.Admin(`CREATE "user.alice.Sent"`, `SETQUOTA "user.alice" (STORAGE 1000)`); err != nil {
		t.Fatal(err)
	}
	c := login(t, s.Addr, "alice", "secret")
	list, err := c.List("", "*", nil).Collect()
	if err != nil {
		t.Fatal(err)
	}
	if len(list) != 2 || list[1].Mailbox != "INBOX.Sent" {
		t.Errorf("LIST after the admin created user.alice.Sent: %+v", list)
	}
	if err := s.Admin(`CREATE "user.alice"`); err == nil || !strings.Contains(err.Error(), "already exists") {
		t.Errorf("creating an existing user: %v", err)
	}
	s.Stop(t)
	if err := daemon.Greet(s.Addr, ""); err == nil {
		t.Error("the server still answers after Stop")
	}
}

// TestAppendRewrites checks what Cyrus does to the bytes of an APPEND: it
// refuses NUL bytes and bare LF line ends, and (by default) replaces every
// header byte above 127 with "X"; the body's 8-bit bytes are kept.
func TestAppendRewrites(t *testing.T) {
	t.Parallel()
	eightBit := []byte("From: J\xc3\xbcrgen <j@example.org>\r\nSubject: Gr\xfc\xdfe\r\n\r\nbody \xc3\xa4\r\n")
	for _, tc := range []struct {
		name string
		o    Options
		want []byte
	}{
		{"stock", Options{}, []byte("From: JXXrgen <j@example.org>\r\nSubject: GrXXe\r\n\r\nbody \xc3\xa4\r\n")},
		{"Keep8bitHeaders", Options{Keep8bitHeaders: true}, eightBit},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			s := Start(t, tc.o)
			s.AddUser("alice", "secret")
			c := login(t, s.Addr, "alice", "secret")
			appendMsg(t, c, "INBOX", eightBit)
			if _, err := c.Select("INBOX", nil).Wait(); err != nil {
				t.Fatal(err)
			}
			msgs, err := c.Fetch(imap.SeqSetNum(1), &imap.FetchOptions{BodySection: []*imap.FetchItemBodySection{{Peek: true}}}).Collect()
			if err != nil || len(msgs) != 1 {
				t.Fatalf("FETCH: %v %v", msgs, err)
			}
			if got := msgs[0].FindBodySection(&imap.FetchItemBodySection{}); !bytes.Equal(got, tc.want) {
				t.Errorf("stored\n%q\nwant\n%q", got, tc.want)
			}
			for _, bad := range []struct{ what, body, answer string }{
				{"a NUL byte", "Subject: x\r\n\r\nnul\x00here\r\n", "NUL"},
				{"a bare LF", "Subject: x\r\n\r\nbare\nLF\r\n", "bare newlines"},
			} {
				cmd := c.Append("INBOX", int64(len(bad.body)), nil)
				cmd.Write([]byte(bad.body))
				cmd.Close()
				if _, err := cmd.Wait(); err == nil || !strings.Contains(err.Error(), bad.answer) {
					t.Errorf("APPEND of a message with %s: %v, want NO ... %s", bad.what, err, bad.answer)
				}
			}
		})
	}
}
