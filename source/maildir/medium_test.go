package maildir

import (
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/mailshift/mailshift/internal/mutf7"
	"github.com/mailshift/mailshift/source"
	"github.com/mailshift/mailshift/source/sourcetest"
)

// abilities: a Maildir keeps every flag, keywords (through
// dovecot-keywords) and the internal date (the modification time).
var abilities = sourcetest.Abilities{Flags: sourcetest.AllFlags, Keywords: true, Dates: sourcetest.DateKept}

// medium is a Maildir written the way Dovecot writes one: LF line endings
// for some messages and CRLF for others, S= and W= fields in some names,
// unseen messages without flags in new/, keywords in dovecot-keywords and,
// in the Maildir++ layout, a dovecot-uidlist that lists all but the last
// message of each folder.
type medium struct {
	root   string
	layout Layout
	seq    int
	files  map[string][]string // folder -> file paths in the order written
	kw     map[string][]string // folder -> keywords by letter
}

func newMedium(t *testing.T, layout Layout, fx sourcetest.Fixture) *medium {
	t.Helper()
	m := &medium{root: filepath.Join(t.TempDir(), "Maildir"), layout: layout, files: map[string][]string{}, kw: map[string][]string{}}
	for _, f := range fx.Folders {
		dir := m.dir(f.Name)
		for _, sub := range []string{"cur", "new", "tmp"} {
			if err := os.MkdirAll(filepath.Join(dir, sub), 0o755); err != nil {
				t.Fatal(err)
			}
		}
		for _, msg := range f.Messages {
			m.write(t, f.Name, msg)
		}
		if layout == LayoutMaildirPP && len(f.Messages) > 1 {
			m.uidlist(t, f.Name, 1000+len(f.Name))
		}
	}
	return m
}

// dir is where a folder's directory is.
func (m *medium) dir(folder string) string {
	if folder == "INBOX" {
		return m.root
	}
	parts := strings.Split(folder, "/")
	for i, p := range parts {
		parts[i] = mutf7.Encode(p)
	}
	if m.layout == LayoutMaildirPP {
		return filepath.Join(m.root, "."+strings.Join(parts, "."))
	}
	return filepath.Join(append([]string{m.root}, parts...)...)
}

// write stores one message.
func (m *medium) write(t *testing.T, folder string, msg sourcetest.Message) string {
	t.Helper()
	m.seq++
	content := msg.Body
	if m.seq%2 == 0 {
		content = []byte(strings.ReplaceAll(string(msg.Body), "\r\n", "\n"))
	}
	base := fmt.Sprintf("%d.M%dP%d.mailshift", msg.InternalDate.Unix(), m.seq, os.Getpid())
	if m.seq%3 != 0 {
		base += fmt.Sprintf(",S=%d,W=%d", len(content), len(msg.Body))
	}
	info := ""
	for _, f := range msg.Flags {
		switch f {
		case `\Draft`:
			info += "D"
		case `\Flagged`:
			info += "F"
		case "$Forwarded":
			info += "P"
		case `\Answered`:
			info += "R"
		case `\Seen`:
			info += "S"
		case `\Deleted`:
			info += "T"
		default:
			kws := m.kw[folder]
			i := slices.Index(kws, f)
			if i < 0 {
				kws = append(kws, f)
				m.kw[folder] = kws
				i = len(kws) - 1
				var b strings.Builder
				for j, k := range kws {
					fmt.Fprintf(&b, "%d %s\n", j, k)
				}
				if err := os.WriteFile(filepath.Join(m.dir(folder), "dovecot-keywords"), []byte(b.String()), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			info += string(rune('a' + i))
		}
	}
	b := []byte(info)
	slices.Sort(b)
	name, sub := base, "new"
	if len(b) > 0 || m.seq%4 == 1 {
		name, sub = base+":2,"+string(b), "cur"
	}
	p := filepath.Join(m.dir(folder), sub, name)
	if err := os.WriteFile(p, content, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Chtimes(p, msg.InternalDate, msg.InternalDate); err != nil {
		t.Fatal(err)
	}
	m.files[folder] = append(m.files[folder], p)
	return p
}

// uidlist writes a dovecot-uidlist listing all but the folder's last
// message.
func (m *medium) uidlist(t *testing.T, folder string, validity int) {
	t.Helper()
	files := m.files[folder]
	var b strings.Builder
	fmt.Fprintf(&b, "3 V%d N%d G0123456789abcdef\n", validity, len(files))
	for i, p := range files[:len(files)-1] {
		base, _, _ := strings.Cut(filepath.Base(p), ":")
		fmt.Fprintf(&b, "%d :%s\n", i+1, base)
	}
	if err := os.WriteFile(filepath.Join(m.dir(folder), "dovecot-uidlist"), []byte(b.String()), 0o644); err != nil {
		t.Fatal(err)
	}
}

func (m *medium) Open(t *testing.T) source.Source {
	t.Helper()
	s, err := Open(m.root)
	if err != nil {
		t.Fatal(err)
	}
	if s.Layout() != m.layout {
		t.Errorf("layout detected as %q, want %q", s.Layout(), m.layout)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

func (m *medium) Add(t *testing.T, folder string, msg sourcetest.Message) { m.write(t, folder, msg) }

func (m *medium) Remove(t *testing.T, folder string, i int) {
	t.Helper()
	if err := os.Remove(m.files[folder][i]); err != nil {
		t.Fatal(err)
	}
}

func (m *medium) Digest(t *testing.T) string { return sourcetest.TreeDigest(t, m.root) }
