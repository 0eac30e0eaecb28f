package mailfile

import (
	"bytes"
	"context"
	"errors"
	"io"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"testing/iotest"
	"time"

	"github.com/mailshift/mailshift/internal/testrig/corpus"
)

// samples are inputs with every kind of line ending, at every position.
func samples() [][]byte {
	out := [][]byte{
		nil, []byte("\n"), []byte("\r"), []byte("\r\n"), []byte("\n\n"), []byte("\r\r\n"), []byte("a\nb\r\nc\rd\n\r"),
		[]byte("no line end"), []byte("\n\r\n\n\r\r\n"), []byte("x\x00y\n"),
	}
	r := rand.New(rand.NewPCG(1, 2))
	for i := 0; i < 200; i++ {
		b := make([]byte, r.IntN(300))
		for j := range b {
			b[j] = "ab\r\n"[r.IntN(4)]
		}
		out = append(out, b)
	}
	big := bytes.Repeat([]byte("0123456789abcdef\n"), 10000)
	big[len(big)/2-1] = '\r' // a CR right before a LF in the middle of a read
	out = append(out, big)
	return out
}

func TestToCRLFAndSize(t *testing.T) {
	for _, b := range samples() {
		want := corpus.ToCRLF(b)
		if got := ToCRLF(bytes.Clone(b)); !bytes.Equal(got, want) {
			t.Fatalf("ToCRLF(%q) = %q, want %q", b, got, want)
		}
		size, raw, err := CRLFSize(iotest.OneByteReader(bytes.NewReader(b)))
		if err != nil || size != int64(len(want)) || raw != int64(len(b)) {
			t.Fatalf("CRLFSize(%q) = %d, %d, %v; want %d, %d", b, size, raw, err, len(want), len(b))
		}
	}
}

func TestReader(t *testing.T) {
	readers := map[string]func(io.Reader) io.Reader{
		"plain":    func(r io.Reader) io.Reader { return r },
		"one byte": iotest.OneByteReader,
		"half":     iotest.HalfReader,
	}
	for name, wrap := range readers {
		for _, b := range samples() {
			want := corpus.ToCRLF(b)
			r := NewReader(wrap(bytes.NewReader(b)), int64(len(want)))
			got, err := io.ReadAll(iotest.OneByteReader(r))
			if name == "plain" {
				got, err = io.ReadAll(NewReader(bytes.NewReader(b), int64(len(want))))
			}
			if err != nil || !bytes.Equal(got, want) {
				t.Fatalf("%s: Reader(%q) = %q, %v; want %q", name, b[:min(len(b), 40)], got[:min(len(got), 40)], err, want[:min(len(want), 40)])
			}
			if r.Size() != int64(len(want)) {
				t.Fatalf("Size %d, want %d", r.Size(), len(want))
			}
		}
	}
}

func TestReaderRefusesAnotherSize(t *testing.T) {
	b := []byte("Subject: x\n\nbody\n")
	want := corpus.ToCRLF(b)
	for _, size := range []int64{int64(len(want)) - 1, int64(len(want)) + 1, 0, int64(len(want)) - 2} {
		got, err := io.ReadAll(NewReader(bytes.NewReader(b), size))
		if !errors.Is(err, ErrChanged) {
			t.Errorf("size %d (real %d): %v, want ErrChanged", size, len(want), err)
		}
		if int64(len(got)) > size {
			t.Errorf("size %d: %d bytes delivered", size, len(got))
		}
	}
}

