// Package faultproxy is a TCP proxy for tests that stands between mailshift
// and a server and breaks the connections on command: it cuts every
// connection after a number of bytes, stalls (stops forwarding while keeping
// the sockets open), refuses new connections for a while, cuts everything
// at once, and runs a function when the traffic reaches a given volume, so
// that a test can inject a fault at a point of a run that does not depend on
// timing.
//
// Every control may change while connections are running; the counters tell
// a test what happened.
package faultproxy

import (
	"errors"
	"io"
	"math/rand/v2"
	"net"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// Cut says when a connection is cut: as soon as it has carried Up bytes
// from the client to the server, Down bytes from the server to the client,
// or Total bytes both ways (each counted from the connection's start; 0
// means no limit of that kind). Only the bytes up to the limit are
// forwarded. After Max cuts (0: no bound) the rule stops applying.
// Spread makes the limits vary like a bad link's: each connection's limits
// are raised by a random amount of up to Spread bytes, drawn when the
// connection opens (or when the rule is set, for open ones).
type Cut struct {
	Up, Down, Total int64
	Max             int64
	Spread          int64
}

// Refusal is how new connections are refused.
type Refusal int

const (
	// AcceptClose accepts a connection and closes it at once, before the
	// server is contacted: the client sees the connection reset or closed
	// before any greeting.
	AcceptClose Refusal = iota + 1
	// NotListening closes the listening socket: connection attempts are
	// refused by the operating system. The proxy listens again on the same
	// address when the refusal ends.
	NotListening
)

// Proxy forwards TCP connections from Addr to an upstream address.
type Proxy struct {
	// Addr is the proxy's address, "127.0.0.1:PORT"; clients connect here.
	Addr string

	upstream string

	mu          sync.Mutex
	ln          net.Listener // nil while NotListening
	closed      bool
	links       map[*link]struct{}
	cut         Cut
	cutsByRule  int64
	stalled     bool
	resume      chan struct{} // closed when a stall ends
	stallTimer  *time.Timer
	refusal     Refusal
	refuseTimer *time.Timer
	triggers    []*trigger
	wg          sync.WaitGroup

	connections atomic.Int64
	refused     atomic.Int64
	cuts        atomic.Int64
	upBytes     atomic.Int64
	downBytes   atomic.Int64
	dialErrors  atomic.Int64
}

// trigger is a function to run once the traffic reaches a volume.
type trigger struct {
	at   int64
	f    func()
	done bool
}

// link is one proxied connection: the client's and the server's side.
type link struct {
	client, server net.Conn
	up, down       int64 // bytes forwarded, guarded by Proxy.mu
	extra          int64 // this connection's share of Cut.Spread, guarded by Proxy.mu
	closeOnce      sync.Once
}

func (l *link) close() {
	l.closeOnce.Do(func() {
		l.client.Close()
		l.server.Close()
	})
}

// Start starts a proxy on a free loopback port that forwards to upstream
// ("host:port") and closes it when the test ends.
func Start(t testing.TB, upstream string) *Proxy {
	t.Helper()
	p, err := New(upstream)
	if err != nil {
		t.Fatalf("faultproxy: %v", err)
	}
	t.Cleanup(p.Close)
	return p
}

// New starts a proxy on a free loopback port that forwards to upstream.
// The caller must Close it.
func New(upstream string) (*Proxy, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	p := &Proxy{Addr: ln.Addr().String(), upstream: upstream, ln: ln, links: map[*link]struct{}{}}
	p.wg.Add(1)
	go p.serve(ln)
	return p, nil
}

// Close stops listening, cuts every connection and waits until the
// proxy's goroutines are gone.
func (p *Proxy) Close() {
	p.mu.Lock()
	if p.closed {
		p.mu.Unlock()
		return
	}
	p.closed = true
	if p.ln != nil {
		p.ln.Close()
		p.ln = nil
	}
	for _, tm := range []*time.Timer{p.stallTimer, p.refuseTimer} {
		if tm != nil {
			tm.Stop()
		}
	}
	p.endStallLocked()
	links := p.takeLinksLocked()
	p.mu.Unlock()
	for _, l := range links {
		l.close()
	}
	p.wg.Wait()
}

// serve accepts connections on ln until it is closed.
func (p *Proxy) serve(ln net.Listener) {
	defer p.wg.Done()
	for {
		c, err := ln.Accept()
		if err != nil {
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() {
				continue
			}
			return // closed: by Close, or for a NotListening refusal
		}
		p.mu.Lock()
		refuse := p.refusal != 0 || p.closed
		p.mu.Unlock()
		if refuse {
			p.refused.Add(1)
			c.Close()
			continue
		}
		p.wg.Add(1)
		go p.handle(c)
	}
}

// handle connects a client to the upstream server and forwards both ways.
func (p *Proxy) handle(client net.Conn) {
	defer p.wg.Done()
	server, err := net.DialTimeout("tcp", p.upstream, 5*time.Second)
	if err != nil {
		p.dialErrors.Add(1)
		client.Close()
		return
	}
	l := &link{client: client, server: server}
	p.mu.Lock()
	l.extra = p.spreadLocked()
	if p.closed {
		p.mu.Unlock()
		l.close()
		return
	}
	p.links[l] = struct{}{}
	p.mu.Unlock()
	p.connections.Add(1)

	var wg sync.WaitGroup
	wg.Add(2)
	go func() { defer wg.Done(); p.forward(l, client, server, true) }()
	go func() { defer wg.Done(); p.forward(l, server, client, false) }()
	wg.Wait()
	l.close()
	p.mu.Lock()
	delete(p.links, l)
	p.mu.Unlock()
}

// forward copies from src to dst, honouring stalls, cuts and triggers. up
// tells the direction: client to server.
func (p *Proxy) forward(l *link, src, dst net.Conn, up bool) {
	buf := make([]byte, 16<<10)
	for {
		n, rerr := src.Read(buf)
		data := buf[:n]
		for len(data) > 0 {
			if !p.waitStall(l) {
				l.close()
				return
			}
			allowed, cut, fire := p.account(l, int64(len(data)), up)
			if allowed > 0 {
				if _, err := dst.Write(data[:allowed]); err != nil {
					l.close()
					return
				}
			}
			data = data[allowed:]
			for _, f := range fire {
				f()
			}
			if cut {
				p.cuts.Add(1)
				l.close()
				return
			}
		}
		if rerr != nil {
			if rerr == io.EOF {
				// Pass on the half-close, so that a server's goodbye
				// reaches the client before the end.
				if tc, ok := dst.(*net.TCPConn); ok {
					tc.CloseWrite()
					return
				}
			}
			l.close()
			return
		}
	}
}

// waitStall blocks while the proxy is stalled. It reports false if the
// link was closed meanwhile.
func (p *Proxy) waitStall(l *link) bool {
	for {
		p.mu.Lock()
		stalled, resume, closed := p.stalled, p.resume, p.closed
		_, alive := p.links[l]
		p.mu.Unlock()
		if closed || !alive {
			return false
		}
		if !stalled {
			return true
		}
		select {
		case <-resume:
		case <-time.After(50 * time.Millisecond):
			// Look again: the link may have been cut while stalled.
		}
	}
}

// account decides how many of n bytes in one direction of l may pass,
// whether the link is cut after them, and which triggers fire.
func (p *Proxy) account(l *link, n int64, up bool) (allowed int64, cut bool, fire []func()) {
	p.mu.Lock()
	defer p.mu.Unlock()
	allowed = n
	c := p.cut
	active := c.Max == 0 || p.cutsByRule < c.Max
	if active {
		limit := func(used, bound int64) {
			if bound > 0 {
				bound += l.extra
			}
			if bound > 0 && used+allowed >= bound {
				allowed = max(0, bound-used)
				cut = true
			}
		}
		if up {
			limit(l.up, c.Up)
		} else {
			limit(l.down, c.Down)
		}
		limit(l.up+l.down, c.Total)
		if cut {
			p.cutsByRule++
		}
	}
	if up {
		l.up += allowed
		p.upBytes.Add(allowed)
	} else {
		l.down += allowed
		p.downBytes.Add(allowed)
	}
	total := p.upBytes.Load() + p.downBytes.Load()
	for _, tr := range p.triggers {
		if !tr.done && total >= tr.at {
			tr.done = true
			fire = append(fire, tr.f)
		}
	}
	return allowed, cut, fire
}

// SetCut sets the rule for cutting connections; the zero Cut cuts nothing.
// Bytes already carried count towards the new limits; the count of cuts
// for Max starts again.
func (p *Proxy) SetCut(c Cut) {
	p.mu.Lock()
	p.cut, p.cutsByRule = c, 0
	for l := range p.links {
		l.extra = p.spreadLocked()
	}
	p.mu.Unlock()
}

// spreadLocked draws a connection's share of Cut.Spread.
func (p *Proxy) spreadLocked() int64 {
	if p.cut.Spread <= 0 {
		return 0
	}
	return rand.Int64N(p.cut.Spread + 1)
}

// Stall stops forwarding in both directions of every connection, current
// and new, for d (until Resume if d <= 0). The sockets stay open: the
// client sees a server that says nothing.
func (p *Proxy) Stall(d time.Duration) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed {
		return
	}
	if !p.stalled {
		p.stalled, p.resume = true, make(chan struct{})
	}
	if p.stallTimer != nil {
		p.stallTimer.Stop()
		p.stallTimer = nil
	}
	if d > 0 {
		p.stallTimer = time.AfterFunc(d, p.Resume)
	}
}

