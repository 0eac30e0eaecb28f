package mapping

import (
	"strings"
	"testing"
)

func TestValidPattern(t *testing.T) {
	for _, tc := range []struct {
		pattern string
		err     string // substring; "" for valid
	}{
		{"Spam", ""},
		{"Archive/**", ""},
		{"**/Old", ""},
		{"a/**/b", ""},
		{"**", ""},
		{"[Gmail]/All Mail", ""}, // a character class: "[Gmail]" matches one letter
		{`\[Gmail\]/All Mail`, ""},
		{"Entwürfe*", ""},
		{"", "empty"},
		{"/Spam", "empty name component"},
		{"Spam/", "empty name component"},
		{"a//b", "empty name component"},
		{"a**", `"**" must be a whole segment`},
		{"a/**b/c", `"**" must be a whole segment`},
		{"[", "syntax error"},
		{"a/[z-", "syntax error"},
		{`x\`, "syntax error"},
	} {
		t.Run(tc.pattern, func(t *testing.T) {
			err := ValidPattern(tc.pattern)
			if tc.err == "" {
				if err != nil {
					t.Fatalf("ValidPattern(%q) = %v, want nil", tc.pattern, err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tc.err) {
				t.Fatalf("ValidPattern(%q) = %v, want an error containing %q", tc.pattern, err, tc.err)
			}
		})
	}
}

func TestPatternMatch(t *testing.T) {
	for _, tc := range []struct {
		pattern string
		name    string // with "/" separators
		want    bool
	}{
		{"Spam", "Spam", true},
		{"Spam", "spam", false},
		{"Spam", "Spam/Sub", false},
		{"Spam", "Old/Spam", false},
		{"Archive/*", "Archive", false},
		{"Archive/*", "Archive/2019", true},
		{"Archive/*", "Archive/2019/Q1", false},
		{"Archive/**", "Archive", true},
		{"Archive/**", "Archive/2019", true},
		{"Archive/**", "Archive/2019/Q1", true},
		{"Archive/**", "Archives", false},
		{"**/Old", "Old", true},
		{"**/Old", "a/b/Old", true},
		{"**/Old", "a/Old/b", false},
		{"a/**/b", "a/b", true},
		{"a/**/b", "a/x/y/b", true},
		{"a/**/**/b", "a/x/b", true},
		{"a/**/b", "a/x/y/c", false},
		{"**", "anything/at/all", true},
		{"INBOX/tmp*", "INBOX/tmp1", true},
		{"inbox/tmp*", "INBOX/tmp1", true}, // INBOX in any case
		{"Tmp?", "Tmp1", true},
		{"Tmp?", "Tmp12", false},
		{"Entw*", "Entwürfe", true},
		{"Entw?rfe", "Entwürfe", true}, // "?" is one Unicode character
		{`\[Gmail\]/*`, "[Gmail]/All Mail", true},
	} {
		t.Run(tc.pattern+"~"+tc.name, func(t *testing.T) {
			p, err := compilePattern(tc.pattern)
			if err != nil {
				t.Fatal(err)
			}
			comps := strings.Split(tc.name, "/")
			normalizeInbox(comps)
			if got := p.match(comps); got != tc.want {
				t.Errorf("%q matches %q = %v, want %v", tc.pattern, tc.name, got, tc.want)
			}
		})
	}
}
