package quirkproxy

import "testing"

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
	} {
		n, sync, ok := literal([]byte(tc.line))
		if n != tc.n || sync != tc.sync || ok != tc.ok {
			t.Errorf("%q: %d %v %v", tc.line, n, sync, ok)
		}
	}
	for line, want := range map[string]bool{
		"T1 APPEND INBOX (\\Seen \\Flagged) {3}\r\n":    false,
		"T1 APPEND INBOX (\\Seen $Work) {3}\r\n":        true,
		"T1 APPEND INBOX {3}\r\n":                       false,
		" (NonJunk) \"01-Jan-2024 00:00:00 +0000\" {3}": true,
	} {
		if hasKeyword([]byte(line)) != want {
			t.Errorf("%q: keyword %v", line, !want)
		}
	}
	for in, want := range map[string]string{`"Bad" (MESSAGES 1)`: "Bad", `Bad (MESSAGES 1)`: "Bad", `"A \"q\"" (X)`: `A "q"`} {
		if got, _, ok := mailboxName(in); !ok || got != want {
			t.Errorf("%s: %q %v", in, got, ok)
		}
	}
	if tag, cmd := command([]byte("a7 uid fetch 1:* (FLAGS)\r\n")); tag != "a7" || cmd != "UID FETCH" {
		t.Errorf("command: %q %q", tag, cmd)
	}
}
