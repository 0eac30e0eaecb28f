package pst

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"hash"
	"io"
	"math/rand/v2"
	"mime"
	"mime/multipart"
	"net/mail"
	"os"
	"path/filepath"
	"runtime"
	"runtime/debug"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/mailshift/mailshift/internal/mailbox"
)

// This file checks that a large PST is read with bounded memory: its
// attachments stream from the file's blocks through composition to the
// reader of the message, and nothing held in memory grows with them.

// largeAttachment is the size of each large attachment of
// TestLargeAttachments: 100 MB, or 16 MB in -short mode and under the race
// detector.
func largeAttachment() int64 {
	if testing.Short() || raceEnabled {
		return 16 << 20
	}
	return 100 << 20
}

// genReader is a deterministic stream of n pseudo-random bytes. Text-like
// bytes (16 letters, 4 bits of entropy each) compress by about half, so
// that compressed blocks of the 4K format are exercised.
type genReader struct {
	rng  *rand.ChaCha8
	left int64
	text bool
}

func newGen(seed uint64, n int64, text bool) *genReader {
	var s [32]byte
	copy(s[:], strconv.FormatUint(seed, 16))
	return &genReader{rng: rand.NewChaCha8(s), left: n, text: text}
}

func (g *genReader) Read(p []byte) (int, error) {
	if g.left <= 0 {
		return 0, io.EOF
	}
	if int64(len(p)) > g.left {
		p = p[:g.left]
	}
	g.rng.Read(p)
	if g.text {
		for i, c := range p {
			p[i] = "etaoinshrdlucmfw"[c&15]
		}
	}
	g.left -= int64(len(p))
	return len(p), nil
}

// largeSpec describes a file of large attachments.
type largeSpec struct {
	format format
	crypt  byte
	big    []int64 // one message per large attachment, of these sizes
	small  int     // messages with small attachments only, in a subfolder
	text   bool    // text-like attachment data rather than random bytes
}

// digests collects the SHA-256 of every attachment by file name: the
// large ones as they are written, the small ones at once.
type digests struct {
	pending map[string]hash.Hash
	sums    map[string][32]byte
}

func (d *digests) add(name string, data []byte) {
	d.sums[name] = sha256.Sum256(data)
}

func (d *digests) stream(name string, r io.Reader) io.Reader {
	h := sha256.New()
	d.pending[name] = h
	return io.TeeReader(r, h)
}

func (d *digests) finish() map[string][32]byte {
	for name, h := range d.pending {
		var s [32]byte
		h.Sum(s[:0])
		d.sums[name] = s
	}
	return d.sums
}

// writeLarge writes the file spec describes to path and returns the
// SHA-256 of each attachment by file name. Every message carries a text
// body and two small attachments (one in the heap, one in an XBLOCK); a
// message with a large attachment carries it itself, or every third one
// in a message embedded in it.
func writeLarge(tb testing.TB, path string, spec largeSpec) map[string][32]byte {
	tb.Helper()
	d := &digests{pending: map[string]hash.Hash{}, sums: map[string][32]byte{}}
	msg := func(i int) wMessage {
		m := wMessage{
			class:    "IPM.Note",
			subject:  fmt.Sprintf("Large %d", i),
			from:     fmt.Sprintf("sender%d@example.com", i),
			fromName: fmt.Sprintf("Sender %d", i),
			to:       []string{"rcpt@example.org"},
			body:     fmt.Sprintf("Message %d.\r\n", i),
			msgID:    fmt.Sprintf("<large%d@example.com>", i),
			date:     base.Add(time.Duration(i) * time.Minute),
		}
		for _, a := range []struct {
			name string
			n    int
		}{{fmt.Sprintf("small-%d.txt", i), 3000}, {fmt.Sprintf("medium-%d.bin", i), 40000 + i}} {
			data := attachData(i, a.n)
			d.add(a.name, data)
			m.attach = append(m.attach, wAttach{name: a.name, mime: "application/octet-stream", data: data})
		}
		return m
	}
	inbox := &wFolder{name: "Inbox"}
	for i, n := range spec.big {
		m := msg(i)
		name := fmt.Sprintf("large-%d.bin", i)
		a := wAttach{name: name, mime: "application/octet-stream", size: n, open: func() io.Reader {
			return d.stream(name, newGen(uint64(i), n, spec.text))
		}}
		if i%3 == 2 {
			inner := wMessage{class: "IPM.Note", subject: fmt.Sprintf("Inner %d", i), from: "inner@example.com", body: "inner body", date: base, attach: []wAttach{a}}
			m.attach = append(m.attach, wAttach{name: fmt.Sprintf("inner-%d.msg", i), embedded: &inner})
		} else {
			m.attach = append(m.attach, a)
		}
		inbox.msgs = append(inbox.msgs, m)
	}
	if spec.small > 0 {
		archive := &wFolder{name: "Archive"}
		for i := 0; i < spec.small; i++ {
			archive.msgs = append(archive.msgs, msg(len(spec.big)+i))
		}
		inbox.children = []*wFolder{archive}
	}
	if err := writePSTFile(path, wOptions{format: spec.format, crypt: spec.crypt, compress: spec.text}, &wFolder{children: []*wFolder{inbox}}, 0); err != nil {
		tb.Fatal(err)
	}
	return d.finish()
}

