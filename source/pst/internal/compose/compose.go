// Package compose builds the RFC 5322 / MIME message that stands for a
// message read from a PST file: the kept transport headers (or a header
// made from the message's properties), the text and HTML bodies, and the
// attachments, streamed so that an attachment of any size never sits in
// memory. Building the same Message twice gives the same bytes, so the
// size measured on one build holds for another. Spool keeps a built message
// so its exact size is known before it is appended to the target.
package compose

import (
	"bufio"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"hash"
	"io"
	"mime"
	"mime/quotedprintable"
	"path"
	"strings"
	"time"
)

// Address is a mailbox: a display name and an e-mail address. An Email
// that is not an addr-spec (an Exchange X.500 address, say) is written as a
// group with no members, named after the display name (or the Email).
type Address struct {
	Name, Email string
}

// Attachment is a file or message attached to a Message.
type Attachment struct {
	// Name is the file name; for an embedded message it defaults to the
	// message's subject, and ".eml" is added when missing.
	Name string
	// MIMEType is the media type from the PST; when empty or invalid it is
	// guessed from Name's extension (application/octet-stream otherwise).
	MIMEType string
	// ContentID is the content ID (without angle brackets) by which the
	// HTML body refers to the attachment ("cid:...").
	ContentID string
	// Inline marks an attachment shown in the body rather than listed.
	Inline bool
	// Size is the attachment's size as the PST records it; informational.
	Size int64
	// Open returns the attachment's data, read once per Build. Nil means
	// no data.
	Open func() (io.ReadCloser, error)
	// Embedded, when not nil, is an attached message, written as
	// message/rfc822; Open and MIMEType are then unused.
	Embedded *Message
}

// Message is what a PST message holds, as Build needs it.
type Message struct {
	// TransportHeaders is the message's header as received
	// (PidTagTransportMessageHeaders). When it holds header fields they are
	// kept as they are, except the MIME-Version and Content-* fields that
	// described the original body (Content-Language and Content-Class
	// stay), and the fields below serve only to add a Date, From, Subject
	// or Message-ID the header lacks.
	TransportHeaders string

	From   Address
	Sender *Address // written when it differs from From
	To     []Address
	Cc     []Address
	Bcc    []Address

	Subject string
	Date    time.Time // not written when zero

	MessageID  string // with angle brackets, as in the header
	InReplyTo  string
	References string

	Text string // plain-text body, any line endings
	HTML string // HTML body, UTF-8

	Attachments []Attachment
}

// maxDepth bounds how deeply messages may be embedded in one another.
const maxDepth = 32

// Build writes m as a MIME message with CRLF line endings and no line over
// 998 bytes (a kept transport header line that is longer and has no space
// to fold at stays as it was). The body is text/plain, text/html or
// multipart/alternative of both, with inline attachments that the HTML
// refers to by content ID in multipart/related beside the HTML, and other
// attachments after it in multipart/mixed. Text is UTF-8 quoted-printable,
// attachments are base64, embedded messages are built the same way as
// message/rfc822. Boundaries are derived from m's content, so building the
// same Message twice gives identical bytes. On error w may hold part of a
// message.
func Build(w io.Writer, m *Message) error {
	if m == nil {
		return errors.New("compose: nil message")
	}
	bw := bufio.NewWriterSize(w, 32<<10)
	b := &builder{w: bw}
	err := b.message(m)
	if b.err != nil {
		return fmt.Errorf("compose: write: %w", b.err)
	}
	if err != nil {
		return err
	}
	if err := bw.Flush(); err != nil {
		return fmt.Errorf("compose: write: %w", err)
	}
	return nil
}

// builder writes one message, keeping the first write error and the last
// two bytes written.
type builder struct {
	w     *bufio.Writer
	err   error
	last  [2]byte
	buf   []byte // copy buffer for attachments
	depth int    // how deeply the message being written is embedded
}

