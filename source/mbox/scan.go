package mbox

import (
	"bufio"
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"hash"
	"io"
	"os"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/mailshift/mailshift/internal/mailbox"
	"github.com/mailshift/mailshift/source"
	"github.com/mailshift/mailshift/source/internal/mailfile"
)

// bufSize is the read buffer of scans and fetches; a line longer than
// that is handled in pieces.
const bufSize = 64 << 10

// stripped are the header fields that mail programs add to a message in
// an mbox to keep its state (Dovecot, c-client, mutt, Thunderbird). They
// are not part of the message as it was delivered: they are left out of
// the delivered bytes (as Dovecot does when it serves an mbox) and of the
// key, so that a flag change does not change the message.
var stripped = []string{
	"status", "x-status", "x-keywords", "x-uid", "x-imap", "x-imapbase",
	"content-length", "x-mozilla-status", "x-mozilla-status2", "x-mozilla-keys",
}

// filter turns a message's lines as stored in an mbox into the delivered
// message: it leaves out the stripped header fields, takes one ">" off
// body lines that match ^>+From (mboxrd unquoting; not for a body given
// by a Content-Length, which is literal), and ends lines with CRLF. Lines come in pieces of at most
// bufSize bytes; only a line's first piece decides what becomes of it, so
// the result does not depend on where lines were cut.
type filter struct {
	inHeader bool // still in the header
	literal  bool // the body is not quoted (mboxcl2)
	drop     bool // the current line is left out
	dropping bool // the current header field is left out
	prevCR   bool // the last byte seen was a CR
}

func newFilter(literal bool) filter { return filter{inHeader: true, literal: literal} }

// feed takes the next piece of a line (lineStart: it starts one) and
// returns what to deliver of it; crlf says a CR goes before its final LF.
func (f *filter) feed(piece []byte, lineStart bool) (out []byte, crlf bool) {
	if lineStart {
		f.drop = false
		switch {
		case !f.inHeader:
			if !f.literal && isQuotedFrom(piece) {
				piece = piece[1:]
			}
		case isEmptyLine(piece):
			f.inHeader, f.dropping = false, false
		case piece[0] == ' ' || piece[0] == '\t':
			f.drop = f.dropping
		default:
			f.dropping = isStripped(piece)
			f.drop = f.dropping
		}
	}
	prevCR := f.prevCR
	f.prevCR = piece[len(piece)-1] == '\r'
	if f.drop {
		return nil, false
	}
	if n := len(piece); piece[n-1] == '\n' {
		crlf = n >= 2 && piece[n-2] != '\r' || n == 1 && !prevCR
	}
	return piece, crlf
}

// isEmptyLine reports whether line is "\n" or "\r\n".
func isEmptyLine(line []byte) bool {
	return len(line) == 1 && line[0] == '\n' || len(line) == 2 && line[0] == '\r' && line[1] == '\n'
}

// isQuotedFrom reports whether line matches ^>+From .
func isQuotedFrom(line []byte) bool {
	i := 0
	for i < len(line) && line[i] == '>' {
		i++
	}
	return i > 0 && bytes.HasPrefix(line[i:], []byte("From "))
}

// fieldName returns the name of a header field line, lower case, or "".
func fieldName(line []byte) string {
	i := bytes.IndexByte(line, ':')
	if i <= 0 || i > 64 {
		return ""
	}
	return strings.ToLower(strings.TrimRight(string(line[:i]), " \t"))
}

func isStripped(line []byte) bool { return slices.Contains(stripped, fieldName(line)) }

// lineReader reads a file in line pieces and knows their offsets.
type lineReader struct {
	br        *bufio.Reader
	off       int64 // offset of the next byte
	lineStart bool  // the next piece starts a line
}

func newLineReader(r io.Reader, off int64) *lineReader {
	return &lineReader{br: bufio.NewReaderSize(r, bufSize), off: off, lineStart: true}
}

