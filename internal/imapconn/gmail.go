package imapconn

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"strconv"
	"strings"
	"time"

	"github.com/emersion/go-imap/v2"

	"github.com/mailshift/mailshift/internal/mailbox"
	"github.com/mailshift/mailshift/internal/mutf7"
)

// CapGmail is the capability of Gmail's IMAP extensions (X-GM-MSGID,
// X-GM-THRID, X-GM-LABELS): "IMAP Extensions",
// https://developers.google.com/gmail/imap/imap-extensions.
const CapGmail = "X-GM-EXT-1"

// GmailExt tells whether the server offers Gmail's IMAP extensions.
func (c *Conn) GmailExt() bool { return c.caps.Has(imap.Cap(CapGmail)) }

// GmailMessage is what Gmail says of one message of a folder: its UID
// there, its X-GM-MSGID (the same in every folder it shows in) and its
// X-GM-LABELS, system labels with a backslash (\Inbox, \Sent, \Draft,
// \Important, \Starred) and user labels by name, decoded from modified
// UTF-7.
type GmailMessage struct {
	UID    uint32
	MsgID  uint64
	Labels []string
}

// GmailLabels lists the X-GM-MSGID and X-GM-LABELS of every message of
// folder, with the folder's UIDVALIDITY.
//
// go-imap's client does not know these fetch items and closes the
// connection on an answer that holds them, so they are read on a
// connection of their own, dialled with c's options and taken over from
// the IMAP client after login (as Appender does): EXAMINE, one UID FETCH
// 1:* (UID X-GM-MSGID X-GM-LABELS), LOGOUT. c itself is not touched. The
// connection counts against the server's connection limit while it is
// open.
func (c *Conn) GmailLabels(ctx context.Context, folder string) (uint32, []GmailMessage, error) {
	if !c.GmailExt() {
		return 0, nil, mailbox.Mark(mailbox.ErrRefused, fmt.Errorf("imap server %s does not offer %s (Gmail's IMAP extensions)", c.addr, CapGmail))
	}
	o, err := Dial(ctx, c.opts)
	if err != nil {
		return 0, nil, err
	}
	end, err := o.begin(ctx)
	if err != nil {
		o.Close()
		return 0, nil, err
	}
	conn, err := o.nc.hijack(o.client.Closed())
	end()
	if err != nil {
		o.Close()
		return 0, nil, Classify(fmt.Errorf("imap %s: connection lost before reading Gmail labels: %w", c.addr, err))
	}
	o.closed = true
	defer func() {
		conn.SetDeadline(time.Now().Add(5 * time.Second))
		io.WriteString(conn, "G9 LOGOUT\r\n")
		o.nc.Close()
		o.client.Close()
	}()
	stop := context.AfterFunc(ctx, func() { conn.SetDeadline(time.Unix(1, 0)) })
	defer stop()
	g := &gmailReader{conn: conn, r: bufio.NewReaderSize(conn, 64<<10), timeout: c.opts.Timeout}
	validity, msgs, err := g.read(c.mailboxArg(c.WireName(folder), o.caps.Has(imap.CapIMAP4rev2)))
	if err != nil {
		if ctx.Err() != nil {
			err = ctx.Err()
		}
		return 0, nil, Classify(fmt.Errorf("read Gmail labels of folder %q of %q on %s: %w", folder, c.opts.User, c.addr, err))
	}
	return validity, msgs, nil
}

