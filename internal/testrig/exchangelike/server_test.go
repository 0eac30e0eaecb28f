package exchangelike

import (
	"bytes"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/emersion/go-imap/v2"
	"github.com/emersion/go-imap/v2/imapclient"

	"github.com/mailshift/mailshift/internal/throttle"
)

const msg = "From: Alice <alice@example.com>\r\nTo: bob@example.com\r\nSubject: a rather long subject line that a server will want to fold somewhere along the way\r\nDate: Mon, 2 Mar 2026 10:00:00 +0000\r\nMessage-ID: <1@example.com>\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: quoted-printable\r\n\r\nHello =C3=A9t=C3=A9\r\n"

func dial(t *testing.T, s *Server, user string) *imapclient.Client {
	t.Helper()
	c, err := imapclient.DialInsecure(s.Addr, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	if err := c.Login(user, "pw").Wait(); err != nil {
		t.Fatalf("login %s: %v", user, err)
	}
	return c
}

func start(t *testing.T, o Options) *Server {
	t.Helper()
	s, err := Start("127.0.0.1:0", o)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	if err := s.AddUser("alice", "pw"); err != nil {
		t.Fatal(err)
	}
	return s
}

func appendMsg(c *imapclient.Client, body string, flags ...imap.Flag) error {
	cmd := c.Append("INBOX", int64(len(body)), &imap.AppendOptions{Flags: flags})
	if _, err := cmd.Write([]byte(body)); err != nil {
		return err
	}
	if err := cmd.Close(); err != nil {
		return err
	}
	_, err := cmd.Wait()
	return err
}

// TestRerendersAndKeepsNoKeywords: what an APPEND stored comes back
// re-rendered (headers in another order, another transfer encoding),
// without its keyword, and PERMANENTFLAGS has no \*.
func TestRerendersAndKeepsNoKeywords(t *testing.T) {
	s := start(t, Options{})
	c := dial(t, s, "alice")
	if err := appendMsg(c, msg, imap.FlagSeen, "$Work"); err != nil {
		t.Fatal(err)
	}
	sel, err := c.Select("INBOX", nil).Wait()
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range sel.PermanentFlags {
		if f == imap.FlagWildcard || !strings.HasPrefix(string(f), `\`) {
			t.Errorf("PERMANENTFLAGS has %s", f)
		}
	}
	msgs, err := c.Fetch(imap.SeqSetNum(1), &imap.FetchOptions{Flags: true, RFC822Size: true,
		BodySection: []*imap.FetchItemBodySection{{Peek: true}}}).Collect()
	if err != nil || len(msgs) != 1 {
		t.Fatalf("fetch: %v %d", err, len(msgs))
	}
	var got []byte
	for _, b := range msgs[0].BodySection {
		got = b.Bytes
	}
	if bytes.Equal(got, []byte(msg)) {
		t.Fatal("served the appended bytes unchanged")
	}
	if !strings.Contains(string(got), "Content-Transfer-Encoding: base64") {
		t.Errorf("transfer encoding not changed:\n%s", got)
	}
	if strings.Index(string(got), "From:") < strings.Index(string(got), "Message-Id:") {
		t.Errorf("header order kept:\n%s", got)
	}
	if msgs[0].RFC822Size == int64(len(msg)) || msgs[0].RFC822Size == int64(len(got)) {
		t.Errorf("RFC822.SIZE %d is the appended (%d) or the served (%d) size, not an estimate", msgs[0].RFC822Size, len(msg), len(got))
	}
	if len(msgs[0].Flags) != 1 || msgs[0].Flags[0] != imap.FlagSeen {
		t.Errorf("flags %v, want only \\Seen", msgs[0].Flags)
	}
}

// TestThrottlesThenCloses: after ThrottleEvery commands the server answers
// with a suggested backoff, closes the connection at the next command, and
// keeps answering so until the backoff has passed.
func TestThrottlesThenCloses(t *testing.T) {
	clock := throttle.NewManualClock(time.Date(2026, 3, 2, 10, 0, 0, 0, time.UTC))
	s := start(t, Options{ThrottleEvery: 2, Backoff: 1500 * time.Millisecond, Clock: clock})
	c := dial(t, s, "alice")
	for range 2 {
		if _, err := c.Status("INBOX", &imap.StatusOptions{NumMessages: true}).Wait(); err != nil {
			t.Fatal(err)
		}
	}
	_, err := c.Status("INBOX", &imap.StatusOptions{NumMessages: true}).Wait()
	var ie *imap.Error
	if !errors.As(err, &ie) || ie.Text != "Request is throttled. Suggested Backoff Time: 1500 milliseconds" {
		t.Fatalf("third command: %v", err)
	}
	if _, err := c.Status("INBOX", &imap.StatusOptions{NumMessages: true}).Wait(); err == nil {
		t.Fatal("the connection stayed open after throttling")
	}
	c2 := dial(t, s, "alice")
	clock.Advance(time.Second)
	_, err = c2.Status("INBOX", &imap.StatusOptions{NumMessages: true}).Wait()
	if !errors.As(err, &ie) || !strings.Contains(ie.Text, "Suggested Backoff Time: 500 milliseconds") {
		t.Fatalf("during the backoff: %v", err)
	}
	c3 := dial(t, s, "alice")
	clock.Advance(500 * time.Millisecond)
	if _, err := c3.Status("INBOX", &imap.StatusOptions{NumMessages: true}).Wait(); err != nil {
		t.Fatalf("after the backoff: %v", err)
	}
	if st := s.Stats(); st.Throttled != 2 || st.Closed != 1 {
		t.Errorf("stats %+v", st)
	}
}

// TestCapsConnectionsAndSize: a login over the cap and a message over the
// size limit are refused.
func TestCapsConnectionsAndSize(t *testing.T) {
	s := start(t, Options{MaxConnections: 2, MaxMessageSize: 100})
	c := dial(t, s, "alice")
	dial(t, s, "alice")
	c3, err := imapclient.DialInsecure(s.Addr, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer c3.Close()
	var ie *imap.Error
	if err := c3.Login("alice", "pw").Wait(); !errors.As(err, &ie) || ie.Code != imap.ResponseCodeLimit {
		t.Fatalf("third login: %v", err)
	}
	err = appendMsg(c, msg)
	if !errors.As(err, &ie) || ie.Text != "Maximum size of appendable message has been exceeded" {
		t.Fatalf("append over the limit: %v", err)
	}
}
