package relay

import (
	"bufio"
	"bytes"
	"strings"
	"testing"
)

func TestLineParsing(t *testing.T) {
	for _, tc := range []struct {
		line string
		n    int64
		sync bool
		ok   bool
	}{
		{"T1 APPEND INBOX (\\Seen) {12}\r\n", 12, true, true},
		{"T1 APPEND INBOX {12+}\r\n", 12, false, true},
		{" (\\Seen $Work) \"01-Jan-2024 00:00:00 +0000\" {3+}\r\n", 3, false, true},
		{"T2 NOOP\r\n", 0, false, false},
		{"* 1 FETCH (BODY[] {120}\r\n", 120, true, true},
		{"* 1 FETCH (BINARY[] ~{7}\r\n", 7, true, true},
	} {
		n, sync, ok := Literal([]byte(tc.line))
		if n != tc.n || sync != tc.sync || ok != tc.ok {
			t.Errorf("%q: %d %v %v", tc.line, n, sync, ok)
		}
	}
	for in, want := range map[string]string{`"Bad" (MESSAGES 1)`: "Bad", `Bad (MESSAGES 1)`: "Bad", `"A \"q\"" (X)`: `A "q"`, ` INBOX`: "INBOX"} {
		if got, _, ok := Astring(in); !ok || got != want {
			t.Errorf("%s: %q %v", in, got, ok)
		}
	}
	if _, _, ok := Astring(`"open`); ok {
		t.Error("an unterminated quoted string was read")
	}
	if got := Quote(`A "q" \`); got != `"A \"q\" \\"` {
		t.Errorf("Quote: %s", got)
	}
}

func TestReadResponse(t *testing.T) {
	in := "* 1 FETCH (UID 4 BODY[] {5}\r\nhello)\r\n* 2 EXISTS\r\n"
	r := bufio.NewReader(strings.NewReader(in))
	var buf bytes.Buffer
	var lines []string
	n, err := ReadResponse(r, &buf, func(line []byte) []byte {
		lines = append(lines, string(line))
		return bytes.ToLower(line)
	})
	if err != nil || n != 5 {
		t.Fatalf("ReadResponse: %d %v", n, err)
	}
	if want := "* 1 fetch (uid 4 body[] {5}\r\nhello)\r\n"; buf.String() != want {
		t.Errorf("response %q, want %q", buf.String(), want)
	}
	if len(lines) != 2 || lines[1] != ")\r\n" {
		t.Errorf("lines %q", lines)
	}
	var fw bytes.Buffer
	r = bufio.NewReader(strings.NewReader("abc\r\na2 NOOP\r\n"))
	if err := Forward(&fw, r, []byte("a1 APPEND INBOX {3+}\r\n")); err != nil {
		t.Fatal(err)
	}
	if want := "a1 APPEND INBOX {3+}\r\nabc\r\n"; fw.String() != want {
		t.Errorf("forwarded %q, want %q", fw.String(), want)
	}
}