// mailboxArg writes a mailbox name as an IMAP quoted string: modified
// UTF-7 unless names are UTF-8.
func (c *Conn) mailboxArg(wire string, utf8 bool) string {
	if !utf8 {
		wire = mutf7.Encode(wire)
	}
	return `"` + strings.NewReplacer(`\`, `\\`, `"`, `\"`).Replace(wire) + `"`
}

// gmailReader speaks the few commands GmailLabels needs.
type gmailReader struct {
	conn    net.Conn
	r       *bufio.Reader
	timeout time.Duration
}

func (g *gmailReader) read(mbox string) (uint32, []GmailMessage, error) {
	var validity uint32
	err := g.do("G1 EXAMINE "+mbox, func(resp []any) {
		// * OK [UIDVALIDITY n] ...
		if len(resp) >= 3 && eqAtom(resp[1], "OK") {
			if code, ok := resp[2].(bracket); ok && len(code) == 2 && strings.EqualFold(string(code[0]), "UIDVALIDITY") {
				v, _ := strconv.ParseUint(string(code[1]), 10, 32)
				validity = uint32(v)
			}
		}
	})
	if err != nil {
		return 0, nil, err
	}
	var msgs []GmailMessage
	err = g.do("G2 UID FETCH 1:* (UID X-GM-MSGID X-GM-LABELS)", func(resp []any) {
		// * n FETCH (UID u X-GM-MSGID id X-GM-LABELS (...))
		if len(resp) < 4 || !eqAtom(resp[2], "FETCH") {
			return
		}
		items, ok := resp[3].(list)
		if !ok {
			return
		}
		if m, ok := gmailItems(items); ok {
			msgs = append(msgs, m)
		}
	})
	return validity, msgs, err
}

// gmailItems reads the items of one FETCH answer.
func gmailItems(items list) (GmailMessage, bool) {
	var m GmailMessage
	seen := false
	for i := 0; i+1 < len(items); i += 2 {
		name, _ := items[i].(atom)
		switch strings.ToUpper(string(name)) {
		case "UID":
			a, _ := items[i+1].(atom)
			v, err := strconv.ParseUint(string(a), 10, 32)
			if err != nil {
				return m, false
			}
			m.UID, seen = uint32(v), true
		case "X-GM-MSGID":
			a, _ := items[i+1].(atom)
			m.MsgID, _ = strconv.ParseUint(string(a), 10, 64)
		case "X-GM-LABELS":
			ls, _ := items[i+1].(list)
			for _, l := range ls {
				s := stringOf(l)
				if !strings.HasPrefix(s, `\`) {
					if d, err := mutf7.Decode(s); err == nil {
						s = d
					}
				}
				m.Labels = append(m.Labels, s)
			}
		}
	}
	return m, seen
}

// do sends a command and hands every untagged answer to fn, parsed, until
// the tagged one; a NO or BAD is an *imap.Error.
func (g *gmailReader) do(cmd string, fn func([]any)) error {
	tag, _, _ := strings.Cut(cmd, " ")
	g.conn.SetDeadline(time.Now().Add(g.timeout))
	if _, err := io.WriteString(g.conn, cmd+"\r\n"); err != nil {
		return err
	}
	for {
		resp, err := g.response()
		if err != nil {
			return err
		}
		if len(resp) == 0 {
			continue
		}
		first, _ := resp[0].(atom)
		switch {
		case string(first) == "*":
			if len(resp) > 1 && eqAtom(resp[1], "BYE") {
				return mailbox.Mark(mailbox.ErrTransient, errors.New("server closed the connection"))
			}
			fn(resp)
		case string(first) == tag:
			return statusOf(resp)
		}
	}
}

// statusOf turns a tagged answer into nil for OK, else an *imap.Error.
func statusOf(resp []any) error {
	if len(resp) < 2 {
		return mailbox.Mark(mailbox.ErrProtocol, errors.New("empty tagged answer"))
	}
	st, _ := resp[1].(atom)
	e := &imap.Error{Type: imap.StatusResponseType(strings.ToUpper(string(st)))}
	rest := resp[2:]
	if len(rest) > 0 {
		if code, ok := rest[0].(bracket); ok && len(code) > 0 {
			e.Code = imap.ResponseCode(strings.ToUpper(string(code[0])))
			rest = rest[1:]
		}
	}
	words := make([]string, len(rest))
	for i, w := range rest {
		words[i] = stringOf(w)
	}
	e.Text = strings.Join(words, " ")
	if e.Type == imap.StatusResponseTypeOK {
		return nil
	}
	return e
}

// Tokens of a response: atom (also numbers and NIL), str (quoted or
// literal), list (parenthesised), bracket (a response code's words).
type (
	atom    string
	str     string
	list    []any
	bracket []atom
)

func eqAtom(v any, s string) bool {
	a, ok := v.(atom)
	return ok && strings.EqualFold(string(a), s)
}

func stringOf(v any) string {
	switch x := v.(type) {
	case atom:
		return string(x)
	case str:
		return string(x)
	}
	return ""
}

// response reads and parses one response, literals included.
func (g *gmailReader) response() ([]any, error) {
	g.conn.SetReadDeadline(time.Now().Add(g.timeout))
	p := &respParser{g: g}
	if err := p.fill(); err != nil {
		return nil, err
	}
	var out []any
	for {
		p.skipSpace()
		if p.atEnd() {
			return out, nil
		}
		v, err := p.value()
		if err != nil {
			return nil, err
		}
		out = append(out, v)
	}
}

// respParser parses one response: the line read so far and where it is.
type respParser struct {
	g    *gmailReader
	line string
	pos  int
}

// fill reads the next line, without its line ending.
func (p *respParser) fill() error {
	s, err := p.g.r.ReadString('\n')
	if err != nil {
		if errors.Is(err, io.EOF) {
			err = io.ErrUnexpectedEOF
		}
		return err
	}
	p.line, p.pos = strings.TrimRight(s, "\r\n"), 0
	return nil
}

func (p *respParser) atEnd() bool { return p.pos >= len(p.line) }

func (p *respParser) skipSpace() {
	for p.pos < len(p.line) && p.line[p.pos] == ' ' {
		p.pos++
	}
}

// value reads one token; lists and literals may span lines.
func (p *respParser) value() (any, error) {
	switch p.line[p.pos] {
	case '(':
		p.pos++
		var l list
		for {
			p.skipSpace()
			if p.atEnd() {
				return l, nil // unbalanced: what was read
			}
			if p.line[p.pos] == ')' {
				p.pos++
				return l, nil
			}
			v, err := p.value()
			if err != nil {
				return nil, err
			}
			l = append(l, v)
		}
	case '[':
		end := strings.IndexByte(p.line[p.pos:], ']')
		if end < 0 {
			end = len(p.line) - p.pos
		}
		var b bracket
		for _, w := range strings.Fields(p.line[p.pos+1 : p.pos+end]) {
			b = append(b, atom(w))
		}
		p.pos = min(len(p.line), p.pos+end+1)
		return b, nil
	case '"':
		return p.quoted(), nil
	case '{':
		return p.literal()
	}
	start := p.pos
	for p.pos < len(p.line) && !strings.ContainsRune(` ()"{`, rune(p.line[p.pos])) {
		p.pos++
	}
	if p.pos == start { // a stray ')'
		p.pos++
	}
	return atom(p.line[start:p.pos]), nil
}

