package rtf

import (
	"strings"
	"unicode/utf8"
)

// HTML returns the original HTML of an RTF body that Outlook made from HTML
// ([MS-OXRTFEX]: a \fromhtml1 header). The HTML is the content of the
// \*\htmltag groups and the text between them, minus what \htmlrtf marks as
// RTF-only; RTF escapes, \uN characters (with their \ucN fallbacks skipped)
// and \'hh bytes in the code page of the current font or \ansicpgN are
// decoded, \par and \line become CRLF, \tab a tab. The result is UTF-8; a
// charset named in the HTML's own <meta> is left as written. ok is false
// when rtf is not encapsulated HTML or holds none.
func HTML(rtf []byte) (html string, ok bool) {
	p := newParser(rtf, modeHTML)
	p.run()
	if !p.fromHTML {
		return "", false
	}
	html = p.out.String()
	if strings.TrimSpace(html) == "" {
		return "", false
	}
	return html, true
}

// Text returns the plain text of any RTF document: ordinary RTF, RTF that
// Outlook made from plain text (\fromtext, whose RTF-only \htmlrtf parts
// are dropped) or from HTML (the text as an RTF reader shows it). Font,
// colour and style tables, document information, pictures, objects, field
// instructions and every \* destination are skipped; paragraphs, line
// breaks, table rows and page breaks become CRLF, cells and tabs a tab;
// escapes, \uN characters and code-page bytes are decoded to UTF-8. Input
// that does not start with "{" yields "".
func Text(rtf []byte) string {
	p := newParser(rtf, modeText)
	p.run()
	return p.out.String()
}

type mode int

const (
	modeText mode = iota
	modeHTML
)

// maxDepth bounds the group stack; deeper groups share their parent's
// state (real RTF nests a few dozen levels at most).
const maxDepth = 512

// group is the state an RTF group inherits and restores.
type group struct {
	skip    bool // text here is not content (a table, info, picture, \* destination)
	htmltag bool // inside \*\htmltag: encapsulated HTML
	htmlrtf bool // \htmlrtf on: RTF-only content
	fonttbl bool // inside the font table
	uc      int  // \ucN: fallback characters after each \uN
	font    int  // \fN
}

type font struct {
	cp  int  // code page from \fcharsetN or \cpgN; 0 means the default
	cpg bool // cp comes from \cpgN, which wins over \fcharsetN
}

type parser struct {
	src  []byte
	pos  int
	mode mode

	g        group
	stack    []group
	overflow int  // groups opened beyond maxDepth
	fresh    bool // just after "{" (or "{\*"): a destination word may follow
	starred  bool // after "{\*"

	out    strings.Builder
	pend   []byte // code-page bytes not yet decoded
	pendCP int
	high   rune // a high surrogate from \uN waiting for its low half
	skipN  int  // \uN fallback characters still to skip

	ansiCP   int
	defFont  int
	fonts    map[int]font
	fontDef  int // the font the font table is defining
	fromHTML bool
	fromText bool
}

func newParser(src []byte, m mode) *parser {
	return &parser{src: src, mode: m, ansiCP: 1252, g: group{uc: 1}, fonts: map[int]font{}}
}

// run interprets the whole document, up to the "}" closing the root group.
func (p *parser) run() {
	// Tolerate a UTF-8 byte order mark and leading whitespace.
	if len(p.src) >= 3 && string(p.src[:3]) == "\xef\xbb\xbf" {
		p.pos = 3
	}
	for p.pos < len(p.src) && (p.src[p.pos] == ' ' || p.src[p.pos] == '\r' || p.src[p.pos] == '\n' || p.src[p.pos] == '\t') {
		p.pos++
	}
	if p.pos >= len(p.src) || p.src[p.pos] != '{' {
		return
	}
	defer p.flush()
	for p.pos < len(p.src) {
		c := p.src[p.pos]
		p.pos++
		switch c {
		case '{':
			p.skipN = 0
			if len(p.stack) >= maxDepth {
				p.overflow++
			} else {
				p.stack = append(p.stack, p.g)
			}
			p.fresh, p.starred = true, false
		case '}':
			p.skipN = 0
			p.fresh, p.starred = false, false
			if p.overflow > 0 {
				p.overflow--
				continue
			}
			if len(p.stack) == 0 {
				return
			}
			p.g = p.stack[len(p.stack)-1]
			p.stack = p.stack[:len(p.stack)-1]
			if len(p.stack) == 0 {
				return // the root group is closed: the document ends
			}
		case '\\':
			p.control()
		case '\r', '\n', 0:
			// Line breaks in RTF source are not content.
		case '\t':
			p.fresh = false
			p.special("\t")
		default:
			p.fresh = false
			p.char(c)
		}
	}
}

