package corpus

import (
	"bytes"
	"errors"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/emersion/go-imap/v2"
	"github.com/emersion/go-imap/v2/imapclient"
	"github.com/mailshift/mailshift/internal/testrig/dovecot"
)

// fetched is a message as the server serves it.
type fetched struct {
	body  []byte
	flags []string
	date  time.Time
}

func dial(t *testing.T, s *dovecot.Server) *imapclient.Client {
	t.Helper()
	c, err := imapclient.DialInsecure(s.Addr, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	if err := c.Login("alice", "secret").Wait(); err != nil {
		t.Fatal(err)
	}
	return c
}

func put(c *imapclient.Client, folder string, m Message) error {
	var flags []imap.Flag
	for _, f := range m.Flags {
		flags = append(flags, imap.Flag(f))
	}
	cmd := c.Append(folder, int64(len(m.Body)), &imap.AppendOptions{Flags: flags, Time: m.InternalDate})
	if _, err := cmd.Write(m.Body); err != nil {
		cmd.Close()
		return err
	}
	if err := cmd.Close(); err != nil {
		return err
	}
	_, err := cmd.Wait()
	return err
}

func fetchAll(t *testing.T, c *imapclient.Client, folder string) []fetched {
	t.Helper()
	sel, err := c.Select(folder, &imap.SelectOptions{ReadOnly: true}).Wait()
	if err != nil {
		t.Fatalf("EXAMINE %s: %v", folder, err)
	}
	if sel.NumMessages == 0 {
		return nil // Dovecot answers FETCH 1:* in an empty folder with BAD
	}
	msgs, err := c.Fetch(imap.SeqSet{{Start: 1, Stop: 0}}, &imap.FetchOptions{
		Flags: true, InternalDate: true, BodySection: []*imap.FetchItemBodySection{{Peek: true}},
	}).Collect()
	if err != nil {
		t.Fatalf("FETCH %s: %v", folder, err)
	}
	var out []fetched
	for _, m := range msgs {
		f := fetched{date: m.InternalDate}
		if len(m.BodySection) == 1 {
			f.body = m.BodySection[0].Bytes
		}
		for _, fl := range m.Flags {
			if !strings.EqualFold(string(fl), `\Recent`) {
				f.flags = append(f.flags, string(fl))
			}
		}
		out = append(out, f)
	}
	return out
}

func sameFlags(a, b []string) bool {
	a, b = slices.Clone(a), slices.Clone(b)
	sort.Strings(a)
	sort.Strings(b)
	return slices.Equal(a, b) // Dovecot keeps keywords' case
}

// TestMailboxThroughDovecot stores a generated mailbox in Dovecot and
// checks that every message comes back byte for byte with its flags and
// internal date: the corpus is usable for migration tests as it is.
func TestMailboxThroughDovecot(t *testing.T) {
	s := dovecot.Start(t, dovecot.Options{})
	s.AddUser("alice", "secret")
	c := dial(t, s)

	msgs := Mailbox(11, 300, 3000)
	for _, f := range Folders {
		if err := c.Create(f, nil).Wait(); err != nil {
			var ie *imap.Error
			if !errors.As(err, &ie) || ie.Code != imap.ResponseCodeAlreadyExists {
				t.Fatalf("CREATE %s: %v", f, err)
			}
		}
	}
	want := map[string][]Message{}
	for _, m := range msgs {
		if err := put(c, m.Folder, m); err != nil {
			t.Fatalf("APPEND to %s: %v", m.Folder, err)
		}
		want[m.Folder] = append(want[m.Folder], m)
	}
	for _, f := range Folders {
		got := fetchAll(t, c, f)
		if len(got) != len(want[f]) {
			t.Errorf("%s: %d messages, want %d", f, len(got), len(want[f]))
			continue
		}
		for i, m := range want[f] {
			g := got[i]
			if !bytes.Equal(g.body, m.Body) {
				t.Errorf("%s #%d: body differs", f, i+1)
			}
			if !sameFlags(g.flags, m.Flags) {
				t.Errorf("%s #%d: flags %v, want %v", f, i+1, g.flags, m.Flags)
			}
			if g.date.Unix() != m.InternalDate.Unix() {
				t.Errorf("%s #%d: internal date %v, want %v", f, i+1, g.date, m.InternalDate)
			}
		}
	}
}

// TestMessyThroughDovecot stores the real messages and checks that Dovecot
// serves each as DovecotServes of the file (ToCRLF plus Dovecot's own
// changes).
func TestMessyThroughDovecot(t *testing.T) {
	messy := Messy(t)
	s := dovecot.Start(t, dovecot.Options{})
	s.AddUser("alice", "secret")
	c := dial(t, s)
	if err := c.Create("Messy", nil).Wait(); err != nil {
		t.Fatal(err)
	}
	names := make([]string, 0, len(messy))
	for name := range messy {
		names = append(names, name)
	}
	sort.Strings(names)
	var stored []string
	changed := 0
	for _, name := range names {
		if err := put(c, "Messy", Message{Body: messy[name]}); err != nil {
			t.Errorf("APPEND %s: %v", name, err)
			c = dial(t, s)
			continue
		}
		stored = append(stored, name)
	}
	for _, name := range names {
		if !bytes.Equal(DovecotServes(messy[name]), ToCRLF(messy[name])) {
			changed++
		}
	}
	t.Logf("%d messages; %d served other than ToCRLF (NUL bytes, a final lone CR)", len(names), changed)
	got := fetchAll(t, c, "Messy")
	if len(got) != len(stored) {
		t.Fatalf("%d messages stored, %d served", len(stored), len(got))
	}
	for i, name := range stored {
		if want := DovecotServes(messy[name]); !bytes.Equal(got[i].body, want) {
			t.Errorf("%s: served %d bytes, DovecotServes gives %d; first difference at %d: %q vs %q", name, len(got[i].body), len(want), diffAt(got[i].body, want), around(got[i].body, diffAt(got[i].body, want)), around(want, diffAt(got[i].body, want)))
		}
	}
}

func diffAt(a, b []byte) int {
	for i := range min(len(a), len(b)) {
		if a[i] != b[i] {
			return i
		}
	}
	return min(len(a), len(b))
}

func around(b []byte, i int) []byte { return b[max(i-20, 0):min(i+20, len(b))] }