// Resume ends a stall.
func (p *Proxy) Resume() {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.stallTimer != nil {
		p.stallTimer.Stop()
		p.stallTimer = nil
	}
	p.endStallLocked()
}

func (p *Proxy) endStallLocked() {
	if p.stalled {
		p.stalled = false
		close(p.resume)
	}
}

// Stalled tells whether the proxy is stalled now.
func (p *Proxy) Stalled() bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.stalled
}

// Refuse refuses new connections the way r says, for d (until Admit if
// d <= 0). Connections already made are not touched; CutAll cuts them.
func (p *Proxy) Refuse(r Refusal, d time.Duration) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed {
		return net.ErrClosed
	}
	if p.refuseTimer != nil {
		p.refuseTimer.Stop()
		p.refuseTimer = nil
	}
	if err := p.setRefusalLocked(r); err != nil {
		return err
	}
	if d > 0 {
		p.refuseTimer = time.AfterFunc(d, func() { p.Admit() })
	}
	return nil
}

// Admit ends a refusal: new connections are forwarded again. It fails if
// the address cannot be listened on again after NotListening.
func (p *Proxy) Admit() error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.refuseTimer != nil {
		p.refuseTimer.Stop()
		p.refuseTimer = nil
	}
	if p.closed {
		return nil
	}
	return p.setRefusalLocked(0)
}