func TestBody(t *testing.T) {
	dir := t.TempDir()
	small := []byte("Subject: small\n\nhello\n")
	large := bytes.Repeat([]byte("a line of a large message file\n"), (SmallFile/31)+100)
	for _, c := range []struct {
		name    string
		content []byte
		listed  func(p string, fi os.FileInfo) Listed
	}{
		{"small", small, func(p string, fi os.FileInfo) Listed { return Listed{Raw: fi.Size(), MTime: fi.ModTime(), Size: -1} }},
		{"large unknown size", large, func(p string, fi os.FileInfo) Listed { return Listed{Size: -1} }},
		{"large listed", large, func(p string, fi os.FileInfo) Listed {
			return Listed{Raw: fi.Size(), MTime: fi.ModTime(), Size: int64(len(corpus.ToCRLF(large)))}
		}},
		{"large changed since listed", large, func(p string, fi os.FileInfo) Listed {
			return Listed{Raw: fi.Size() - 1, MTime: fi.ModTime(), Size: 5}
		}},
	} {
		t.Run(c.name, func(t *testing.T) {
			p := filepath.Join(dir, strings.ReplaceAll(c.name, " ", "_"))
			if err := os.WriteFile(p, c.content, 0o644); err != nil {
				t.Fatal(err)
			}
			f, err := os.Open(p)
			if err != nil {
				t.Fatal(err)
			}
			defer f.Close()
			fi, _ := f.Stat()
			b, err := NewBody(context.Background(), f, c.listed(p, fi))
			if err != nil {
				t.Fatal(err)
			}
			got, err := io.ReadAll(b)
			want := corpus.ToCRLF(c.content)
			if err != nil || !bytes.Equal(got, want) || b.Size() != int64(len(want)) {
				t.Fatalf("body: %d bytes, Size %d, err %v; want %d bytes", len(got), b.Size(), err, len(want))
			}
		})
	}
	t.Run("cancelled", func(t *testing.T) {
		ctx, cancel := context.WithCancel(context.Background())
		cancel()
		b := NewStream(ctx, strings.NewReader("x"), 1)
		if _, err := b.Read(make([]byte, 1)); !errors.Is(err, context.Canceled) {
			t.Fatalf("read after cancel: %v", err)
		}
	})
}

func TestFolderName(t *testing.T) {
	if n := FolderName("Überblick", true); n != "Überblick" {
		t.Errorf("FolderName of a UTF-8 name: %q", n)
	}
	if n := FolderName("Gr\xfc\xdfe", true); n != "Grüße" {
		t.Errorf("FolderName of a Latin-1 name: %q", n)
	}
	if n := FolderName("&ANw-berblick", false); n != "&ANw-berblick" {
		t.Errorf("FolderName without modified UTF-7: %q", n)
	}
}

func TestLooksLikeMail(t *testing.T) {
	for _, c := range []struct {
		head string
		ok   bool
		why  string
	}{
		{"Return-Path: <a@b>\n", true, ""},
		{"From: a@b\r\nSubject: x\r\n", true, ""},
		{"Subject : obsolete spacing\n", true, ""},
		{"From a@b Mon Jan  1 00:00:00 2024\nSubject: x\n", true, ""},
		{"X-Only-Header:", true, ""},
		{" From: a broken first line\nSubject: x\n", true, ""},
		{"", false, "empty file"},
		{"\x89PNG\r\n\x1a\n\x00\x00", false, "binary"},
		{"Hello, this is a note\nSubject: no\n", false, "first line is not a header field"},
		{"\nSubject: late\n", false, "first line is not a header field"},
		{"\xef\xbb\xbfSubject: bom\n", false, "byte-order mark"},
		{": no name\n", false, "not a header field"},
	} {
		ok, why := LooksLikeMail([]byte(c.head))
		if ok != c.ok || !strings.Contains(why, c.why) {
			t.Errorf("LooksLikeMail(%q) = %v, %q; want %v, containing %q", c.head, ok, why, c.ok, c.why)
		}
	}
}

func TestHeaderDate(t *testing.T) {
	want := time.Date(2024, 3, 5, 9, 15, 0, 0, time.FixedZone("", 3600))
	for _, h := range []string{
		"Subject: x\r\nDate: Tue, 05 Mar 2024 09:15:00 +0100\r\n\r\nDate: Wed, 06 Mar 2024 00:00:00 +0000\r\n",
		"date:\n Tue, 5 Mar 2024\n 09:15:00 +0100\nSubject: folded\n",
	} {
		d, ok := HeaderDate([]byte(h))
		if !ok || !d.Equal(want) {
			t.Errorf("HeaderDate(%q) = %v, %v; want %v", h, d, ok, want)
		}
	}
	for _, h := range []string{"Subject: x\n\nDate: Tue, 05 Mar 2024 09:15:00 +0100\n", "Date: yesterday\n"} {
		if d, ok := HeaderDate([]byte(h)); ok {
			t.Errorf("HeaderDate(%q) = %v, want none", h, d)
		}
	}
}

func TestPlainPathAndOrder(t *testing.T) {
	for n, want := range map[string]bool{"A/B": true, "Ü": true, "../x": false, "a//b": false, "a/./b": false, "": false, "a\x00": false} {
		if PlainPath(n) != want {
			t.Errorf("PlainPath(%q) = %v", n, !want)
		}
	}
	if FolderOrder("INBOX", "Archive") >= 0 || FolderOrder("Archive", "INBOX") <= 0 || FolderOrder("A", "B") >= 0 {
		t.Error("FolderOrder does not put INBOX first, then by name")
	}
}