// next returns the next piece, its offset and whether it starts a line;
// io.EOF at the end.
func (lr *lineReader) next() (piece []byte, off int64, lineStart bool, err error) {
	piece, err = lr.br.ReadSlice('\n')
	if err == bufio.ErrBufferFull {
		err = nil
	}
	if len(piece) == 0 {
		if err == nil {
			err = io.ErrNoProgress
		}
		return nil, lr.off, false, err
	}
	off, lineStart = lr.off, lr.lineStart
	lr.off += int64(len(piece))
	lr.lineStart = piece[len(piece)-1] == '\n'
	return piece, off, lineStart, nil
}

// record is where a message is in the file, for Fetch.
type record struct {
	start, end int64 // after its From_ line, up to its end (without the blank separator line)
	size       int64 // size delivered
	literal    bool  // a body given by a Content-Length: not unquoted
}

// scanned is one message found by a scan.
type scanned struct {
	msg mailbox.Message
	rec record
}

// message is the message being read by a scan.
type message struct {
	from       int64 // offset of its From_ line
	fromDate   time.Time
	start      int64
	f          filter
	size       int64 // delivered size
	hash       hash.Hash
	heldCR     bool   // a CR ending the last hashed piece, not yet hashed
	lastLF     bool   // the last byte hashed was a LF
	firstLine  []byte // the start of its first line
	fields     map[string][]byte
	field      string // the header field being read, if one of interest
	header     bool   // still in the header
	clLeft     int64  // bytes left of the Content-Length body
	clBeyond   bool   // a Content-Length that runs past the end of the file
	afterCL    bool   // its Content-Length body has been read
	incomplete bool   // its last line has no line end
}

// interesting are the header fields a scan reads.
var interesting = []string{"status", "x-status", "x-mozilla-status", "x-keywords", "x-mozilla-keys", "content-length", "date", "x-imap"}

func (s *scan) newMessage(from int64, fromLine []byte, start int64) *message {
	d, _ := fromLineDate(fromLine)
	return &message{from: from, fromDate: d, start: start, f: newFilter(false), hash: sha256.New(),
		fields: map[string][]byte{}, header: true, lastLF: true}
}

// add feeds a piece of the message's content.
func (m *message) add(piece []byte, lineStart bool) {
	if lineStart && m.firstLine == nil {
		m.firstLine = bytes.Clone(piece[:min(len(piece), 256)])
	}
	wasHeader := m.f.inHeader
	out, crlf := m.f.feed(piece, lineStart)
	if m.clLeft > 0 {
		m.clLeft -= int64(len(piece))
	}
	m.size += int64(len(out))
	if crlf {
		m.size++
	}
	if wasHeader {
		m.headerPiece(piece, lineStart)
	}
	if len(out) > 0 {
		m.hashPiece(out)
	}
	m.incomplete = piece[len(piece)-1] != '\n'
}

// headerPiece keeps the header fields of interest.
func (m *message) headerPiece(piece []byte, lineStart bool) {
	if lineStart && !(piece[0] == ' ' || piece[0] == '\t') {
		m.field = ""
		if n := fieldName(piece); slices.Contains(interesting, n) {
			if _, seen := m.fields[n]; !seen {
				m.field = n
				piece = piece[bytes.IndexByte(piece, ':')+1:]
			}
		}
	}
	if m.field != "" && len(m.fields[m.field]) < 16<<10 {
		m.fields[m.field] = append(m.fields[m.field], piece...)
	}
}

// hashPiece hashes delivered content with CR LF taken as LF, so that the
// key does not depend on the file's line endings.
func (m *message) hashPiece(b []byte) {
	if m.heldCR {
		if b[0] != '\n' {
			m.hash.Write([]byte{'\r'})
		}
		m.heldCR = false
	}
	for len(b) > 0 {
		i := bytes.Index(b, []byte("\r\n"))
		if i < 0 {
			break
		}
		m.hash.Write(b[:i])
		b = b[i+1:]
	}
	if n := len(b); n > 0 && b[n-1] == '\r' {
		b, m.heldCR = b[:n-1], true
	}
	if len(b) > 0 {
		m.hash.Write(b)
		m.lastLF = b[len(b)-1] == '\n'
	}
}

