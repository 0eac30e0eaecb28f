package rtf

import (
	"bytes"
	"encoding/binary"
	"errors"
	"math/rand/v2"
	"strings"
	"testing"
)

// The worked examples of [MS-OXRTFCP] 3.1 and 3.2 (and the MELA form).
var specExamples = []struct {
	name       string
	compressed []byte
	raw        string
}{
	{
		name: "simple",
		compressed: []byte{
			0x2d, 0x00, 0x00, 0x00, 0x2b, 0x00, 0x00, 0x00, 0x4c, 0x5a, 0x46, 0x75, 0xf1, 0xc5, 0xc7, 0xa7,
			0x03, 0x00, 0x0a, 0x00, 0x72, 0x63, 0x70, 0x67, 0x31, 0x32, 0x35, 0x42, 0x32, 0x0a, 0xf3, 0x20,
			0x68, 0x65, 0x6c, 0x09, 0x00, 0x20, 0x62, 0x77, 0x05, 0xb0, 0x6c, 0x64, 0x7d, 0x0a, 0x80, 0x0f,
			0xa0,
		},
		raw: "{\\rtf1\\ansi\\ansicpg1252\\pard hello world}\r\n",
	},
	{
		name: "crossing the write position",
		compressed: []byte{
			0x1a, 0x00, 0x00, 0x00, 0x1c, 0x00, 0x00, 0x00, 0x4c, 0x5a, 0x46, 0x75, 0xe2, 0xd4, 0x4b, 0x51,
			0x41, 0x00, 0x04, 0x20, 0x57, 0x58, 0x59, 0x5a, 0x0d, 0x6e, 0x7d, 0x01, 0x0e, 0xb0,
		},
		raw: "{\\rtf1 WXYZWXYZWXYZWXYZWXYZ}",
	},
	{
		name:       "uncompressed",
		compressed: append([]byte{0x2e, 0, 0, 0, 0x22, 0, 0, 0, 'M', 'E', 'L', 'A', 0, 0, 0, 0}, "{\\rtf1\\ansi\\ansicpg1252\\pard test}"...),
		raw:        "{\\rtf1\\ansi\\ansicpg1252\\pard test}",
	},
}

func TestDecompressSpecExamples(t *testing.T) {
	for _, ex := range specExamples {
		t.Run(ex.name, func(t *testing.T) {
			got, err := Decompress(ex.compressed)
			if err != nil {
				t.Fatal(err)
			}
			if string(got) != ex.raw {
				t.Errorf("got %q, want %q", got, ex.raw)
			}
		})
	}
	if n := len(initialDict); n != 207 {
		t.Errorf("initial dictionary is %d bytes, want 207", n)
	}
	// The CRC of the first example's contents, as its header records.
	if got := checksum(specExamples[0].compressed[16:]); got != 0xa7c7c5f1 {
		t.Errorf("checksum = %08x, want a7c7c5f1", got)
	}
	if got := checksum(nil); got != 0 {
		t.Errorf("checksum of nothing = %08x, want 0", got)
	}
}

// compress is a small LZFu compressor for tests: greedy longest matches
// against the bytes already in the dictionary (never the unwritten part,
// never the write position itself, which would mean "end").
func compress(raw []byte) []byte {
	var dict [dictSize]byte
	copy(dict[:], initialDict)
	w, filled := len(initialDict), len(initialDict)
	var body []byte
	var control byte
	var tokens []byte
	bit := 0
	emit := func() {
		body = append(body, control)
		body = append(body, tokens...)
		control, tokens, bit = 0, tokens[:0], 0
	}
	put := func(c byte) {
		dict[w] = c
		w = (w + 1) & dictMask
		if filled < dictSize {
			filled++
		}
	}
	for pos := 0; pos < len(raw); {
		bestOff, bestLen := 0, 0
		for off := 0; off < filled; off++ {
			if off == w || dict[off] != raw[pos] {
				continue
			}
			// Simulate the copy: it may read bytes it has just written.
			n := 0
			for n < 17 && pos+n < len(raw) {
				src := (off + n) & dictMask
				var c byte
				if d := (src - w) & dictMask; d < n {
					c = raw[pos+d]
				} else {
					c = dict[src]
				}
				if c != raw[pos+n] {
					break
				}
				n++
			}
			if n > bestLen {
				bestOff, bestLen = off, n
			}
		}
		if bestLen >= 2 {
			control |= 1 << bit
			tokens = append(tokens, byte(bestOff>>4), byte(bestOff<<4|(bestLen-2)))
			for k := 0; k < bestLen; k++ {
				put(raw[pos+k])
			}
			pos += bestLen
		} else {
			tokens = append(tokens, raw[pos])
			put(raw[pos])
			pos++
		}
		if bit++; bit == 8 {
			emit()
		}
	}
	control |= 1 << bit
	tokens = append(tokens, byte(w>>4), byte(w<<4))
	emit()
	return header(typeCompressed, len(raw), body)
}

