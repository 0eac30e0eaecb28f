package mbox

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/mailshift/mailshift/source"
	"github.com/mailshift/mailshift/source/sourcetest"
)

// abilities: an mbox keeps every flag (Status, X-Status), keywords
// (X-Keywords) and the internal date (the From_ line).
var abilities = sourcetest.Abilities{Flags: sourcetest.AllFlags, Keywords: true, Dates: sourcetest.DateKept}

// files are where the medium puts the fixture's folders: Thunderbird's
// way (Inbox, Name.sbd/Child) and ".mbox" files.
var files = map[string]string{
	sourcetest.Inbox:   "Inbox",
	sourcetest.Sent:    "Sent.mbox",
	sourcetest.Nested:  "Archive.sbd/2023",
	sourcetest.Unicode: "Projekte.sbd/Überblick.mbox",
	sourcetest.Empty:   "Empty",
}

// medium is a directory of mbox files written in several styles:
// mboxrd-quoted bodies with LF line endings, some with CRLF, some mboxcl2
// (Content-Length, unquoted), flags in Status/X-Status/X-Keywords or in
// X-Mozilla-Status, dates in asctime with and without a time zone.
type medium struct {
	dir    string
	chunks map[string][][]byte // folder -> the messages as written, in order
}

func newMedium(t *testing.T, fx sourcetest.Fixture) *medium {
	t.Helper()
	m := &medium{dir: t.TempDir(), chunks: map[string][][]byte{}}
	for _, f := range fx.Folders {
		for _, msg := range f.Messages {
			m.chunks[f.Name] = append(m.chunks[f.Name], render(len(m.chunks[f.Name]), msg))
		}
		m.rewrite(t, f.Name)
	}
	return m
}

// quote adds a ">" to every line of b that matches ^>*From (mboxrd).
func quote(b []byte) []byte {
	var out bytes.Buffer
	for len(b) > 0 {
		line := b
		if i := bytes.IndexByte(b, '\n'); i >= 0 {
			line = b[:i+1]
		}
		if bytes.HasPrefix(bytes.TrimLeft(line, ">"), []byte("From ")) {
			out.WriteByte('>')
		}
		out.Write(line)
		b = b[len(line):]
	}
	return out.Bytes()
}

// render writes one message as the i-th of its file.
func render(i int, msg sourcetest.Message) []byte {
	hdr, body, _ := bytes.Cut(msg.Body, []byte("\r\n\r\n"))
	hdr = append(bytes.Clone(hdr), "\r\n"...)
	body = append([]byte("\r\n"), body...)
	var state strings.Builder
	var kws []string
	if i%4 == 3 {
		bits := 0
		for _, f := range msg.Flags {
			switch f {
			case `\Seen`:
				bits |= 0x1
			case `\Answered`:
				bits |= 0x2
			case `\Flagged`:
				bits |= 0x4
			case `\Deleted`:
				bits |= 0x8
			case "$Forwarded":
				bits |= 0x1000
			case `\Draft`:
				state.WriteString("X-Status: T\r\n")
			default:
				kws = append(kws, f)
			}
		}
		fmt.Fprintf(&state, "X-Mozilla-Status: %04x\r\nX-Mozilla-Status2: 00000000\r\n", bits)
	} else {
		st, xst := "O", ""
		for _, f := range msg.Flags {
			switch f {
			case `\Seen`:
				st = "RO"
			case `\Answered`:
				xst += "A"
			case `\Flagged`:
				xst += "F"
			case `\Draft`:
				xst += "T"
			case `\Deleted`:
				xst += "D"
			default:
				kws = append(kws, f)
			}
		}
		fmt.Fprintf(&state, "Status: %s\r\nX-Status: %s\r\n", st, xst)
	}
	if len(kws) > 0 {
		fmt.Fprintf(&state, "X-Keywords: %s\r\n", strings.Join(kws, ", "))
	}
	content := append(append(hdr, state.String()...), body...)
	if i%5 != 4 {
		content = bytes.ReplaceAll(content, []byte("\r\n"), []byte("\n"))
	}
	h, b, _ := bytes.Cut(content, []byte("\n\n"))
	if i%5 == 4 {
		h, b, _ = bytes.Cut(content, []byte("\r\n\r\n"))
	}
	h, b = bytes.Clone(h), bytes.Clone(b)
	nl := "\n"
	if i%5 == 4 {
		nl = "\r\n"
	}
	if i%3 == 1 { // mboxcl2: Content-Length, no quoting
		h = fmt.Appendf(h, "%sContent-Length: %d", nl, len(b))
	} else { // mboxrd
		b = quote(b)
	}
	date := msg.InternalDate.UTC().Format("Mon Jan _2 15:04:05 2006")
	if i%2 == 1 {
		date = msg.InternalDate.Format("Mon Jan _2 15:04:05 -0700 2006")
	}
	var out bytes.Buffer
	fmt.Fprintf(&out, "From sender@example.org %s%s", date, nl)
	out.Write(h)
	out.WriteString(nl + nl)
	out.Write(b)
	out.WriteString(nl)
	return out.Bytes()
}

func (m *medium) path(folder string) string {
	return filepath.Join(m.dir, filepath.FromSlash(files[folder]))
}

// rewrite writes a folder's file from its chunks.
func (m *medium) rewrite(t *testing.T, folder string) {
	t.Helper()
	p := m.path(folder)
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(p, bytes.Join(m.chunks[folder], nil), 0o644); err != nil {
		t.Fatal(err)
	}
}

func (m *medium) Open(t *testing.T) source.Source {
	t.Helper()
	s, err := Open(m.dir)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

func (m *medium) Add(t *testing.T, folder string, msg sourcetest.Message) {
	t.Helper()
	c := render(len(m.chunks[folder]), msg)
	m.chunks[folder] = append(m.chunks[folder], c)
	f, err := os.OpenFile(m.path(folder), os.O_APPEND|os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if _, err := f.Write(c); err != nil {
		t.Fatal(err)
	}
}

func (m *medium) Remove(t *testing.T, folder string, i int) {
	t.Helper()
	m.chunks[folder] = slices.Delete(m.chunks[folder], i, i+1)
	time.Sleep(10 * time.Millisecond) // a new modification time, even on coarse clocks
	m.rewrite(t, folder)
}

func (m *medium) Digest(t *testing.T) string { return sourcetest.TreeDigest(t, m.dir) }

func TestConformance(t *testing.T) {
	sourcetest.Run(t, sourcetest.Kind{
		Name:      "mbox",
		Abilities: abilities,
		New:       func(t *testing.T, fx sourcetest.Fixture) sourcetest.Medium { return newMedium(t, fx) },
	})
}