func (b *builder) Write(p []byte) (int, error) {
	if b.err != nil {
		return 0, b.err
	}
	n, err := b.w.Write(p)
	if err != nil {
		b.err = err
		return n, err
	}
	switch {
	case n >= 2:
		b.last = [2]byte{p[n-2], p[n-1]}
	case n == 1:
		b.last = [2]byte{b.last[1], p[0]}
	}
	return n, nil
}

func (b *builder) str(s string) {
	_, _ = io.WriteString(b, s)
}

// endLine ends the current line unless it has just ended.
func (b *builder) endLine() {
	if b.last != [2]byte{'\r', '\n'} {
		b.str("\r\n")
	}
}

// part is a node of the MIME tree.
type part struct {
	multipart string // "mixed", "alternative", "related"; "" for a leaf
	children  []*part

	textType string // "plain" or "html" for a text leaf
	text     string

	att *Attachment // an attachment leaf
}

// message writes m's header and body.
func (b *builder) message(m *Message) error {
	if b.depth > maxDepth {
		return fmt.Errorf("compose: messages embedded more than %d deep", maxDepth)
	}
	if fields := transportFields(m.TransportHeaders); len(fields) > 0 {
		b.transportHeader(m, fields)
	} else {
		b.header(m)
	}
	b.field("MIME-Version", "1.0")
	seed := digest(m)
	if err := b.part(structure(m), seed, "m"); err != nil {
		return err
	}
	b.endLine()
	return b.err
}

// structure arranges m's bodies and attachments as a MIME tree.
func structure(m *Message) *part {
	var text, html *part
	if m.Text != "" || m.HTML == "" {
		text = &part{textType: "plain", text: m.Text}
	}
	if m.HTML != "" {
		html = &part{textType: "html", text: m.HTML}
	}
	var related, others []*part
	for i := range m.Attachments {
		a := &m.Attachments[i]
		if html != nil && a.Embedded == nil && a.Inline && refersTo(m.HTML, a.ContentID) {
			related = append(related, &part{att: a})
		} else {
			others = append(others, &part{att: a})
		}
	}
	if len(related) > 0 {
		html = &part{multipart: "related", children: append([]*part{html}, related...)}
	}
	var body *part
	switch {
	case text != nil && html != nil:
		body = &part{multipart: "alternative", children: []*part{text, html}}
	case html != nil:
		body = html
	default:
		body = text
	}
	if len(others) == 0 {
		return body
	}
	if m.Text == "" && m.HTML == "" {
		return &part{multipart: "mixed", children: others}
	}
	return &part{multipart: "mixed", children: append([]*part{body}, others...)}
}

// refersTo reports whether html refers to the content ID cid.
func refersTo(html, cid string) bool {
	cid = strings.Trim(strings.TrimSpace(cid), "<>")
	if cid == "" {
		return false
	}
	return strings.Contains(strings.ToLower(html), "cid:"+strings.ToLower(cid))
}

// part writes p's header fields, the blank line and its body. id names
// p's place in the tree, for its boundary.
func (b *builder) part(p *part, seed []byte, id string) error {
	switch {
	case p.multipart != "":
		bnd := boundary(seed, id)
		b.paramField("Content-Type", "multipart/"+p.multipart, []param{{"boundary", bnd}})
		b.str("\r\n")
		for i, c := range p.children {
			if i > 0 {
				b.str("\r\n")
			}
			b.str("--" + bnd + "\r\n")
			if err := b.part(c, seed, fmt.Sprintf("%s.%d", id, i)); err != nil {
				return err
			}
		}
		b.str("\r\n--" + bnd + "--\r\n")
	case p.att != nil && p.att.Embedded != nil:
		a := p.att
		b.str("Content-Type: message/rfc822\r\n")
		if needs8bit(a.Embedded, 0) {
			b.str("Content-Transfer-Encoding: 8bit\r\n")
		} else {
			b.str("Content-Transfer-Encoding: 7bit\r\n")
		}
		b.paramField("Content-Disposition", disposition(a), []param{{"filename", embeddedName(a)}})
		b.contentID(a.ContentID)
		b.str("\r\n")
		b.depth++
		err := b.message(a.Embedded)
		b.depth--
		if err != nil {
			return err
		}
	case p.att != nil:
		return b.attachment(p.att)
	default:
		b.paramField("Content-Type", "text/"+p.textType, []param{{"charset", "utf-8"}})
		b.str("Content-Transfer-Encoding: quoted-printable\r\n\r\n")
		qp := quotedprintable.NewWriter(b)
		_, _ = io.WriteString(qp, crlf(p.text))
		_ = qp.Close()
		if b.last != [2]byte{'\r', '\n'} {
			// A soft line break ends the last line without adding a
			// line break to the text.
			b.str("=\r\n")
		}
	}
	return b.err
}