// heapSampler records the largest HeapInuse seen while it runs.
type heapSampler struct {
	stopc chan struct{}
	wg    sync.WaitGroup
	peak  uint64
}

func sampleHeap(every time.Duration) *heapSampler {
	s := &heapSampler{stopc: make(chan struct{})}
	s.sample()
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		t := time.NewTicker(every)
		defer t.Stop()
		for {
			select {
			case <-s.stopc:
				return
			case <-t.C:
				s.sample()
			}
		}
	}()
	return s
}

func (s *heapSampler) sample() {
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	s.peak = max(s.peak, ms.HeapInuse)
}

// stop ends the sampling and returns the peak.
func (s *heapSampler) stop() uint64 {
	close(s.stopc)
	s.wg.Wait()
	s.sample()
	return s.peak
}

// largeRun is what reading a large file measured.
type largeRun struct {
	messages    int
	fetched     int64         // bytes of the composed messages
	list, fetch time.Duration // in Messages, in Fetch
	heapBase    uint64        // HeapInuse after a collection, before reading
	heapPeak    uint64        // the largest HeapInuse while reading
	alloc       uint64        // bytes allocated while reading
}

// readLarge opens the file at path, lists and fetches every message of
// every folder, hashing each attachment as it streams by, and checks the
// sizes and the digests against want. A gcPercent above 0 sets GOGC while
// reading: a low one makes the heap in use follow what is live rather
// than the garbage a collection cycle lets pile up.
func readLarge(tb testing.TB, path string, want map[string][32]byte, gcPercent int) largeRun {
	tb.Helper()
	if gcPercent > 0 {
		defer debug.SetGCPercent(debug.SetGCPercent(gcPercent))
	}
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	r := largeRun{heapBase: ms.HeapInuse}
	alloc := ms.TotalAlloc
	sampler := sampleHeap(5 * time.Millisecond)

	s, err := Open(path)
	if err != nil {
		sampler.stop()
		tb.Fatal(err)
	}
	defer s.Close()
	ctx := context.Background()
	folders, err := s.Folders(ctx)
	if err != nil {
		sampler.stop()
		tb.Fatal(err)
	}
	got := map[string][32]byte{}
	buf := make([]byte, 32<<10)
	var errs []error
	for _, f := range folders {
		t0 := time.Now()
		_, msgs, err := s.Messages(ctx, f.Name)
		r.list += time.Since(t0)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		if sk := s.Skipped(f.Name); len(sk) > 0 {
			errs = append(errs, fmt.Errorf("folder %q: skipped %v", f.Name, sk))
		}
		t0 = time.Now()
		err = s.Fetch(ctx, f.Name, msgs, func(m mailbox.Message, b mailbox.Body) error {
			c := &countReader{r: b}
			if err := hashMessage(c, got, buf, 0); err != nil {
				return fmt.Errorf("message %s: %w", m.Key, err)
			}
			if _, err := io.CopyBuffer(io.Discard, c, buf); err != nil {
				return fmt.Errorf("message %s: %w", m.Key, err)
			}
			if c.n != b.Size() || c.n != m.Size {
				return fmt.Errorf("message %s: read %d bytes, Body.Size %d, listed Size %d", m.Key, c.n, b.Size(), m.Size)
			}
			r.fetched += c.n
			r.messages++
			return nil
		})
		r.fetch += time.Since(t0)
		if err != nil {
			errs = append(errs, err)
		}
	}
	r.heapPeak = sampler.stop()
	runtime.ReadMemStats(&ms)
	r.alloc = ms.TotalAlloc - alloc
	if err := errors.Join(errs...); err != nil {
		tb.Fatal(err)
	}
	for name, sum := range want {
		if g, ok := got[name]; !ok {
			tb.Errorf("attachment %s not found", name)
		} else if g != sum {
			tb.Errorf("attachment %s: SHA-256 %x, written %x", name, g[:8], sum[:8])
		}
	}
	if len(got) != len(want) {
		tb.Errorf("%d attachments found, %d written", len(got), len(want))
	}
	return r
}

