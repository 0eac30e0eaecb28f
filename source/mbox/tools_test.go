package mbox

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/mailshift/mailshift/internal/mailbox"
	"github.com/mailshift/mailshift/internal/testrig/corpus"
)

// tool finds a program the test needs. Without it the test is skipped,
// or fails when MAILSHIFT_REQUIRE_TESTDATA=1 (CI, which installs it).
func tool(t *testing.T, name, pkg string) string {
	t.Helper()
	p, err := exec.LookPath(name)
	if err == nil {
		return p
	}
	msg := fmt.Sprintf("%s is not installed (Debian package %s)", name, pkg)
	if os.Getenv(corpus.RequireEnv) == "1" {
		t.Fatalf("%s; %s=1 requires it", msg, corpus.RequireEnv)
	}
	t.Skipf("%s; skipping (set %s=1 to fail instead)", msg, corpus.RequireEnv)
	return ""
}

// pythonWriter writes an mbox with Python's mailbox module: messages given
// as bytes are written raw (mboxo quoting of "From " lines), messages with
// flags as mboxMessage objects (Status and X-Status headers, From_ line
// with the date in UTC).
const pythonWriter = `
import base64, json, mailbox, sys, time
spec = json.load(open(sys.argv[1]))
box = mailbox.mbox(sys.argv[2])
for m in spec:
    body = base64.b64decode(m["body"])
    if m["raw"]:
        box.add(b"From python@example.org " + time.asctime(time.gmtime(m["date"])).encode() + b"\n" + body)
    else:
        msg = mailbox.mboxMessage(body)
        msg.set_from("python@example.org", time.gmtime(m["date"]))
        msg.set_flags(m["flags"])
        box.add(msg)
box.flush()
box.close()
`

// TestPython reads an mbox written by Python's mailbox module.
func TestPython(t *testing.T) {
	py := tool(t, "python3", "python3")
	type spec struct {
		Body  []byte `json:"body"`
		Raw   bool   `json:"raw"`
		Flags string `json:"flags"`
		Date  int64  `json:"date"`
	}
	pyFlags := map[string]string{`\Seen`: "R", `\Answered`: "A", `\Flagged`: "F", `\Deleted`: "D"}
	var specs []spec
	var want []got
	for i, m := range corpus.Generate(3, 30, 3000) {
		s := spec{Body: bytes.ReplaceAll(m.Body, []byte("\r\n"), []byte("\n")), Raw: i%3 == 0, Date: m.InternalDate.Unix()}
		var flags []string
		if !s.Raw {
			s.Flags = "O"
			for _, f := range m.Flags {
				if pf, ok := pyFlags[f]; ok {
					s.Flags += pf
					flags = append(flags, f)
				}
			}
		}
		slices.Sort(flags)
		specs = append(specs, s)
		want = append(want, got{Message: mailbox.Message{Flags: flags, InternalDate: m.InternalDate}, Body: string(m.Body)})
	}
	quoting := "Subject: lines an mbox must quote\n\nFrom the start of a line.\n\nFrom after an empty line.\n>From an original quote.\n"
	specs = append(specs, spec{Body: []byte(quoting), Raw: true, Date: 1700000000})
	// mboxo cannot tell the original ">From" from a quoted "From": it
	// loses its ">" (see the package documentation).
	want = append(want, got{Message: mailbox.Message{InternalDate: time.Unix(1700000000, 0)},
		Body: string(corpus.ToCRLF([]byte(strings.Replace(quoting, ">From an", "From an", 1))))})

	dir := t.TempDir()
	js, _ := json.Marshal(specs)
	os.WriteFile(filepath.Join(dir, "spec.json"), js, 0o644)
	os.WriteFile(filepath.Join(dir, "writer.py"), []byte(pythonWriter), 0o644)
	box := filepath.Join(dir, "python.mbox")
	if out, err := exec.Command(py, filepath.Join(dir, "writer.py"), filepath.Join(dir, "spec.json"), box).CombinedOutput(); err != nil {
		t.Fatalf("python: %v\n%s", err, out)
	}
	raw, _ := os.ReadFile(box)
	if !bytes.Contains(raw, []byte("\nStatus: RO\n")) || !bytes.Contains(raw, []byte("\n>From the start")) {
		t.Fatalf("Python wrote no Status header or no quoted From line: the test does not test what it should")
	}
	s := open(t, box)
	compare(t, read(t, s, "INBOX"), want, true)
}

// compare checks delivered messages against want, in order.
func compare(t *testing.T, ms, want []got, dates bool) {
	t.Helper()
	if len(ms) != len(want) {
		t.Fatalf("%d messages, want %d", len(ms), len(want))
	}
	for i, w := range want {
		m := ms[i]
		if m.Body != w.Body {
			j := 0
			for j < len(m.Body) && j < len(w.Body) && m.Body[j] == w.Body[j] {
				j++
			}
			t.Errorf("message %d: bytes differ at %d: %q, want %q", i, j, m.Body[j:min(j+40, len(m.Body))], w.Body[j:min(j+40, len(w.Body))])
		}
		if !slices.Equal(m.Flags, w.Flags) {
			t.Errorf("message %d: flags %v, want %v", i, m.Flags, w.Flags)
		}
		if dates && !m.InternalDate.Equal(w.InternalDate) {
			t.Errorf("message %d: date %v, want %v", i, m.InternalDate, w.InternalDate)
		}
	}
}