// attachment writes a file attachment, streaming its data as base64.
func (b *builder) attachment(a *Attachment) error {
	name := clean(a.Name)
	ps := []param(nil)
	if name != "" {
		ps = []param{{"name", name}}
	}
	b.paramField("Content-Type", mediaType(a), ps)
	b.str("Content-Transfer-Encoding: base64\r\n")
	if name != "" {
		ps = []param{{"filename", name}}
	}
	b.paramField("Content-Disposition", disposition(a), ps)
	b.contentID(a.ContentID)
	b.str("\r\n")
	if a.Open == nil {
		return b.err
	}
	r, err := a.Open()
	if err != nil {
		return fmt.Errorf("compose: attachment %q: %w", a.Name, err)
	}
	defer r.Close()
	if b.buf == nil {
		b.buf = make([]byte, 32<<10)
	}
	enc := base64.NewEncoder(base64.StdEncoding, &lineWriter{w: b})
	if _, err := io.CopyBuffer(enc, r, b.buf); err != nil {
		if b.err != nil {
			return b.err
		}
		return fmt.Errorf("compose: attachment %q: read: %w", a.Name, err)
	}
	_ = enc.Close() // a write error is in b.err
	return b.err
}

// contentID writes a Content-ID field when cid is set.
func (b *builder) contentID(cid string) {
	cid = strings.Trim(clean(cid), "<> ")
	if cid != "" {
		b.field("Content-ID", "<"+cid+">")
	}
}

func disposition(a *Attachment) string {
	if a.Inline {
		return "inline"
	}
	return "attachment"
}

// embeddedName is the file name of an embedded message.
func embeddedName(a *Attachment) string {
	name := clean(a.Name)
	if name == "" {
		name = clean(a.Embedded.Subject)
	}
	if name == "" {
		name = "message"
	}
	if ext := strings.ToLower(path.Ext(name)); ext != ".eml" {
		name += ".eml"
	}
	return name
}

// mediaType is the attachment's media type: the PST's when valid, else
// one guessed from the file name. Composite types (message/*, multipart/*)
// cannot be base64-encoded and become application/octet-stream.
func mediaType(a *Attachment) string {
	for _, t := range []string{a.MIMEType, mime.TypeByExtension(strings.ToLower(path.Ext(clean(a.Name))))} {
		mt, _, err := mime.ParseMediaType(t)
		if err != nil || strings.Count(mt, "/") != 1 || strings.HasPrefix(mt, "/") || strings.HasSuffix(mt, "/") {
			continue
		}
		if strings.HasPrefix(mt, "message/") || strings.HasPrefix(mt, "multipart/") {
			break
		}
		return mt
	}
	return "application/octet-stream"
}

