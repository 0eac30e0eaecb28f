package memserver

import (
	"bytes"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/emersion/go-imap/v2"
	"github.com/emersion/go-imap/v2/imapclient"
)

const msg = "From: a@example.org\r\nTo: b@example.org\r\nSubject: hi\r\nMessage-ID: <1@example.org>\r\n\r\nHello.\r\n"

func TestServer(t *testing.T) {
	s, err := Start("127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()

	if err := s.AddUser("alice", "secret"); err != nil {
		t.Fatal(err)
	}
	if err := s.AddUser("alice", "other"); err == nil {
		t.Error("adding alice twice succeeded")
	}
	for _, f := range []string{"Sent", "Archive/2023", "Projekte/Überblick", "Notes.old"} {
		if err := s.CreateFolder("alice", f); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.CreateFolder("alice", "Sent"); err == nil {
		t.Error("creating Sent twice succeeded")
	}
	if err := s.CreateFolder("bob", "Sent"); err == nil {
		t.Error("creating a folder of a missing user succeeded")
	}
	date := time.Date(2019, 7, 8, 9, 10, 11, 0, time.FixedZone("", -5*3600))
	if err := s.Append("alice", "Archive/2023", []string{`\Seen`, "$Forwarded", "Work"}, date, []byte(msg)); err != nil {
		t.Fatal(err)
	}
	if err := s.Append("alice", "Nope", nil, date, []byte(msg)); err == nil {
		t.Error("append to a missing folder succeeded")
	}

	c, err := imapclient.DialInsecure(s.Addr, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if err := c.Login("alice", "wrong").Wait(); err == nil {
		t.Error("login with a wrong password succeeded")
	}
	if err := c.Login("alice", "secret").Wait(); err != nil {
		t.Fatal(err)
	}
	for _, cp := range []imap.Cap{imap.CapIMAP4rev2, imap.CapUIDPlus, imap.CapNamespace, imap.CapListStatus, imap.CapMove, imap.CapESearch} {
		if !c.Caps().Has(cp) {
			t.Errorf("capability %s missing: %v", cp, c.Caps())
		}
	}

	list, err := c.List("", "*", nil).Collect()
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, l := range list {
		names = append(names, l.Mailbox)
	}
	for _, want := range []string{"INBOX", "Sent", "Archive", "Archive/2023", "Projekte", "Projekte/Überblick", "Notes.old"} {
		if !slices.Contains(names, want) {
			t.Errorf("LIST lacks %q: %v", want, names)
		}
	}

	if _, err := c.Select("Archive/2023", &imap.SelectOptions{ReadOnly: true}).Wait(); err != nil {
		t.Fatal(err)
	}
	msgs, err := c.Fetch(imap.SeqSetNum(1), &imap.FetchOptions{
		Flags: true, InternalDate: true, UID: true,
		BodySection: []*imap.FetchItemBodySection{{Peek: true}},
	}).Collect()
	if err != nil {
		t.Fatal(err)
	}
	if len(msgs) != 1 {
		t.Fatalf("fetched %d messages", len(msgs))
	}
	m := msgs[0]
	if !m.InternalDate.Equal(date) {
		t.Errorf("internal date %v, want %v", m.InternalDate, date)
	}
	// imapmemserver lowercases keywords it does not know ("Work" comes
	// back as "work"); keywords are case-insensitive in IMAP.
	for _, f := range []imap.Flag{imap.FlagSeen, "$Forwarded", "Work"} {
		if !slices.ContainsFunc(m.Flags, func(g imap.Flag) bool { return strings.EqualFold(string(f), string(g)) }) {
			t.Errorf("flag %s missing: %v", f, m.Flags)
		}
	}
	if len(m.BodySection) != 1 || !bytes.Equal(m.BodySection[0].Bytes, []byte(msg)) {
		t.Errorf("body %+v", m.BodySection)
	}

	cmd := c.Append("INBOX", int64(len(msg)), &imap.AppendOptions{Flags: []imap.Flag{imap.FlagFlagged}})
	cmd.Write([]byte(msg))
	if err := cmd.Close(); err != nil {
		t.Fatal(err)
	}
	data, err := cmd.Wait()
	if err != nil {
		t.Fatal(err)
	}
	if data.UID != 1 || data.UIDValidity == 0 {
		t.Errorf("APPENDUID %+v", data)
	}

	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Errorf("second Close: %v", err)
	}
	if _, err := imapclient.DialInsecure(s.Addr, nil); err == nil {
		// The port may be reused by someone else, but not this fast in a test.
		t.Error("still listening after Close")
	}
	select {
	case <-c.Closed():
	case <-time.After(5 * time.Second):
		t.Error("client connection still open after Close")
	}
}

func TestCloseRightAway(t *testing.T) {
	for i := 0; i < 20; i++ {
		s, err := Start("127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		if err := s.Close(); err != nil {
			t.Fatal(err)
		}
	}
}