// scan reads an mbox file once, from start to end.
type scan struct {
	path     string
	size     int64 // of the file
	mtime    time.Time
	ra       io.ReaderAt
	out      []scanned
	skips    []source.Skip
	keyCount map[string]int
	first    bool // no message finished yet
}

// errNotMbox is returned by scanFile for a file that does not start with
// a From_ line.
var errNotMbox = errors.New("not an mbox file")

// scanFile reads the mbox file f (size bytes) and returns its messages in
// file order, with ordinal UIDs, and what it passed over. ctxErr is
// polled now and then to stop early.
func scanFile(f *os.File, path string, fi os.FileInfo, ctxErr func() error) ([]scanned, []source.Skip, error) {
	s := &scan{path: path, size: fi.Size(), mtime: fi.ModTime(), ra: f, keyCount: map[string]int{}, first: true}
	lr := newLineReader(io.NewSectionReader(f, 0, s.size), 0)
	var (
		cur      *message
		blank    []byte // an empty body line that may be the separator before the next From_
		blankBuf [2]byte
		blankAt  int64
		prevEnd  bool // the previous line was empty (or the message just started)
		n        int
	)
	for {
		piece, off, lineStart, err := lr.next()
		if err == io.EOF {
			break
		}
		if err != nil {
			return nil, nil, fmt.Errorf("read: %w", err)
		}
		if n++; n%4096 == 0 {
			if err := ctxErr(); err != nil {
				return nil, nil, err
			}
		}
		if cur == nil {
			if lineStart && isEmptyLine(piece) {
				continue // blank lines before the first message
			}
			if !lineStart || !bytes.HasPrefix(piece, []byte("From ")) {
				return nil, nil, fmt.Errorf("%w: it starts with %q, not a \"From \" line", errNotMbox, head(piece))
			}
			cur, err = s.fromLine(lr, piece, off)
			if err != nil {
				return nil, nil, err
			}
			prevEnd = true
			continue
		}
		inCL := cur.clLeft > 0
		if lineStart && !inCL && bytes.HasPrefix(piece, []byte("From ")) && (prevEnd || cur.afterCL || validFromLine(piece)) {
			end := off
			if blank != nil {
				end = blankAt
			}
			s.finish(cur, end, false)
			blank = nil
			cur, err = s.fromLine(lr, piece, off)
			if err != nil {
				return nil, nil, err
			}
			prevEnd = true
			continue
		}
		if blank != nil { // not a separator after all: part of the body
			cur.add(blank, true)
			blank = nil
		}
		if lineStart && !inCL && !cur.header && isEmptyLine(piece) {
			// A copy: piece is only valid until the next read.
			blank, blankAt, prevEnd = append(blankBuf[:0:2], piece...), off, true
			continue
		}
		prevEnd = false
		wasHeader := cur.header
		cur.add(piece, lineStart)
		cur.header = cur.f.inHeader
		if wasHeader && !cur.header {
			s.contentLength(cur, off+int64(len(piece)))
		} else if inCL && cur.clLeft == 0 {
			cur.afterCL = true
		}
	}
	if cur != nil {
		end := s.size
		if blank != nil {
			end = blankAt
		}
		s.finish(cur, end, true)
	}
	return s.out, s.skips, nil
}

// fromLine starts a message at a From_ line. A From_ line longer than a
// piece is read to its end.
func (s *scan) fromLine(lr *lineReader, piece []byte, off int64) (*message, error) {
	line := bytes.Clone(piece)
	for line[len(line)-1] != '\n' {
		more, _, _, err := lr.next()
		if err == io.EOF {
			break
		}
		if err != nil {
			return nil, fmt.Errorf("read: %w", err)
		}
		if len(line) < 1024 {
			line = append(line, more[:min(len(more), 1024)]...)
		}
	}
	return s.newMessage(off, line, lr.off), nil
}

