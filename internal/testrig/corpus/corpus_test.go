package corpus

import (
	"bytes"
	"net/mail"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

func TestGenerateDeterministic(t *testing.T) {
	a := Generate(42, 300, 4096)
	b := Generate(42, 300, 4096)
	c := Generate(43, 300, 4096)
	if len(a) != 300 {
		t.Fatalf("%d messages, want 300", len(a))
	}
	same := 0
	for i := range a {
		if !bytes.Equal(a[i].Body, b[i].Body) || !slices.Equal(a[i].Flags, b[i].Flags) ||
			!a[i].InternalDate.Equal(b[i].InternalDate) || a[i].Folder != b[i].Folder {
			t.Fatalf("message %d differs between two runs with seed 42", i)
		}
		if bytes.Equal(a[i].Body, c[i].Body) {
			same++
		}
	}
	if same > 0 {
		t.Errorf("%d messages equal between seeds 42 and 43", same)
	}
	ma, mb := Mailbox(7, 200, 2000), Mailbox(7, 200, 2000)
	for i := range ma {
		if !bytes.Equal(ma[i].Body, mb[i].Body) || ma[i].Folder != mb[i].Folder || !slices.Equal(ma[i].Flags, mb[i].Flags) {
			t.Fatalf("Mailbox message %d differs between two runs", i)
		}
	}
}

// checkCRLF fails if b has a bare LF or CR.
func checkCRLF(t *testing.T, name string, b []byte) {
	t.Helper()
	for i, c := range b {
		switch {
		case c == '\n' && (i == 0 || b[i-1] != '\r'):
			t.Fatalf("%s: bare LF at %d", name, i)
		case c == '\r' && (i+1 == len(b) || b[i+1] != '\n'):
			t.Fatalf("%s: bare CR at %d", name, i)
		}
	}
	if !bytes.HasSuffix(b, []byte("\r\n")) {
		t.Fatalf("%s: does not end with CRLF", name)
	}
}

func TestGenerateShape(t *testing.T) {
	const n, avg = 2000, 5000
	msgs := Generate(1, n, avg)
	var (
		total                                          int
		dups, noID, reusedID, attach, enc2047, raw8bit int
		latin1, folded                                 int
		flags                                          = map[string]int{}
		years                                          = map[int]bool{}
		bodies                                         = map[string]int{}
		ids                                            = map[string]string{}
	)
	for i, m := range msgs {
		checkCRLF(t, "message", m.Body)
		total += len(m.Body)
		if m.Folder != "INBOX" {
			t.Errorf("message %d in %q, want INBOX", i, m.Folder)
		}
		if m.InternalDate.Nanosecond() != 0 {
			t.Errorf("message %d: internal date %v not to the second", i, m.InternalDate)
		}
		years[m.InternalDate.Year()] = true
		for _, f := range m.Flags {
			flags[f]++
		}
		for _, line := range strings.Split(string(m.Body), "\r\n") {
			if len(line) > 998 {
				t.Fatalf("message %d: line of %d bytes", i, len(line))
			}
		}

		hdr, _, _ := bytes.Cut(m.Body, []byte("\r\n\r\n"))
		if _, err := mail.ReadMessage(bytes.NewReader(m.Body)); err != nil {
			t.Errorf("message %d does not parse: %v\n%s", i, err, hdr)
		}
		if bytes.Contains(hdr, []byte("=?utf-8?")) {
			enc2047++
		}
		if strings.ContainsFunc(string(hdr), func(r rune) bool { return r > 127 && r != '\uFFFD' }) {
			raw8bit++
		}
		if bytes.Contains(hdr, []byte("Gr\xfc\xdfe")) {
			latin1++
		}
		if bytes.Contains(hdr, []byte("\r\n ")) || bytes.Contains(hdr, []byte("\r\n\t")) {
			folded++
		}
		if bytes.Contains(m.Body, []byte("Content-Transfer-Encoding: base64")) {
			attach++
		}
		if prev, ok := bodies[string(m.Body)]; ok {
			dups++
			if !m.InternalDate.Equal(msgs[prev].InternalDate) {
				t.Errorf("duplicate %d of %d has another internal date", i, prev)
			}
		} else {
			bodies[string(m.Body)] = i
			id := messageID(m.Body)
			if id == "" {
				noID++
			} else if _, ok := ids[id]; ok {
				reusedID++
			}
			ids[id] = string(m.Body)
		}
	}
	t.Logf("avg %d bytes; %d duplicates, %d without Message-ID, %d reused IDs, %d attachments, %d RFC 2047, %d raw 8-bit, %d Latin-1, %d folded; flags %v; %d years",
		total/n, dups, noID, reusedID, attach, enc2047, raw8bit, latin1, folded, flags, len(years))
	if avgGot := total / n; avgGot < avg*7/10 || avgGot > avg*13/10 {
		t.Errorf("average size %d, want about %d", avgGot, avg)
	}
	for name, v := range map[string]int{"duplicates": dups, "no Message-ID": noID, "reused Message-ID": reusedID,
		"attachments": attach, "RFC 2047 headers": enc2047, "raw 8-bit headers": raw8bit, "Latin-1 headers": latin1, "folded headers": folded} {
		if v == 0 {
			t.Errorf("no message with %s", name)
		}
	}
	for _, f := range []string{`\Seen`, `\Answered`, `\Flagged`, `\Draft`, `\Deleted`, `$Forwarded`, `$Label1`, `Work`} {
		if flags[f] == 0 {
			t.Errorf("no message with flag %s", f)
		}
	}
	if len(years) < 6 {
		t.Errorf("internal dates span only %d years", len(years))
	}
}

func TestGenerateSizes(t *testing.T) {
	for _, avg := range []int{500, 20_000, 1 << 20} {
		msgs := Generate(3, 40, avg)
		total := 0
		for _, m := range msgs {
			checkCRLF(t, "message", m.Body)
			total += len(m.Body)
		}
		if got := total / len(msgs); got < avg/2 || got > avg*2 {
			t.Errorf("avgSize %d: got average %d", avg, got)
		}
	}
	if got := Generate(1, 0, 100); len(got) != 0 {
		t.Errorf("Generate(n=0) gave %d messages", len(got))
	}
}

func TestMailbox(t *testing.T) {
	msgs := Mailbox(5, 1000, 3000)
	perFolder := map[string]int{}
	for _, m := range msgs {
		perFolder[m.Folder]++
		if !slices.Contains(Folders, m.Folder) {
			t.Errorf("message in %q, not in Folders", m.Folder)
		}
		if m.Folder == "Drafts" && !slices.Contains(m.Flags, `\Draft`) {
			t.Errorf("draft without \\Draft: %v", m.Flags)
		}
		checkCRLF(t, m.Folder, m.Body)
	}
	t.Logf("per folder: %v", perFolder)
	for _, f := range Folders {
		switch {
		case f == "Empty" || f == "Projekte":
			if perFolder[f] != 0 {
				t.Errorf("%s has %d messages, want none", f, perFolder[f])
			}
		case perFolder[f] == 0:
			t.Errorf("no message in %s", f)
		}
	}
	// Parents come before children.
	for i, f := range Folders {
		if parent, _, ok := strings.Cut(f, "/"); ok && !slices.Contains(Folders[:i], parent) {
			t.Errorf("%s listed before its parent %s", f, parent)
		}
	}
}

func TestToCRLF(t *testing.T) {
	for in, want := range map[string]string{
		"":                  "",
		"a\nb\n":            "a\r\nb\r\n",
		"a\r\nb\r\n":        "a\r\nb\r\n",
		"\n\n":              "\r\n\r\n",
		"a\r\nb\nc":         "a\r\nb\r\nc",
		"lone\rcr\n":        "lone\rcr\r\n",
		"no newline at all": "no newline at all",
	} {
		if got := string(ToCRLF([]byte(in))); got != want {
			t.Errorf("ToCRLF(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestDovecotServes(t *testing.T) {
	for in, want := range map[string]string{
		"a\nb\x00c\n":  "a\r\nb\x80c\r\n",
		"end\r\n\r":    "end\r\n",
		"mid\rdle\r\n": "mid\rdle\r\n",
		"":             "",
	} {
		if got := string(DovecotServes([]byte(in))); got != want {
			t.Errorf("DovecotServes(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestMessy(t *testing.T) {
	msgs := Messy(t)
	if len(msgs) <= 150 {
		t.Errorf("Messy found %d messages, want more than 150", len(msgs))
	}
	bareLF := 0
	for name, b := range msgs {
		if strings.Contains(name, "\\") || !strings.HasSuffix(name, ".eml") {
			t.Errorf("key %q", name)
		}
		if len(b) == 0 {
			t.Errorf("%s is empty", name)
		}
		if !bytes.Equal(ToCRLF(b), b) {
			bareLF++
		}
	}
	t.Logf("%d messages, %d with bare LF", len(msgs), bareLF)
	if _, ok := msgs["enmime/attachment.eml"]; !ok {
		t.Error("enmime/attachment.eml missing")
	}
}

func TestTestdataMissing(t *testing.T) {
	t.Setenv(DirEnv, filepath.Join(t.TempDir(), "nothing-here"))
	t.Setenv(RequireEnv, "")
	ft := &fakeTB{TB: t}
	func() {
		defer func() { recover() }()
		TestdataDir(ft)
	}()
	if !ft.skipped || ft.fatal {
		t.Errorf("absent test data without %s: skipped=%v fatal=%v, want a skip", RequireEnv, ft.skipped, ft.fatal)
	}
	if !strings.Contains(ft.msg, "not found") {
		t.Errorf("skip message %q", ft.msg)
	}

	t.Setenv(RequireEnv, "1")
	ft = &fakeTB{TB: t}
	func() {
		defer func() { recover() }()
		TestdataDir(ft)
	}()
	if ft.skipped || !ft.fatal {
		t.Errorf("absent test data with %s=1: skipped=%v fatal=%v, want a failure", RequireEnv, ft.skipped, ft.fatal)
	}

	if d := os.Getenv(DirEnv); d == "" {
		t.Fatal("Setenv did not take")
	}
}

// fakeTB records Skip and Fatal instead of acting on them; both panic to
// stop the caller, like runtime.Goexit would.
type fakeTB struct {
	testing.TB
	skipped, fatal bool
	msg            string
}

func (f *fakeTB) Helper() {}
func (f *fakeTB) Skip(args ...any) {
	f.skipped, f.msg = true, toString(args)
	panic("skip")
}
func (f *fakeTB) Fatal(args ...any) {
	f.fatal, f.msg = true, toString(args)
	panic("fatal")
}

func toString(args []any) string {
	var b strings.Builder
	for _, a := range args {
		if s, ok := a.(string); ok {
			b.WriteString(s)
		}
	}
	return b.String()
}