// setRefusalLocked switches to refusal r (0: none), closing or reopening
// the listener as needed.
func (p *Proxy) setRefusalLocked(r Refusal) error {
	if r == NotListening && p.ln != nil {
		p.ln.Close()
		p.ln = nil
	}
	if r != NotListening && p.ln == nil {
		var ln net.Listener
		var err error
		// The port was ours a moment ago; the kernel may take a moment to
		// let it go.
		for i := 0; i < 50; i++ {
			if ln, err = net.Listen("tcp", p.Addr); err == nil {
				break
			}
			time.Sleep(20 * time.Millisecond)
		}
		if err != nil {
			return err
		}
		p.ln = ln
		p.wg.Add(1)
		go p.serve(ln)
	}
	p.refusal = r
	return nil
}

// CutAll cuts every current connection now.
func (p *Proxy) CutAll() {
	p.mu.Lock()
	links := p.takeLinksLocked()
	p.mu.Unlock()
	for _, l := range links {
		p.cuts.Add(1)
		l.close()
	}
}

func (p *Proxy) takeLinksLocked() []*link {
	links := make([]*link, 0, len(p.links))
	for l := range p.links {
		links = append(links, l)
		delete(p.links, l)
	}
	return links
}

// At runs f once, when the bytes forwarded through the proxy (both
// directions, all connections, since the start) reach n. f runs on the
// forwarding goroutine that crossed the mark, after the bytes that crossed
// it were forwarded; that direction of that connection waits for f, the
// others go on. f may call the Proxy's methods.
func (p *Proxy) At(n int64, f func()) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.triggers = append(p.triggers, &trigger{at: n, f: f})
}

// Connections is the number of connections forwarded to the server so far.
func (p *Proxy) Connections() int64 { return p.connections.Load() }

// Open is the number of connections being forwarded now.
func (p *Proxy) Open() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return len(p.links)
}

// Refused is the number of connections refused by AcceptClose so far (with
// NotListening the proxy does not see them).
func (p *Proxy) Refused() int64 { return p.refused.Load() }

// Cuts is the number of connections cut so far, by a Cut rule or CutAll.
func (p *Proxy) Cuts() int64 { return p.cuts.Load() }

// DialErrors is the number of connections closed because the server could
// not be reached.
func (p *Proxy) DialErrors() int64 { return p.dialErrors.Load() }

// Bytes returns the bytes forwarded so far from clients to the server (up)
// and from the server to clients (down).
func (p *Proxy) Bytes() (up, down int64) { return p.upBytes.Load(), p.downBytes.Load() }
