// Package relay is the plumbing shared by the IMAP proxies of the test rigs
// (internal/testrig/gmaillike, internal/testrig/quirkproxy): a loopback
// listener that relays each client connection to an upstream server, keeps
// track of the open links so that Close ends them all, and the helpers that
// read the IMAP stream line by line, literals included. What a proxy does
// to the commands and responses is its own (a Handler).
package relay

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"net"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
)

// Handler is a proxy's behaviour on one link.
type Handler interface {
	// Up relays the client's commands to the server; it returns when
	// either connection ends, and the link is then closed.
	Up()
	// Down relays the server's responses to the client; it returns when
	// either connection ends, and the link is then closed.
	Down()
	// Closed is called once, when the link closes, after both of its
	// connections are closed.
	Closed()
}

// Proxy accepts connections on a loopback port and relays each one to the
// upstream server through a Handler.
type Proxy struct {
	// Addr is the proxy's address, "127.0.0.1:PORT"; clients connect here.
	Addr string

	upstream   string
	ln         net.Listener
	newHandler func(*Link) Handler

	mu     sync.Mutex
	links  map[*Link]struct{}
	closed bool
	wg     sync.WaitGroup

	accepted atomic.Int64
}

// Start listens on a free loopback port and relays every connection to
// upstream; newHandler makes the behaviour of each link. name prefixes the
// error when the port cannot be had.
func Start(name, upstream string, newHandler func(*Link) Handler) (*Proxy, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	p := &Proxy{Addr: ln.Addr().String(), upstream: upstream, ln: ln, newHandler: newHandler, links: map[*Link]struct{}{}}
	p.wg.Add(1)
	go p.accept()
	return p, nil
}

// Accepted is how many client connections the proxy accepted.
func (p *Proxy) Accepted() int64 { return p.accepted.Load() }

// Close stops listening, closes every link and waits for their relays to
// end.
func (p *Proxy) Close() error {
	p.mu.Lock()
	if p.closed {
		p.mu.Unlock()
		return nil
	}
	p.closed = true
	links := make([]*Link, 0, len(p.links))
	for l := range p.links {
		links = append(links, l)
	}
	p.mu.Unlock()
	for _, l := range links {
		l.Close()
	}
	err := p.ln.Close()
	p.wg.Wait()
	return err
}

// accept takes client connections, dials upstream for each and starts
// its two relays, until the listener is closed.
func (p *Proxy) accept() {
	defer p.wg.Done()
	for {
		c, err := p.ln.Accept()
		if err != nil {
			return
		}
		p.accepted.Add(1)
		s, err := net.Dial("tcp", p.upstream)
		if err != nil {
			c.Close()
			continue
		}
		l := &Link{p: p, Client: c, Server: s, cw: bufio.NewWriter(c)}
		l.h = p.newHandler(l)
		p.mu.Lock()
		if p.closed {
			p.mu.Unlock()
			l.Close()
			return
		}
		p.links[l] = struct{}{}
		p.wg.Add(2)
		p.mu.Unlock()
		go func() { defer p.wg.Done(); l.h.Up(); l.Close() }()
		go func() { defer p.wg.Done(); l.h.Down(); l.Close() }()
	}
}

// Link is one client connection and its connection to the server.
type Link struct {
	// Client is the connection from the client, Server the one to the
	// upstream server.
	Client, Server net.Conn

	p *Proxy
	h Handler

	wmu sync.Mutex // writes to the client, a whole response at a time
	cw  *bufio.Writer

	once sync.Once
}

// Close closes both connections, tells the handler (Closed) and forgets
// the link; later calls do nothing.
func (l *Link) Close() {
	l.once.Do(func() {
		l.Client.Close()
		l.Server.Close()
		if l.h != nil {
			l.h.Closed()
		}
		l.p.mu.Lock()
		delete(l.p.links, l)
		l.p.mu.Unlock()
	})
}

// Reply writes a response of the proxy's own to the client.
func (l *Link) Reply(s string) error {
	l.wmu.Lock()
	defer l.wmu.Unlock()
	l.cw.WriteString(s)
	return l.cw.Flush()
}

// Write writes b, a whole response, to the client in one piece, so that
// the proxy's own answers never land inside one.
func (l *Link) Write(b []byte) error {
	l.wmu.Lock()
	defer l.wmu.Unlock()
	_, err := l.cw.Write(b)
	if err == nil {
		err = l.cw.Flush()
	}
	return err
}

// literalRe finds a literal announced at the end of a line: {12}, {12+}
// (and ~{12} for BINARY).
var literalRe = regexp.MustCompile(`~?\{(\d+)(\+?)\}\r?\n$`)

// Literal returns the size of the literal a line announces, if any, and
// whether it is synchronizing.
func Literal(line []byte) (n int64, sync, ok bool) {
	m := literalRe.FindSubmatch(line)
	if m == nil {
		return 0, false, false
	}
	n, err := strconv.ParseInt(string(m[1]), 10, 64)
	if err != nil {
		return 0, false, false
	}
	return n, len(m[2]) == 0, true
}

// Forward writes a command line and whatever literals and lines complete
// the command to w.
func Forward(w io.Writer, r *bufio.Reader, line []byte) error {
	for {
		if _, err := w.Write(line); err != nil {
			return err
		}
		n, _, ok := Literal(line)
		if !ok {
			return nil
		}
		if _, err := io.CopyN(w, r, n); err != nil {
			return err
		}
		var err error
		if line, err = r.ReadBytes('\n'); err != nil {
			return err
		}
	}
}

// ReadResponse reads one whole response, its literals included, into buf.
// Each of its lines (without the literals) is passed to rewrite, whose
// result is what buf gets. It returns how many bytes of literals the
// response held.
func ReadResponse(r *bufio.Reader, buf *bytes.Buffer, rewrite func(line []byte) []byte) (literals int64, err error) {
	line, err := r.ReadBytes('\n')
	if err != nil {
		return 0, err
	}
	for {
		buf.Write(rewrite(line))
		n, _, ok := Literal(line)
		if !ok {
			return literals, nil
		}
		if _, err := io.CopyN(buf, r, n); err != nil {
			return 0, err
		}
		literals += n
		if line, err = r.ReadBytes('\n'); err != nil {
			return 0, err
		}
	}
}

// Astring reads an atom or a quoted string at the start of s (leading
// spaces skipped) and returns it and what follows it; ok is false for an
// unterminated quoted string or an empty s.
func Astring(s string) (str, rest string, ok bool) {
	s = strings.TrimLeft(s, " ")
	if strings.HasPrefix(s, `"`) {
		var b strings.Builder
		for i := 1; i < len(s); i++ {
			switch s[i] {
			case '\\':
				if i+1 < len(s) {
					i++
					b.WriteByte(s[i])
				}
			case '"':
				return b.String(), s[i+1:], true
			default:
				b.WriteByte(s[i])
			}
		}
		return "", "", false
	}
	i := strings.IndexAny(s, " \r\n")
	if i < 0 {
		return s, "", s != ""
	}
	return s[:i], s[i:], true
}

// Quote writes s as an IMAP quoted string.
func Quote(s string) string {
	return `"` + strings.NewReplacer(`\`, `\\`, `"`, `\"`).Replace(s) + `"`
}
