package main

import (
	"bytes"
	"io"
	"net"
	"strconv"
	"sync"
	"sync/atomic"
)

// countProxy forwards TCP connections from addr to an IMAP server and
// counts what passes: the commands clients send (client→server lines that
// start with a tag and a command; literal data is skipped) and the bytes
// the server sends back. A tool pointed at addr instead of the server
// shows what its work cost the server.
type countProxy struct {
	addr     string
	upstream string
	ln       net.Listener

	commands atomic.Int64
	down     atomic.Int64

	mu     sync.Mutex
	conns  map[net.Conn]struct{}
	closed bool
	wg     sync.WaitGroup
}

// traffic is what a countProxy counted.
type traffic struct {
	commands int64 // IMAP commands sent by clients
	down     int64 // bytes sent by the server
}

func (t traffic) sub(o traffic) traffic {
	return traffic{commands: t.commands - o.commands, down: t.down - o.down}
}

// startCountProxy listens on a free loopback port and forwards every
// connection to upstream ("host:port"). The caller must close it.
func startCountProxy(upstream string) (*countProxy, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	p := &countProxy{addr: ln.Addr().String(), upstream: upstream, ln: ln, conns: map[net.Conn]struct{}{}}
	p.wg.Add(1)
	go p.serve()
	return p, nil
}

// port is the port of p.addr.
func (p *countProxy) port() int {
	_, s, _ := net.SplitHostPort(p.addr)
	n, _ := strconv.Atoi(s)
	return n
}

// counted returns the totals so far; subtract two of them to measure a
// run.
func (p *countProxy) counted() traffic {
	return traffic{commands: p.commands.Load(), down: p.down.Load()}
}

// Close stops listening, closes every connection and waits for the
// forwarding goroutines.
func (p *countProxy) Close() {
	p.mu.Lock()
	p.closed = true
	p.ln.Close()
	for c := range p.conns {
		c.Close()
	}
	p.mu.Unlock()
	p.wg.Wait()
}

// track remembers c for Close; false when the proxy is closed already.
func (p *countProxy) track(c net.Conn) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed {
		return false
	}
	p.conns[c] = struct{}{}
	return true
}

func (p *countProxy) untrack(c net.Conn) {
	p.mu.Lock()
	delete(p.conns, c)
	p.mu.Unlock()
}

func (p *countProxy) serve() {
	defer p.wg.Done()
	for {
		client, err := p.ln.Accept()
		if err != nil {
			return
		}
		p.wg.Add(1)
		go func() {
			defer p.wg.Done()
			p.forward(client)
		}()
	}
}

// forward carries one connection both ways until either side closes.
func (p *countProxy) forward(client net.Conn) {
	defer client.Close()
	if !p.track(client) {
		return
	}
	defer p.untrack(client)
	server, err := net.Dial("tcp", p.upstream)
	if err != nil {
		return
	}
	defer server.Close()
	if !p.track(server) {
		return
	}
	defer p.untrack(server)
	done := make(chan struct{}, 2)
	go func() {
		io.Copy(server, io.TeeReader(client, &commandCounter{n: &p.commands}))
		server.Close()
		done <- struct{}{}
	}()
	go func() {
		io.Copy(client, countingReader{server, &p.down})
		client.Close()
		done <- struct{}{}
	}()
	<-done
	<-done
}

// countingReader adds the bytes read through it to n.
type countingReader struct {
	r io.Reader
	n *atomic.Int64
}

func (c countingReader) Read(b []byte) (int, error) {
	k, err := c.r.Read(b)
	c.n.Add(int64(k))
	return k, err
}

// commandCounter reads one connection's client→server stream (as an
// io.Writer fed by a TeeReader) and adds 1 to n for every line that starts
// a command: a tag, a space and a command name. Literal data announced by
// "{N}" or "{N+}" at the end of a line (also "~{N}" for binary) is skipped,
// and the line after it continues the same command; lines that are not
// commands (an IDLE's DONE, SASL responses) are not counted.
type commandCounter struct {
	n    *atomic.Int64
	skip int64  // literal bytes still to pass
	cont bool   // the current line continues a command after a literal
	head []byte // the current line's first bytes
	tail []byte // the current line's last bytes
}

const (
	counterHead = 64 // enough for a tag and a command name
	counterTail = 32 // enough for "{N+}\r\n"
)

func (c *commandCounter) Write(p []byte) (int, error) {
	n := len(p)
	for len(p) > 0 {
		if c.skip > 0 {
			k := min(c.skip, int64(len(p)))
			c.skip -= k
			p = p[k:]
			continue
		}
		part, eol := p, false
		if i := bytes.IndexByte(p, '\n'); i >= 0 {
			part, eol = p[:i+1], true
		}
		if room := counterHead - len(c.head); room > 0 {
			c.head = append(c.head, part[:min(room, len(part))]...)
		}
		c.tail = append(c.tail, part...)
		if len(c.tail) > counterTail {
			c.tail = append(c.tail[:0], c.tail[len(c.tail)-counterTail:]...)
		}
		p = p[len(part):]
		if eol {
			c.endLine()
		}
	}
	return n, nil
}

// endLine counts the line just ended if it starts a command and notes a
// literal announced at its end.
func (c *commandCounter) endLine() {
	if !c.cont && isCommandLine(c.head) {
		c.n.Add(1)
	}
	c.skip, c.cont = literalAt(c.tail)
	c.head, c.tail = c.head[:0], c.tail[:0]
}

// isCommandLine tells whether line begins with a tag (atom characters
// other than "+"), one space and a command name (letters) ended by a
// space or the end of the line.
func isCommandLine(line []byte) bool {
	sp := bytes.IndexByte(line, ' ')
	if sp <= 0 {
		return false
	}
	for _, b := range line[:sp] {
		if b <= ' ' || b >= 0x7f || bytes.IndexByte([]byte(`(){%*"\+`), b) >= 0 {
			return false
		}
	}
	rest := line[sp+1:]
	i := 0
	for i < len(rest) && (rest[i] >= 'A' && rest[i] <= 'Z' || rest[i] >= 'a' && rest[i] <= 'z') {
		i++
	}
	return i > 0 && (i == len(rest) || rest[i] == ' ' || rest[i] == '\r' || rest[i] == '\n')
}

// literalAt returns the size of the literal announced at the end of a
// line ("... {123}\r\n", "{123+}", "{123-}"), and whether there is one.
func literalAt(line []byte) (int64, bool) {
	line = bytes.TrimSuffix(bytes.TrimSuffix(line, []byte("\n")), []byte("\r"))
	if len(line) < 3 || line[len(line)-1] != '}' {
		return 0, false
	}
	open := bytes.LastIndexByte(line, '{')
	if open < 0 {
		return 0, false
	}
	digits := line[open+1 : len(line)-1]
	digits = bytes.TrimRight(digits, "+-")
	size, err := strconv.ParseInt(string(digits), 10, 64)
	if err != nil || size < 0 {
		return 0, false
	}
	return size, true
}
