package pst

import (
	"bytes"
	"context"
	"encoding/base64"
	"errors"
	"io"
	"mime"
	"mime/multipart"
	"mime/quotedprintable"
	"net/mail"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"

	"github.com/mailshift/mailshift/internal/mailbox"
	"github.com/mailshift/mailshift/internal/pim"
	"github.com/mailshift/mailshift/internal/testrig/corpus"
	"github.com/mailshift/mailshift/source"
)

// part is one leaf of a parsed MIME message, decoded.
type part struct {
	contentType string
	filename    string
	body        []byte
	header      mail.Header
}

// parseMIME parses raw and returns its header and leaf parts; a
// message/rfc822 part is returned as a leaf (with its raw bytes) and its
// own parts are appended after it.
func parseMIME(t *testing.T, raw []byte) (mail.Header, []part) {
	t.Helper()
	m, err := mail.ReadMessage(bytes.NewReader(raw))
	if err != nil {
		t.Fatalf("message does not parse: %v\n%s", err, raw[:min(len(raw), 2000)])
	}
	var parts []part
	walkPart(t, m.Header, m.Body, &parts, 0)
	return m.Header, parts
}

func walkPart(t *testing.T, h mail.Header, body io.Reader, out *[]part, depth int) {
	t.Helper()
	if depth > 10 {
		t.Fatal("MIME nesting too deep")
	}
	ct := h.Get("Content-Type")
	if ct == "" {
		ct = "text/plain"
	}
	mt, params, err := mime.ParseMediaType(ct)
	if err != nil {
		t.Fatalf("bad Content-Type %q: %v", ct, err)
	}
	if strings.HasPrefix(mt, "multipart/") {
		mr := multipart.NewReader(body, params["boundary"])
		for {
			p, err := mr.NextRawPart()
			if err == io.EOF {
				return
			}
			if err != nil {
				t.Fatalf("multipart: %v", err)
			}
			walkPart(t, mail.Header(p.Header), p, out, depth+1)
		}
	}
	var r io.Reader = body
	switch strings.ToLower(h.Get("Content-Transfer-Encoding")) {
	case "base64":
		r = base64.NewDecoder(base64.StdEncoding, &stripCRLF{r: body})
	case "quoted-printable":
		r = quotedprintable.NewReader(body)
	}
	data, err := io.ReadAll(r)
	if err != nil {
		t.Fatalf("part %s: %v", mt, err)
	}
	p := part{contentType: mt, body: data, header: h}
	if _, dp, err := mime.ParseMediaType(h.Get("Content-Disposition")); err == nil {
		p.filename = dp["filename"]
	}
	if p.filename == "" {
		p.filename = params["name"]
	}
	*out = append(*out, p)
	if mt == "message/rfc822" {
		m, err := mail.ReadMessage(bytes.NewReader(data))
		if err != nil {
			t.Fatalf("embedded message does not parse: %v", err)
		}
		walkPart(t, m.Header, m.Body, out, depth+1)
	}
}

type stripCRLF struct{ r io.Reader }

func (s *stripCRLF) Read(p []byte) (int, error) {
	n, err := s.r.Read(p)
	j := 0
	for _, c := range p[:n] {
		if c != '\r' && c != '\n' {
			p[j] = c
			j++
		}
	}
	return j, err
}

// fetched is one message read through the Source interface.
type fetched struct {
	folder string
	msg    mailbox.Message
	raw    []byte
}

