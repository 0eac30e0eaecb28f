package faultproxy

import (
	"bytes"
	"errors"
	"io"
	"net"
	"sync"
	"syscall"
	"testing"
	"time"
)

// echoServer answers every byte it reads with the same byte.
func echoServer(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	var mu sync.Mutex
	var conns []net.Conn
	t.Cleanup(func() {
		ln.Close()
		mu.Lock()
		for _, c := range conns {
			c.Close()
		}
		mu.Unlock()
		wg.Wait()
	})
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			mu.Lock()
			conns = append(conns, c)
			mu.Unlock()
			wg.Add(1)
			go func() {
				defer wg.Done()
				defer c.Close()
				io.Copy(c, c)
			}()
		}
	}()
	return ln.Addr().String()
}

func dial(t *testing.T, addr string) net.Conn {
	t.Helper()
	c, err := net.DialTimeout("tcp", addr, 2*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// roundTrip writes msg and reads as many bytes back, within d.
func roundTrip(c net.Conn, msg []byte, d time.Duration) ([]byte, error) {
	c.SetDeadline(time.Now().Add(d))
	defer c.SetDeadline(time.Time{})
	if _, err := c.Write(msg); err != nil {
		return nil, err
	}
	got := make([]byte, len(msg))
	n, err := io.ReadFull(c, got)
	return got[:n], err
}

// readAll reads until the connection ends or d passes, and tells how.
func readAll(c net.Conn, d time.Duration) ([]byte, error) {
	c.SetReadDeadline(time.Now().Add(d))
	b, err := io.ReadAll(c)
	return b, err
}

// eventually polls cond until it holds or the deadline passes.
func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func TestForwards(t *testing.T) {
	p := Start(t, echoServer(t))
	c := dial(t, p.Addr)
	msg := bytes.Repeat([]byte("0123456789"), 10000)
	got, err := roundTrip(c, msg, 5*time.Second)
	if err != nil || !bytes.Equal(got, msg) {
		t.Fatalf("echo through the proxy: %d bytes, %v", len(got), err)
	}
	up, down := p.Bytes()
	if up != int64(len(msg)) || down != int64(len(msg)) {
		t.Errorf("bytes up %d down %d, want %d each", up, down, len(msg))
	}
	dial(t, p.Addr)
	eventually(t, "2 connections", func() bool { return p.Connections() == 2 && p.Open() == 2 })
}

func TestCutAfterBytes(t *testing.T) {
	t.Run("up", func(t *testing.T) {
		p := Start(t, echoServer(t))
		p.SetCut(Cut{Up: 100})
		for i := range 3 { // every connection is cut at the same point
			c := dial(t, p.Addr)
			c.Write(bytes.Repeat([]byte{'x'}, 1000))
			if _, err := readAll(c, 5*time.Second); isTimeout(err) {
				t.Fatalf("connection %d not cut", i)
			}
			if up, _ := p.Bytes(); up != int64(100*(i+1)) {
				t.Errorf("connection %d: %d bytes reached the server in all, want %d", i, up, 100*(i+1))
			}
		}
		eventually(t, "3 cuts", func() bool { return p.Cuts() == 3 })
	})
	t.Run("down", func(t *testing.T) {
		p := Start(t, echoServer(t))
		p.SetCut(Cut{Down: 150})
		for i := range 3 {
			c := dial(t, p.Addr)
			c.Write(bytes.Repeat([]byte{'x'}, 1000))
			got, err := readAll(c, 5*time.Second)
			if isTimeout(err) {
				t.Fatalf("connection %d not cut", i)
			}
			if len(got) != 150 {
				t.Errorf("connection %d: %d bytes before the cut, want 150", i, len(got))
			}
		}
		eventually(t, "3 cuts", func() bool { return p.Cuts() == 3 })
	})
	t.Run("total", func(t *testing.T) {
		p := Start(t, echoServer(t))
		p.SetCut(Cut{Total: 300})
		c := dial(t, p.Addr)
		if _, err := roundTrip(c, bytes.Repeat([]byte{'x'}, 100), 5*time.Second); err != nil {
			t.Fatal(err)
		}
		// 200 bytes so far; 100 more may go up, then the cut.
		c.Write(bytes.Repeat([]byte{'y'}, 1000))
		if _, err := readAll(c, 5*time.Second); isTimeout(err) {
			t.Fatal("not cut")
		}
		eventually(t, "the cut", func() bool { return p.Cuts() == 1 })
		if up, down := p.Bytes(); up+down != 300 || up != 200 {
			t.Errorf("up %d + down %d bytes, want 200 + 100", up, down)
		}
	})
}

func isTimeout(err error) bool {
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout()
}

func TestCutMax(t *testing.T) {
	p := Start(t, echoServer(t))
	p.SetCut(Cut{Down: 10, Max: 2})
	for i := range 2 {
		c := dial(t, p.Addr)
		c.Write([]byte("hello, world"))
		if got, _ := readAll(c, 5*time.Second); len(got) != 10 {
			t.Errorf("connection %d: %q", i, got)
		}
	}
	c := dial(t, p.Addr)
	if got, err := roundTrip(c, []byte("hello, world"), 5*time.Second); err != nil || string(got) != "hello, world" {
		t.Errorf("after Max cuts: %q %v", got, err)
	}
	p.SetCut(Cut{})
	if got, err := roundTrip(c, []byte("more"), 5*time.Second); err != nil || string(got) != "more" {
		t.Errorf("after clearing: %q %v", got, err)
	}
}

func TestStall(t *testing.T) {
	p := Start(t, echoServer(t))
	c := dial(t, p.Addr)
	if _, err := roundTrip(c, []byte("ping"), 5*time.Second); err != nil {
		t.Fatal(err)
	}
	p.Stall(0)
	if !p.Stalled() {
		t.Fatal("not stalled")
	}
	// Nothing comes back while stalled, but the connection stays open.
	_, err := roundTrip(c, []byte("during"), 300*time.Millisecond)
	if !isTimeout(err) {
		t.Fatalf("read during a stall: %v, want a timeout", err)
	}
	// A new connection is accepted but stalls too.
	c2 := dial(t, p.Addr)
	c2.Write([]byte("new"))
	if _, err := readAll(c2, 200*time.Millisecond); !isTimeout(err) {
		t.Fatalf("new connection during a stall: %v", err)
	}
	p.Resume()
	got := make([]byte, len("during"))
	c.SetReadDeadline(time.Now().Add(5 * time.Second))
	if _, err := io.ReadFull(c, got); err != nil || string(got) != "during" {
		t.Fatalf("after Resume: %q %v", got, err)
	}
	got = make([]byte, 3)
	c2.SetReadDeadline(time.Now().Add(5 * time.Second))
	if _, err := io.ReadFull(c2, got); err != nil || string(got) != "new" {
		t.Fatalf("new connection after Resume: %q %v", got, err)
	}

	// A stall with a duration ends by itself.
	p.Stall(100 * time.Millisecond)
	if got, err := roundTrip(c, []byte("later"), 5*time.Second); err != nil || string(got) != "later" {
		t.Fatalf("after a timed stall: %q %v", got, err)
	}
	if p.Stalled() {
		t.Error("still stalled")
	}

	// A connection cut during a stall ends at once.
	p.Stall(0)
	c.Write([]byte("x"))
	p.CutAll()
	if _, err := readAll(c, 5*time.Second); isTimeout(err) {
		t.Error("a connection cut during a stall stayed open")
	}
	p.Resume()
}

func TestRefuse(t *testing.T) {
	for _, mode := range []Refusal{AcceptClose, NotListening} {
		t.Run(map[Refusal]string{AcceptClose: "accept-close", NotListening: "not-listening"}[mode], func(t *testing.T) {
			p := Start(t, echoServer(t))
			old := dial(t, p.Addr)
			if _, err := roundTrip(old, []byte("hi"), 5*time.Second); err != nil {
				t.Fatal(err)
			}
			if err := p.Refuse(mode, 0); err != nil {
				t.Fatal(err)
			}
			// The connection made before goes on.
			if got, err := roundTrip(old, []byte("old"), 5*time.Second); err != nil || string(got) != "old" {
				t.Fatalf("existing connection during a refusal: %q %v", got, err)
			}
			for range 3 {
				c, err := net.DialTimeout("tcp", p.Addr, 2*time.Second)
				if mode == NotListening {
					if !errors.Is(err, syscall.ECONNREFUSED) {
						t.Fatalf("connect while not listening: %v, want connection refused", err)
					}
					continue
				}
				if err != nil {
					t.Fatalf("connect during accept-close: %v", err)
				}
				_, rerr := readAll(c, 5*time.Second)
				c.Close()
				if isTimeout(rerr) {
					t.Fatal("refused connection stayed open")
				}
			}
			if mode == AcceptClose {
				eventually(t, "3 refusals", func() bool { return p.Refused() == 3 })
			}
			if err := p.Admit(); err != nil {
				t.Fatal(err)
			}
			c := dial(t, p.Addr)
			if got, err := roundTrip(c, []byte("back"), 5*time.Second); err != nil || string(got) != "back" {
				t.Fatalf("after Admit: %q %v", got, err)
			}

			// A refusal with a duration ends by itself.
			if err := p.Refuse(mode, 200*time.Millisecond); err != nil {
				t.Fatal(err)
			}
			var after net.Conn
			eventually(t, "the refusal to end", func() bool {
				c, err := net.DialTimeout("tcp", p.Addr, time.Second)
				if err != nil {
					return false
				}
				if _, err := roundTrip(c, []byte("x"), time.Second); err != nil {
					c.Close()
					return false
				}
				after = c
				return true
			})
			after.Close()
		})
	}
}

func TestCutAll(t *testing.T) {
	p := Start(t, echoServer(t))
	cs := []net.Conn{dial(t, p.Addr), dial(t, p.Addr)}
	for _, c := range cs {
		if _, err := roundTrip(c, []byte("hi"), 5*time.Second); err != nil {
			t.Fatal(err)
		}
	}
	p.CutAll()
	for i, c := range cs {
		if _, err := readAll(c, 5*time.Second); isTimeout(err) {
			t.Errorf("connection %d not cut", i)
		}
	}
	if p.Cuts() != 2 || p.Open() != 0 {
		t.Errorf("cuts %d, open %d", p.Cuts(), p.Open())
	}
	// New connections work.
	c := dial(t, p.Addr)
	if _, err := roundTrip(c, []byte("again"), 5*time.Second); err != nil {
		t.Fatal(err)
	}
}

func TestAt(t *testing.T) {
	p := Start(t, echoServer(t))
	fired := make(chan int64, 2)
	p.At(1000, func() {
		up, down := p.Bytes()
		fired <- up + down
		p.CutAll() // a trigger may use the proxy
	})
	c := dial(t, p.Addr)
	if _, err := roundTrip(c, bytes.Repeat([]byte{'a'}, 400), 5*time.Second); err != nil {
		t.Fatal(err)
	}
	select {
	case n := <-fired:
		t.Fatalf("fired at %d bytes", n)
	default:
	}
	c.Write(bytes.Repeat([]byte{'b'}, 400))
	select {
	case n := <-fired:
		if n < 1000 {
			t.Errorf("fired at %d bytes, before 1000", n)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("did not fire")
	}
	if _, err := readAll(c, 5*time.Second); isTimeout(err) {
		t.Error("the trigger's CutAll did not cut")
	}
	// Once only.
	c = dial(t, p.Addr)
	if _, err := roundTrip(c, bytes.Repeat([]byte{'c'}, 2000), 5*time.Second); err != nil {
		t.Fatal(err)
	}
	if len(fired) != 0 {
		t.Error("fired twice")
	}
}

func TestUpstreamDown(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	p := Start(t, addr)
	c := dial(t, p.Addr)
	if _, err := readAll(c, 5*time.Second); isTimeout(err) {
		t.Fatal("connection to a proxy whose server is down stayed open")
	}
	eventually(t, "a dial error", func() bool { return p.DialErrors() == 1 })
	if p.Connections() != 0 {
		t.Errorf("connections %d", p.Connections())
	}
}

func TestCloseEndsEverything(t *testing.T) {
	p, err := New(echoServer(t))
	if err != nil {
		t.Fatal(err)
	}
	c := dial(t, p.Addr)
	roundTrip(c, []byte("x"), 5*time.Second)
	p.Stall(0)
	c.Write([]byte("y"))
	done := make(chan struct{})
	go func() { p.Close(); close(done) }()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		t.Fatal("Close hangs")
	}
	if _, err := net.DialTimeout("tcp", p.Addr, time.Second); err == nil {
		t.Error("still listening after Close")
	}
	p.Close()
}