// TestFormail reads an mbox written by procmail's formail, which adds the
// From_ line (with the current time) and quotes "From " lines.
func TestFormail(t *testing.T) {
	formail := tool(t, "formail", "procmail")
	box := filepath.Join(t.TempDir(), "formail.mbox")
	f, err := os.Create(box)
	if err != nil {
		t.Fatal(err)
	}
	start := time.Now().Truncate(time.Second)
	var want []got
	msgs := corpus.Generate(5, 20, 3000)
	extra := corpus.Message{Body: []byte("From: someone@example.org\r\nSubject: quoting\r\n\r\nFrom the start.\r\n\r\nFrom after an empty line.\r\nno final line end")}
	for _, m := range append(msgs, extra) {
		cmd := exec.Command(formail)
		cmd.Stdin = bytes.NewReader(bytes.ReplaceAll(m.Body, []byte("\r\n"), []byte("\n"))) // formail is for LF mail
		cmd.Stdout = f
		var stderr bytes.Buffer
		cmd.Stderr = &stderr
		if err := cmd.Run(); err != nil {
			t.Fatalf("formail: %v: %s", err, stderr.String())
		}
		body := m.Body
		if !bytes.HasSuffix(body, []byte("\r\n")) {
			body = append(bytes.Clone(body), "\r\n"...) // formail ends the last line
		}
		want = append(want, got{Body: string(body)})
	}
	f.Close()
	end := time.Now()
	raw, _ := os.ReadFile(box)
	if !bytes.Contains(raw, []byte("\n>From the start.")) {
		t.Fatal("formail quoted no From line: the test does not test what it should")
	}
	s := open(t, box)
	ms := read(t, s, "INBOX")
	for i := range want {
		if i < len(ms) {
			want[i].Flags = nil
			if d := ms[i].InternalDate; d.Before(start.Add(-time.Second)) || d.After(end.Add(time.Second)) {
				t.Errorf("message %d: date %v, formail wrote the time between %v and %v", i, d, start, end)
			}
		}
	}
	compare(t, ms, want, false)
}

// TestLarge proves that a large mbox is streamed: scanning it and fetching
// a large message allocate a small part of their size.
func TestLarge(t *testing.T) {
	p := filepath.Join(t.TempDir(), "large.mbox")
	f, err := os.Create(p)
	if err != nil {
		t.Fatal(err)
	}
	w := bufio.NewWriterSize(f, 1<<20)
	line := strings.Repeat("x", 75) + "\n"
	const small, bigLines = 1500, 250000 // about 30 MB of small messages, a 19 MB message
	for i := 0; i < small+1; i++ {
		fmt.Fprintf(w, "From a@b Mon Jan  1 00:00:00 2024\nSubject: message %d\nMessage-ID: <%d@large>\n\n", i, i)
		n := 250
		if i == small/2 {
			n = bigLines
		}
		for j := 0; j < n; j++ {
			w.WriteString(line)
		}
		w.WriteString("\n")
	}
	if err := w.Flush(); err != nil {
		t.Fatal(err)
	}
	f.Close()
	fi, _ := os.Stat(p)
	size := fi.Size()

	s := open(t, p)
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	_, msgs, err := s.Messages(context.Background(), "INBOX")
	runtime.ReadMemStats(&after)
	if err != nil {
		t.Fatal(err)
	}
	if len(msgs) != small+1 {
		t.Fatalf("%d messages, want %d", len(msgs), small+1)
	}
	if alloc := after.TotalAlloc - before.TotalAlloc; alloc > uint64(size)/8 {
		t.Errorf("scanning a %d MB file allocated %d MB: it is not streamed", size>>20, alloc>>20)
	}

	bigMsg := msgs[small/2]
	wantSize := int64(len("Subject: message 750\r\nMessage-ID: <750@large>\r\n\r\n")) + bigLines*77
	if bigMsg.Size != wantSize {
		t.Errorf("large message: size %d, want %d", bigMsg.Size, wantSize)
	}
	runtime.GC()
	runtime.ReadMemStats(&before)
	var n int64
	err = s.Fetch(context.Background(), "INBOX", []mailbox.Message{bigMsg}, func(_ mailbox.Message, b mailbox.Body) error {
		var err error
		n, err = io.Copy(io.Discard, b)
		return err
	})
	runtime.ReadMemStats(&after)
	if err != nil || n != wantSize {
		t.Fatalf("fetched %d bytes, %v; want %d", n, err, wantSize)
	}
	if alloc := after.TotalAlloc - before.TotalAlloc; alloc > uint64(wantSize)/8 {
		t.Errorf("fetching a %d MB message allocated %d MB: it is not streamed", wantSize>>20, alloc>>20)
	}
}
