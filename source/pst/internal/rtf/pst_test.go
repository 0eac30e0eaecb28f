package rtf

import (
	"bytes"
	"encoding/binary"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/mailshift/mailshift/internal/testrig/corpus"
)

// permuteEncode is the first table of [MS-PST] 5.1 (mpbbCrypt[0..255]),
// with which PST files of "permute" encryption store their data blocks.
var permuteEncode = [256]byte{
	65, 54, 19, 98, 168, 33, 110, 187, 244, 22, 204, 4, 127, 100, 232, 93,
	30, 242, 203, 42, 116, 197, 94, 53, 210, 149, 71, 158, 150, 45, 154, 136,
	76, 125, 132, 63, 219, 172, 49, 182, 72, 95, 246, 196, 216, 57, 139, 231,
	35, 59, 56, 142, 200, 193, 223, 37, 177, 32, 165, 70, 96, 78, 156, 251,
	170, 211, 86, 81, 69, 124, 85, 0, 7, 201, 43, 157, 133, 155, 9, 160,
	143, 173, 179, 15, 99, 171, 137, 75, 215, 167, 21, 90, 113, 102, 66, 191,
	38, 74, 107, 152, 250, 234, 119, 83, 178, 112, 5, 44, 253, 89, 58, 134,
	126, 206, 6, 235, 130, 120, 87, 199, 141, 67, 175, 180, 28, 212, 91, 205,
	226, 233, 39, 79, 195, 8, 114, 128, 207, 176, 239, 245, 40, 109, 190, 48,
	77, 52, 146, 213, 14, 60, 34, 50, 229, 228, 249, 159, 194, 209, 10, 129,
	18, 225, 238, 145, 131, 118, 227, 151, 230, 97, 138, 23, 121, 164, 183, 220,
	144, 122, 92, 140, 2, 166, 202, 105, 222, 80, 26, 17, 147, 185, 82, 135,
	88, 252, 237, 29, 55, 73, 27, 106, 224, 41, 51, 153, 189, 108, 217, 148,
	243, 64, 84, 111, 240, 198, 115, 184, 214, 62, 101, 24, 68, 31, 221, 103,
	16, 241, 12, 25, 236, 174, 3, 161, 20, 123, 169, 11, 255, 248, 163, 192,
	162, 1, 247, 46, 188, 36, 104, 117, 13, 254, 186, 47, 181, 208, 218, 61,
}

// compressedRTFIn returns the LZFu streams found in a PST file: the whole
// file is decoded with the permute table (which works for data blocks of
// permute-encrypted files; the file header and pages are left scrambled,
// which does not matter here) and each "LZFu" with a plausible header
// before it is cut out. Streams that span several blocks are not found.
func compressedRTFIn(t *testing.T, path string) [][]byte {
	t.Helper()
	raw, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var decode [256]byte
	for i, v := range permuteEncode {
		decode[v] = byte(i)
	}
	dec := make([]byte, len(raw))
	for i, c := range raw {
		dec[i] = decode[c]
	}
	var streams [][]byte
	for off := 0; ; {
		i := bytes.Index(dec[off:], []byte("LZFu"))
		if i < 0 {
			break
		}
		start := off + i - 8
		off += i + 4
		if start < 0 {
			continue
		}
		compSize := int(binary.LittleEndian.Uint32(dec[start:]))
		if compSize < 12 || start+4+compSize > len(dec) {
			continue
		}
		streams = append(streams, dec[start:start+4+compSize])
	}
	return streams
}

// TestPSTStreams decompresses the compressed RTF bodies found in the
// shared test PST files and reads them: a RichEdit body, Word bodies, and
// an HTML message that Outlook encapsulated in RTF.
func TestPSTStreams(t *testing.T) {
	dir := filepath.Join(corpus.TestdataDir(t), "pst")
	type want struct {
		text []string // substrings of Text
		html []string // substrings of HTML; nil when it is not encapsulated HTML
	}
	cases := map[string][]want{
		"32-bit.pst": {{text: []string{"Patty will provide Olympus training to the latest new hires.  Please make sure"}}},
		"jl-dist-list.pst": {
			{text: []string{"This is a complete test\r\n"}},
			{text: []string{}}, {text: []string{}},
		},
		"pstsdk-submessage.pst": {{
			text: []string{"This is the body of an embedded message\r\n"},
			html: []string{
				`<html xmlns:v="urn:schemas-microsoft-com:vml"`,
				"<style><!--\r\n/* Font Definitions */\r\n@font-face\r\n\t{font-family:\"Cambria Math\";\r\n",
				"--></style>",
				`<body lang=EN-US link=blue vlink=purple><div class=WordSection1><p class=MsoNormal>This is the body of an embedded message<o:p></o:p></p></div></body></html>`,
			},
		}},
		"tika-testPST_variousBodyTypes.pst": {{text: []string{
			"From: Allison, Timothy B. \r\nSent: Wednesday, August 30, 2017 3:26 PM\r\n",
			"Subject: original email\r\n\r\nThis is the original email (html)\r\n\r\nForwarded RTF\r\n",
		}}},
	}
	for name, wants := range cases {
		streams := compressedRTFIn(t, filepath.Join(dir, name))
		if len(streams) != len(wants) {
			t.Errorf("%s: %d compressed RTF streams found, want %d", name, len(streams), len(wants))
			continue
		}
		for i, s := range streams {
			out, err := Decompress(s)
			if err != nil {
				t.Errorf("%s stream %d: %v", name, i, err)
				continue
			}
			if !bytes.HasPrefix(out, []byte(`{\rtf1`)) {
				t.Errorf("%s stream %d: decompressed to %.40q", name, i, out)
			}
			text := Text(out)
			if strings.TrimSpace(text) == "" {
				t.Errorf("%s stream %d: no text", name, i)
			}
			for _, sub := range wants[i].text {
				if !strings.Contains(text, sub) {
					t.Errorf("%s stream %d: text %q lacks %q", name, i, text, sub)
				}
			}
			html, ok := HTML(out)
			if ok != (wants[i].html != nil) {
				t.Errorf("%s stream %d: HTML ok=%v", name, i, ok)
			}
			for _, sub := range wants[i].html {
				if !strings.Contains(html, sub) {
					t.Errorf("%s stream %d: HTML lacks %q:\n%s", name, i, sub, html)
				}
			}
		}
	}
}