// control reads what follows a backslash.
func (p *parser) control() {
	if p.pos >= len(p.src) {
		return
	}
	c := p.src[p.pos]
	if !isLetter(c) {
		p.pos++
		p.symbol(c)
		return
	}
	start := p.pos
	for p.pos < len(p.src) && isLetter(p.src[p.pos]) {
		p.pos++
	}
	word := string(p.src[start:min(p.pos, start+32)])
	param, hasParam := 0, false
	neg := false
	if p.pos < len(p.src) && p.src[p.pos] == '-' && p.pos+1 < len(p.src) && isDigit(p.src[p.pos+1]) {
		neg = true
		p.pos++
	}
	for p.pos < len(p.src) && isDigit(p.src[p.pos]) {
		hasParam = true
		if param < 1<<31 {
			param = param*10 + int(p.src[p.pos]-'0')
		}
		p.pos++
	}
	if neg {
		param = -param
	}
	if p.pos < len(p.src) && p.src[p.pos] == ' ' {
		p.pos++ // the delimiting space belongs to the control word
	}
	p.word(word, param, hasParam)
}

// symbol handles a control symbol: a backslash and one non-letter.
func (p *parser) symbol(c byte) {
	if c == '*' {
		if p.fresh {
			p.starred = true
		}
		return
	}
	p.fresh = false
	switch c {
	case '\'':
		if p.pos+2 <= len(p.src) {
			h, ok1 := unhex(p.src[p.pos])
			l, ok2 := unhex(p.src[p.pos+1])
			if ok1 && ok2 {
				p.pos += 2
				p.char(h<<4 | l)
				return
			}
		}
		// A broken escape is dropped.
	case '\\', '{', '}':
		if p.skipping() {
			return
		}
		p.writeRune(rune(c))
	case '~':
		p.special("\u00a0")
	case '_':
		p.special("\u2011")
	case '\r', '\n':
		p.special("\r\n") // a backslash before a line break is \par
	default:
		// \- (optional hyphen), \: (index subentry), \| and unknown
		// symbols have no text; they still count as a skipped fallback.
		p.skipping()
	}
}

// word handles a control word.
func (p *parser) word(w string, param int, hasParam bool) {
	if p.fresh {
		p.destination(w)
	}
	p.fresh, p.starred = false, false
	if p.skipN > 0 && w != "bin" {
		p.skipN--
		return
	}
	switch w {
	case "fromhtml":
		if len(p.stack) == 1 {
			p.fromHTML = true
		}
	case "fromtext":
		if len(p.stack) == 1 {
			p.fromText = true
		}
	case "ansi":
		p.ansiCP = 1252
	case "mac":
		p.ansiCP = 10000
	case "pc":
		p.ansiCP = 437
	case "pca":
		p.ansiCP = 850
	case "ansicpg":
		if param > 0 {
			p.ansiCP = param
		}
	case "deff":
		p.defFont = param
		if len(p.stack) == 1 {
			p.g.font = param
		}
	case "plain":
		if !p.g.fonttbl {
			p.g.font = p.defFont
		}
	case "f":
		if p.g.fonttbl {
			p.fontDef = param
			if _, ok := p.fonts[param]; !ok {
				p.fonts[param] = font{}
			}
		} else {
			p.g.font = param
		}
	case "fcharset":
		if p.g.fonttbl {
			if f := p.fonts[p.fontDef]; !f.cpg {
				p.fonts[p.fontDef] = font{cp: charsetCodePage(param)}
			}
		}
	case "cpg":
		if p.g.fonttbl && param > 0 {
			p.fonts[p.fontDef] = font{cp: param, cpg: true}
		}
	case "uc":
		if hasParam {
			p.g.uc = max(0, min(param, 8))
		}
	case "u":
		if hasParam {
			p.unicode(param)
		}
	case "htmlrtf":
		p.g.htmlrtf = !hasParam || param != 0
	case "bin":
		// Binary data: never text, and never RTF to interpret.
		if hasParam && param > 0 {
			p.pos += min(param, len(p.src)-p.pos)
		}
		if p.skipN > 0 {
			p.skipN--
		}
	case "par", "line", "sect", "page", "row":
		p.special("\r\n")
	case "tab", "cell":
		p.special("\t")
	case "emdash":
		p.special("\u2014")
	case "endash":
		p.special("\u2013")
	case "emspace":
		p.special("\u2003")
	case "enspace":
		p.special("\u2002")
	case "qmspace":
		p.special("\u2005")
	case "bullet":
		p.special("\u2022")
	case "lquote":
		p.special("\u2018")
	case "rquote":
		p.special("\u2019")
	case "ldblquote":
		p.special("\u201c")
	case "rdblquote":
		p.special("\u201d")
	case "zwj":
		p.special("\u200d")
	case "zwnj":
		p.special("\u200c")
	case "ltrmark":
		p.special("\u200e")
	case "rtlmark":
		p.special("\u200f")
	}
}

// destination decides, for the first control word of a group, whether the
// group's text is content.
func (p *parser) destination(w string) {
	if p.starred {
		if w == "htmltag" && p.mode == modeHTML && !p.g.skip {
			p.g.htmltag = true
			return
		}
		p.g.skip = true // \*\mhtmltag and every other optional destination
		return
	}
	if skipDestinations[w] {
		p.g.skip = true
		if w == "fonttbl" {
			p.g.fonttbl = true
		}
		return
	}
	if (w == "pntext" || w == "listtext") && p.mode == modeHTML && !p.g.htmltag {
		p.g.skip = true // list numbers drawn by RTF; the HTML has its own
	}
}