// readAll lists every folder of s and fetches every message, checking
// that sizes agree.
func readAll(t *testing.T, s *Source) []fetched {
	t.Helper()
	ctx := context.Background()
	folders, err := s.Folders(ctx)
	if err != nil {
		t.Fatal(err)
	}
	var out []fetched
	for _, f := range folders {
		fc, msgs, err := s.Messages(ctx, f.Name)
		if err != nil {
			t.Fatalf("Messages(%q): %v", f.Name, err)
		}
		if int(fc.Messages) != len(msgs) {
			t.Errorf("folder %q: counters say %d messages, listed %d", f.Name, fc.Messages, len(msgs))
		}
		seen := map[uint32]bool{}
		for _, m := range msgs {
			if m.UID == 0 || seen[m.UID] || m.UID >= fc.UIDNext {
				t.Errorf("folder %q: bad or repeated UID %d (UIDNEXT %d)", f.Name, m.UID, fc.UIDNext)
			}
			seen[m.UID] = true
		}
		n := 0
		err = s.Fetch(ctx, f.Name, msgs, func(m mailbox.Message, b mailbox.Body) error {
			raw, err := io.ReadAll(b)
			if err != nil {
				return err
			}
			if int64(len(raw)) != b.Size() || b.Size() != m.Size {
				t.Errorf("%s %s: read %d bytes, Body.Size %d, listed Size %d", f.Name, m.Key, len(raw), b.Size(), m.Size)
			}
			out = append(out, fetched{folder: f.Name, msg: m, raw: raw})
			n++
			return nil
		})
		if err != nil {
			t.Fatalf("Fetch(%q): %v", f.Name, err)
		}
		if n != len(msgs) {
			t.Errorf("folder %q: fetched %d of %d", f.Name, n, len(msgs))
		}
	}
	return out
}

func sampleDir(t *testing.T) string {
	t.Helper()
	return filepath.Join(corpus.TestdataDir(t), "pst")
}

