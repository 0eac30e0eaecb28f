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

// BatchRefusedError is a server's NO to a whole MULTIAPPEND: nothing of the
// batch was stored (the command is atomic), and the text says why, often
// about one of its messages.
type BatchRefusedError struct {
	Code string
	Text string
	// Bad is set when the server answered BAD (it found the command
	// malformed, e.g. a flag it does not take): the Appender's connection
	// is closed, since what the server made of the rest of the command is
	// not known.
	Bad bool
}

// Unwrap gives the kind of the refusal (see Classify): mailbox.ErrBusy
// when the server asks for less load, else mailbox.ErrRefused.
func (e *BatchRefusedError) Unwrap() error {
	typ := imap.StatusResponseTypeNo
	if e.Bad {
		typ = imap.StatusResponseTypeBad
	}
	k := statusKind(&imap.Error{Type: typ, Code: imap.ResponseCode(e.Code), Text: e.Text})
	if k == mailbox.ErrBusy {
		return k
	}
	return mailbox.ErrRefused
}

func (e *BatchRefusedError) Error() string {
	if e.Code != "" {
		return "the server refused the batch: [" + e.Code + "] " + e.Text
	}
	return "the server refused the batch: " + e.Text
}

// Appender stores batches of messages with one MULTIAPPEND command each
// (RFC 3502), the literals sent without waiting where the server offers
// LITERAL+: the server stores a batch in one go instead of one transaction
// per message, which on Dovecot is ten times faster for small messages.
// go-imap has no MULTIAPPEND, so an Appender takes a logged-in connection
// over from the IMAP client (Conn.Appender) and speaks the command itself;
// the connection serves nothing else afterwards. Not safe for concurrent
// use.
type Appender struct {
	c       *Conn
	conn    net.Conn
	r       *bufio.Reader
	w       *bufio.Writer
	plus    bool // LITERAL+
	utf8    bool // mailbox names in UTF-8 (IMAP4rev2)
	seq     int
	broken  error
	timeout time.Duration
}

// Appender returns an Appender on c, which must be a connection of its own:
// c serves nothing else afterwards, and closing the Appender closes it. It
// fails when the server does not offer MULTIAPPEND.
func (c *Conn) Appender(ctx context.Context) (*Appender, error) {
	end, err := c.begin(ctx)
	if err != nil {
		return nil, err
	}
	defer end()
	if !c.caps.Has(imap.Cap("MULTIAPPEND")) {
		return nil, mailbox.Mark(mailbox.ErrRefused, fmt.Errorf("imap server %s does not offer MULTIAPPEND", c.addr))
	}
	conn, err := c.nc.hijack(c.client.Closed())
	if err != nil {
		return nil, Classify(fmt.Errorf("imap %s: connection lost before MULTIAPPEND: %w", c.addr, err))
	}
	c.closed = true // the IMAP client is done with it
	return &Appender{
		c: c, conn: conn, r: bufio.NewReaderSize(conn, 16<<10), w: bufio.NewWriterSize(conn, 64<<10),
		plus: c.caps.Has(imap.CapLiteralPlus), utf8: c.caps.Has(imap.CapIMAP4rev2), timeout: c.opts.Timeout,
	}, nil
}

// HasUIDPlus tells whether Append can return the new messages' UIDs.
func (a *Appender) HasUIDPlus() bool { return a.c.caps.Has(imap.CapUIDPlus) }

// Append stores items in folder with one MULTIAPPEND and returns the
// folder's UIDVALIDITY and the new UIDs in the order of items, when the
// server says them (UIDPLUS); else 0 and nil. A NO is a
// *BatchRefusedError: nothing was stored (after a BAD the Appender is
// unusable). Any other error leaves it unknown whether the batch was
// stored, and the Appender unusable. Errors are classified (see Classify).
func (a *Appender) Append(ctx context.Context, folder string, items []mailbox.Item) (uint32, []uint32, error) {
	if a.broken != nil {
		return 0, nil, a.broken
	}
	if len(items) == 0 {
		return 0, nil, nil
	}
	stop := context.AfterFunc(ctx, func() { a.conn.SetDeadline(time.Unix(1, 0)) })
	defer stop()
	validity, uids, err := a.append(folder, items)
	if err != nil {
		var refused *BatchRefusedError
		if !errors.As(err, &refused) {
			if ctx.Err() != nil {
				err = ctx.Err()
			}
			a.broken = Classify(fmt.Errorf("append to folder %q of %q on %s: %w", folder, a.c.opts.User, a.c.addr, err))
			a.conn.Close()
			return 0, nil, a.broken
		}
		if refused.Bad {
			a.broken = mailbox.Mark(mailbox.ErrTransient, fmt.Errorf("append to folder %q of %q on %s: connection closed after a BAD answer", folder, a.c.opts.User, a.c.addr))
			a.conn.Close()
		}
		return 0, nil, err
	}
	return validity, uids, nil
}

