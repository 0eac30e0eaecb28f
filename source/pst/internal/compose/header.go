package compose

import (
	"encoding/base64"
	"net/mail"
	"strings"
	"time"
	"unicode/utf8"
)

const (
	// foldAt is the line length header fields are folded to where they
	// can be (RFC 5322 2.1.1 recommends 78).
	foldAt = 78
	// maxLine is the longest line RFC 5322 allows, without its CRLF.
	maxLine = 998
)

// headerField is one field of a kept transport header: its name and its
// lines as they were (the first, then any continuation lines).
type headerField struct {
	name  string
	lines []string
}

// transportFields splits a transport header into fields, up to the first
// empty line. Lines that are not fields (Outlook's "Microsoft Mail Internet
// Headers Version 2.0" first line, stray text) are dropped with their
// continuation lines, and so are the fields that described the original
// body: MIME-Version and Content-*, except Content-Language and
// Content-Class.
func transportFields(h string) []headerField {
	var fields []headerField
	keep := false
	for len(h) > 0 {
		var line string
		i := strings.IndexAny(h, "\r\n")
		if i < 0 {
			line, h = h, ""
		} else {
			line = h[:i]
			if h[i] == '\r' && i+1 < len(h) && h[i+1] == '\n' {
				i++
			}
			h = h[i+1:]
		}
		if strings.TrimSpace(line) == "" {
			if len(fields) > 0 {
				break // the end of the header
			}
			continue
		}
		if line[0] == ' ' || line[0] == '\t' {
			if keep {
				f := &fields[len(fields)-1]
				f.lines = append(f.lines, line)
			}
			continue
		}
		name, _, ok := strings.Cut(line, ":")
		keep = ok && validFieldName(name) && !bodyField(name)
		if keep {
			fields = append(fields, headerField{name: name, lines: []string{line}})
		}
	}
	return fields
}

// validFieldName reports whether s is an RFC 5322 field name.
func validFieldName(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		if c := s[i]; c < 33 || c > 126 {
			return false
		}
	}
	return true
}

// bodyField reports whether a field described the original body structure.
func bodyField(name string) bool {
	n := strings.ToLower(name)
	if n == "mime-version" {
		return true
	}
	return strings.HasPrefix(n, "content-") && n != "content-language" && n != "content-class"
}

// transportHeader writes the kept transport header fields, and the Date,
// From, Subject and Message-ID fields they lack.
func (b *builder) transportHeader(m *Message, fields []headerField) {
	has := map[string]bool{}
	for _, f := range fields {
		has[strings.ToLower(f.name)] = true
		for _, l := range f.lines {
			b.foldLine(l, maxLine) // kept as they are unless too long
		}
	}
	if !has["date"] && !m.Date.IsZero() {
		b.field("Date", m.Date.Format(time.RFC1123Z))
	}
	if v := formatAddresses([]Address{m.From}); !has["from"] && v != "" {
		b.field("From", v)
	}
	if !has["subject"] && m.Subject != "" {
		b.field("Subject", encodeText(m.Subject))
	}
	if v := msgID(m.MessageID); !has["message-id"] && v != "" {
		b.field("Message-ID", v)
	}
}

// header writes a header made from m's fields.
func (b *builder) header(m *Message) {
	if !m.Date.IsZero() {
		b.field("Date", m.Date.Format(time.RFC1123Z))
	}
	if v := formatAddresses([]Address{m.From}); v != "" {
		b.field("From", v)
	}
	if s := m.Sender; s != nil && !sameAddress(*s, m.From) {
		if v := formatAddresses([]Address{*s}); v != "" {
			b.field("Sender", v)
		}
	}
	b.field("Subject", encodeText(m.Subject))
	for _, f := range []struct {
		name string
		list []Address
	}{{"To", m.To}, {"Cc", m.Cc}, {"Bcc", m.Bcc}} {
		if v := formatAddresses(f.list); v != "" {
			b.field(f.name, v)
		}
	}
	for _, f := range []struct{ name, value string }{
		{"Message-ID", msgID(m.MessageID)}, {"In-Reply-To", msgID(m.InReplyTo)}, {"References", clean(m.References)},
	} {
		if v := strings.TrimSpace(f.value); v != "" {
			b.field(f.name, v)
		}
	}
}

// msgID returns a message ID with its angle brackets, adding them to a
// bare "left@right".
func msgID(s string) string {
	s = strings.TrimSpace(clean(s))
	if s != "" && !strings.HasPrefix(s, "<") && strings.Contains(s, "@") && !strings.ContainsAny(s, " \t<>") {
		return "<" + s + ">"
	}
	return s
}

func sameAddress(a, b Address) bool {
	return strings.EqualFold(strings.TrimSpace(a.Email), strings.TrimSpace(b.Email)) && a.Name == b.Name
}

// field writes "name: value", folded to 78 bytes where it can be.
func (b *builder) field(name, value string) {
	b.foldLine(name+": "+value, foldAt)
}

