package rtf

import (
	"strings"
	"unicode/utf8"

	"golang.org/x/text/encoding"

	"github.com/mailshift/mailshift/source/internal/codepage"
	"golang.org/x/text/encoding/charmap"
)

// cpSymbol marks a font with \fcharset2 (Symbol, Wingdings): its bytes are
// glyph numbers, not characters of a code page.
const cpSymbol = -2

// encodingFor returns the decoder of a Windows code page number as RTF
// names them (\ansicpgN, \cpgN), or nil for one it does not know.
func encodingFor(cp int) encoding.Encoding { return codepage.Encoding(cp) }

// charsetCodePage maps an RTF \fcharsetN to its code page; 0 means "the
// document's default code page".
func charsetCodePage(charset int) int {
	switch charset {
	case 0:
		return 1252
	case 2:
		return cpSymbol
	case 77:
		return 10000
	case 128:
		return 932
	case 129:
		return 949
	case 134:
		return 936
	case 136:
		return 950
	case 161:
		return 1253
	case 162:
		return 1254
	case 163:
		return 1258
	case 177:
		return 1255
	case 178:
		return 1256
	case 186:
		return 1257
	case 204:
		return 1251
	case 222:
		return 874
	case 238:
		return 1250
	case 254:
		return 437
	case 255:
		return 850
	}
	return 0 // 1 (DEFAULT_CHARSET) and anything unknown
}

// decodeBytes appends to b the text of p in code page cp; unknown code
// pages are read as Windows-1252, and undecodable bytes become U+FFFD.
func decodeBytes(b *strings.Builder, p []byte, cp int) {
	switch cp {
	case 65001:
		b.WriteString(strings.ToValidUTF8(string(p), "\uFFFD"))
		return
	case cpSymbol:
		for _, c := range p {
			if c == 0xB7 { // the bullet of Symbol fonts' lists
				b.WriteRune('•')
			} else {
				writeLatin(b, c)
			}
		}
		return
	}
	enc := encodingFor(cp)
	if enc == nil {
		enc = charmap.Windows1252
	}
	out, err := enc.NewDecoder().Bytes(p)
	if err != nil || !utf8.Valid(out) {
		for _, c := range p {
			writeLatin(b, c)
		}
		return
	}
	b.Write(out)
}

// writeLatin appends one byte read as Windows-1252.
func writeLatin(b *strings.Builder, c byte) {
	if c < utf8.RuneSelf {
		b.WriteByte(c)
		return
	}
	r := charmap.Windows1252.DecodeByte(c)
	b.WriteRune(r)
}