func (p *respParser) quoted() str {
	var b strings.Builder
	for p.pos++; p.pos < len(p.line); p.pos++ {
		switch c := p.line[p.pos]; c {
		case '\\':
			if p.pos+1 < len(p.line) {
				p.pos++
				b.WriteByte(p.line[p.pos])
			}
		case '"':
			p.pos++
			return str(b.String())
		default:
			b.WriteByte(c)
		}
	}
	return str(b.String())
}

// literal reads {n} at the end of the line, the n bytes after it, and
// goes on with the line that follows them.
func (p *respParser) literal() (any, error) {
	end := strings.IndexByte(p.line[p.pos:], '}')
	if end < 0 || p.pos+end+1 != len(p.line) {
		return nil, mailbox.Mark(mailbox.ErrProtocol, fmt.Errorf("literal not at the end of the line: %q", p.line))
	}
	n, err := strconv.ParseInt(strings.TrimSuffix(p.line[p.pos+1:p.pos+end], "+"), 10, 64)
	if err != nil || n < 0 || n > 1<<20 {
		return nil, mailbox.Mark(mailbox.ErrProtocol, fmt.Errorf("literal size in %q", p.line))
	}
	buf := make([]byte, n)
	if _, err := io.ReadFull(p.g.r, buf); err != nil {
		return nil, err
	}
	if err := p.fill(); err != nil {
		return nil, err
	}
	return str(buf), nil
}
