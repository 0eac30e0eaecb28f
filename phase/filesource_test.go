package phase

import (
	"bufio"
	"context"
	"fmt"
	"net/mail"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/mailshift/mailshift/internal/testrig/corpus"
	"github.com/mailshift/mailshift/internal/testrig/dovecot"
	"github.com/mailshift/mailshift/internal/testrig/imaptest"
)

// fileSourced points the project's source at local files.
func (e *testEnv) fileSourced(url string) {
	e.t.Helper()
	e.p.Config.Source.URL = url
	must(e.t, e.p.Config.Validate())
}

// TestMaildirOfDovecot migrates a Dovecot account from its Maildir
// directory instead of over IMAP, and checks that the target holds what
// Dovecot serves for that account over IMAP: bytes, flags, keywords,
// dates; then a message delivered into the Maildir and a flag change made
// by renaming a file are carried over by sync.
func TestMaildirOfDovecot(t *testing.T) {
	ctx := context.Background()
	e := newEnv(t, dovecot.Options{}, dovecot.Options{Separator: "."}, "gina")
	e.seed("gina", corpus.Mailbox(11, 120, 3000))
	e.fileSourced("maildir:" + e.src.MaildirPath("%u"))
	e.approved()
	_, err := Bulk(ctx, e.p, BulkOptions{SkipTest: true})
	must(t, err)
	e.compare("gina")

	// New mail through IMAP lands in the Maildir; a flag set through IMAP
	// renames a file.
	c := e.sourceClient("gina")
	imaptest.Append(t, c, "Sent", []string{`\Seen`}, corpus.Generate(12, 1, 800)[0].InternalDate, corpus.Generate(12, 1, 800)[0].Body)
	sr, err := Sync(ctx, e.p, SyncOptions{})
	must(t, err)
	if sr.Messages != 1 {
		t.Errorf("sync copied %d messages, want 1", sr.Messages)
	}
	e.compare("gina")
	vr, err := Verify(ctx, e.p, Selection{})
	must(t, err)
	if vr.Differences != 0 {
		t.Errorf("verify: %d differences", vr.Differences)
	}
}

// TestPSTSamplesToDovecot migrates every sample PST file (one user per
// file) to a real Dovecot and finds there every mail that readpst lists,
// in the folder readpst names, under a folder named after the file.
func TestPSTSamplesToDovecot(t *testing.T) {
	ctx := context.Background()
	dir := filepath.Join(corpus.TestdataDir(t), "pst")
	type row struct{ file, folder, subject string }
	var rows []row
	f, err := os.Open(filepath.Join(dir, "readpst-messages.tsv"))
	must(t, err)
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		parts := strings.Split(sc.Text(), "\t")
		if len(parts) != 3 {
			continue
		}
		rows = append(rows, row{parts[0], parts[1], strings.TrimPrefix(parts[2], "Subject: ")})
	}
	f.Close()
	names := []string{"jl-dist-list", "32-bit"}
	seen := map[string]bool{}
	for _, r := range rows {
		if !seen[r.file] {
			seen[r.file] = true
			names = append(names, r.file)
		}
	}
	e := newEnv(t, dovecot.Options{}, dovecot.Options{}, names...)
	e.fileSourced("pst:" + dir + "/%u.pst")
	// Dovecot's Maildir cannot hold a folder named "tmp": the first bulk
	// says so and names the folder; a folders.map entry moves it.
	tmp := "tika-testPST_variousBodyTypes/Inbox/tmp"
	cr, err := Collect(ctx, e.p, Selection{})
	must(t, err)
	_, err = Approve(ctx, e.p, ApproveOptions{Yes: true, By: "Test"})
	must(t, err)
	_, err = Bulk(ctx, e.p, BulkOptions{SkipTest: true})
	mustErr(t, err, ErrPartial)
	if !strings.Contains(err.Error(), tmp) || !strings.Contains(err.Error(), "folders.map") {
		t.Fatalf("the refused folder name is not explained: %v", err)
	}
	e.p.Config.Folders.Map = map[string]string{tmp: tmp + "_"}

	cr, err = Collect(ctx, e.p, Selection{})
	must(t, err)
	if cr.Messages != int64(len(rows)) {
		t.Errorf("collect counted %d mails, readpst lists %d", cr.Messages, len(rows))
	}
	problems, err := e.p.Store.Problems()
	must(t, err)
	nonMail := false
	for _, p := range problems {
		if p.User == "jl-dist-list" && p.Kind == "non-mail" && strings.Contains(p.Detail, "IPM.Appointment") {
			nonMail = true
		}
	}
	if !nonMail {
		t.Errorf("collect did not report jl-dist-list's calendar item: %+v", problems)
	}
	_, err = Approve(ctx, e.p, ApproveOptions{Yes: true, By: "Test"})
	must(t, err)
	br, err := Bulk(ctx, e.p, BulkOptions{SkipTest: true})
	must(t, err)
	if br.Messages != 4 { // the other files' mails came with the first bulk
		t.Errorf("bulk copied %d mails, want tika's 4", br.Messages)
	}

	for _, r := range rows {
		// readpst names the store first; mailshift puts the folders under
		// the file's name.
		_, rest, _ := strings.Cut(r.folder, "/")
		folder := r.file + "/" + rest
		if folder == tmp {
			folder += "_"
		}
		snap := imaptest.Snapshot(t, e.dst.Addr, r.file, e.pw[r.file])
		found := false
		for _, m := range snap[folder] {
			msg, err := mail.ReadMessage(strings.NewReader(string(m.Body)))
			if err == nil && msg.Header.Get("Subject") == r.subject {
				found = true
			}
		}
		if !found {
			t.Errorf("%s: no mail %q in target folder %q (target folders %v)", r.file, r.subject, folder, keys(snap))
		}
	}
	sample := imaptest.Snapshot(t, e.dst.Addr, "pstsdk-sample1", e.pw["pstsdk-sample1"])["pstsdk-sample1/Sample1"]
	if len(sample) != 1 || !strings.Contains(string(sample[0].Body), "leah_thumper.jpg") {
		t.Errorf("sample1's attachment did not arrive")
	}
	vr, err := Verify(ctx, e.p, Selection{})
	must(t, err)
	if vr.Differences != 0 {
		t.Errorf("verify: %d differences", vr.Differences)
	}
	counts, err := e.p.Store.Counts("")
	must(t, err)
	if counts.Copied != int64(len(rows)) || counts.Intent != 0 {
		t.Errorf("state: %+v", counts)
	}
}