type countReader struct {
	r io.Reader
	n int64
}

func (c *countReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n += int64(n)
	return n, err
}

// hashMessage reads a MIME message from r as a stream and records the
// SHA-256 of every base64 part, decoded, by file name in sums.
func hashMessage(r io.Reader, sums map[string][32]byte, buf []byte, depth int) error {
	m, err := mail.ReadMessage(r)
	if err != nil {
		return err
	}
	return hashEntity(m.Header, m.Body, sums, buf, depth)
}

func hashEntity(h mail.Header, body io.Reader, sums map[string][32]byte, buf []byte, depth int) error {
	if depth > 10 {
		return errors.New("MIME nesting too deep")
	}
	ct := h.Get("Content-Type")
	if ct == "" {
		ct = "text/plain"
	}
	mt, params, err := mime.ParseMediaType(ct)
	if err != nil {
		return fmt.Errorf("Content-Type %q: %w", ct, err)
	}
	switch {
	case strings.HasPrefix(mt, "multipart/"):
		mr := multipart.NewReader(body, params["boundary"])
		for {
			p, err := mr.NextRawPart()
			if err == io.EOF {
				return nil
			}
			if err != nil {
				return err
			}
			if err := hashEntity(mail.Header(p.Header), p, sums, buf, depth+1); err != nil {
				return err
			}
		}
	case mt == "message/rfc822":
		return hashMessage(body, sums, buf, depth+1)
	case strings.EqualFold(h.Get("Content-Transfer-Encoding"), "base64"):
		name := params["name"]
		if _, dp, err := mime.ParseMediaType(h.Get("Content-Disposition")); err == nil && dp["filename"] != "" {
			name = dp["filename"]
		}
		if _, ok := sums[name]; ok {
			return fmt.Errorf("attachment %q found twice", name)
		}
		sh := sha256.New()
		if err := decodeBase64(sh, body, buf); err != nil {
			return fmt.Errorf("attachment %q: %w", name, err)
		}
		var s [32]byte
		sh.Sum(s[:0])
		sums[name] = s
		return nil
	}
	_, err = io.CopyBuffer(io.Discard, body, buf)
	return err
}

// decodeBase64 decodes base64 text broken into lines from r to w, using
// buf for the text and as much again for the bytes decoded. (It does what
// base64.NewDecoder does, several times faster, so that the figures of
// the test and the benchmark are mostly the reader's.)
func decodeBase64(w io.Writer, r io.Reader, buf []byte) error {
	in := buf[:len(buf)/2]
	out := buf[len(buf)/2:]
	have := 0 // undecoded bytes at the start of in
	for {
		n, rerr := r.Read(in[have:])
		// Drop the line breaks of what was read.
		j := have
		for seg := in[have : have+n]; len(seg) > 0; {
			line := seg
			seg = nil
			if k := bytes.IndexByte(line, '\n'); k >= 0 {
				line, seg = line[:k], line[k+1:]
			}
			j += copy(in[j:], bytes.TrimRight(line, "\r"))
		}
		whole := j - j%4
		if rerr != nil {
			whole = j
		}
		if whole > 0 {
			m, err := base64.StdEncoding.Decode(out, in[:whole])
			if err != nil {
				return err
			}
			if _, err := w.Write(out[:m]); err != nil {
				return err
			}
		}
		have = copy(in, in[whole:j])
		if rerr == io.EOF {
			return nil
		}
		if rerr != nil {
			return rerr
		}
	}
}

const mib = 1 << 20

// Bounds of TestLargeAttachments: the growth of the heap in use while
// reading, and the bytes allocated, once per file and per message.
const (
	heapLimit       = 4 * mib
	allocFixed      = 4 * mib
	allocPerMessage = mib / 2
)

