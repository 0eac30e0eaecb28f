package mbox

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/mailshift/mailshift/internal/mailbox"
	"github.com/mailshift/mailshift/internal/testrig/corpus"
	"github.com/mailshift/mailshift/source"
)

// write writes files (path relative to a new directory -> content) and
// returns the directory.
func write(t *testing.T, files map[string]string) string {
	t.Helper()
	dir := t.TempDir()
	for p, c := range files {
		full := filepath.Join(dir, filepath.FromSlash(p))
		if err := os.MkdirAll(filepath.Dir(full), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(full, []byte(c), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

func open(t *testing.T, path string) *Source {
	t.Helper()
	s, err := Open(path)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

// got is a listed and delivered message.
type got struct {
	mailbox.Message
	Body string
}

// read lists and fetches a folder.
func read(t *testing.T, s *Source, folder string) []got {
	t.Helper()
	_, msgs, err := s.Messages(context.Background(), folder)
	if err != nil {
		t.Fatalf("Messages(%q): %v", folder, err)
	}
	bodies := map[string]string{}
	err = s.Fetch(context.Background(), folder, msgs, func(m mailbox.Message, b mailbox.Body) error {
		data, err := io.ReadAll(b)
		if err != nil {
			return err
		}
		if int64(len(data)) != b.Size() || m.Size != b.Size() {
			t.Errorf("%q key %s: listed %d, Size %d, %d bytes read", folder, m.Key, m.Size, b.Size(), len(data))
		}
		bodies[m.Key] = string(data)
		return nil
	})
	if err != nil {
		t.Fatalf("Fetch(%q): %v", folder, err)
	}
	var out []got
	for _, m := range msgs {
		out = append(out, got{m, bodies[m.Key]})
	}
	return out
}

func one(t *testing.T, content string) []got {
	t.Helper()
	dir := write(t, map[string]string{"box": content})
	return read(t, open(t, filepath.Join(dir, "box")), "INBOX")
}

func bodiesOf(ms []got) []string {
	var out []string
	for _, m := range ms {
		out = append(out, m.Body)
	}
	return out
}

func TestQuoting(t *testing.T) {
	box := "From a@b Mon Jan  1 00:00:00 2024\n" +
		"Subject: one\n\n" +
		">From the start\n>>From two levels\n>>>From three\n> From not quoted\n>Fromage\nFrom here, no blank line before and no date\n\n" +
		"From b@c Tue Jan  2 00:00:00 2024\n" +
		"Subject: two\n\nbody\n"
	ms := one(t, box)
	want := []string{
		"Subject: one\r\n\r\nFrom the start\r\n>From two levels\r\n>>From three\r\n> From not quoted\r\n>Fromage\r\nFrom here, no blank line before and no date\r\n",
		"Subject: two\r\n\r\nbody\r\n",
	}
	if !slices.Equal(bodiesOf(ms), want) {
		t.Errorf("got %q\nwant %q", bodiesOf(ms), want)
	}
}

func TestSeparators(t *testing.T) {
	box := "\n" + // a blank line before the first message is tolerated
		"From a@b Mon Jan  1 00:00:00 2024\nSubject: one\n\nbody one\n" +
		"From b@c Tue Jan  2 00:00:00 2024\nSubject: no blank line before me, but a date\n\nbody two\n\n\n" +
		"From c@d Wed Jan  3 00:00:00 2024\r\nSubject: CRLF file part\r\n\r\nends with an empty line\r\n\r\n\r\n" +
		"From d@e Thu Jan  4 00:00:00 2024\nSubject: last\n\nno line end" // at EOF
	want := []string{
		"Subject: one\r\n\r\nbody one\r\n",
		"Subject: no blank line before me, but a date\r\n\r\nbody two\r\n\r\n",
		"Subject: CRLF file part\r\n\r\nends with an empty line\r\n\r\n",
		"Subject: last\r\n\r\nno line end",
	}
	if got := bodiesOf(one(t, box)); !slices.Equal(got, want) {
		t.Errorf("got %q\nwant %q", got, want)
	}
}

func TestContentLength(t *testing.T) {
	body := "From the first line\n\nFrom after a blank line\n>From quoted? no: mboxcl2 is literal\n"
	quoted := ">From quoted\n>>From twice\n"
	box := "From a@b Mon Jan  1 00:00:00 2024\n" +
		fmt.Sprintf("Subject: mboxcl2\nContent-Length: %d\n\n", len(body)) + body + "\n" +
		"From b@c Tue Jan  2 00:00:00 2024\n" +
		fmt.Sprintf("Subject: mboxcl\nContent-Length: %d\n\n", len(quoted)) + quoted + "\n" +
		"From c@d Wed Jan  3 00:00:00 2024\n" +
		"Subject: wrong length\nContent-Length: 3\n\nsome body\n\n" +
		"From d@e Thu Jan  4 00:00:00 2024\n" +
		"Subject: empty body\nContent-Length: 0\n\n" +
		"\nFrom e@f Fri Jan  5 00:00:00 2024\n" +
		"Subject: last, exact length, no blank line after\nContent-Length: 5\n\nlast\n"
	want := []string{
		"Subject: mboxcl2\r\n\r\nFrom the first line\r\n\r\nFrom after a blank line\r\n>From quoted? no: mboxcl2 is literal\r\n",
		"Subject: mboxcl\r\n\r\n>From quoted\r\n>>From twice\r\n", // literal, as Dovecot serves it
		"Subject: wrong length\r\n\r\nsome body\r\n",
		"Subject: empty body\r\n\r\n",
		"Subject: last, exact length, no blank line after\r\n\r\nlast\r\n",
	}
	if got := bodiesOf(one(t, box)); !slices.Equal(got, want) {
		t.Errorf("got %q\nwant %q", got, want)
	}
}

func TestDates(t *testing.T) {
	mtime := time.Date(2020, 2, 2, 2, 2, 2, 0, time.UTC)
	for _, c := range []struct {
		from, header string
		want         time.Time
	}{
		{"From a@b Mon Jan  1 10:00:00 2024", "", time.Date(2024, 1, 1, 10, 0, 0, 0, time.UTC)},
		{"From a@b Mon Jan  1 10:00:00 +0200 2024", "", time.Date(2024, 1, 1, 8, 0, 0, 0, time.UTC)},
		{"From a@b Mon Jan  1 10:00:00 2024 -0100", "", time.Date(2024, 1, 1, 11, 0, 0, 0, time.UTC)},
		{"From a@b Mon Jan  1 10:00:00 UTC 2024", "", time.Date(2024, 1, 1, 10, 0, 0, 0, time.UTC)},
		{"From - Mon Jan  1 10:00:00 2024", "", time.Date(2024, 1, 1, 10, 0, 0, 0, time.UTC)},
		{"From a@b Mon Jan  1 10:00 2024", "", time.Date(2024, 1, 1, 10, 0, 0, 0, time.UTC)},
		{"From a@b", "Date: Tue, 05 Mar 2024 09:15:00 +0100\n", time.Date(2024, 3, 5, 8, 15, 0, 0, time.UTC)},
		{"From a@b garbage", "", mtime},
	} {
		dir := write(t, map[string]string{"box": c.from + "\nSubject: d\n" + c.header + "\nbody\n"})
		p := filepath.Join(dir, "box")
		os.Chtimes(p, mtime, mtime)
		ms := read(t, open(t, p), "INBOX")
		if len(ms) != 1 || !ms[0].InternalDate.Equal(c.want) {
			t.Errorf("%q %q: %v, want %v", c.from, c.header, ms, c.want)
		}
	}
}

func TestFlagsAndStrippedFields(t *testing.T) {
	box := "From a@b Mon Jan  1 00:00:00 2024\n" +
		"Subject: flags\nStatus: RO\nX-Status: AFTD\nX-Keywords: Work, $Label1\n\tContinued\nX-UID: 7\nContent-Length: 5\nX-Other: kept\n\nbody\n\n" +
		"From b@c Tue Jan  2 00:00:00 2024\n" +
		"X-Mozilla-Status: 1005\nX-Mozilla-Status2: 00000000\nX-Mozilla-Keys: $label2                    \nSubject: thunderbird\nstatus: O\n\nbody\n\n" +
		"From c@d Wed Jan  3 00:00:00 2024\n" +
		"Subject: none\nStatus: O\n\nStatus: RO in the body is not a flag\n\n" +
		"From d@e Thu Jan  4 00:00:00 2024\n" +
		"X-Mozilla-Status: 000a\nSubject: replied and deleted\n\nbody\n"
	ms := one(t, box)
	want := []struct {
		flags []string
		body  string
	}{
		{[]string{"$Label1", "Continued", "Work", `\Answered`, `\Deleted`, `\Draft`, `\Flagged`, `\Seen`}, "Subject: flags\r\nX-Other: kept\r\n\r\nbody\r\n"},
		{[]string{"$Forwarded", "$label2", `\Flagged`, `\Seen`}, "Subject: thunderbird\r\n\r\nbody\r\n"},
		{nil, "Subject: none\r\n\r\nStatus: RO in the body is not a flag\r\n"},
		{[]string{`\Answered`, `\Deleted`}, "Subject: replied and deleted\r\n\r\nbody\r\n"},
	}
	if len(ms) != len(want) {
		t.Fatalf("%d messages", len(ms))
	}
	for i, w := range want {
		if !slices.Equal(ms[i].Flags, w.flags) || ms[i].Body != w.body {
			t.Errorf("message %d: flags %v, body %q; want %v, %q", i, ms[i].Flags, ms[i].Body, w.flags, w.body)
		}
	}
}

func TestKeys(t *testing.T) {
	m1 := "Subject: one\n\nfirst\n"
	m2 := "Subject: two\n\nsecond\n"
	m3 := "Subject: three\n\nthird\n"
	from := func(day int) string { return fmt.Sprintf("From a@b Mon Jan %2d 00:00:00 2024\n", day) }
	keys := func(box string) []string {
		var out []string
		for _, m := range one(t, box) {
			out = append(out, m.Key)
		}
		return out
	}
	base := keys(from(1) + m1 + "\n" + from(2) + m2 + "\n" + from(3) + m1 + "\n")
	if len(base) != 3 || base[0] == base[1] || base[2] != base[0]+"-2" || len(base[0]) != 16 {
		t.Fatalf("keys %v: want 16 hex digits, and -2 on the second identical message", base)
	}
	for name, box := range map[string]string{
		"appended":             from(1) + m1 + "\n" + from(2) + m2 + "\n" + from(3) + m1 + "\n" + from(4) + m3 + "\n",
		"other From lines":     "From x@y Sun Dec 31 00:00:00 2023\n" + m1 + "\n" + from(9) + m2 + "\n" + from(3) + m1 + "\n",
		"flags changed":        from(1) + "Subject: one\nStatus: RO\nX-Status: A\n\nfirst\n\n" + from(2) + m2 + "\n" + from(3) + m1 + "\n",
		"CRLF":                 strings.ReplaceAll(from(1)+m1+"\n"+from(2)+m2+"\n"+from(3)+m1+"\n", "\n", "\r\n"),
		"last line end gone":   from(1) + m1 + "\n" + from(2) + m2 + "\n" + from(3) + strings.TrimSuffix(m1, "\n"),
		"Content-Length added": from(1) + "Subject: one\nContent-Length: 6\n\nfirst\n\n" + from(2) + m2 + "\n" + from(3) + m1 + "\n",
	} {
		got := keys(box)
		if !slices.Equal(got[:3], base) {
			t.Errorf("%s: keys %v, want %v", name, got[:3], base)
		}
	}
	// Removing one message keeps the others' keys.
	if got := keys(from(2) + m2 + "\n" + from(3) + m1 + "\n"); !slices.Equal(got, []string{base[1], base[0]}) {
		t.Errorf("after removing the first message: %v, want %v", got, []string{base[1], base[0]})
	}
}

func TestBadMessages(t *testing.T) {
	box := "From MAILER-DAEMON Mon Jan  1 00:00:00 2024\nSubject: DON'T DELETE THIS MESSAGE -- FOLDER INTERNAL DATA\nX-IMAP: 1700000000 0000000003\n\nThis text is part of the internal format of your mail folder.\n\n" +
		"From a@b Mon Jan  1 00:00:00 2024\nSubject: good\n\nbody\n\n" +
		"From b@c Mon Jan  1 00:00:00 2024\nthis is not a header\nSubject: x\n\nbody\n\n" +
		"From c@d Mon Jan  1 00:00:00 2024\n\n" +
		"From d@e Mon Jan  1 00:00:00 2024\nSubject: NUL kept\n\nnul\x00byte\n\n" +
		"From e@f Mon Jan  1 00:00:00 2024\nSubject: headers only, no body\n" +
		"From f@g Mon Jan  1 00:00:00 2024\nSubject: wrong Content-Length in the middle\nContent-Length: 99999\n\nbody\n\n" +
		"From g@h Mon Jan  1 00:00:00 2024\nSubject: good too\n\nbody\n\n"
	for _, c := range []struct {
		name, tail string
		reason     string
	}{
		{"ends inside the header", "From h@i Mon Jan  1 00:00:00 2024\nSubject: cut off\nReceived: from somewh", "truncated: the file ends inside the message's header"},
		{"Content-Length past the end", "From h@i Mon Jan  1 00:00:00 2024\nSubject: cut off\nContent-Length: 500\n\nonly a part of the bo", "truncated: its Content-Length says 500 bytes"},
	} {
		t.Run(c.name, func(t *testing.T) {
			dir := write(t, map[string]string{"box": box + c.tail})
			s := open(t, filepath.Join(dir, "box"))
			ms := read(t, s, "INBOX")
			var subjects []string
			for _, m := range ms {
				line, _, _ := strings.Cut(m.Body, "\r\n")
				subjects = append(subjects, line)
			}
			want := []string{"Subject: good", "Subject: NUL kept", "Subject: headers only, no body", "Subject: wrong Content-Length in the middle", "Subject: good too"}
			if !slices.Equal(subjects, want) {
				t.Errorf("delivered %q, want %q", subjects, want)
			}
			if ms[1].Body != "Subject: NUL kept\r\n\r\nnul\x00byte\r\n" {
				t.Errorf("NUL message: %q", ms[1].Body)
			}
			for i, m := range ms {
				if m.UID != uint32(i+1) {
					t.Errorf("UID %d at position %d", m.UID, i)
				}
			}
			var reasons []string
			for _, sk := range s.Skipped("INBOX") {
				if !strings.HasPrefix(sk.Item, filepath.Join(dir, "box")+" at byte ") {
					t.Errorf("skip item %q does not name the file and offset", sk.Item)
				}
				reasons = append(reasons, sk.Reason)
			}
			wantReasons := []string{"not a mail message: the first line is not a header field", "empty message", c.reason}
			if len(reasons) != len(wantReasons) {
				t.Fatalf("skipped %q, want %q", reasons, wantReasons)
			}
			for i := range reasons {
				if !strings.Contains(reasons[i], wantReasons[i]) {
					t.Errorf("skip %d: %q, want %q", i, reasons[i], wantReasons[i])
				}
			}
		})
	}
}

func TestDirectory(t *testing.T) {
	m := "From a@b Mon Jan  1 00:00:00 2024\nSubject: x\n\nbody\n"
	dir := write(t, map[string]string{
		"Inbox":                                 m,
		"Inbox.msf":                             "// <!-- <mdb:mork:z v=\"1.4\"/> -->",
		"Inbox.sbd/Child":                       m + "\n" + m,
		"Sent":                                  m,
		"Drafts":                                "", // an empty folder
		"Archive.sbd/2023.mbox":                 m,
		"Export/Old.mbx":                        m,
		"Apple.mbox/mbox":                       m,
		"Apple.mbox/Info.plist":                 "<plist/>",
		"Apple.mbox/Sub.mbox/mbox":              m,
		"Apple.mbox/Sub.mbox/table_of_contents": "\x00\x01",
		"msgFilterRules.dat":                    "version=\"9\"\nlogging=\"no\"\n",
		".hidden":                               m,
		"Sent.mbox":                             m, // the same name as Sent
		"Gr\xfc\xdfe":                           m, // a Latin-1 file name
	})
	s := open(t, dir)
	folders, err := s.Folders(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, f := range folders {
		n := fmt.Sprint(f.Messages)
		if f.NoSelect {
			n = "-"
		}
		got = append(got, f.Name+":"+n)
	}
	want := []string{"INBOX:1", "Apple:1", "Apple/Sub:1", "Archive:-", "Archive/2023:1", "Drafts:0", "Export:-", "Export/Old:1", "Grüße:1", "INBOX/Child:2", "Sent:1"}
	if !slices.Equal(got, want) {
		t.Errorf("folders %v\nwant %v", got, want)
	}
	var skipped []string
	for _, sk := range s.Skipped("") {
		skipped = append(skipped, filepath.Base(sk.Item)+": "+sk.Reason)
	}
	sort.Strings(skipped)
	if len(skipped) != 2 || !strings.HasPrefix(skipped[0], "Sent") || !strings.Contains(skipped[0], `folder "Sent" is already read from`) ||
		!strings.HasPrefix(skipped[1], "msgFilterRules.dat: not an mbox file") {
		t.Errorf("skipped %q", skipped)
	}
	if _, _, err := s.Messages(context.Background(), "inbox"); err != nil {
		t.Errorf("Messages(inbox): %v", err)
	}
	if _, _, err := s.Messages(context.Background(), "Missing"); !errors.Is(err, mailbox.ErrFolderGone) {
		t.Errorf("Messages(Missing): %v", err)
	}

	t.Run("pattern", func(t *testing.T) {
		s := open(t, filepath.Join(dir, "*.mbox"))
		folders, err := s.Folders(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		var got []string
		for _, f := range folders {
			got = append(got, f.Name)
		}
		if want := []string{"Apple", "Apple/Sub", "Sent"}; !slices.Equal(got, want) {
			t.Errorf("folders %v, want %v", got, want)
		}
	})
	t.Run("unreadable", func(t *testing.T) {
		openFile = func(name string) (*os.File, error) {
			if strings.HasSuffix(name, "Drafts") {
				return nil, &fs.PathError{Op: "open", Path: name, Err: fs.ErrPermission}
			}
			return os.Open(name)
		}
		t.Cleanup(func() { openFile = os.Open })
		s := open(t, dir)
		folders, err := s.Folders(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		if slices.ContainsFunc(folders, func(f mailbox.Folder) bool { return f.Name == "Drafts" }) || len(folders) != len(want)-1 {
			t.Errorf("folders %v: want all but Drafts", folders)
		}
		if !slices.ContainsFunc(s.Skipped(""), func(sk source.Skip) bool {
			return strings.HasSuffix(sk.Item, "Drafts") && strings.Contains(sk.Reason, "permission denied")
		}) {
			t.Errorf("skipped %v: want Drafts, permission denied", s.Skipped(""))
		}
	})
}

func TestOpen(t *testing.T) {
	dir := write(t, map[string]string{"spool": "From a@b Mon Jan  1 00:00:00 2024\nSubject: x\n\nbody\n", "notes.txt": "hello\n", "empty": ""})
	s := open(t, filepath.Join(dir, "spool"))
	f, err := s.Folders(context.Background())
	if err != nil || len(f) != 1 || f[0].Name != "INBOX" || f[0].Messages != 1 {
		t.Errorf("a single file: folders %v, %v; want INBOX with 1 message", f, err)
	}
	if f, err := open(t, filepath.Join(dir, "empty")).Folders(context.Background()); err != nil || len(f) != 1 || f[0].Messages != 0 {
		t.Errorf("an empty file: folders %v, %v", f, err)
	}
	for _, c := range []struct{ path, want string }{
		{filepath.Join(dir, "notes.txt"), `not an mbox file: it starts with "hello\n"`},
		{filepath.Join(dir, "missing"), "no such file"},
		{filepath.Join(dir, "[x"), "bad pattern"},
	} {
		if _, err := Open(c.path); err == nil || !strings.Contains(err.Error(), c.want) || !strings.Contains(err.Error(), dir) {
			t.Errorf("Open(%q): %v, want an error naming the path and saying %q", c.path, err, c.want)
		}
	}
}

func TestFetchAfterRewrite(t *testing.T) {
	m := func(i int) string {
		return fmt.Sprintf("From a@b Mon Jan  1 00:00:00 2024\nSubject: %d\n\nbody %d\n\n", i, i)
	}
	dir := write(t, map[string]string{"box": m(1) + m(2) + m(3)})
	p := filepath.Join(dir, "box")
	s := open(t, p)
	_, msgs, err := s.Messages(context.Background(), "INBOX")
	if err != nil {
		t.Fatal(err)
	}
	fetchAll := func() []string {
		var out []string
		err := s.Fetch(context.Background(), "INBOX", msgs, func(_ mailbox.Message, b mailbox.Body) error {
			data, err := io.ReadAll(b)
			out = append(out, string(data))
			return err
		})
		if err != nil {
			t.Fatal(err)
		}
		return out
	}
	// Something is inserted before the messages: the offsets are void,
	// the keys are not.
	os.WriteFile(p, []byte(m(0)+m(1)+m(3)), 0o644)
	if got := fetchAll(); len(got) != 2 || !strings.Contains(got[0], "body 1") || !strings.Contains(got[1], "body 3") {
		t.Errorf("after a rewrite: %q", got)
	}
	os.Remove(p)
	err = s.Fetch(context.Background(), "INBOX", msgs, func(mailbox.Message, mailbox.Body) error { return nil })
	if !errors.Is(err, mailbox.ErrFolderGone) {
		t.Errorf("after removing the file: %v", err)
	}
}

// TestTestdata writes the shared test data's messages into one mbox (as
// an mboxrd writer would, LF or CRLF as they are) and reads them back.
func TestTestdata(t *testing.T) {
	messy := corpus.Messy(t)
	var names []string
	for n := range messy {
		names = append(names, n)
	}
	sort.Strings(names)
	var box bytes.Buffer
	for _, n := range names {
		b := messy[n]
		fmt.Fprintf(&box, "From testdata@example.org Mon Jan  1 00:00:00 2024\n")
		box.Write(quote(b))
		if !bytes.HasSuffix(b, []byte("\n")) {
			box.WriteString("\n")
		}
		box.WriteString("\n")
	}
	dir := write(t, map[string]string{"testdata.mbox": box.String()})
	s := open(t, filepath.Join(dir, "testdata.mbox"))
	ms := read(t, s, "INBOX") // a single file is INBOX
	var want []string
	for _, n := range names {
		if n == "enmime/erroneous.eml" {
			continue // not a mail message
		}
		b := messy[n]
		if !bytes.HasSuffix(b, []byte("\n")) {
			b = append(bytes.Clone(b), '\n')
		}
		want = append(want, string(corpus.ToCRLF(b)))
	}
	if len(ms) != len(want) {
		t.Fatalf("%d messages delivered, want %d; skipped %v", len(ms), len(want), s.Skipped("INBOX"))
	}
	for i := range want {
		if ms[i].Body != want[i] {
			t.Errorf("message %d (%s): delivered bytes differ", i, names[i])
		}
	}
	if sk := s.Skipped("INBOX"); len(sk) != 1 || !strings.Contains(sk[0].Reason, "not a mail message") {
		t.Errorf("skipped %v, want enmime/erroneous.eml only", sk)
	}
}