// writeMbox appends messages to an mbox file (mboxrd: "From " lines in
// bodies quoted).
func writeMbox(t *testing.T, path string, msgs []corpus.Message) {
	t.Helper()
	f, err := os.OpenFile(path, os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o600)
	must(t, err)
	defer f.Close()
	for _, m := range msgs {
		body := strings.ReplaceAll(string(m.Body), "\r\n", "\n")
		var b strings.Builder
		fmt.Fprintf(&b, "From sender@example.org %s\n", m.InternalDate.UTC().Format("Mon Jan _2 15:04:05 2006"))
		for _, line := range strings.SplitAfter(body, "\n") {
			if strings.HasPrefix(strings.TrimLeft(line, ">"), "From ") {
				b.WriteString(">")
			}
			b.WriteString(line)
		}
		if !strings.HasSuffix(body, "\n") {
			b.WriteString("\n")
		}
		b.WriteString("\n")
		_, err := f.WriteString(b.String())
		must(t, err)
	}
}

// TestMboxExportsLifecycle migrates users' mbox exports: collect counts
// them, bulk copies them byte for byte (line ends as an IMAP server serves
// them), verify agrees, and messages appended to a file later are found by
// sync.
func TestMboxExportsLifecycle(t *testing.T) {
	ctx := context.Background()
	e := newEnv(t, dovecot.Options{}, dovecot.Options{}, "kim")
	dir := filepath.Join(t.TempDir(), "kim")
	must(t, os.MkdirAll(dir, 0o700))
	inbox, sent := corpus.Generate(21, 30, 2000), corpus.Generate(22, 12, 2000)
	writeMbox(t, filepath.Join(dir, "Inbox"), inbox)
	writeMbox(t, filepath.Join(dir, "Sent.mbox"), sent)
	e.fileSourced("mbox:" + filepath.Dir(dir) + "/%u/")

	cr, err := Collect(ctx, e.p, Selection{})
	must(t, err)
	if cr.Messages != 42 {
		t.Errorf("collect counted %d messages, want 42", cr.Messages)
	}
	_, err = Approve(ctx, e.p, ApproveOptions{Yes: true, By: "Test"})
	must(t, err)
	_, err = Bulk(ctx, e.p, BulkOptions{SkipTest: true})
	must(t, err)
	check := func(folder string, want []corpus.Message) {
		t.Helper()
		got := imaptest.Snapshot(t, e.dst.Addr, "kim", e.pw["kim"])[folder]
		if len(got) != len(want) {
			t.Fatalf("target %s: %d messages, want %d", folder, len(got), len(want))
		}
		bodies := map[string]int{}
		for _, m := range want {
			bodies[string(corpus.ToCRLF(m.Body))]++
		}
		for _, m := range got {
			bodies[string(m.Body)]--
		}
		for b, n := range bodies {
			if n != 0 {
				t.Errorf("target %s: message %.60q off by %d", folder, b, -n)
			}
		}
	}
	check("INBOX", inbox)
	check("Sent", sent)

	more := corpus.Generate(23, 2, 1500)
	writeMbox(t, filepath.Join(dir, "Inbox"), more)
	sr, err := Sync(ctx, e.p, SyncOptions{})
	must(t, err)
	if sr.Messages != 2 {
		t.Errorf("sync copied %d messages, want the 2 appended", sr.Messages)
	}
	check("INBOX", append(inbox, more...))
	vr, err := Verify(ctx, e.p, Selection{})
	must(t, err)
	if vr.Differences != 0 {
		t.Errorf("verify: %d differences", vr.Differences)
	}
}
