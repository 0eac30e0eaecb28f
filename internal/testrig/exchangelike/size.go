package exchangelike

import (
	"bytes"
	"net"
	"regexp"
	"strconv"
)

// Fact 2 of the package comment: unless -EnableExactRFC822Size is set,
// Exchange reports RFC822.SIZE as an estimate. How Exchange estimates is
// not documented; this server reports the served size plus a tenth, so
// that the estimate never equals the bytes a FETCH of the body returns.
func estimate(n int64) int64 { return n + n/10 + 1 }

// estimatingListener hands out connections whose FETCH answers carry the
// estimate instead of the exact RFC822.SIZE.
type estimatingListener struct{ net.Listener }

func (l estimatingListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err != nil {
		return nil, err
	}
	return &estimatingConn{Conn: c}, nil
}

// estimatingConn rewrites "RFC822.SIZE n" in the lines the server writes,
// never inside a literal (a message body): it keeps the start of a line
// until its CRLF, and passes the announced literal bytes through as they
// are.
type estimatingConn struct {
	net.Conn
	line    []byte // the line being written, outside literals
	literal int64  // bytes of a literal still to pass through
}

var (
	rfc822Size  = regexp.MustCompile(`RFC822\.SIZE (\d+)`)
	literalTail = regexp.MustCompile(`\{(\d+)\+?\}\r\n$`)
)

func (c *estimatingConn) Write(p []byte) (int, error) {
	n := len(p)
	var out []byte
	for len(p) > 0 {
		if c.literal > 0 {
			k := min(int64(len(p)), c.literal)
			out = append(out, p[:k]...)
			p, c.literal = p[k:], c.literal-k
			continue
		}
		i := bytes.Index(p, []byte("\r\n"))
		if i < 0 {
			c.line = append(c.line, p...)
			break
		}
		c.line = append(c.line, p[:i+2]...)
		p = p[i+2:]
		line := rfc822Size.ReplaceAllFunc(c.line, func(m []byte) []byte {
			v, _ := strconv.ParseInt(string(m[len("RFC822.SIZE "):]), 10, 64)
			return []byte("RFC822.SIZE " + strconv.FormatInt(estimate(v), 10))
		})
		if m := literalTail.FindSubmatch(line); m != nil {
			c.literal, _ = strconv.ParseInt(string(m[1]), 10, 64)
		}
		out = append(out, line...)
		c.line = c.line[:0]
	}
	if len(out) > 0 {
		if _, err := c.Conn.Write(out); err != nil {
			return 0, err
		}
	}
	return n, nil
}