// TestLargeAttachments writes files whose messages carry large
// attachments, in blocks, to disk, then lists and fetches every message
// while sampling the Go heap (with GOGC at 10, so that the heap in use is
// close to what is live): the heap in use must stay far below one
// attachment, nothing must be allocated per block read, and every
// attachment must come back intact. Each attachment is read twice: once
// by Messages to learn its message's exact size, once by Fetch.
func TestLargeAttachments(t *testing.T) {
	size := largeAttachment()
	for _, c := range []struct {
		name string
		spec largeSpec
	}{
		// Three large attachments (the third in an embedded message),
		// each an XXBLOCK tree of more than a thousand data blocks.
		{"unicode-permute", largeSpec{format: formatUnicode, crypt: cryptPermute, big: []int64{size, size + 1, size + 2}}},
		{"ansi-cyclic", largeSpec{format: formatANSI, crypt: cryptCyclic, big: []int64{size / 4, size/4 + 1}, small: 20}},
		{"unicode4k-compressed", largeSpec{format: formatUnicode4K, crypt: cryptPermute, big: []int64{size / 8, size/8 + 1}, text: true}},
	} {
		t.Run(c.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), c.name+".pst")
			t0 := time.Now()
			want := writeLarge(t, path, c.spec)
			fi, err := os.Stat(path)
			if err != nil {
				t.Fatal(err)
			}
			t.Logf("wrote %.1f MiB in %v", float64(fi.Size())/mib, time.Since(t0).Round(time.Millisecond))
			var biggest, attached int64
			for _, n := range c.spec.big {
				biggest = max(biggest, n)
				attached += n
			}
			r := readLarge(t, path, want, 10)
			growth := int64(r.heapPeak) - int64(r.heapBase)
			t.Logf("%d messages, %.1f MiB composed; Messages %v, Fetch %v (%.0f MiB/s of file read twice); heap in use %.1f MiB before, peak %.1f MiB (+%.1f MiB); %.1f MiB allocated",
				r.messages, float64(r.fetched)/mib, r.list.Round(time.Millisecond), r.fetch.Round(time.Millisecond),
				2*float64(fi.Size())/mib/(r.list+r.fetch).Seconds(),
				float64(r.heapBase)/mib, float64(r.heapPeak)/mib, float64(growth)/mib, float64(r.alloc)/mib)
			// What is live while a message streams is one message's
			// properties and tables, a few B-tree pages and heap
			// blocks, the composer's and the pipe's buffers: well
			// under a MiB, whatever the attachments' size.
			if growth > heapLimit {
				t.Errorf("heap in use grew by %.1f MiB reading attachments of up to %.1f MiB; want less than %.1f MiB", float64(growth)/mib, float64(biggest)/mib, float64(heapLimit)/mib)
			}
			// Streaming allocates nothing per block: what is allocated
			// is per message (and once per file), not per byte.
			if limit := uint64(allocFixed + allocPerMessage*r.messages); r.alloc > limit {
				t.Errorf("%.1f MiB allocated reading %d messages and %.1f MiB of attachments twice; want less than %.1f MiB", float64(r.alloc)/mib, r.messages, float64(attached)/mib, float64(limit)/mib)
			}
		})
	}
}