func openSample(t *testing.T, name string) *Source {
	t.Helper()
	s, err := Open(filepath.Join(sampleDir(t), name))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

// TestSamplesAgainstReadpst reads every sample file and finds each mail
// that readpst extracts, in the same folder and with the same subject.
func TestSamplesAgainstReadpst(t *testing.T) {
	dir := sampleDir(t)
	tsv, err := os.ReadFile(filepath.Join(dir, "readpst-messages.tsv"))
	if err != nil {
		t.Fatal(err)
	}
	want := map[string][]string{} // file -> "folder\tsubject"
	for _, line := range strings.Split(strings.TrimSpace(string(tsv)), "\n") {
		cols := strings.Split(line, "\t")
		if len(cols) != 3 {
			t.Fatalf("bad line %q", line)
		}
		// readpst puts the store's name first; mailshift's folders start
		// below the top of the personal folders.
		_, folder, _ := strings.Cut(cols[1], "/")
		want[cols[0]] = append(want[cols[0]], folder+"\t"+strings.TrimPrefix(cols[2], "Subject: "))
	}
	files, _ := filepath.Glob(filepath.Join(dir, "*.pst"))
	if len(files) != 8 {
		t.Errorf("%d sample files, want 8", len(files))
	}
	for _, path := range files {
		name := strings.TrimSuffix(filepath.Base(path), ".pst")
		t.Run(name, func(t *testing.T) {
			s := openSample(t, filepath.Base(path))
			var got []string
			for _, f := range readAll(t, s) {
				h, _ := parseMIME(t, f.raw)
				subj, err := new(mime.WordDecoder).DecodeHeader(h.Get("Subject"))
				if err != nil {
					t.Errorf("subject %q: %v", h.Get("Subject"), err)
				}
				got = append(got, f.folder+"\t"+subj)
			}
			sort.Strings(got)
			for _, w := range want[name] {
				i := sort.SearchStrings(got, w)
				if i == len(got) || got[i] != w {
					t.Errorf("readpst's %q not found in %q", w, got)
					continue
				}
				got = append(got[:i], got[i+1:]...)
			}
		})
	}
}

func findPart(parts []part, ok func(part) bool) *part {
	for i := range parts {
		if ok(parts[i]) {
			return &parts[i]
		}
	}
	return nil
}

func TestTikaBodies(t *testing.T) {
	s := openSample(t, "tika-testPST_variousBodyTypes.pst")
	msgs := readAll(t, s)
	if len(msgs) != 4 {
		t.Fatalf("%d messages, want 4", len(msgs))
	}
	// Each message's own text, from its plain, HTML or RTF body.
	phrases := []string{"This is the original email", "Forwarded (html)", "Forwarded RTF", "Forwarded plain text"}
	for _, ph := range phrases {
		found := false
		for _, m := range msgs {
			_, parts := parseMIME(t, m.raw)
			for _, p := range parts {
				if strings.HasPrefix(p.contentType, "text/") && bytes.Contains(p.body, []byte(ph)) {
					found = true
				}
			}
		}
		if !found {
			t.Errorf("no message has a text part with %q", ph)
		}
	}
}

func TestSample1Attachment(t *testing.T) {
	s := openSample(t, "pstsdk-sample1.pst")
	msgs := readAll(t, s)
	if len(msgs) != 1 {
		t.Fatalf("%d messages, want 1", len(msgs))
	}
	_, parts := parseMIME(t, msgs[0].raw)
	jpg := findPart(parts, func(p part) bool { return strings.HasSuffix(strings.ToLower(p.filename), ".jpg") })
	if jpg == nil {
		t.Fatalf("no .jpg attachment among %d parts", len(parts))
	}
	if !bytes.HasPrefix(jpg.body, []byte{0xFF, 0xD8, 0xFF}) {
		t.Errorf("attachment %q does not start with a JPEG signature: % x", jpg.filename, jpg.body[:min(8, len(jpg.body))])
	}
	if jpg.filename != "leah_thumper.jpg" {
		t.Errorf("attachment name %q, want leah_thumper.jpg", jpg.filename)
	}
	t.Logf("attachment %q, %s, %d bytes", jpg.filename, jpg.contentType, len(jpg.body))
}

func TestSubmessage(t *testing.T) {
	s := openSample(t, "pstsdk-submessage.pst")
	msgs := readAll(t, s)
	if len(msgs) != 1 {
		t.Fatalf("%d messages, want 1", len(msgs))
	}
	_, parts := parseMIME(t, msgs[0].raw)
	emb := findPart(parts, func(p part) bool { return p.contentType == "message/rfc822" })
	if emb == nil {
		t.Fatal("no message/rfc822 part")
	}
	m, err := mail.ReadMessage(bytes.NewReader(emb.body))
	if err != nil {
		t.Fatal(err)
	}
	if m.Header.Get("Subject") == "" {
		t.Errorf("embedded message without subject:\n%s", emb.body[:min(len(emb.body), 1000)])
	}
	t.Logf("embedded: %q", m.Header.Get("Subject"))
}

// TestANSIUnicodeSame compares the ANSI and the Unicode file of the same
// mail.
func TestANSIUnicodeSame(t *testing.T) {
	u := readAll(t, openSample(t, "pstsdk-sample1.pst"))
	a := readAll(t, openSample(t, "pstsdk-sample2.pst"))
	if len(u) != 1 || len(a) != 1 {
		t.Fatalf("%d and %d messages, want 1 each", len(u), len(a))
	}
	hu, pu := parseMIME(t, u[0].raw)
	ha, pa := parseMIME(t, a[0].raw)
	for _, k := range []string{"Subject", "From", "To", "Message-Id", "Date"} {
		if hu.Get(k) != ha.Get(k) {
			t.Errorf("%s: Unicode %q, ANSI %q", k, hu.Get(k), ha.Get(k))
		}
	}
	if len(pu) != len(pa) {
		t.Fatalf("Unicode has %d parts, ANSI %d", len(pu), len(pa))
	}
	for i := range pu {
		bu, ba := pu[i].body, pa[i].body
		if pu[i].contentType == "text/plain" {
			// The Unicode file's text has a typographic apostrophe where
			// the ANSI file has a plain one.
			bu = bytes.ReplaceAll(bu, []byte("\u2019"), []byte("'"))
		}
		if pu[i].contentType != pa[i].contentType || pu[i].filename != pa[i].filename || !bytes.Equal(bu, ba) {
			t.Errorf("part %d differs: %s %q (%d bytes) vs %s %q (%d bytes)", i, pu[i].contentType, pu[i].filename, len(bu), pa[i].contentType, pa[i].filename, len(ba))
		}
	}
	if u[0].msg.InternalDate != a[0].msg.InternalDate {
		t.Errorf("internal dates %v and %v", u[0].msg.InternalDate, a[0].msg.InternalDate)
	}
}

// TestNonMail checks that files with only calendar items and lists give
// no mail, count the other items and export the calendar items.
func TestNonMail(t *testing.T) {
	for _, c := range []struct {
		file  string
		other map[string]int
	}{
		{"jl-dist-list.pst", map[string]int{"IPM.Appointment": 1, "IPM.DistList": 1, "IPM.Contact": 1}},
		{"32-bit.pst", map[string]int{"IPM.Appointment": 1}},
	} {
		t.Run(c.file, func(t *testing.T) {
			s := openSample(t, c.file)
			if msgs := readAll(t, s); len(msgs) != 0 {
				t.Errorf("%d mails, want 0", len(msgs))
			}
			ctx := context.Background()
			folders, _ := s.Folders(ctx)
			other := map[string]int{}
			var skips []source.Skip
			for _, f := range folders {
				mail, o, err := s.Items(ctx, f.Name)
				if err != nil {
					t.Fatal(err)
				}
				if len(mail) != 0 {
					t.Errorf("folder %q: mail %v", f.Name, mail)
				}
				for k, v := range o {
					other[k] += v
				}
				if _, _, err := s.Messages(ctx, f.Name); err != nil {
					t.Fatal(err)
				}
				skips = append(skips, s.Skipped(f.Name)...)
			}
			if len(other) != len(c.other) {
				t.Errorf("other items %v, want %v", other, c.other)
			}
			for k, v := range c.other {
				if other[k] != v {
					t.Errorf("other items %v, want %v", other, c.other)
				}
			}
			// The calendar items are ExportItems's, not passed over.
			for _, sk := range skips {
				if strings.Contains(sk.Reason, "IPM.Appointment") {
					t.Errorf("calendar item among skips: %v", sk)
				}
			}
			n := 0
			err := s.ExportItems(ctx, func(it pim.Item, err error) error {
				if err != nil {
					t.Errorf("item %s: %v", it.Key, err)
				}
				if it.Kind == pim.KindEvent {
					n++
				}
				return nil
			})
			if err != nil {
				t.Fatal(err)
			}
			if n != c.other["IPM.Appointment"] {
				t.Errorf("ExportItems gave %d calendar items, the inventory counts %d", n, c.other["IPM.Appointment"])
			}
		})
	}
}

func TestDescribeAndInfo(t *testing.T) {
	s := openSample(t, "pstsdk-test_ansi.pst")
	d, err := s.Describe(context.Background())
	if err != nil || d.Kind != "pst" || d.Delimiter != '/' {
		t.Errorf("Describe = %+v, %v", d, err)
	}
	if i := s.Info(); i.Format != "ANSI" || i.Encoding != "permute" || !i.HasPassword {
		t.Errorf("Info = %+v", i)
	}
	folders, _ := s.Folders(context.Background())
	var names []string
	for _, f := range folders {
		names = append(names, f.Name)
		if f.UIDValidity == 0 {
			t.Errorf("folder %q: UIDVALIDITY 0", f.Name)
		}
	}
	if !strings.Contains(strings.Join(names, ","), "Folder") {
		t.Errorf("folders %q, want one named Folder", names)
	}
	// Opening twice gives the same UIDVALIDITY.
	s2 := openSample(t, "pstsdk-test_ansi.pst")
	folders2, _ := s2.Folders(context.Background())
	for i := range folders {
		if folders[i].UIDValidity != folders2[i].UIDValidity {
			t.Errorf("folder %q: UIDVALIDITY %d then %d", folders[i].Name, folders[i].UIDValidity, folders2[i].UIDValidity)
		}
	}
	if _, _, err := s.Messages(context.Background(), "No such folder"); err == nil {
		t.Error("Messages of a missing folder: no error")
	}
}

// TestCorruptNamesFile checks that errors name the file.
func TestCorruptNamesFile(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "bad.pst")
	src, err := os.ReadFile(filepath.Join(sampleDir(t), "pstsdk-sample1.pst"))
	if err != nil {
		t.Fatal(err)
	}
	for _, n := range []int{0, 100, 600, 20000} {
		if err := os.WriteFile(path, src[:n], 0o600); err != nil {
			t.Fatal(err)
		}
		s, err := Open(path)
		if err == nil {
			s.Close()
			t.Errorf("truncated to %d bytes: no error", n)
			continue
		}
		if !strings.Contains(err.Error(), path) || !errors.Is(err, ErrCorrupt) {
			t.Errorf("error %q does not name the file", err)
		}
		t.Logf("%d bytes: %v", n, err)
	}
}