// needs8bit reports whether m's header may hold 8-bit bytes (kept
// transport headers or e-mail addresses that are not ASCII).
func needs8bit(m *Message, depth int) bool {
	if depth > maxDepth {
		return false
	}
	if !isASCII(m.TransportHeaders) {
		return true
	}
	for _, l := range [][]Address{{m.From}, m.To, m.Cc, m.Bcc} {
		for _, a := range l {
			if !isASCII(a.Email) {
				return true
			}
		}
	}
	if m.Sender != nil && !isASCII(m.Sender.Email) {
		return true
	}
	for i := range m.Attachments {
		if e := m.Attachments[i].Embedded; e != nil && needs8bit(e, depth+1) {
			return true
		}
	}
	return false
}

// lineWriter breaks base64 output into lines of 76 characters.
type lineWriter struct {
	w   io.Writer
	col int
}

// crlfBytes ends a base64 line. Written as a string, it would be copied
// into a new slice for every line: an allocation per 57 bytes of an
// attachment.
var crlfBytes = []byte("\r\n")

func (l *lineWriter) Write(p []byte) (int, error) {
	n := 0
	for len(p) > 0 {
		if l.col == 76 {
			if _, err := l.w.Write(crlfBytes); err != nil {
				return n, err
			}
			l.col = 0
		}
		k := min(len(p), 76-l.col)
		if _, err := l.w.Write(p[:k]); err != nil {
			return n, err
		}
		n += k
		l.col += k
		p = p[k:]
	}
	return n, nil
}

// crlf turns every line ending (CRLF, bare CR, bare LF) into CRLF.
func crlf(s string) string {
	if !strings.ContainsAny(s, "\r\n") {
		return s
	}
	var sb strings.Builder
	sb.Grow(len(s) + len(s)/32)
	for i := 0; i < len(s); i++ {
		switch c := s[i]; c {
		case '\r':
			sb.WriteString("\r\n")
			if i+1 < len(s) && s[i+1] == '\n' {
				i++
			}
		case '\n':
			sb.WriteString("\r\n")
		default:
			sb.WriteByte(c)
		}
	}
	return sb.String()
}

// digest identifies m's content: every field, the bodies, the
// attachments' descriptions and embedded messages (not attachment data,
// which is streamed once). Boundaries are derived from it.
func digest(m *Message) []byte {
	h := sha256.New()
	writeDigest(h, m, 0)
	return h.Sum(nil)
}

func writeDigest(h hash.Hash, m *Message, depth int) {
	put := func(s string) {
		var n [8]byte
		binary.LittleEndian.PutUint64(n[:], uint64(len(s)))
		h.Write(n[:])
		io.WriteString(h, s)
	}
	putAddrs := func(l []Address) {
		put(fmt.Sprint(len(l)))
		for _, a := range l {
			put(a.Name)
			put(a.Email)
		}
	}
	put("mailshift compose v1")
	put(m.TransportHeaders)
	putAddrs([]Address{m.From})
	if m.Sender != nil {
		putAddrs([]Address{*m.Sender})
	} else {
		putAddrs(nil)
	}
	putAddrs(m.To)
	putAddrs(m.Cc)
	putAddrs(m.Bcc)
	put(m.Subject)
	put(m.Date.Format(time.RFC3339Nano))
	put(m.MessageID)
	put(m.InReplyTo)
	put(m.References)
	put(m.Text)
	put(m.HTML)
	put(fmt.Sprint(len(m.Attachments)))
	for _, a := range m.Attachments {
		put(a.Name)
		put(a.MIMEType)
		put(a.ContentID)
		put(fmt.Sprint(a.Inline, a.Size, a.Embedded != nil))
		if a.Embedded != nil && depth < maxDepth {
			writeDigest(h, a.Embedded, depth+1)
		}
	}
}

// boundary derives the boundary of the multipart at place id from the
// message digest. It starts with "=_", which neither quoted-printable nor
// base64 output can contain, and its fixed length keeps one boundary from
// being a prefix of another.
func boundary(seed []byte, id string) string {
	h := sha256.New()
	h.Write(seed)
	io.WriteString(h, id)
	return "=_mailshift_" + hex.EncodeToString(h.Sum(nil)[:16])
}