// contentLength honours a Content-Length header (mboxcl, mboxcl2) when
// the body it gives ends at a line end followed by the next From_ line (or
// a blank line and a From_ line), or the end of the file.
func (s *scan) contentLength(m *message, bodyStart int64) {
	v, ok := m.fields["content-length"]
	if !ok {
		return
	}
	n, err := strconv.ParseInt(strings.TrimSpace(string(v)), 10, 64)
	if err != nil || n < 0 {
		return
	}
	end := bodyStart + n
	if end > s.size {
		m.clBeyond = true
		return
	}
	if n > 0 {
		var b [1]byte
		if _, err := s.ra.ReadAt(b[:], end-1); err != nil || b[0] != '\n' {
			return
		}
	}
	var next [7]byte
	k, _ := s.ra.ReadAt(next[:], end)
	rest := next[:k]
	switch {
	case len(rest) == 0, isEmptyLine(rest),
		bytes.HasPrefix(rest, []byte("From ")),
		bytes.HasPrefix(rest, []byte("\nFrom ")),
		bytes.HasPrefix(rest, []byte("\r\nFrom ")):
	default:
		return
	}
	m.f.literal = true // mboxcl2, as Dovecot writes it: not quoted
	m.clLeft = n
	if n == 0 {
		m.afterCL = true
	}
}

// finish ends a message at end and adds it, or a Skip.
func (s *scan) finish(m *message, end int64, atEOF bool) {
	item := fmt.Sprintf("%s at byte %d", s.path, m.from)
	isFirst := s.first
	s.first = false
	switch {
	case m.firstLine == nil, isEmptyLine(m.firstLine) && m.size <= 2:
		s.skips = append(s.skips, source.Skip{Item: item, Reason: "empty message: a From line with nothing after it"})
		return
	case isFirst && hasField(m.fields, "x-imap"):
		return // the folder's internal data (c-client, Dovecot): not a message
	case !isFieldLineOrBlank(m.firstLine):
		_, why := mailfile.LooksLikeMail(m.firstLine)
		s.skips = append(s.skips, source.Skip{Item: item, Reason: why})
		return
	case atEOF && m.clBeyond:
		v := strings.TrimSpace(string(m.fields["content-length"]))
		s.skips = append(s.skips, source.Skip{Item: item, Reason: fmt.Sprintf("truncated: its Content-Length says %s bytes of body, the file ends before that", v)})
		return
	case atEOF && m.header && m.incomplete:
		s.skips = append(s.skips, source.Skip{Item: item, Reason: "truncated: the file ends inside the message's header"})
		return
	}
	if !m.lastLF || m.heldCR {
		m.hashPiece([]byte("\n"))
	}
	sum := hex.EncodeToString(m.hash.Sum(nil)[:8])
	s.keyCount[sum]++
	key := sum
	if c := s.keyCount[sum]; c > 1 {
		key = fmt.Sprintf("%s-%d", sum, c)
	}
	date := m.fromDate
	if date.IsZero() {
		if d, ok := mailfile.HeaderDate([]byte("Date:" + string(m.fields["date"]) + "\n")); ok {
			date = d
		} else {
			date = s.mtime
		}
	}
	s.out = append(s.out, scanned{
		msg: mailbox.Message{
			Key:          key,
			UID:          uint32(len(s.out) + 1),
			Size:         m.size,
			Flags:        flags(m.fields),
			InternalDate: time.Unix(date.Unix(), 0),
		},
		rec: record{start: m.start, end: end, size: m.size, literal: m.f.literal},
	})
}

func hasField(fields map[string][]byte, name string) bool {
	_, ok := fields[name]
	return ok
}

