package main

import (
	"bufio"
	"io"
	"net"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

// A client→server stream with commands, literals (synchronizing and not,
// holding lines that look like commands), continuation lines that are not
// commands, and a line longer than the counter keeps.
const clientStream = "a1 LOGIN alice secret\r\n" +
	"a2 APPEND INBOX (\\Seen) {23}\r\n" +
	"x1 NOOP\r\nx2 NOOP\r\nabc\r\n" +
	"\r\n" +
	"a3 APPEND Sent {11+}\r\n" +
	"z9 LOGOUT\r\n\r\n" +
	"a4 LOGIN {5}\r\nalice {6}\r\nsecret\r\n" +
	"a5 IDLE\r\n" +
	"DONE\r\n" +
	"a6 AUTHENTICATE PLAIN\r\n" +
	"AGFsaWNlAHNlY3JldA==\r\n" +
	"a7 UID STORE 1,3,5,7,9,11,13,15,17,19,21,23,25,27,29,31,33,35,37,39,41,43,45,47,49 +FLAGS.SILENT (\\Seen)\r\n" +
	"* not a command\r\n" +
	"a8 UID FETCH 1:* (UID FLAGS) (CHANGEDSINCE 12)\r\n" +
	"a9 APPEND INBOX {0}\r\n\r\n" +
	"b1 noop\r\n"

func TestCommandCounter(t *testing.T) {
	const want = 10 // a1 .. a9 and b1
	for _, chunk := range []int{1, 2, 3, 7, 64, len(clientStream)} {
		var n atomic.Int64
		c := &commandCounter{n: &n}
		for s := clientStream; len(s) > 0; {
			k := min(chunk, len(s))
			if _, err := c.Write([]byte(s[:k])); err != nil {
				t.Fatal(err)
			}
			s = s[k:]
		}
		if got := n.Load(); got != want {
			t.Errorf("chunks of %d bytes: %d commands, want %d", chunk, got, want)
		}
	}
}

func TestIsCommandLine(t *testing.T) {
	for line, want := range map[string]bool{
		"a1 NOOP\r\n":            true,
		"A0001 select INBOX\r\n": true,
		"1 CAPABILITY":           true,
		"DONE\r\n":               false,
		"+ ready\r\n":            false,
		"* OK hello\r\n":         false,
		"a1  NOOP\r\n":           false,
		"a1 {5}\r\n":             false,
		" NOOP\r\n":              false,
		"a1 NOOP1\r\n":           false,
	} {
		if got := isCommandLine([]byte(line)); got != want {
			t.Errorf("isCommandLine(%q) = %v, want %v", line, got, want)
		}
	}
}

func TestLiteralAt(t *testing.T) {
	for line, want := range map[string]int64{
		"a APPEND INBOX {23}\r\n": 23,
		"{12+}\r\n":               12,
		"{7-}\n":                  7,
		"~{4}\r\n":                4,
		"{0}\r\n":                 0,
		"a NOOP\r\n":              -1,
		"a X {}\r\n":              -1,
		"a X {1a}\r\n":            -1,
	} {
		n, ok := literalAt([]byte(line))
		if !ok {
			n = -1
		}
		if n != want {
			t.Errorf("literalAt(%q) = %d, want %d", line, n, want)
		}
	}
}

// TestCountProxy sends commands through the proxy to a server that
// answers each line with a fixed reply, and checks both counts.
func TestCountProxy(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				sc := bufio.NewScanner(c)
				for sc.Scan() {
					io.WriteString(c, "ok\r\n")
				}
			}()
		}
	}()
	p, err := startCountProxy(ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	before := p.counted()
	c, err := net.Dial("tcp", p.addr)
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Count(clientStream, "\n")
	go io.WriteString(c, clientStream)
	buf := make([]byte, 4*lines)
	c.SetReadDeadline(time.Now().Add(10 * time.Second))
	if _, err := io.ReadFull(c, buf); err != nil {
		t.Fatal(err)
	}
	c.Close()
	got := p.counted().sub(before)
	if got.commands != 10 || got.down != int64(len(buf)) {
		t.Errorf("counted %d commands and %d bytes down, want 10 and %d", got.commands, got.down, len(buf))
	}
}
