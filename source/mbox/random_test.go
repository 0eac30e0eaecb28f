package mbox

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/mailshift/mailshift/internal/mailbox"
)

// randomMbox builds a file from the lines that make mbox parsing hard:
// From_ lines with and without dates, quoted From lines, blank lines,
// stripped and folded header fields, right and wrong Content-Length
// values, CRLF and LF, lines longer than the read buffer, a missing last
// line end.
func randomMbox(r *rand.Rand) []byte {
	var b bytes.Buffer
	nl := func() string {
		if r.IntN(4) == 0 {
			return "\r\n"
		}
		return "\n"
	}
	lines := []func() string{
		func() string { return "From a@b Mon Jan  1 00:00:00 2024" + nl() },
		func() string { return "From someone without a date" + nl() },
		func() string { return ">From quoted" + nl() },
		func() string { return ">>From twice" + nl() },
		func() string { return nl() },
		func() string { return "Subject: s" + nl() },
		func() string { return "Status: RO" + nl() },
		func() string { return "X-Keywords: a," + nl() + " b" + nl() },
		func() string { return fmt.Sprintf("Content-Length: %d", r.IntN(60)) + nl() },
		func() string { return "body text" + nl() },
		func() string { return strings.Repeat("L", bufSize-3+r.IntN(8)) + nl() },
		func() string { return "\r" },
		func() string { return "\x00" + nl() },
	}
	if r.IntN(3) > 0 {
		b.WriteString("From a@b Mon Jan  1 00:00:00 2024\n")
	}
	for n := r.IntN(40); n > 0; n-- {
		b.WriteString(lines[r.IntN(len(lines))]())
	}
	if r.IntN(3) == 0 && b.Len() > 0 {
		b.Truncate(b.Len() - 1)
	}
	return b.Bytes()
}

// TestScanAndFetchAgree checks on random files that nothing fails or
// panics, and that every message listed is delivered with the size
// listed.
func TestScanAndFetchAgree(t *testing.T) {
	r := rand.New(rand.NewPCG(42, 7))
	dir := t.TempDir()
	for i := 0; i < 300; i++ {
		content := randomMbox(r)
		p := filepath.Join(dir, fmt.Sprintf("box%d", i))
		if err := os.WriteFile(p, content, 0o644); err != nil {
			t.Fatal(err)
		}
		s, err := Open(p)
		if err != nil {
			if !strings.Contains(err.Error(), "not an mbox file") {
				t.Fatalf("file %d: %v", i, err)
			}
			continue
		}
		_, msgs, err := s.Messages(context.Background(), "INBOX")
		if err != nil {
			t.Fatalf("file %d: %v\n%.300q", i, err, content)
		}
		keys := map[string]bool{}
		delivered := 0
		err = s.Fetch(context.Background(), "INBOX", msgs, func(m mailbox.Message, b mailbox.Body) error {
			data, err := io.ReadAll(b)
			if err != nil {
				return err
			}
			if int64(len(data)) != m.Size || b.Size() != m.Size {
				t.Errorf("file %d key %s: listed %d, delivered %d", i, m.Key, m.Size, len(data))
			}
			if n := bytes.Count(data, []byte("\n")) - bytes.Count(data, []byte("\r\n")); n > 0 {
				t.Errorf("file %d key %s: %d bare LF", i, m.Key, n)
			}
			keys[m.Key] = true
			delivered++
			return nil
		})
		if err != nil {
			t.Fatalf("file %d: %v\n%.300q", i, err, content)
		}
		if delivered != len(msgs) || len(keys) != len(msgs) {
			t.Errorf("file %d: %d listed, %d delivered, %d keys", i, len(msgs), delivered, len(keys))
		}
	}
}

// FuzzScan: a scan of any file fails cleanly or lists messages that are
// delivered with their listed size.
func FuzzScan(f *testing.F) {
	r := rand.New(rand.NewPCG(1, 1))
	for i := 0; i < 10; i++ {
		f.Add(randomMbox(r))
	}
	f.Fuzz(func(t *testing.T, content []byte) {
		p := filepath.Join(t.TempDir(), "box")
		os.WriteFile(p, content, 0o644)
		s, err := Open(p)
		if err != nil {
			return
		}
		_, msgs, err := s.Messages(context.Background(), "INBOX")
		if err != nil {
			return
		}
		err = s.Fetch(context.Background(), "INBOX", msgs, func(m mailbox.Message, b mailbox.Body) error {
			data, err := io.ReadAll(b)
			if err == nil && int64(len(data)) != m.Size {
				t.Errorf("key %s: listed %d, delivered %d", m.Key, m.Size, len(data))
			}
			return err
		})
		if err != nil {
			t.Errorf("fetch: %v", err)
		}
	})
}