// isFieldLineOrBlank reports whether a message's first line can start a
// message: a header field, or the empty line of a message without header.
func isFieldLineOrBlank(line []byte) bool {
	if isEmptyLine(line) {
		return true
	}
	ok, _ := mailfile.LooksLikeMail(line)
	return ok && !bytes.HasPrefix(line, []byte("From "))
}

func head(b []byte) []byte {
	if len(b) > 24 {
		return b[:24]
	}
	return b
}

// flags reads the flags a mail program kept in the header: Status (R
// \Seen; O only means not new), X-Status (A \Answered, F \Flagged, T
// \Draft, D \Deleted), X-Mozilla-Status (Thunderbird's bits: 0x1 read,
// 0x2 replied, 0x4 flagged, 0x8 deleted, 0x1000 forwarded) and keywords
// from X-Keywords (Dovecot, c-client) and X-Mozilla-Keys.
func flags(fields map[string][]byte) []string {
	var out []string
	add := func(f string) {
		if !slices.Contains(out, f) {
			out = append(out, f)
		}
	}
	if strings.ContainsRune(string(fields["status"]), 'R') {
		add(`\Seen`)
	}
	for _, c := range strings.TrimSpace(string(fields["x-status"])) {
		switch c {
		case 'A':
			add(`\Answered`)
		case 'F':
			add(`\Flagged`)
		case 'T':
			add(`\Draft`)
		case 'D':
			add(`\Deleted`)
		}
	}
	if v, ok := fields["x-mozilla-status"]; ok {
		if bits, err := strconv.ParseUint(strings.TrimSpace(string(v)), 16, 32); err == nil {
			for _, b := range []struct {
				bit  uint64
				flag string
			}{{0x1, `\Seen`}, {0x2, `\Answered`}, {0x4, `\Flagged`}, {0x8, `\Deleted`}, {0x1000, "$Forwarded"}} {
				if bits&b.bit != 0 {
					add(b.flag)
				}
			}
		}
	}
	for _, name := range []string{"x-keywords", "x-mozilla-keys"} {
		for _, kw := range strings.FieldsFunc(string(fields[name]), func(r rune) bool { return r == ',' || r == ' ' || r == '\t' || r == '\r' || r == '\n' }) {
			if isAtom(kw) {
				add(kw)
			}
		}
	}
	slices.Sort(out)
	return out
}

// isAtom reports whether kw can be an IMAP keyword.
func isAtom(kw string) bool {
	if kw == "" || kw[0] == '\\' {
		return false
	}
	for i := 0; i < len(kw); i++ {
		c := kw[i]
		if c <= ' ' || c >= 0x7f || strings.IndexByte(`(){%*"\]`, c) >= 0 {
			return false
		}
	}
	return true
}

// fromLayouts are the dates found at the end of From_ lines.
var fromLayouts = []string{
	"Mon Jan 2 15:04:05 2006",
	"Mon Jan 2 15:04:05 MST 2006",
	"Mon Jan 2 15:04:05 -0700 2006",
	"Mon Jan 2 15:04:05 2006 -0700",
	"Mon Jan 2 15:04:05 2006 MST",
	"Mon Jan 2 15:04 2006",
	"Mon, 2 Jan 2006 15:04:05 -0700",
}

// fromLineDate reads the date of a From_ line ("From sender Thu Jan  1
// 00:00:00 2024", with or without a time zone). A date without a zone is
// taken as UTC.
func fromLineDate(line []byte) (time.Time, bool) {
	fields := strings.Fields(string(line[len("From "):]))
	for k := 5; k <= 7; k++ {
		if len(fields) < k {
			break
		}
		s := strings.Join(fields[len(fields)-k:], " ")
		for _, l := range fromLayouts {
			if t, err := time.Parse(l, s); err == nil {
				return t, true
			}
		}
	}
	return time.Time{}, false
}

// validFromLine reports whether line is a From_ line with a date.
func validFromLine(line []byte) bool {
	_, ok := fromLineDate(line)
	return ok
}