// BenchmarkLargePST writes a PST of MAILSHIFT_BENCH_PST_MB megabytes
// (default 2048; 256 in -short mode) to a temporary directory, mostly
// attachments of 64 MiB (every third in an embedded message) and 200
// small messages, then lists and fetches every message, hashing each
// attachment. It reports the speed in MB of file per second, overall
// (MB/s) and for Messages (list-MB/s, which composes every message to
// size it) and Fetch (fetch-MB/s, which composes it again and includes
// the benchmark's own MIME parsing and hashing), the peak Go heap in use
// (default GOGC) and the bytes allocated per run. The file is removed at
// the end.
func BenchmarkLargePST(b *testing.B) {
	mb := int64(2048)
	if testing.Short() {
		mb = 256
	}
	if v := os.Getenv("MAILSHIFT_BENCH_PST_MB"); v != "" {
		n, err := strconv.ParseInt(v, 10, 64)
		if err != nil || n < 1 {
			b.Fatalf("MAILSHIFT_BENCH_PST_MB=%q: want a number of megabytes", v)
		}
		mb = n
	}
	const chunk = 64 << 20
	var big []int64
	for left := mb << 20; left > 0; left -= chunk {
		big = append(big, min(left, chunk))
	}
	dir := b.TempDir()
	path := filepath.Join(dir, "large.pst")
	defer os.Remove(path)
	t0 := time.Now()
	want := writeLarge(b, path, largeSpec{format: formatUnicode, crypt: cryptPermute, big: big, small: 200})
	fi, err := os.Stat(path)
	if err != nil {
		b.Fatal(err)
	}
	b.Logf("wrote %d MiB (%d messages) in %v", fi.Size()>>20, len(big)+200, time.Since(t0).Round(time.Millisecond))
	b.SetBytes(fi.Size())
	var peak, alloc uint64
	var list, fetch time.Duration
	runs := 0
	for b.Loop() {
		r := readLarge(b, path, want, 0)
		peak = max(peak, r.heapPeak)
		alloc += r.alloc
		list += r.list
		fetch += r.fetch
		runs++
		b.Logf("%d messages: Messages %v, Fetch %v; heap in use %.1f MiB before, peak %.1f MiB; %.1f MiB allocated",
			r.messages, r.list.Round(time.Millisecond), r.fetch.Round(time.Millisecond), float64(r.heapBase)/mib, float64(r.heapPeak)/mib, float64(r.alloc)/mib)
	}
	read := float64(fi.Size()) * float64(runs) / 1e6
	b.ReportMetric(read/list.Seconds(), "list-MB/s")
	b.ReportMetric(read/fetch.Seconds(), "fetch-MB/s")
	b.ReportMetric(float64(peak)/mib, "peak-heap-MiB")
	b.ReportMetric(float64(alloc)/mib/float64(runs), "alloc-MiB/op")
}

// TestStreamTrees writes values of many sizes as single blocks, XBLOCKs
// and XXBLOCKs of small blocks and reads them back three ways: streamed,
// whole, and block by block in random order (which moves between the
// XBLOCKs of a tree back and forth).
func TestStreamTrees(t *testing.T) {
	const bd = 1024
	sizes := []int{0, 1, bd, bd + 1, 12 * bd, 12*bd + 1, 5*12*bd + 77, 12 * 12 * bd}
	for _, o := range []wOptions{
		{format: formatUnicode, crypt: cryptPermute, blockData: bd, fanout: 12},
		{format: formatANSI, crypt: cryptCyclic, blockData: bd, fanout: 12},
		{format: formatUnicode4K, crypt: cryptNone, blockData: bd, fanout: 12, compress: true},
	} {
		t.Run(o.format.String(), func(t *testing.T) {
			w := newWriter(o)
			values := make([][]byte, len(sizes))
			bids := make([]uint64, len(sizes))
			for i, n := range sizes {
				values[i], _ = io.ReadAll(newGen(uint64(i), int64(n), true))
				bids[i] = w.bytesData(values[i])
			}
			data := w.finish(0)
			f, err := openFile(bytes.NewReader(data), int64(len(data)), true)
			if err != nil {
				t.Fatal(err)
			}
			rng := rand.New(rand.NewPCG(1, 2))
			for i, want := range values {
				s, err := f.dataStream(bids[i])
				if err != nil {
					t.Fatalf("%d bytes: %v", len(want), err)
				}
				if s.total != int64(len(want)) || s.blocks() != (len(want)+bd-1)/bd {
					t.Errorf("%d bytes: stream of %d bytes in %d blocks", len(want), s.total, s.blocks())
				}
				got, err := io.ReadAll(s.reader())
				if err != nil || !bytes.Equal(got, want) {
					t.Errorf("%d bytes: streamed %d bytes (%v), equal %v", len(want), len(got), err, bytes.Equal(got, want))
				}
				got, err = s.bytes(1 << 20)
				if err != nil || !bytes.Equal(got, want) {
					t.Errorf("%d bytes: read whole %d bytes (%v), equal %v", len(want), len(got), err, bytes.Equal(got, want))
				}
				for _, k := range rng.Perm(s.blocks()) {
					b, err := s.block(k)
					if err != nil {
						t.Fatalf("%d bytes: block %d: %v", len(want), k, err)
					}
					if !bytes.Equal(b, want[k*bd:min((k+1)*bd, len(want))]) {
						t.Fatalf("%d bytes: block %d differs", len(want), k)
					}
				}
				if _, err := s.block(s.blocks()); err == nil {
					t.Errorf("%d bytes: block %d of %d read", len(want), s.blocks(), s.blocks())
				}
			}
		})
	}
}