// foldLine writes one header line, folding it before spaces or tabs so
// that its lines stay within limit bytes where a space allows, and within
// 998 whenever one does. A line without such a place is written as it is.
func (b *builder) foldLine(line string, limit int) {
	for len(line) > limit {
		// The first line may not fold before the field name's colon, a
		// continuation line not at its leading space.
		lo := 1
		if line[0] != ' ' && line[0] != '\t' {
			lo = strings.IndexByte(line, ':') + 2
		}
		cut := -1
		for i := min(limit, len(line)-1); i >= lo && i > 0; i-- {
			if line[i] == ' ' || line[i] == '\t' {
				cut = i
				break
			}
		}
		if cut < 0 && len(line) > maxLine {
			for i := max(limit+1, lo, 1); i < len(line) && i <= maxLine; i++ {
				if line[i] == ' ' || line[i] == '\t' {
					cut = i
					break
				}
			}
		}
		// Never leave a line of only white space.
		if cut < 0 || strings.TrimSpace(line[cut:]) == "" || strings.TrimSpace(line[:cut]) == "" {
			break
		}
		b.str(line[:cut])
		b.str("\r\n")
		line = line[cut:]
	}
	b.str(line)
	b.str("\r\n")
}

// param is a MIME parameter.
type param struct{ name, value string }

// paramField writes a field of a value and parameters, each parameter
// encoded as RFC 2231 requires (continuations for long values, UTF-8
// percent-encoding for others than printable ASCII) and on its own line
// when the line would grow past 78 bytes.
func (b *builder) paramField(name, value string, ps []param) {
	line := name + ": " + value
	for _, p := range ps {
		for _, seg := range encodeParam(p.name, p.value) {
			if len(line)+2+len(seg) > foldAt {
				b.str(line + ";\r\n")
				line = " " + seg
			} else {
				line += "; " + seg
			}
		}
	}
	b.str(line + "\r\n")
}

// paramChunk is the most value bytes one parameter segment carries.
const paramChunk = 60

// encodeParam encodes one parameter as one or more segments.
func encodeParam(name, value string) []string {
	value = strings.ToValidUTF8(value, "\uFFFD")
	printable := true
	for i := 0; i < len(value); i++ {
		if c := value[i]; c < 0x20 || c > 0x7e {
			printable = false
			break
		}
	}
	if printable {
		if len(value) <= paramChunk {
			return []string{name + "=" + quoteValue(value)}
		}
		var segs []string
		for i := 0; len(value) > 0; i++ {
			n := min(len(value), paramChunk)
			segs = append(segs, name+"*"+itoa(i)+"="+quoteValue(value[:n]))
			value = value[n:]
		}
		return segs
	}
	var enc []string // percent-encoded units, never split
	for i := 0; i < len(value); i++ {
		c := value[i]
		if isAttrChar(c) {
			enc = append(enc, string(c))
		} else {
			enc = append(enc, "%"+string("0123456789ABCDEF"[c>>4])+string("0123456789ABCDEF"[c&15]))
		}
	}
	var chunks []string
	var cur strings.Builder
	for _, u := range enc {
		if cur.Len()+len(u) > paramChunk {
			chunks = append(chunks, cur.String())
			cur.Reset()
		}
		cur.WriteString(u)
	}
	chunks = append(chunks, cur.String())
	if len(chunks) == 1 {
		return []string{name + "*=utf-8''" + chunks[0]}
	}
	segs := make([]string, len(chunks))
	for i, c := range chunks {
		if i == 0 {
			c = "utf-8''" + c
		}
		segs[i] = name + "*" + itoa(i) + "*=" + c
	}
	return segs
}

