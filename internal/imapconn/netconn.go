package imapconn

import (
	"bytes"
	"errors"
	"net"
	"sync"
	"sync/atomic"
	"time"
)

// netConn is the connection the IMAP client reads and writes. It replaces
// the client's own fixed deadlines (30 s per response, 5 min per literal)
// with an inactivity timeout that applies only while a call of ours is
// running: every read or write pushes the deadline timeout further, so a
// large message that keeps moving never times out and an idle connection
// between calls is never cut.
//
// It also keeps the first line the server sent (the greeting) and closes
// the TCP connection underneath any TLS layer when a call is cancelled.
type netConn struct {
	net.Conn          // what the client uses: TCP, or TLS over TCP
	raw      net.Conn // the TCP connection; closing it aborts everything
	timeout  time.Duration

	mu       sync.Mutex
	busy     bool
	greeting []byte
	greeted  bool

	timedOut atomic.Bool
	aborted  atomic.Bool // closed by abort or Close
	// dropped is set when a read or write failed before anyone here closed
	// the connection: the server or the network ended it. go-imap then may
	// report a stale complaint of its decoder instead of the EOF (its ID
	// parser leaves one behind on every connection: "expected atom").
	dropped atomic.Bool

	// Once hijacked, the IMAP client's reader no longer reads: its Read
	// waits on park until the connection closes, and the connection is
	// the hijacker's.
	hijacked atomic.Bool
	// throttled is set when an answer ended with [THROTTLED]: Gmail's
	// sign that it slows the account down (see Conn.backOff).
	throttled atomic.Bool
	park      chan struct{} // closed by Close
	parked    chan struct{} // closed when the client's reader has stopped
	parkOnce  sync.Once
	freeOnce  sync.Once
}

// throttledMark ends the completion of a command Gmail answered while it
// throttles the account ("A2 OK Success [THROTTLED]", as logged in
// jstedfast/MailKit#1396 and mscdex/node-imap#593). A message that quotes
// it costs one back-off, nothing more.
var throttledMark = []byte(" [THROTTLED]\r\n")

func newNetConn(c, raw net.Conn, timeout time.Duration) *netConn {
	return &netConn{Conn: c, raw: raw, timeout: timeout, park: make(chan struct{}), parked: make(chan struct{})}
}

// hijack stops the IMAP client from reading (a read it is waiting in is
// ended by a deadline in the past) and returns the connection for the
// caller's own use, once the client's reader has stopped.
func (c *netConn) hijack(clientGone <-chan struct{}) (net.Conn, error) {
	c.hijacked.Store(true)
	c.raw.SetReadDeadline(time.Unix(1, 0))
	select {
	case <-c.parked:
	case <-clientGone: // the client's reader ended (the server hung up)
		return nil, net.ErrClosed
	}
	c.raw.SetReadDeadline(time.Time{})
	c.raw.SetWriteDeadline(time.Time{})
	return c.Conn, nil
}

// parkReader is where the client's reader waits once the connection is
// hijacked.
func (c *netConn) parkReader() (int, error) {
	c.parkOnce.Do(func() { close(c.parked) })
	<-c.park
	return 0, net.ErrClosed
}

// begin marks the start of a call: from now on the server must show signs
// of life within the timeout.
func (c *netConn) begin() {
	c.mu.Lock()
	c.busy = true
	c.raw.SetReadDeadline(time.Now().Add(c.timeout))
	c.mu.Unlock()
}

// end marks the end of a call: the connection may idle without limit.
func (c *netConn) end() {
	c.mu.Lock()
	c.busy = false
	c.raw.SetReadDeadline(time.Time{})
	c.raw.SetWriteDeadline(time.Time{})
	c.mu.Unlock()
}

// abort closes the TCP connection at once; every pending read, write and
// command fails.
func (c *netConn) abort() {
	c.aborted.Store(true)
	c.raw.Close()
}

// dead reports whether the connection was aborted or timed out.
func (c *netConn) dead() bool {
	return c.aborted.Load() || c.timedOut.Load()
}

func (c *netConn) Read(p []byte) (int, error) {
	if c.hijacked.Load() {
		return c.parkReader()
	}
	c.mu.Lock()
	if c.busy {
		c.raw.SetReadDeadline(time.Now().Add(c.timeout))
	}
	c.mu.Unlock()
	n, err := c.Conn.Read(p)
	if n > 0 {
		c.keepGreeting(p[:n])
		if bytes.Contains(p[:n], throttledMark) {
			c.throttled.Store(true)
		}
	}
	if err != nil && n == 0 && c.hijacked.Load() {
		return c.parkReader()
	}
	if err != nil && !c.aborted.Load() && !c.hijacked.Load() {
		c.dropped.Store(true)
	}
	c.noteErr(err)
	return n, err
}

func (c *netConn) Write(p []byte) (int, error) {
	c.mu.Lock()
	if c.busy {
		// A write shows the call is moving; while a long APPEND literal
		// streams out, no response is due, so the read deadline moves too.
		d := time.Now().Add(c.timeout)
		c.raw.SetWriteDeadline(d)
		c.raw.SetReadDeadline(d)
	}
	c.mu.Unlock()
	n, err := c.Conn.Write(p)
	if err != nil && !c.aborted.Load() {
		c.dropped.Store(true)
	}
	c.noteErr(err)
	return n, err
}

func (c *netConn) noteErr(err error) {
	var ne net.Error
	if err != nil && errors.As(err, &ne) && ne.Timeout() && !c.aborted.Load() {
		c.timedOut.Store(true)
	}
}

// keepGreeting records the bytes of the first line read. With STARTTLS the
// later reads are TLS records; by then the greeting is complete.
func (c *netConn) keepGreeting(p []byte) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.greeted {
		return
	}
	if i := bytes.IndexByte(p, '\n'); i >= 0 {
		p = p[:i]
		c.greeted = true
	}
	if len(c.greeting)+len(p) > 1024 {
		p = p[:max(0, 1024-len(c.greeting))]
		c.greeted = true
	}
	c.greeting = append(c.greeting, p...)
}

// greetingLine returns the server's first line without its line ending.
func (c *netConn) greetingLine() string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return string(bytes.TrimRight(c.greeting, "\r\n"))
}

// The IMAP client sets its own fixed deadlines; netConn manages deadlines
// itself, so these are ignored.

func (c *netConn) SetDeadline(time.Time) error      { return nil }
func (c *netConn) SetReadDeadline(time.Time) error  { return nil }
func (c *netConn) SetWriteDeadline(time.Time) error { return nil }

// Close closes the TCP connection (without a TLS close_notify: LOGOUT has
// been said by then, or the connection is being torn down anyway). go-imap
// closes it itself when a command cannot be sent; from then on dead is true
// even before the client's reader has noticed.
func (c *netConn) Close() error {
	c.aborted.Store(true)
	c.parkOnce.Do(func() { close(c.parked) })
	c.freeOnce.Do(func() { close(c.park) })
	return c.raw.Close()
}
