package courier

import (
	"bufio"
	"bytes"
	"fmt"
	"net"
	"slices"
	"strings"
	"sync"
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

// raw sends one command on a fresh, logged-in connection and returns the
// lines of the answer, the tagged one last. For answers go-imap cannot
// parse.
func raw(t *testing.T, addr, user, pass, command string) []string {
	t.Helper()
	conn, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	conn.SetDeadline(time.Now().Add(20 * time.Second))
	r := bufio.NewReader(conn)
	if _, err := r.ReadString('\n'); err != nil {
		t.Fatal(err)
	}
	var lines []string
	for i, cmd := range []string{fmt.Sprintf("LOGIN %q %q", user, pass), command} {
		tag := fmt.Sprintf("r%d", i)
		fmt.Fprintf(conn, "%s %s\r\n", tag, cmd)
		for {
			l, err := r.ReadString('\n')
			if err != nil {
				t.Fatalf("reading the answer to %s: %v", cmd, err)
			}
			l = strings.TrimRight(l, "\r\n")
			if i == 1 {
				lines = append(lines, l)
			}
			if strings.HasPrefix(l, tag+" ") {
				if i == 0 && !strings.HasPrefix(l, tag+" OK") {
					t.Fatalf("LOGIN: %s", l)
				}
				break
			}
		}
	}
	return lines
}

// TestCourier checks the quirks mailshift meets on a stock Courier IMAP.
func TestCourier(t *testing.T) {
	t.Parallel()
	s := Start(t, Options{})
	s.AddUser("alice", "secret")

	c := login(t, s.Addr, "alice", "secret")
	caps := c.Caps()
	for _, want := range []imap.Cap{imap.CapIMAP4rev1, imap.CapUIDPlus, imap.CapNamespace, imap.CapChildren, "QUOTA", imap.CapIdle} {
		if !caps.Has(want) {
			t.Errorf("capability %s missing: %v", want, caps)
		}
	}
	var got []string
	for c := range caps {
		got = append(got, string(c))
	}
	want := slices.Clone(Capabilities)
	slices.Sort(got)
	slices.Sort(want)
	if !slices.Equal(got, want) {
		t.Errorf("capabilities %v, want Capabilities %v", got, want)
	}
	for _, not := range []imap.Cap{imap.CapSpecialUse, imap.CapCondStore, imap.CapQResync, imap.CapMove, imap.CapListStatus, imap.CapLiteralPlus, imap.CapStartTLS} {
		if caps.Has(not) {
			t.Errorf("capability %s advertised: %v", not, caps)
		}
	}

	t.Run("namespace", func(t *testing.T) {
		ns, err := c.Namespace().Wait()
		if err != nil {
			t.Fatal(err)
		}
		if len(ns.Personal) != 1 || ns.Personal[0].Prefix != "INBOX." || ns.Personal[0].Delim != '.' {
			t.Errorf("personal namespace %+v, want INBOX. with .", ns.Personal)
		}
		list, err := c.List("", "*", nil).Collect()
		if err != nil {
			t.Fatal(err)
		}
		if len(list) != 1 || list[0].Mailbox != "INBOX" || list[0].Delim != '.' {
			t.Errorf("LIST of a new user: %+v, want only INBOX with .", list)
		}
	})

	t.Run("create append select", func(t *testing.T) {
		for _, name := range []string{"INBOX.Archive.2019", "INBOX.Sent"} {
			if err := c.Create(name, nil).Wait(); err != nil {
				t.Fatalf("CREATE %s: %v", name, err)
			}
		}
		if err := c.Create("Outside", nil).Wait(); err == nil {
			t.Error("CREATE outside the INBOX. namespace succeeded")
		}
		appendMsg(t, c, "INBOX.Archive.2019", testMessage("old one"), imap.FlagSeen, "$Label1")
		appendMsg(t, c, "INBOX", testMessage("new one"))
		list, err := c.List("", "*", nil).Collect()
		if err != nil {
			t.Fatal(err)
		}
		var names []string
		for _, l := range list {
			names = append(names, l.Mailbox)
		}
		slices.Sort(names)
		// The parent of a nested CREATE exists (Maildir++ has no
		// folder without a directory of its own, but Courier lists it).
		if want := []string{"INBOX", "INBOX.Archive", "INBOX.Archive.2019", "INBOX.Sent"}; !slices.Equal(names, want) {
			t.Errorf("LIST: %v, want %v", names, want)
		}
		sel, err := c.Select("INBOX.Archive.2019", nil).Wait()
		if err != nil {
			t.Fatal(err)
		}
		if sel.NumMessages != 1 || sel.UIDValidity == 0 {
			t.Errorf("SELECT: %+v", sel)
		}
		msgs, err := c.Fetch(imap.SeqSetNum(1), &imap.FetchOptions{Flags: true, InternalDate: true, BodySection: []*imap.FetchItemBodySection{{Peek: true}}}).Collect()
		if err != nil || len(msgs) != 1 {
			t.Fatalf("FETCH: %v %v", msgs, err)
		}
		m := msgs[0]
		if !slices.Contains(m.Flags, imap.FlagSeen) || !slices.Contains(m.Flags, "$Label1") {
			t.Errorf("flags %v, want \\Seen and the keyword $Label1", m.Flags)
		}
		if !m.InternalDate.Equal(appendDate) {
			t.Errorf("INTERNALDATE %v, want %v", m.InternalDate, appendDate)
		}
		if b := m.FindBodySection(&imap.FetchItemBodySection{}); !bytes.Equal(b, testMessage("old one")) {
			t.Errorf("body %q", b)
		}
	})

	t.Run("rename gives a new UIDVALIDITY", func(t *testing.T) {
		if err := c.Create("INBOX.Before", nil).Wait(); err != nil {
			t.Fatal(err)
		}
		appendMsg(t, c, "INBOX.Before", testMessage("moves along"))
		st, err := c.Status("INBOX.Before", &imap.StatusOptions{UIDValidity: true, NumMessages: true}).Wait()
		if err != nil {
			t.Fatal(err)
		}
		if err := c.Rename("INBOX.Before", "INBOX.After", nil).Wait(); err != nil {
			t.Fatal(err)
		}
		after, err := c.Status("INBOX.After", &imap.StatusOptions{UIDValidity: true, NumMessages: true}).Wait()
		if err != nil {
			t.Fatal(err)
		}
		if *after.NumMessages != 1 {
			t.Errorf("renamed folder holds %d messages, want 1", *after.NumMessages)
		}
		if after.UIDValidity == st.UIDValidity {
			t.Errorf("UIDVALIDITY %d kept across RENAME; Courier gives a new one", st.UIDValidity)
		}
		if _, err := c.Status("INBOX.Before", &imap.StatusOptions{NumMessages: true}).Wait(); err == nil {
			t.Error("the old name still exists")
		}
	})

	t.Run("bare QUOTA answer", func(t *testing.T) {
		lines := raw(t, s.Addr, "alice", "secret", "GETQUOTAROOT INBOX")
		want := []string{`* QUOTAROOT "INBOX" "ROOT"`, `* QUOTA "ROOT"`}
		if len(lines) != 3 || lines[0] != want[0] || lines[1] != want[1] || !strings.HasPrefix(lines[2], "r1 OK") {
			t.Errorf("GETQUOTAROOT INBOX answered\n%s\nwant\n%s\nr1 OK ...", strings.Join(lines, "\n"), strings.Join(want, "\n"))
		}
		// go-imap v2 cannot parse a QUOTA response without a resource
		// list: that is what a client must survive.
		if _, err := c.GetQuotaRoot("INBOX").Wait(); err == nil {
			t.Log("go-imap now parses the bare QUOTA answer")
		} else {
			t.Logf("go-imap on the bare QUOTA answer: %v", err)
		}
	})

	t.Run("users", func(t *testing.T) {
		s.AddUser("Bob", "pw with spaces") // added while running
		login(t, s.Addr, "bob", "pw with spaces")
		// Courier answers a failed login after five seconds: try both at
		// once.
		var wg sync.WaitGroup
		for _, up := range [][2]string{{"alice", "wrong"}, {"nobody", "secret"}} {
			wg.Add(1)
			go func() {
				defer wg.Done()
				c, err := imapclient.DialInsecure(s.Addr, nil)
				if err != nil {
					t.Error(err)
					return
				}
				defer c.Close()
				if err := c.Login(up[0], up[1]).Wait(); err == nil {
					t.Errorf("login %s with password %q accepted", up[0], up[1])
				}
			}()
		}
		wg.Wait()
	})
}

// TestStop checks DisableCaps, and that Close ends every process of the
// server.
func TestStop(t *testing.T) {
	t.Parallel()
	s := Start(t, Options{MaxPerIP: 50, DisableCaps: []string{"quota", "SORT"}})
	s.AddUser("alice", "secret")
	c := login(t, s.Addr, "alice", "secret")
	if caps := c.Caps(); caps.Has("QUOTA") || caps.Has(imap.CapSort) || !caps.Has(imap.CapUIDPlus) || !caps.Has(imap.CapIdle) {
		t.Errorf("DisableCaps QUOTA SORT: capabilities %v", caps)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if err := daemon.Greet(s.Addr, ""); err == nil {
		t.Error("the server still answers after Close")
	}
	if err := s.Close(); err != nil { // twice is fine
		t.Fatal(err)
	}
}