// skipDestinations are the groups whose text is never content.
var skipDestinations = map[string]bool{
	"fonttbl": true, "colortbl": true, "stylesheet": true, "info": true,
	"pict": true, "object": true, "objdata": true,
	"header": true, "headerl": true, "headerr": true, "headerf": true,
	"footer": true, "footerl": true, "footerr": true, "footerf": true,
	"footnote": true, "annotation": true, "atnid": true, "atnauthor": true,
	"fldinst": true, "datafield": true, "xe": true, "tc": true, "txe": true, "rxe": true,
	"listtable": true, "listoverridetable": true, "revtbl": true, "rsidtbl": true,
	"filetbl": true, "pgdsctbl": true, "generator": true, "themedata": true,
	"colorschememapping": true, "latentstyles": true, "datastore": true,
	"xmlnstbl": true, "mmathPr": true, "fchars": true, "lchars": true,
	"template": true, "userprops": true, "docvar": true, "nonshppict": true,
	"shpinst": true, "sp": true, "sn": true, "sv": true,
	"bkmkstart": true, "bkmkend": true, "pntxta": true, "pntxtb": true,
	"defchp": true, "defpap": true, "ftnsep": true, "ftnsepc": true,
	"ftncn": true, "aftnsep": true, "aftnsepc": true, "aftncn": true,
	"panose": true, "falt": true, "fname": true, "author": true,
	"operator": true, "title": true, "subject": true, "keywords": true,
	"comment": true, "doccomm": true, "company": true, "category": true,
	"creatim": true, "revtim": true, "printim": true, "buptim": true,
	"listpicture": true, "wgrffmtfilter": true, "passwordhash": true,
	"protusertbl": true, "blipuid": true, "macpict": true, "wmetafile": true,
}

// visible reports whether text at this point is content.
func (p *parser) visible() bool {
	if p.g.skip {
		return false
	}
	if p.g.htmlrtf && (p.mode == modeHTML || p.fromText) {
		return false
	}
	return true
}

// skipping consumes one \uN fallback character if any is pending.
func (p *parser) skipping() bool {
	if p.skipN > 0 {
		p.skipN--
		return true
	}
	return false
}

// char handles one byte of text in the current code page.
func (p *parser) char(c byte) {
	if p.skipping() || !p.visible() {
		return
	}
	cp := p.codePage()
	if len(p.pend) > 0 && p.pendCP != cp {
		p.flush()
	}
	if p.high != 0 {
		p.out.WriteRune(utf8.RuneError)
		p.high = 0
	}
	p.pend = append(p.pend, c)
	p.pendCP = cp
}

// special writes the text equivalent of a control word or symbol.
func (p *parser) special(s string) {
	if p.skipping() || !p.visible() {
		return
	}
	p.flush()
	p.out.WriteString(s)
}

// writeRune writes one character if it is content.
func (p *parser) writeRune(r rune) {
	if !p.visible() {
		return
	}
	p.flush()
	p.out.WriteRune(r)
}

// unicode handles \uN: a UTF-16 code unit as a signed 16-bit number.
func (p *parser) unicode(n int) {
	p.skipN = p.g.uc
	if n < 0 {
		n += 0x10000
	}
	if !p.visible() {
		return
	}
	r := rune(n)
	switch {
	case r >= 0xD800 && r < 0xDC00:
		p.flush()
		p.high = r
		return
	case r >= 0xDC00 && r < 0xE000:
		if p.high != 0 {
			hi := p.high
			p.high = 0
			p.flush()
			p.out.WriteRune((hi-0xD800)<<10 + (r - 0xDC00) + 0x10000)
			return
		}
		r = utf8.RuneError
	case r < 0 || r > utf8.MaxRune:
		r = utf8.RuneError
	}
	p.flush()
	p.out.WriteRune(r)
}

// flush decodes the pending code-page bytes (and reports a lone high
// surrogate).
func (p *parser) flush() {
	if p.high != 0 {
		p.out.WriteRune(utf8.RuneError)
		p.high = 0
	}
	if len(p.pend) == 0 {
		return
	}
	decodeBytes(&p.out, p.pend, p.pendCP)
	p.pend = p.pend[:0]
}

// codePage is the code page of \'hh bytes here: the document's inside
// \*\htmltag, otherwise the current font's, else the document's.
func (p *parser) codePage() int {
	if !p.g.htmltag {
		if f, ok := p.fonts[p.g.font]; ok && f.cp != 0 {
			return f.cp
		}
	}
	return p.ansiCP
}

func isLetter(c byte) bool { return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' }
func isDigit(c byte) bool  { return c >= '0' && c <= '9' }

func unhex(c byte) (byte, bool) {
	switch {
	case c >= '0' && c <= '9':
		return c - '0', true
	case c >= 'a' && c <= 'f':
		return c - 'a' + 10, true
	case c >= 'A' && c <= 'F':
		return c - 'A' + 10, true
	}
	return 0, false
}