func (a *Appender) append(folder string, items []mailbox.Item) (uint32, []uint32, error) {
	a.seq++
	tag := "M" + strconv.Itoa(a.seq)
	a.deadline()
	fmt.Fprintf(a.w, "%s APPEND %s", tag, a.mailbox(a.c.WireName(folder)))
	for _, it := range items {
		a.w.WriteString(" (")
		first := true
		for _, f := range it.Flags {
			if strings.EqualFold(f, `\Recent`) || !validFlag(f) {
				continue
			}
			if !first {
				a.w.WriteByte(' ')
			}
			a.w.WriteString(f)
			first = false
		}
		a.w.WriteByte(')')
		if !it.Date.IsZero() {
			fmt.Fprintf(a.w, ` "%s"`, it.Date.Format("02-Jan-2006 15:04:05 -0700"))
		}
		if a.plus {
			fmt.Fprintf(a.w, " {%d+}\r\n", len(it.Body))
		} else {
			fmt.Fprintf(a.w, " {%d}\r\n", len(it.Body))
			if err := a.w.Flush(); err != nil {
				return 0, nil, err
			}
			if err := a.continuation(tag); err != nil {
				return 0, nil, err
			}
		}
		a.deadline()
		if _, err := a.w.Write(it.Body); err != nil {
			return 0, nil, err
		}
	}
	a.w.WriteString("\r\n")
	if err := a.w.Flush(); err != nil {
		return 0, nil, err
	}
	line, err := a.tagged(tag)
	if err != nil {
		return 0, nil, err
	}
	return parseAppendUID(line, len(items))
}

// deadline gives the next read or write the connection's timeout.
func (a *Appender) deadline() {
	a.conn.SetDeadline(time.Now().Add(a.timeout))
}

// continuation waits for the server's "+" before a synchronizing literal;
// a tagged answer instead is the command's end (a refusal).
func (a *Appender) continuation(tag string) error {
	for {
		line, err := a.line()
		if err != nil {
			return err
		}
		switch {
		case strings.HasPrefix(line, "+"):
			return nil
		case strings.HasPrefix(line, tag+" "):
			_, _, err := parseAppendUID(line, 0)
			if err == nil {
				err = mailbox.Mark(mailbox.ErrProtocol, fmt.Errorf("server ended the command early: %s", line))
			}
			return err
		}
	}
}

// tagged reads until the command's tagged answer.
func (a *Appender) tagged(tag string) (string, error) {
	for {
		line, err := a.line()
		if err != nil {
			return "", err
		}
		if strings.HasPrefix(line, tag+" ") {
			return strings.TrimPrefix(line, tag+" "), nil
		}
		if strings.HasPrefix(line, "* BYE") {
			return "", mailbox.Mark(mailbox.ErrTransient, fmt.Errorf("server closed the connection: %s", line))
		}
	}
}

// line reads one response line, without its line ending. Literals in
// untagged data are not expected here (only EXISTS/RECENT and the like).
func (a *Appender) line() (string, error) {
	a.conn.SetReadDeadline(time.Now().Add(a.timeout))
	s, err := a.r.ReadString('\n')
	if err != nil {
		if errors.Is(err, io.EOF) {
			err = io.ErrUnexpectedEOF
		}
		return "", err
	}
	return strings.TrimRight(s, "\r\n"), nil
}

// parseAppendUID reads a tagged answer ("OK [APPENDUID 7 1:3] ..." without
// the tag): the UIDs of n messages, or a *BatchRefusedError for a NO.
func parseAppendUID(line string, n int) (uint32, []uint32, error) {
	status, rest, _ := strings.Cut(line, " ")
	code, text := "", rest
	if strings.HasPrefix(rest, "[") {
		if i := strings.IndexByte(rest, ']'); i > 0 {
			code, text = rest[1:i], strings.TrimSpace(rest[i+1:])
		}
	}
	switch strings.ToUpper(status) {
	case "OK":
	case "NO", "BAD":
		name, _, _ := strings.Cut(code, " ")
		return 0, nil, &BatchRefusedError{Code: name, Text: text, Bad: strings.EqualFold(status, "BAD")}
	default:
		return 0, nil, mailbox.Mark(mailbox.ErrProtocol, fmt.Errorf("server answered MULTIAPPEND with %s", line))
	}
	fields := strings.Fields(code)
	if len(fields) != 3 || !strings.EqualFold(fields[0], "APPENDUID") {
		return 0, nil, nil
	}
	v, err := strconv.ParseUint(fields[1], 10, 32)
	if err != nil {
		return 0, nil, nil
	}
	var uids []uint32
	for _, part := range strings.Split(fields[2], ",") {
		lo, hi, isRange := strings.Cut(part, ":")
		a, err1 := strconv.ParseUint(lo, 10, 32)
		b := a
		var err2 error
		if isRange {
			b, err2 = strconv.ParseUint(hi, 10, 32)
		}
		if err1 != nil || err2 != nil || b < a || b-a > 1<<20 {
			return uint32(v), nil, nil
		}
		for u := a; u <= b; u++ {
			uids = append(uids, uint32(u))
		}
	}
	if len(uids) != n {
		return uint32(v), nil, nil
	}
	return uint32(v), uids, nil
}

// mailbox writes a mailbox name as an IMAP string: modified UTF-7 unless
// names are UTF-8, quoted.
func (a *Appender) mailbox(name string) string {
	if !a.utf8 {
		name = mutf7.Encode(name)
	}
	return `"` + strings.NewReplacer(`\`, `\\`, `"`, `\"`).Replace(name) + `"`
}

// validFlag tells whether f can be sent as a flag atom.
func validFlag(f string) bool {
	if f == "" {
		return false
	}
	for i, r := range f {
		if r == '\\' && i == 0 {
			continue
		}
		if r <= ' ' || r >= 0x7f || strings.ContainsRune(`(){%*"\]`, r) {
			return false
		}
	}
	return true
}

// Close logs out and closes the connection.
func (a *Appender) Close() error {
	if a.broken == nil {
		a.conn.SetDeadline(time.Now().Add(5 * time.Second))
		fmt.Fprintf(a.w, "Z LOGOUT\r\n")
		if a.w.Flush() == nil {
			a.tagged("Z")
		}
	}
	a.c.nc.Close()
	if a.c.client != nil {
		a.c.client.Close()
	}
	return nil
}
