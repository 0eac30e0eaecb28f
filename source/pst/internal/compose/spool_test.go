package compose

import (
	"bytes"
	"crypto/sha256"
	"encoding/base64"
	"io"
	"mime"
	"mime/multipart"
	"net/mail"
	"path/filepath"
	"runtime"
	"testing"
)

func TestSpool(t *testing.T) {
	dir := t.TempDir()
	data := make([]byte, 100_000)
	for i := range data {
		data[i] = byte(i * 7)
	}
	for _, limit := range []int{0, 1, 1000, 99_999, 100_000, 200_000} {
		s := NewSpool(dir, limit)
		// Uneven writes, to cross the limit inside one.
		for p := data; len(p) > 0; {
			n := min(len(p), 3333)
			if k, err := s.Write(p[:n]); err != nil || k != n {
				t.Fatalf("limit %d: Write = %d, %v", limit, k, err)
			}
			p = p[n:]
		}
		if s.Size() != int64(len(data)) {
			t.Errorf("limit %d: Size %d", limit, s.Size())
		}
		if limit > 0 && cap(s.mem) > limit {
			t.Errorf("limit %d: %d bytes of memory", limit, cap(s.mem))
		}
		spilled, _ := filepath.Glob(filepath.Join(dir, "*"))
		if wantFile := limit != 0 && limit < len(data); (len(spilled) == 1) != wantFile {
			t.Errorf("limit %d: files %v", limit, spilled)
		}
		for range 2 { // readers are independent
			r, err := s.Reader()
			if err != nil {
				t.Fatal(err)
			}
			got, err := io.ReadAll(r)
			if err != nil || !bytes.Equal(got, data) {
				t.Fatalf("limit %d: read back %d bytes, %v", limit, len(got), err)
			}
		}
		if err := s.Close(); err != nil {
			t.Fatal(err)
		}
		if left, _ := filepath.Glob(filepath.Join(dir, "*")); len(left) != 0 {
			t.Errorf("limit %d: Close left %v", limit, left)
		}
		if _, err := s.Write([]byte("x")); err == nil {
			t.Error("write after Close: no error")
		}
		if _, err := s.Reader(); err == nil {
			t.Error("Reader after Close: no error")
		}
		if err := s.Close(); err != nil {
			t.Errorf("second Close: %v", err)
		}
	}
	s := NewSpool(filepath.Join(dir, "missing"), 10)
	if _, err := s.Write(make([]byte, 20)); err == nil {
		t.Error("spill into a missing folder: no error")
	}
	if _, err := s.Reader(); err == nil {
		t.Error("Reader after a failed write: no error")
	}
	s.Close()
}

// patternReader yields n bytes of a fixed pseudo-random pattern without
// holding them, and samples the heap as it goes.
type patternReader struct {
	n, off  int64
	x       uint64
	maxHeap uint64
}

func (p *patternReader) Read(b []byte) (int, error) {
	if p.off >= p.n {
		return 0, io.EOF
	}
	b = b[:min(int64(len(b)), p.n-p.off)]
	for i := range b {
		p.x ^= p.x << 13
		p.x ^= p.x >> 7
		p.x ^= p.x << 17
		b[i] = byte(p.x)
	}
	if p.off/(4<<20) != (p.off+int64(len(b)))/(4<<20) {
		var ms runtime.MemStats
		runtime.ReadMemStats(&ms)
		p.maxHeap = max(p.maxHeap, ms.HeapInuse)
	}
	p.off += int64(len(b))
	return len(b), nil
}

func (p *patternReader) Close() error { return nil }

func TestLargeAttachmentThroughSpool(t *testing.T) {
	size := int64(64 << 20)
	if testing.Short() || raceEnabled {
		size = 16 << 20
	}
	var last *patternReader
	open := func() (io.ReadCloser, error) {
		last = &patternReader{n: size, x: 88172645463325252}
		return last, nil
	}
	want := sha256.New()
	if _, err := io.Copy(want, &patternReader{n: size, x: 88172645463325252}); err != nil {
		t.Fatal(err)
	}
	m := &Message{Subject: "big", Text: "see attached", Attachments: []Attachment{{Name: "big.bin", Size: size, Open: open}}}

	runtime.GC()
	var before runtime.MemStats
	runtime.ReadMemStats(&before)
	s := NewSpool(t.TempDir(), 1<<20)
	defer s.Close()
	if err := Build(s, m); err != nil {
		t.Fatal(err)
	}
	grew := int64(last.maxHeap) - int64(before.HeapInuse)
	t.Logf("heap in use grew by %d KiB while building", grew>>10)
	if last.maxHeap == 0 || grew > 16<<20 {
		t.Errorf("heap in use grew by %d MiB while building a %d MiB attachment", grew>>20, size>>20)
	}
	if min := size * 4 / 3; s.Size() < min {
		t.Fatalf("spooled %d bytes, want over %d", s.Size(), min)
	}

	// A second build has the same size, and the bytes read back hold the
	// attachment.
	var counted countWriter
	if err := Build(&counted, m); err != nil || int64(counted) != s.Size() {
		t.Fatalf("second build: %d bytes, %v; first %d", counted, err, s.Size())
	}
	r, err := s.Reader()
	if err != nil {
		t.Fatal(err)
	}
	msg, err := mail.ReadMessage(r)
	if err != nil {
		t.Fatal(err)
	}
	_, params, err := mime.ParseMediaType(msg.Header.Get("Content-Type"))
	if err != nil {
		t.Fatal(err)
	}
	mr := multipart.NewReader(msg.Body, params["boundary"])
	if _, err := mr.NextRawPart(); err != nil { // the text
		t.Fatal(err)
	}
	p, err := mr.NextRawPart()
	if err != nil {
		t.Fatal(err)
	}
	got := sha256.New()
	n, err := io.Copy(got, base64.NewDecoder(base64.StdEncoding, p))
	if err != nil || n != size {
		t.Fatalf("attachment read back: %d bytes, %v", n, err)
	}
	if !bytes.Equal(got.Sum(nil), want.Sum(nil)) {
		t.Error("attachment bytes differ")
	}
}

type countWriter int64

func (c *countWriter) Write(p []byte) (int, error) {
	*c += countWriter(len(p))
	return len(p), nil
}
