package eml

import (
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
)

func write(t *testing.T, files map[string]string) string {
	t.Helper()
	dir := t.TempDir()
	for p, c := range files {
		full := filepath.Join(dir, filepath.FromSlash(p))
		if strings.HasSuffix(p, "/") {
			os.MkdirAll(full, 0o755)
			continue
		}
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

// read lists and fetches a folder: bodies by key, and the listing.
func read(t *testing.T, s *Source, folder string) ([]mailbox.Message, map[string]string) {
	t.Helper()
	_, msgs, err := s.Messages(context.Background(), folder)
	if err != nil {
		t.Fatalf("Messages(%q): %v", folder, err)
	}
	bodies := map[string]string{}
	err = s.Fetch(context.Background(), folder, msgs, func(m mailbox.Message, b mailbox.Body) error {
		data, err := io.ReadAll(b)
		if int64(len(data)) != b.Size() || m.Size != b.Size() {
			t.Errorf("%s: listed %d, Size %d, read %d", m.Key, m.Size, b.Size(), len(data))
		}
		bodies[m.Key] = string(data)
		return err
	})
	if err != nil {
		t.Fatalf("Fetch(%q): %v", folder, err)
	}
	return msgs, bodies
}

func TestTree(t *testing.T) {
	dated := func(d string) string { return "Subject: x\nDate: " + d + "\n\nbody\n" }
	dir := write(t, map[string]string{
		"root.eml":            dated("Wed, 06 Mar 2024 10:00:00 +0000"),
		"Inbox/in-dir.EML":    dated("Tue, 05 Mar 2024 10:00:00 +0000"),
		"Inbox/Sub/child.eml": dated("Tue, 05 Mar 2024 10:00:00 +0000"),
		"Sent/1":              dated("Mon, 04 Mar 2024 10:00:00 +0000"), // MH style, no extension
		"Sent/2":              "Subject: no date\n\nbody\n",
		"Archive/2023/a.eml":  dated("Fri, 01 Mar 2024 10:00:00 +0000"),
		"Empty/":              "",
		".hidden/x.eml":       dated("Fri, 01 Mar 2024 10:00:00 +0000"),
		"Sent/.DS_Store":      "\x00\x00\x00\x01Bud1",
		"Sent/readme.txt":     "notes\n",
		"Sent/outlook.msg":    "\xd0\xcf\x11\xe0",
		"Sent/README":         "This folder holds the sent mail.\n",
		"Sent/zero.eml":       "",
		"Sent/unreadable.eml": dated("Fri, 01 Mar 2024 10:00:00 +0000"),
		"Gr\xfc\xdfe/x.eml":   dated("Fri, 01 Mar 2024 10:00:00 +0000"),
	})
	mtime := time.Date(2021, 1, 1, 0, 0, 0, 0, time.UTC)
	os.Chtimes(filepath.Join(dir, "Sent/2"), mtime, mtime)
	openFile = func(name string) (*os.File, error) {
		if strings.HasSuffix(name, "unreadable.eml") {
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
	var got []string
	for _, f := range folders {
		got = append(got, fmt.Sprintf("%s:%d", f.Name, f.Messages))
	}
	if want := []string{"INBOX:2", "Archive:0", "Archive/2023:1", "Empty:0", "Grüße:1", "INBOX/Sub:1", "Sent:2"}; !slices.Equal(got, want) {
		t.Errorf("folders %v\nwant %v", got, want)
	}
	msgs, bodies := read(t, s, "inbox")
	if len(msgs) != 2 || msgs[0].Key != "Inbox/in-dir.EML" || msgs[1].Key != "root.eml" || msgs[0].UID != 1 || msgs[1].UID != 2 {
		t.Errorf("INBOX: %+v", msgs)
	}
	if bodies["root.eml"] != "Subject: x\r\nDate: Wed, 06 Mar 2024 10:00:00 +0000\r\n\r\nbody\r\n" {
		t.Errorf("root.eml: %q", bodies["root.eml"])
	}
	msgs, _ = read(t, s, "Sent")
	if len(msgs) != 2 || msgs[0].Key != "2" || !msgs[0].InternalDate.Equal(mtime) || msgs[0].Flags != nil ||
		msgs[1].Key != "1" || !msgs[1].InternalDate.Equal(time.Date(2024, 3, 4, 10, 0, 0, 0, time.UTC)) {
		t.Errorf("Sent (oldest first, dates from Date or the file): %+v", msgs)
	}
	reasons := map[string]string{}
	for _, sk := range s.Skipped("Sent") {
		reasons[filepath.Base(sk.Item)] = sk.Reason
	}
	for item, want := range map[string]string{
		"readme.txt":     `not an .eml file (extension ".txt")`,
		"outlook.msg":    `not an .eml file (extension ".msg")`,
		"README":         "not a mail message",
		"zero.eml":       "empty file",
		"unreadable.eml": "cannot read: permission denied",
	} {
		if !strings.Contains(reasons[item], want) {
			t.Errorf("skip of %s: %q, want %q", item, reasons[item], want)
		}
	}
	if len(reasons) != 5 {
		t.Errorf("skipped %v", reasons)
	}
	if _, _, err := s.Messages(context.Background(), "Nope"); !errors.Is(err, mailbox.ErrFolderGone) {
		t.Errorf("Messages(Nope): %v", err)
	}
	if _, _, err := s.Messages(context.Background(), "../"+filepath.Base(dir)); !errors.Is(err, mailbox.ErrFolderGone) {
		t.Errorf("Messages of a path outside the tree: %v", err)
	}
	_, msgs2, _ := s.Messages(context.Background(), "Archive/2023")
	os.RemoveAll(filepath.Join(dir, "Archive"))
	if err := s.Fetch(context.Background(), "Archive/2023", msgs2, func(mailbox.Message, mailbox.Body) error { return nil }); !errors.Is(err, mailbox.ErrFolderGone) {
		t.Errorf("Fetch from a removed folder: %v", err)
	}
}

func TestSingleFile(t *testing.T) {
	dir := write(t, map[string]string{"one.eml": "Subject: alone\n\nbody\n"})
	s := open(t, filepath.Join(dir, "one.eml"))
	msgs, bodies := read(t, s, "INBOX")
	if len(msgs) != 1 || bodies["one.eml"] != "Subject: alone\r\n\r\nbody\r\n" {
		t.Errorf("%+v %q", msgs, bodies)
	}
	if _, err := Open(filepath.Join(dir, "missing")); err == nil || !strings.Contains(err.Error(), dir) {
		t.Errorf("Open(missing): %v", err)
	}
}

// TestFetchWithoutListing fetches by keys from another Source's listing.
func TestFetchWithoutListing(t *testing.T) {
	dir := write(t, map[string]string{"a.eml": "Subject: a\n\nA\n", "Inbox/b.eml": "Subject: b\n\nB\n"})
	msgs, _ := read(t, open(t, dir), "INBOX")
	_, bodies := read(t, open(t, dir), "INBOX")
	s := open(t, dir)
	n := 0
	err := s.Fetch(context.Background(), "INBOX", msgs, func(m mailbox.Message, b mailbox.Body) error {
		data, _ := io.ReadAll(b)
		if string(data) != bodies[m.Key] {
			t.Errorf("%s: %q", m.Key, data)
		}
		n++
		return nil
	})
	if err != nil || n != 2 {
		t.Errorf("fetched %d, %v", n, err)
	}
}

// TestTestdata reads the shared test data's directory as it is: every
// message byte-exact with CRLF line endings, the licence files skipped.
func TestTestdata(t *testing.T) {
	messy := corpus.Messy(t)
	root := filepath.Join(corpus.TestdataDir(t), "eml")
	s := open(t, root)
	folders, err := s.Folders(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	delivered := 0
	var skipped []string
	for _, f := range folders {
		_, bodies := read(t, s, f.Name)
		for k, b := range bodies {
			rel := f.Name + "/" + k
			want, ok := messy[rel]
			if !ok {
				t.Errorf("%s delivered, but it is not a test message", rel)
				continue
			}
			delivered++
			if b != string(corpus.ToCRLF(want)) {
				t.Errorf("%s: delivered bytes differ", rel)
			}
		}
		for _, sk := range s.Skipped(f.Name) {
			skipped = append(skipped, filepath.Base(sk.Item))
		}
	}
	sort.Strings(skipped)
	var wantSkipped []string
	ents, _ := filepath.Glob(filepath.Join(root, "*", "*"))
	for _, e := range ents {
		if !strings.HasSuffix(e, ".eml") {
			wantSkipped = append(wantSkipped, filepath.Base(e))
		}
	}
	wantSkipped = append(wantSkipped, "erroneous.eml") // not a mail message
	sort.Strings(wantSkipped)
	if !slices.Equal(skipped, wantSkipped) {
		t.Errorf("skipped %v, want %v", skipped, wantSkipped)
	}
	if delivered != len(messy)-1 {
		t.Errorf("%d of %d test messages delivered", delivered, len(messy))
	}
}
