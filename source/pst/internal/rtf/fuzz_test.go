package rtf

import (
	"bytes"
	"encoding/binary"
	"testing"
	"unicode/utf8"
)

func FuzzDecompress(f *testing.F) {
	for _, ex := range specExamples {
		f.Add(ex.compressed)
	}
	f.Add(compress([]byte(wordRTF)))
	f.Add(compress([]byte(outlookHTML)))
	f.Add(header(typeCompressed, 5, []byte{0x00, 'a', 'b'}))
	f.Fuzz(func(t *testing.T, data []byte) {
		out, err := Decompress(data)
		if err == nil {
			if len(data) < headerSize {
				t.Fatalf("accepted %d bytes", len(data))
			}
			if raw := binary.LittleEndian.Uint32(data[4:]); uint32(len(out)) != raw {
				t.Fatalf("%d bytes out, RAWSIZE %d", len(out), raw)
			}
		} else if out != nil {
			t.Fatal("output with an error")
		}
		// Whatever the bytes, compressing them round-trips.
		if len(data) <= 64 {
			got, err := Decompress(compress(data))
			if err != nil || !bytes.Equal(got, data) {
				t.Fatalf("round trip: %v", err)
			}
		}
	})
}

func FuzzHTML(f *testing.F) {
	f.Add([]byte(outlookHTML))
	f.Add([]byte(wordRTF))
	f.Add([]byte(`{\rtf1\ansi\ansicpg932\fromhtml1 {\*\htmltag64 <p>}\'93\'fa{\uc2\u948\'81\'82y}\u-10179?\u-8704?}`))
	f.Add([]byte(`{\rtf1\ansi\fromtext \htmlrtf {\b \htmlrtf0 x\htmlrtf }\htmlrtf0 \par\bin3 abc}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		html, ok := HTML(data)
		if !ok && html != "" {
			t.Fatal("HTML with ok=false")
		}
		text := Text(data)
		for _, s := range []string{html, text} {
			if !utf8.ValidString(s) {
				t.Fatalf("invalid UTF-8 %q", s)
			}
			// Every input byte yields at most 3 bytes of UTF-8.
			if len(s) > 3*len(data)+3 {
				t.Fatalf("%d bytes from %d", len(s), len(data))
			}
		}
	})
}
