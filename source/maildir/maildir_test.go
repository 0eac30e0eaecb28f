package maildir

import (
	"bytes"
	"context"
	"errors"
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
)

// tree writes files (path relative to root -> content) and returns root.
// Directories ending in "/" are created empty.
func tree(t *testing.T, files map[string]string) string {
	t.Helper()
	root := t.TempDir()
	for p, c := range files {
		full := filepath.Join(root, filepath.FromSlash(p))
		if strings.HasSuffix(p, "/") {
			if err := os.MkdirAll(full, 0o755); err != nil {
				t.Fatal(err)
			}
			continue
		}
		if err := os.MkdirAll(filepath.Dir(full), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(full, []byte(c), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return root
}

func open(t *testing.T, path string) *Source {
	t.Helper()
	s, err := Open(path)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func list(t *testing.T, s *Source, folder string) (mailbox.Folder, []mailbox.Message) {
	t.Helper()
	f, msgs, err := s.Messages(context.Background(), folder)
	if err != nil {
		t.Fatalf("Messages(%q): %v", folder, err)
	}
	return f, msgs
}

// bodies fetches msgs and returns their bodies by key.
func bodies(t *testing.T, s *Source, folder string, msgs []mailbox.Message) map[string]string {
	t.Helper()
	out := map[string]string{}
	err := s.Fetch(context.Background(), folder, msgs, func(m mailbox.Message, b mailbox.Body) error {
		got, err := io.ReadAll(b)
		if err != nil {
			return err
		}
		if int64(len(got)) != b.Size() {
			t.Errorf("key %q: Size %d, %d bytes read", m.Key, b.Size(), len(got))
		}
		out[m.Key] = string(got)
		return nil
	})
	if err != nil {
		t.Fatalf("Fetch(%q): %v", folder, err)
	}
	return out
}

const msg = "Subject: test\nFrom: a@example.org\n\nbody\n"

func TestFlagsAndKeywords(t *testing.T) {
	root := tree(t, map[string]string{
		"cur/1.a:2,PRSTDF":    msg,
		"cur/2.b:2,S":         msg,
		"cur/3.c:2,acz":       msg,
		"cur/4.d:2,":          msg,
		"cur/5.e":             msg,
		"cur/6.f:1,S":         msg, // experimental info: no flags
		"new/7.g":             msg,
		"new/8.h:2,S":         msg,
		"dovecot-keywords":    "0 Work\n2 $Label1\nbogus line\n26 Nope\n",
		"tmp/9.i":             msg,
		"dovecot.index":       "index",
		"dovecot.index.log":   "log",
		"dovecot-uidvalidity": "1",
	})
	_, msgs := list(t, open(t, root), "INBOX")
	got := map[string][]string{}
	for _, m := range msgs {
		got[m.Key] = m.Flags
	}
	want := map[string][]string{
		"1.a": {"$Forwarded", `\Answered`, `\Deleted`, `\Draft`, `\Flagged`, `\Seen`},
		"2.b": {`\Seen`},
		"3.c": {"$Label1", "Work"}, // 'z' has no keyword
		"4.d": nil, "5.e": nil, "6.f": nil, "7.g": nil,
		"8.h": {`\Seen`},
	}
	if len(got) != len(want) {
		t.Fatalf("listed %v, want the keys of %v", got, want)
	}
	for k, w := range want {
		if !slices.Equal(got[k], w) {
			t.Errorf("%s: flags %v, want %v", k, got[k], w)
		}
	}
}

func TestIdentitySurvivesRenames(t *testing.T) {
	root := tree(t, map[string]string{
		"new/100.M1P1.host,S=40,W=44": msg,
		"cur/101.M2P2.host:2,S":       msg + "two\n",
	})
	s := open(t, root)
	_, before := list(t, s, "INBOX")
	// A mail client reads the new message and flags the other one.
	if err := os.Rename(filepath.Join(root, "new/100.M1P1.host,S=40,W=44"), filepath.Join(root, "cur/100.M1P1.host,S=40,W=44:2,S")); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(filepath.Join(root, "cur/101.M2P2.host:2,S"), filepath.Join(root, "cur/101.M2P2.host:2,FS")); err != nil {
		t.Fatal(err)
	}
	// The listing from before the renames still fetches both.
	got := bodies(t, s, "INBOX", before)
	if len(got) != 2 || got["100.M1P1.host,S=40,W=44"] != string(corpus.ToCRLF([]byte(msg))) {
		t.Fatalf("fetch after renames: %q", got)
	}
	_, after := list(t, open(t, root), "INBOX")
	keys := func(ms []mailbox.Message) []string {
		var k []string
		for _, m := range ms {
			k = append(k, m.Key)
		}
		return k
	}
	if !slices.Equal(keys(before), keys(after)) {
		t.Errorf("keys %v, then %v after the renames", keys(before), keys(after))
	}
	flags := map[string][]string{}
	for _, m := range after {
		flags[m.Key] = m.Flags
	}
	if !slices.Equal(flags["100.M1P1.host,S=40,W=44"], []string{`\Seen`}) || !slices.Equal(flags["101.M2P2.host"], []string{`\Flagged`, `\Seen`}) {
		t.Errorf("flags after the renames: %v", flags)
	}
}

func TestUIDs(t *testing.T) {
	setTime := func(root, p string, sec int64) {
		t.Helper()
		if err := os.Chtimes(filepath.Join(root, p), time.Unix(sec, 0), time.Unix(sec, 0)); err != nil {
			t.Fatal(err)
		}
	}
	t.Run("dovecot-uidlist", func(t *testing.T) {
		root := tree(t, map[string]string{
			"cur/a:2,S":       msg,
			"cur/b:2,S":       msg,
			"new/c":           msg,
			"new/d":           msg,
			"dovecot-uidlist": "3 V1700000000 N5 G0123\n4 :a\n2 W44 :b\n9 :gone\n",
		})
		setTime(root, "new/c", 200)
		setTime(root, "new/d", 100)
		f, msgs := list(t, open(t, root), "INBOX")
		var got []string
		for _, m := range msgs {
			got = append(got, m.Key+"="+itoa(m.UID))
		}
		// Listed UIDs kept, the others from N (or above the highest) on, by mtime.
		if want := []string{"b=2", "a=4", "d=10", "c=11"}; !slices.Equal(got, want) {
			t.Errorf("UIDs %v, want %v", got, want)
		}
		if f.UIDValidity != 1700000000 || f.UIDNext != 12 {
			t.Errorf("UIDVALIDITY %d, UIDNEXT %d", f.UIDValidity, f.UIDNext)
		}
	})
	t.Run("courierimapuiddb", func(t *testing.T) {
		root := tree(t, map[string]string{
			"cur/a:2,S":        msg,
			"cur/b:2,S":        msg,
			"courierimapuiddb": "1 1234 8\n7 a\n3 b\n",
		})
		f, msgs := list(t, open(t, root), "INBOX")
		if f.UIDValidity != 1234 || msgs[0].Key != "b" || msgs[0].UID != 3 || msgs[1].UID != 7 || f.UIDNext != 8 {
			t.Errorf("UIDVALIDITY %d, UIDNEXT %d, messages %+v", f.UIDValidity, f.UIDNext, msgs)
		}
	})
	t.Run("none", func(t *testing.T) {
		root := tree(t, map[string]string{"cur/x:2,S": msg, "cur/y:2,S": msg, "new/z": msg, "dovecot-uidlist": "garbage\n"})
		setTime(root, "cur/x:2,S", 300)
		setTime(root, "cur/y:2,S", 100)
		setTime(root, "new/z", 100)
		f, msgs := list(t, open(t, root), "INBOX")
		var got []string
		for _, m := range msgs {
			got = append(got, m.Key+"="+itoa(m.UID))
		}
		if want := []string{"y=1", "z=2", "x=3"}; !slices.Equal(got, want) || f.UIDValidity != 1 || f.UIDNext != 4 {
			t.Errorf("UIDs %v (want %v), UIDVALIDITY %d, UIDNEXT %d", got, want, f.UIDValidity, f.UIDNext)
		}
	})
}

func itoa(n uint32) string { return strings.TrimSpace(strings.Repeat(" ", 0) + fmtUint(n)) }

func fmtUint(n uint32) string {
	if n == 0 {
		return "0"
	}
	var b []byte
	for ; n > 0; n /= 10 {
		b = append([]byte{byte('0' + n%10)}, b...)
	}
	return string(b)
}

func TestSizes(t *testing.T) {
	lf := "Subject: sizes\n\nline\n"         // 20 bytes, 23 with CRLF
	crlf := "Subject: sizes\r\n\r\nline\r\n" // 24 bytes
	root := tree(t, map[string]string{
		"cur/a,S=21,W=24:2,S":   lf,   // Dovecot's fields, right
		"cur/b,S=21:2,S":        lf,   // no W=: counted
		"cur/c,S=99,W=99:2,S":   lf,   // S= does not match the file: counted
		"cur/d:2,S":             crlf, // CRLF kept as it is
		"cur/e:2,S":             "Subject: mixed\r\n\nbare CR\r stays\n",
		"cur/f:2,S":             "Subject: nul\n\nNUL\x00byte\n",
		"cur/g,S=21,W=30:2,S":   lf,                                                             // a small file is counted, whatever W= says
		"cur/h,S=5318,W=99:2,S": "Subject: big\n\n" + strings.Repeat("0123456789abcdef\n", 312), // a W= that lies: listed as it says, delivered as it is
	})
	s := open(t, root)
	f, msgs := list(t, s, "INBOX")
	got := bodies(t, s, "INBOX", msgs)
	var sum int64
	for _, m := range msgs {
		want := string(corpus.ToCRLF([]byte(readFile(t, root, m.Key))))
		if got[m.Key] != want {
			t.Errorf("%s: delivered %q, want %q", m.Key, got[m.Key], want)
		}
		wantSize := int64(len(want))
		if m.Key == "h,S=5318,W=99" {
			wantSize = 99
		}
		if m.Size != wantSize {
			t.Errorf("%s: listed size %d, want %d", m.Key, m.Size, wantSize)
		}
		sum += m.Size
	}
	if f.Bytes != sum || len(msgs) != 8 {
		t.Errorf("folder: %d messages, %d bytes; want 8 and %d", len(msgs), f.Bytes, sum)
	}
}

// readFile returns the content of the message file with unique name key
// in root's cur/ or new/.
func readFile(t *testing.T, root, key string) string {
	t.Helper()
	for _, sub := range []string{"cur", "new"} {
		ents, _ := os.ReadDir(filepath.Join(root, sub))
		for _, e := range ents {
			if base, _, _ := strings.Cut(e.Name(), ":"); base == key {
				b, err := os.ReadFile(filepath.Join(root, sub, e.Name()))
				if err != nil {
					t.Fatal(err)
				}
				return string(b)
			}
		}
	}
	t.Fatalf("no file %q", key)
	return ""
}

func TestBadFiles(t *testing.T) {
	root := tree(t, map[string]string{
		"cur/good1:2,S":        msg,
		"cur/notmail.txt:2,S":  "Dear diary,\ntoday I put a file in a Maildir.\n",
		"cur/picture.png":      "\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR",
		"cur/empty:2,S":        "",
		"cur/unreadable:2,S":   msg,
		"cur/subdir/":          "",
		"cur/.hidden":          "not listed, not reported",
		"new/good2":            msg + "two\n",
		"new/dup":              msg,
		"cur/dup:2,S":          msg + "cur wins\n",
		"cur/nul:2,S":          "Subject: nul\n\nkept\x00as is\n",
		".Other/cur/fine:2,S":  msg,
		".Other/cur/broken:2,": "garbage",
	})
	openFile = func(name string) (*os.File, error) {
		if strings.Contains(name, "unreadable") {
			return nil, &fs.PathError{Op: "open", Path: name, Err: fs.ErrPermission}
		}
		return os.Open(name)
	}
	t.Cleanup(func() { openFile = os.Open })
	s := open(t, root)
	_, msgs := list(t, s, "INBOX")
	var keys []string
	for _, m := range msgs {
		keys = append(keys, m.Key)
	}
	sort.Strings(keys)
	if want := []string{"dup", "good1", "good2", "nul"}; !slices.Equal(keys, want) {
		t.Errorf("listed %v, want %v", keys, want)
	}
	got := bodies(t, s, "INBOX", msgs)
	if got["dup"] != string(corpus.ToCRLF([]byte(msg+"cur wins\n"))) || got["nul"] != "Subject: nul\r\n\r\nkept\x00as is\r\n" {
		t.Errorf("dup %q, nul %q", got["dup"], got["nul"])
	}
	reasons := map[string]string{}
	for _, sk := range s.Skipped("INBOX") {
		reasons[filepath.Base(sk.Item)] = sk.Reason
	}
	for item, want := range map[string]string{
		"notmail.txt:2,S": "not a mail message: the first line is not a header field",
		"picture.png":     "binary",
		"empty:2,S":       "empty file",
		"unreadable:2,S":  "cannot read: permission denied",
		"subdir":          "a directory",
		"dup":             "also in cur/",
	} {
		if !strings.Contains(reasons[item], want) {
			t.Errorf("skip of %s: %q, want it to say %q", item, reasons[item], want)
		}
	}
	if len(reasons) != 6 {
		t.Errorf("skipped %v, want 6 items", reasons)
	}
	_, other := list(t, s, "Other")
	if len(other) != 1 || len(s.Skipped("Other")) != 1 {
		t.Errorf("Other: %d listed, skipped %v", len(other), s.Skipped("Other"))
	}
	// A file that becomes unreadable after listing is skipped by Fetch and
	// reported; the others are still delivered.
	openFile = func(name string) (*os.File, error) {
		if strings.Contains(name, "good1") {
			return nil, &fs.PathError{Op: "open", Path: name, Err: fs.ErrPermission}
		}
		return os.Open(name)
	}
	if got := bodies(t, s, "INBOX", msgs); len(got) != 3 {
		t.Errorf("fetch with one unreadable file: %d delivered, want 3", len(got))
	}
	if sk := s.Skipped("INBOX"); !strings.Contains(sk[len(sk)-1].Item, "good1") {
		t.Errorf("fetch did not report the unreadable file: %v", sk)
	}
}

// TestUnreadableFile uses real permissions, which root ignores: it runs
// only as another user (TestBadFiles simulates the case for root).
func TestUnreadableFile(t *testing.T) {
	if os.Geteuid() == 0 {
		t.Skip("root reads files without read permission; TestBadFiles covers this case with a simulated failure")
	}
	root := tree(t, map[string]string{"cur/locked:2,S": msg, "cur/open:2,S": msg})
	if err := os.Chmod(filepath.Join(root, "cur/locked:2,S"), 0); err != nil {
		t.Fatal(err)
	}
	s := open(t, root)
	_, msgs := list(t, s, "INBOX")
	if len(msgs) != 1 || len(s.Skipped("INBOX")) != 1 || !strings.Contains(s.Skipped("INBOX")[0].Reason, "permission denied") {
		t.Errorf("listed %d, skipped %v", len(msgs), s.Skipped("INBOX"))
	}
}

func TestLayouts(t *testing.T) {
	pp := tree(t, map[string]string{
		"cur/i:2,S":                     msg,
		".Sent/cur/s:2,S":               msg,
		".Archive.2023/cur/a:2,S":       msg,
		".Projekte.&ANw-berblick/new/p": msg,
		".Raw UTF-8 Ü/cur/r:2,S":        msg,
		".Tom &- Jerry/cur/t:2,S":       msg,
		".index/":                       "",  // not a folder: no cur/ or new/
		"Mail/cur/x:2,S":                msg, // not a folder in Maildir++
	})
	fsl := tree(t, map[string]string{
		"cur/i:2,S":                    msg,
		"Sent/cur/s:2,S":               msg,
		"Archive/2023/cur/a:2,S":       msg,
		"Projekte/&ANw-berblick/new/p": msg,
		"Notes.old/cur/n:2,S":          msg,
		".hidden/cur/h:2,S":            msg, // not a folder in LAYOUT=fs
	})
	inboxDir := tree(t, map[string]string{
		"INBOX/cur/i:2,S":     msg,
		"INBOX/Sub/cur/s:2,S": msg,
		"Other/new/o":         msg,
	})
	for _, c := range []struct {
		name, path string
		layout     Layout
		want       []string // folder:messages, NoSelect as folder:-
	}{
		{"Maildir++", pp, LayoutMaildirPP, []string{"INBOX:1", "Archive:-", "Archive/2023:1", "Projekte:-", "Projekte/Überblick:1", "Raw UTF-8 Ü:1", "Sent:1", "Tom & Jerry:1"}},
		{"fs", fsl, LayoutFS, []string{"INBOX:1", "Archive:-", "Archive/2023:1", "Notes.old:1", "Projekte:-", "Projekte/Überblick:1", "Sent:1"}},
		{"fs with an INBOX directory", inboxDir, LayoutFS, []string{"INBOX:1", "INBOX/Sub:1", "Other:1"}},
		{"forced fs", pp + ":LAYOUT=fs", LayoutFS, []string{"INBOX:1", "Mail:1"}},
		{"forced Maildir++", fsl + ":layout=Maildir++", LayoutMaildirPP, []string{"INBOX:1", "hidden:1"}},
	} {
		t.Run(c.name, func(t *testing.T) {
			s := open(t, c.path)
			if s.Layout() != c.layout {
				t.Errorf("layout %q, want %q", s.Layout(), c.layout)
			}
			folders, err := s.Folders(context.Background())
			if err != nil {
				t.Fatal(err)
			}
			var got []string
			for _, f := range folders {
				n := itoa(f.Messages)
				if f.NoSelect {
					n = "-"
				}
				got = append(got, f.Name+":"+n)
				if f.Role != "" {
					t.Errorf("%s: role %q", f.Name, f.Role)
				}
			}
			if !slices.Equal(got, c.want) {
				t.Errorf("folders %v, want %v", got, c.want)
			}
			for _, f := range folders {
				g, msgs, err := s.Messages(context.Background(), f.Name)
				if err != nil || g.NoSelect != f.NoSelect || len(msgs) != int(f.Messages) {
					t.Errorf("Messages(%q): %v, NoSelect %v, %d messages", f.Name, err, g.NoSelect, len(msgs))
				}
			}
			if _, _, err := s.Messages(context.Background(), "inbox"); err != nil {
				t.Errorf("Messages(inbox): %v", err)
			}
		})
	}
}

func TestOpenErrors(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "file")
	os.WriteFile(file, []byte("x"), 0o644)
	for _, c := range []struct{ path, want string }{
		{filepath.Join(dir, "missing"), "no such file"},
		{file, "not a directory"},
		{dir, "no cur/ or new/ and no folders"},
		{dir + ":LAYOUT=mbox", `unknown layout "mbox"`},
	} {
		_, err := Open(c.path)
		if err == nil || !strings.Contains(err.Error(), c.want) || !strings.Contains(err.Error(), dir) {
			t.Errorf("Open(%q): %v, want an error naming the path and saying %q", c.path, err, c.want)
		}
	}
}

func TestFolderGone(t *testing.T) {
	root := tree(t, map[string]string{"cur/i:2,S": msg, ".Old/cur/o:2,S": msg})
	s := open(t, root)
	_, msgs := list(t, s, "Old")
	if err := os.RemoveAll(filepath.Join(root, ".Old")); err != nil {
		t.Fatal(err)
	}
	err := s.Fetch(context.Background(), "Old", msgs, func(mailbox.Message, mailbox.Body) error { return nil })
	if !errors.Is(err, mailbox.ErrFolderGone) {
		t.Errorf("Fetch from a removed folder: %v", err)
	}
	if _, _, err := s.Messages(context.Background(), "Old"); !errors.Is(err, mailbox.ErrFolderGone) || !strings.Contains(err.Error(), root) {
		t.Errorf("Messages of a removed folder: %v", err)
	}
	for _, bad := range []string{"../x", "Old/../..", ""} {
		if _, _, err := s.Messages(context.Background(), bad); !errors.Is(err, mailbox.ErrFolderGone) {
			t.Errorf("Messages(%q): %v", bad, err)
		}
	}
}

// TestFetchWithoutListing fetches by keys from another Source's listing.
func TestFetchWithoutListing(t *testing.T) {
	root := tree(t, map[string]string{"cur/a:2,S": msg, "new/b": msg + "b\n"})
	_, msgs := list(t, open(t, root), "INBOX")
	got := bodies(t, open(t, root), "INBOX", msgs)
	if len(got) != 2 || !bytes.Equal([]byte(got["b"]), corpus.ToCRLF([]byte(msg+"b\n"))) {
		t.Errorf("fetched %q", got)
	}
}

// TestTestdata writes the shared test data's messages into a Maildir (as
// they are, LF or CRLF) and reads them back with CRLF line endings.
func TestTestdata(t *testing.T) {
	messy := corpus.Messy(t)
	root := filepath.Join(t.TempDir(), "Maildir")
	names := map[string]string{}
	i := 0
	for rel, b := range messy {
		i++
		name := "msg" + fmtUint(uint32(i))
		names[name] = rel
		dir := filepath.Join(root, "."+strings.ReplaceAll(filepath.Dir(rel), ".", "_"), "cur")
		os.MkdirAll(dir, 0o755)
		if err := os.WriteFile(filepath.Join(dir, name+":2,S"), b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	os.MkdirAll(filepath.Join(root, "cur"), 0o755)
	s := open(t, root)
	folders, err := s.Folders(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	delivered := 0
	for _, f := range folders {
		_, msgs := list(t, s, f.Name)
		for _, sk := range s.Skipped(f.Name) {
			rel := names[strings.TrimSuffix(filepath.Base(sk.Item), ":2,S")]
			if rel != "enmime/erroneous.eml" {
				t.Errorf("%s skipped: %s", rel, sk.Reason)
			}
		}
		for k, body := range bodies(t, s, f.Name, msgs) {
			delivered++
			if want := corpus.ToCRLF(messy[names[k]]); body != string(want) {
				t.Errorf("%s: delivered bytes differ (%d bytes, want %d)", names[k], len(body), len(want))
			}
		}
	}
	if delivered != len(messy)-1 {
		t.Errorf("%d of %d messages delivered, want all but enmime/erroneous.eml", delivered, len(messy))
	}
}

// TestListingAgainReadsOnlyChanges: a second listing opens only the files
// that are new or changed (collect lists every folder twice, sync often).
func TestListingAgainReadsOnlyChanges(t *testing.T) {
	root := tree(t, map[string]string{"cur/a:2,S": msg, "cur/b:2,S": msg, "new/c": msg})
	opened := 0
	openFile = func(name string) (*os.File, error) { opened++; return os.Open(name) }
	t.Cleanup(func() { openFile = os.Open })
	s := open(t, root)
	list(t, s, "INBOX")
	if opened != 3 {
		t.Fatalf("first listing opened %d files, want 3", opened)
	}
	opened = 0
	list(t, s, "INBOX")
	if opened != 0 {
		t.Errorf("listing again opened %d files, want 0", opened)
	}
	// A flag change (a new name) and a rewritten file are read again.
	os.Rename(filepath.Join(root, "new/c"), filepath.Join(root, "cur/c:2,S"))
	longer := msg + "more\n"
	os.WriteFile(filepath.Join(root, "cur/a:2,S"), []byte(longer), 0o644)
	opened = 0
	_, msgs := list(t, s, "INBOX")
	if opened != 2 {
		t.Errorf("listing after two changes opened %d files, want 2", opened)
	}
	for _, m := range msgs {
		if m.Key == "a" && m.Size != int64(len(corpus.ToCRLF([]byte(longer)))) {
			t.Errorf("rewritten file listed with size %d", m.Size)
		}
	}
}
