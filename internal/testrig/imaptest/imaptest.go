// Package imaptest seeds and reads IMAP mailboxes for tests, with go-imap's
// client directly, so that it is an oracle independent of mailshift's own
// backends.
package imaptest

import (
	"io"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/emersion/go-imap/v2"
	"github.com/emersion/go-imap/v2/imapclient"
)

// Message is a message as a server holds it.
type Message struct {
	Folder       string
	Body         []byte
	Flags        []string
	InternalDate time.Time
	UID          uint32
}

// Login connects without TLS (loopback test servers) and logs in.
func Login(t testing.TB, addr, user, password string) *imapclient.Client {
	t.Helper()
	c, err := imapclient.DialInsecure(addr, nil)
	if err != nil {
		t.Fatalf("dial %s: %v", addr, err)
	}
	if err := c.Login(user, password).Wait(); err != nil {
		c.Close()
		t.Fatalf("login %s on %s: %v", user, addr, err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// Seed creates the folders of msgs (with "/" standing for the server's
// separator) and appends the messages with their flags and dates.
func Seed(t testing.TB, addr, user, password string, msgs []Message) {
	t.Helper()
	c := Login(t, addr, user, password)
	sep := Separator(t, c)
	prefix := Prefix(t, c)
	made := map[string]bool{"INBOX": true}
	for _, f := range Folders(t, c) {
		made[f] = true
	}
	for _, m := range msgs {
		name := strings.ReplaceAll(m.Folder, "/", sep)
		if !strings.EqualFold(name, "INBOX") {
			name = prefix + name
		}
		if !made[name] {
			if err := c.Create(name, nil).Wait(); err != nil {
				t.Fatalf("create %q: %v", name, err)
			}
			made[name] = true
		}
		Append(t, c, name, m.Flags, m.InternalDate, m.Body)
	}
	c.Logout().Wait()
}

// Append appends one message.
func Append(t testing.TB, c *imapclient.Client, folder string, flags []string, date time.Time, body []byte) uint32 {
	t.Helper()
	var fl []imap.Flag
	for _, f := range flags {
		fl = append(fl, imap.Flag(f))
	}
	cmd := c.Append(folder, int64(len(body)), &imap.AppendOptions{Flags: fl, Time: date})
	if _, err := cmd.Write(body); err != nil {
		t.Fatalf("append to %q: %v", folder, err)
	}
	if err := cmd.Close(); err != nil {
		t.Fatalf("append to %q: %v", folder, err)
	}
	data, err := cmd.Wait()
	if err != nil {
		t.Fatalf("append to %q: %v", folder, err)
	}
	return uint32(data.UID)
}

// Separator returns the server's hierarchy separator.
func Separator(t testing.TB, c *imapclient.Client) string {
	t.Helper()
	list, err := c.List("", "", nil).Collect()
	if err != nil || len(list) == 0 {
		t.Fatalf("list separator: %v", err)
	}
	if list[0].Delim == 0 {
		return "/"
	}
	return string(list[0].Delim)
}

// Prefix returns the personal namespace prefix ("INBOX." on Courier-like
// servers), "" if none.
func Prefix(t testing.TB, c *imapclient.Client) string {
	t.Helper()
	if !c.Caps().Has(imap.CapNamespace) {
		return ""
	}
	ns, err := c.Namespace().Wait()
	if err != nil {
		t.Fatalf("namespace: %v", err)
	}
	if len(ns.Personal) == 0 {
		return ""
	}
	return ns.Personal[0].Prefix
}

// Folders lists every selectable folder name as the server spells it.
func Folders(t testing.TB, c *imapclient.Client) []string {
	t.Helper()
	list, err := c.List("", "*", nil).Collect()
	if err != nil {
		t.Fatalf("list: %v", err)
	}
	var out []string
	for _, l := range list {
		if slices.Contains(l.Attrs, imap.MailboxAttrNoSelect) || slices.Contains(l.Attrs, imap.MailboxAttrNonExistent) {
			continue
		}
		out = append(out, l.Mailbox)
	}
	slices.Sort(out)
	return out
}

// Snapshot reads every message of every folder: bytes, flags, internal
// date. Folder names are as the server spells them.
func Snapshot(t testing.TB, addr, user, password string) map[string][]Message {
	t.Helper()
	c := Login(t, addr, user, password)
	out := map[string][]Message{}
	for _, f := range Folders(t, c) {
		out[f] = FolderMessages(t, c, f)
	}
	c.Logout().Wait()
	return out
}

// FolderMessages reads one folder with EXAMINE and BODY.PEEK[].
func FolderMessages(t testing.TB, c *imapclient.Client, folder string) []Message {
	t.Helper()
	sel, err := c.Select(folder, &imap.SelectOptions{ReadOnly: true}).Wait()
	if err != nil {
		t.Fatalf("examine %q: %v", folder, err)
	}
	if sel.NumMessages == 0 {
		return nil
	}
	var seq imap.SeqSet
	seq.AddRange(1, 0)
	fetch := c.Fetch(seq, &imap.FetchOptions{UID: true, Flags: true, InternalDate: true, BodySection: []*imap.FetchItemBodySection{{Peek: true}}})
	var out []Message
	for {
		msg := fetch.Next()
		if msg == nil {
			break
		}
		m := Message{Folder: folder}
		for {
			item := msg.Next()
			if item == nil {
				break
			}
			switch it := item.(type) {
			case imapclient.FetchItemDataUID:
				m.UID = uint32(it.UID)
			case imapclient.FetchItemDataFlags:
				for _, f := range it.Flags {
					if !strings.EqualFold(string(f), `\Recent`) {
						m.Flags = append(m.Flags, string(f))
					}
				}
				slices.Sort(m.Flags)
			case imapclient.FetchItemDataInternalDate:
				m.InternalDate = it.Time
			case imapclient.FetchItemDataBodySection:
				b, err := io.ReadAll(it.Literal)
				if err != nil {
					t.Fatalf("read %q: %v", folder, err)
				}
				m.Body = b
			}
		}
		out = append(out, m)
	}
	if err := fetch.Close(); err != nil {
		t.Fatalf("fetch %q: %v", folder, err)
	}
	slices.SortFunc(out, func(a, b Message) int { return int(a.UID) - int(b.UID) })
	return out
}

// Key is a message's identity for comparing two servers: content, flags
// and internal date (to the second).
func Key(m Message) string {
	return string(m.Body) + "\x00" + strings.Join(m.Flags, " ") + "\x00" + m.InternalDate.UTC().Truncate(time.Second).Format(time.RFC3339)
}

// Compare checks that want (a source folder's messages) and got (its target
// folder's) hold the same messages as multisets: same bytes, flags and
// internal dates, duplicates included. It reports what differs.
func Compare(t testing.TB, label string, want, got []Message) {
	t.Helper()
	count := map[string]int{}
	for _, m := range want {
		count[Key(m)]++
	}
	for _, m := range got {
		count[Key(m)]--
	}
	bad := 0
	for k, n := range count {
		if n != 0 {
			bad++
			if bad <= 5 {
				parts := strings.SplitN(k, "\x00", 3)
				t.Errorf("%s: message (flags %q, date %s, %d bytes, starts %q) %+d on the source vs target", label, parts[1], parts[2], len(parts[0]), head(parts[0]), n)
			}
		}
	}
	if len(want) != len(got) {
		t.Errorf("%s: %d messages on the source, %d on the target", label, len(want), len(got))
	}
}

func head(s string) string {
	if len(s) > 60 {
		return s[:60]
	}
	return s
}
