package rtf

import (
	"strings"
	"unicode/utf8"

	"golang.org/x/text/encoding"
	"golang.org/x/text/encoding/charmap"
	"golang.org/x/text/encoding/japanese"
	"golang.org/x/text/encoding/korean"
	"golang.org/x/text/encoding/simplifiedchinese"
	"golang.org/x/text/encoding/traditionalchinese"
)

// cpSymbol marks a font with \fcharset2 (Symbol, Wingdings): its bytes are
// glyph numbers, not characters of a code page.
const cpSymbol = -2

// encodingFor returns the decoder of a Windows code page number as RTF
// names them (\ansicpgN, \cpgN), or nil for one it does not know.
func encodingFor(cp int) encoding.Encoding {
	switch cp {
	case 437:
		return charmap.CodePage437
	case 850:
		return charmap.CodePage850
	case 852:
		return charmap.CodePage852
	case 855:
		return charmap.CodePage855
	case 858:
		return charmap.CodePage858
	case 860:
		return charmap.CodePage860
	case 862:
		return charmap.CodePage862
	case 863:
		return charmap.CodePage863
	case 865:
		return charmap.CodePage865
	case 866:
		return charmap.CodePage866
	case 874:
		return charmap.Windows874
	case 932:
		return japanese.ShiftJIS
	case 936:
		return simplifiedchinese.GBK
	case 949:
		return korean.EUCKR
	case 950:
		return traditionalchinese.Big5
	case 1250:
		return charmap.Windows1250
	case 1251:
		return charmap.Windows1251
	case 1252:
		return charmap.Windows1252
	case 1253:
		return charmap.Windows1253
	case 1254:
		return charmap.Windows1254
	case 1255:
		return charmap.Windows1255
	case 1256:
		return charmap.Windows1256
	case 1257:
		return charmap.Windows1257
	case 1258:
		return charmap.Windows1258
	case 10000:
		return charmap.Macintosh
	case 10007:
		return charmap.MacintoshCyrillic
	case 20866:
		return charmap.KOI8R
	case 21866:
		return charmap.KOI8U
	case 28591:
		return charmap.ISO8859_1
	case 28592:
		return charmap.ISO8859_2
	case 28593:
		return charmap.ISO8859_3
	case 28594:
		return charmap.ISO8859_4
	case 28595:
		return charmap.ISO8859_5
	case 28596:
		return charmap.ISO8859_6
	case 28597:
		return charmap.ISO8859_7
	case 28598:
		return charmap.ISO8859_8
	case 28599:
		return charmap.ISO8859_9
	case 28603:
		return charmap.ISO8859_13
	case 28605:
		return charmap.ISO8859_15
	case 54936:
		return simplifiedchinese.GB18030
	}
	return nil
}

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
