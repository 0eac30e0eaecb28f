package quirkproxy

import "testing"

func TestLineParsing(t *testing.T) {
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
	if tag, cmd := command([]byte("a7 uid fetch 1:* (FLAGS)\r\n")); tag != "a7" || cmd != "UID FETCH" {
		t.Errorf("command: %q %q", tag, cmd)
	}
}