// header prefixes contents with a header of the given type.
func header(typ uint32, rawSize int, contents []byte) []byte {
	h := make([]byte, headerSize, headerSize+len(contents))
	binary.LittleEndian.PutUint32(h[0:], uint32(len(contents)+12))
	binary.LittleEndian.PutUint32(h[4:], uint32(rawSize))
	binary.LittleEndian.PutUint32(h[8:], typ)
	if typ == typeCompressed {
		binary.LittleEndian.PutUint32(h[12:], checksum(contents))
	}
	return append(h, contents...)
}

func TestDecompressRoundTrip(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	long := strings.Repeat("{\\rtf1\\ansi\\ansicpg1252\\pard hello world\\par}", 200) // wraps the dictionary
	random := make([]byte, 3000)
	for i := range random {
		random[i] = byte(rng.IntN(256))
	}
	for _, raw := range [][]byte{
		nil,
		[]byte("x"),
		[]byte(specExamples[0].raw),
		[]byte(specExamples[1].raw),
		[]byte(long),
		random,
		bytes.Repeat([]byte{'a'}, 10000),
	} {
		c := compress(raw)
		got, err := Decompress(c)
		if err != nil {
			t.Fatalf("%d bytes: %v", len(raw), err)
		}
		if !bytes.Equal(got, raw) {
			t.Fatalf("%d bytes: round trip differs", len(raw))
		}
		m := header(typeUncompressed, len(raw), raw)
		if got, err := Decompress(m); err != nil || !bytes.Equal(got, raw) {
			t.Fatalf("MELA %d bytes: %v", len(raw), err)
		}
	}
	// The test compressor reproduces the specification's second example.
	if got := compress([]byte(specExamples[1].raw)); !bytes.Equal(got, specExamples[1].compressed) {
		t.Errorf("compress(%q) = % x", specExamples[1].raw, got)
	}
}

func TestDecompressCorrupt(t *testing.T) {
	good := specExamples[0].compressed
	mod := func(f func(b []byte) []byte) []byte { return f(append([]byte(nil), good...)) }
	le := binary.LittleEndian
	cases := []struct {
		name string
		data []byte
		want error
	}{
		{"empty", nil, ErrCorrupt},
		{"short header", good[:15], ErrCorrupt},
		{"header only", good[:16], ErrCorrupt},
		{"truncated", good[:len(good)-1], ErrCorrupt},
		{"COMPSIZE too small", mod(func(b []byte) []byte { le.PutUint32(b, 3); return b }), ErrCorrupt},
		{"COMPSIZE too large", mod(func(b []byte) []byte { le.PutUint32(b, 0xffffffff); return b }), ErrCorrupt},
		{"bad CRC", mod(func(b []byte) []byte { b[12] ^= 1; return b }), ErrCorrupt},
		{"flipped content", mod(func(b []byte) []byte { b[20] ^= 0x40; return b }), ErrCorrupt},
		{"unknown type", mod(func(b []byte) []byte { copy(b[8:], "ABCD"); return b }), ErrCorrupt},
		{"RAWSIZE too large", mod(func(b []byte) []byte { le.PutUint32(b[4:], MaxRawSize+1); return b }), ErrTooLarge},
		{"RAWSIZE beyond expansion", mod(func(b []byte) []byte { le.PutUint32(b[4:], 100000); return b }), ErrTooLarge},
		{"RAWSIZE short", mod(func(b []byte) []byte { le.PutUint32(b[4:], 0x2a); return b }), ErrCorrupt},
		{"RAWSIZE long", mod(func(b []byte) []byte { le.PutUint32(b[4:], 0x2c); return b }), ErrCorrupt},
		{"MELA truncated", header(typeUncompressed, 100, []byte("{\\rtf1}")), ErrCorrupt},
		{"no end marker", header(typeCompressed, 5, []byte{0x00, 'a', 'b'}), ErrCorrupt},
		{"reference cut", header(typeCompressed, 5, []byte{0x01, 0x00}), ErrCorrupt},
		{"literal cut", header(typeCompressed, 5, []byte{0x00}), ErrCorrupt},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			got, err := Decompress(c.data)
			if !errors.Is(err, c.want) {
				t.Fatalf("got %q, %v; want %v", got, err, c.want)
			}
			if got != nil {
				t.Errorf("returned %d bytes with the error", len(got))
			}
		})
	}
	// Every truncation of a valid stream fails cleanly.
	c := compress([]byte(strings.Repeat("{\\rtf1 truncation test}", 50)))
	for n := range len(c) {
		if _, err := Decompress(c[:n]); err == nil {
			t.Fatalf("truncated to %d of %d bytes: no error", n, len(c))
		}
	}
	// Trailing bytes after COMPSIZE are ignored.
	if got, err := Decompress(append(append([]byte(nil), good...), 0, 0, 0)); err != nil || string(got) != specExamples[0].raw {
		t.Errorf("with trailing bytes: %q, %v", got, err)
	}
	// A stream that stops right after its last token, at RAWSIZE, is accepted.
	if got, err := Decompress(header(typeCompressed, 2, []byte{0x00, 'a', 'b'})); err != nil || string(got) != "ab" {
		t.Errorf("without end marker: %q, %v", got, err)
	}
}