// quoteValue returns v as a token, or as a quoted string when it must be.
func quoteValue(v string) string {
	token := v != ""
	for i := 0; i < len(v); i++ {
		if c := v[i]; c <= ' ' || c >= 0x7f || strings.IndexByte(`()<>@,;:\"/[]?=`, c) >= 0 {
			token = false
			break
		}
	}
	if token {
		return v
	}
	return `"` + strings.NewReplacer(`\`, `\\`, `"`, `\"`).Replace(v) + `"`
}

// isAttrChar reports whether c may stand unencoded in an RFC 2231 value.
func isAttrChar(c byte) bool {
	return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' ||
		strings.IndexByte("!#$&+-.^_`|~", c) >= 0
}

func itoa(i int) string {
	if i < 10 {
		return string(rune('0' + i))
	}
	return itoa(i/10) + string(rune('0'+i%10))
}

// formatAddresses formats a list of mailboxes for an address field.
func formatAddresses(l []Address) string {
	parts := make([]string, 0, len(l))
	for _, a := range l {
		if s := formatAddress(a); s != "" {
			parts = append(parts, s)
		}
	}
	return strings.Join(parts, ", ")
}

// formatAddress formats one mailbox; an Email that is not an addr-spec is
// written as an empty group named after the display name or the Email.
func formatAddress(a Address) string {
	name, email := strings.TrimSpace(clean(a.Name)), strings.TrimSpace(clean(a.Email))
	if email != "" {
		spec := (&mail.Address{Address: email}).String() // "<addr-spec>"
		if parsed, err := mail.ParseAddress(spec); err == nil && parsed.Address == email && len(spec) < maxLine-100 {
			if name == "" {
				return spec
			}
			return encodePhrase(name) + " " + spec
		}
	}
	phrase := name
	if phrase == "" {
		phrase = email
	}
	if phrase == "" {
		return ""
	}
	return encodePhrase(phrase) + ":;"
}

// encodePhrase encodes a display name as an RFC 5322 phrase: printable
// ASCII as a quoted string where it must be, anything else as
// encoded-words.
func encodePhrase(s string) string {
	if !isPrintableASCII(s) || strings.Contains(s, "=?") || tooLong(s) {
		return encodeWords(s)
	}
	for i := 0; i < len(s); i++ {
		if c := s[i]; c != ' ' && !isAtext(c) {
			return `"` + strings.NewReplacer(`\`, `\\`, `"`, `\"`).Replace(s) + `"`
		}
	}
	return s
}

// isAtext reports whether c is an RFC 5322 atom character.
func isAtext(c byte) bool {
	return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' ||
		strings.IndexByte("!#$%&'*+-/=?^_`{|}~", c) >= 0
}

// encodeText encodes an unstructured field value (Subject): as it is when
// it is printable ASCII whose words all fit on a line, otherwise as RFC
// 2047 encoded-words.
func encodeText(s string) string {
	s = clean(s)
	needs := !isPrintableASCII(strings.ReplaceAll(s, "\t", " ")) || strings.Contains(s, "=?")
	if !needs {
		for _, w := range strings.Fields(s) {
			if len(w) > foldAt-len("Subject: ") {
				needs = true
				break
			}
		}
	}
	if !needs {
		return s
	}
	return encodeWords(s)
}

// wordLen is the longest encoded-word written: short enough that a field
// name and one word fit in 78 bytes.
const wordLen = 60

// encodeWords encodes s as space-separated RFC 2047 encoded-words in UTF-8:
// Q encoding when most of s is ASCII, else base64. Words never split a
// character.
func encodeWords(s string) string {
	s = strings.ToValidUTF8(s, "\uFFFD")
	plain := 0
	for i := 0; i < len(s); i++ {
		if qSafe(s[i]) || s[i] == ' ' {
			plain++
		}
	}
	useQ := plain*3 >= len(s)*2
	var words []string
	var cur []byte // the word's encoded text
	var raw []byte // the word's characters, for base64
	const prefixLen = len("=?utf-8?q?") + len("?=")
	flush := func() {
		if useQ && len(cur) > 0 {
			words = append(words, "=?utf-8?q?"+string(cur)+"?=")
		} else if !useQ && len(raw) > 0 {
			words = append(words, "=?utf-8?b?"+base64.StdEncoding.EncodeToString(raw)+"?=")
		}
		cur, raw = cur[:0], raw[:0]
	}
	for _, r := range s {
		var ch [utf8.UTFMax]byte
		n := utf8.EncodeRune(ch[:], r)
		if useQ {
			var enc []byte
			for _, c := range ch[:n] {
				switch {
				case c == ' ':
					enc = append(enc, '_')
				case qSafe(c):
					enc = append(enc, c)
				default:
					enc = append(enc, '=', "0123456789ABCDEF"[c>>4], "0123456789ABCDEF"[c&15])
				}
			}
			if prefixLen+len(cur)+len(enc) > wordLen {
				flush()
			}
			cur = append(cur, enc...)
		} else {
			if prefixLen+base64.StdEncoding.EncodedLen(len(raw)+n) > wordLen {
				flush()
			}
			raw = append(raw, ch[:n]...)
		}
	}
	flush()
	return strings.Join(words, " ")
}

// qSafe reports whether c may stand as itself in a Q-encoded word
// anywhere it may appear (RFC 2047 5 (3)).
func qSafe(c byte) bool {
	return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '!' || c == '*' || c == '+' || c == '-' || c == '/'
}

// tooLong reports whether a space-separated value has a word longer than
// an encoded-word may be.
func tooLong(s string) bool {
	for _, w := range strings.Fields(s) {
		if len(w) > 75 {
			return true
		}
	}
	return false
}

// clean turns line breaks and NULs in a header value into spaces.
func clean(s string) string {
	if !strings.ContainsAny(s, "\r\n\x00") {
		return s
	}
	return strings.Map(func(r rune) rune {
		if r == '\r' || r == '\n' || r == 0 {
			return ' '
		}
		return r
	}, s)
}

func isPrintableASCII(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < 0x20 || s[i] > 0x7e {
			return false
		}
	}
	return true
}

func isASCII(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] >= utf8.RuneSelf {
			return false
		}
	}
	return true
}
