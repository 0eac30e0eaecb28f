package eml

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"testing"

	"github.com/mailshift/mailshift/source"
	"github.com/mailshift/mailshift/source/sourcetest"
)

// abilities: message files keep no flags, and the internal date is the
// Date header's.
var abilities = sourcetest.Abilities{Dates: sourcetest.DateHeader}

// medium is a tree of message files: INBOX's in a top-level "Inbox"
// directory, other folders in directories named like them; most files end
// in .eml, some have no extension; some have LF line endings, some CRLF.
type medium struct {
	root  string
	seq   int
	files map[string][]string
}

func newMedium(t *testing.T, fx sourcetest.Fixture) *medium {
	t.Helper()
	m := &medium{root: t.TempDir(), files: map[string][]string{}}
	for _, f := range fx.Folders {
		if err := os.MkdirAll(m.dir(f.Name), 0o755); err != nil {
			t.Fatal(err)
		}
		for _, msg := range f.Messages {
			m.Add(t, f.Name, msg)
		}
	}
	return m
}

func (m *medium) dir(folder string) string {
	if folder == sourcetest.Inbox {
		folder = "Inbox"
	}
	return filepath.Join(m.root, filepath.FromSlash(folder))
}

func (m *medium) Add(t *testing.T, folder string, msg sourcetest.Message) {
	t.Helper()
	m.seq++
	name := fmt.Sprintf("%04d.eml", m.seq)
	if m.seq%4 == 0 {
		name = fmt.Sprintf("%04d", m.seq)
	}
	content := msg.Body
	if m.seq%2 == 0 {
		content = bytes.ReplaceAll(content, []byte("\r\n"), []byte("\n"))
	}
	p := filepath.Join(m.dir(folder), name)
	if err := os.WriteFile(p, content, 0o644); err != nil {
		t.Fatal(err)
	}
	m.files[folder] = append(m.files[folder], p)
}

func (m *medium) Open(t *testing.T) source.Source {
	t.Helper()
	s, err := Open(m.root)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

func (m *medium) Remove(t *testing.T, folder string, i int) {
	t.Helper()
	if err := os.Remove(m.files[folder][i]); err != nil {
		t.Fatal(err)
	}
}

func (m *medium) Digest(t *testing.T) string { return sourcetest.TreeDigest(t, m.root) }

func TestConformance(t *testing.T) {
	sourcetest.Run(t, sourcetest.Kind{
		Name:      "eml",
		Abilities: abilities,
		New:       func(t *testing.T, fx sourcetest.Fixture) sourcetest.Medium { return newMedium(t, fx) },
	})
}
