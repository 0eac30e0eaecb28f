package endpoint

import (
	"errors"
	"testing"

	"github.com/mailshift/mailshift/internal/users"
)

// TestValidateUsers: tls: none is refused before any connection when a
// password would cross the network, naming the key that chose it.
func TestValidateUsers(t *testing.T) {
	local := Settings{URL: "imap://127.0.0.1:143", TLS: "none"}
	cases := []struct {
		name string
		p    Pair
		rows []users.Row
		key  string // "" if fine
	}{
		{"loopback", Pair{Source: local, Target: Settings{URL: "imap://localhost:143?tls=none"}}, nil, ""},
		{"remote target tls key", Pair{Source: local, Target: Settings{URL: "imap://mail.example.com", TLS: "none"}}, nil, "target.tls"},
		{"remote source url query", Pair{Source: Settings{URL: "imap://mail.example.com:143?tls=none"}, Target: local}, nil, "source.url"},
		{"allow_insecure", Pair{Source: Settings{URL: "imap://mail.example.com:143?tls=none"}, Target: local, AllowInsecure: true}, nil, ""},
		{"remote host of a row", Pair{Source: local, Target: local}, []users.Row{{SourceUser: "a", SourceHost: "old.example.com"}}, "source.tls"},
		{"starttls to a remote host", Pair{Source: Settings{URL: "imap://mail.example.com:143"}, Target: Settings{URL: "imaps://new.example.com"}}, nil, ""},
		{"local files", Pair{Source: Settings{URL: "maildir:/data/%u"}, Target: local}, nil, ""},
		{"a row's own server, tls: none inherited", Pair{Source: local, Target: local}, []users.Row{{Line: 7, SourceUser: "a", SourceURL: "imap://old2.example.com"}}, "source_url of user a (users file line 7)"},
		{"a row's own server with its own TLS", Pair{Source: local, Target: local}, []users.Row{{Line: 7, SourceUser: "a", SourceURL: "imap://old2.example.com?tls=starttls", TargetURL: "imaps://new2.example.com"}}, ""},
		{"a row's own target over imaps", Pair{Source: local, Target: local}, []users.Row{{Line: 3, SourceUser: "b", TargetURL: "imaps://new2.example.com"}}, ""},
		{"a row's own files as the source", Pair{Source: local, Target: local}, []users.Row{{Line: 3, SourceUser: "b", SourceURL: "maildir:/exports/%u"}}, ""},
		{"a row's files as the target", Pair{Source: local, Target: local}, []users.Row{{Line: 4, SourceUser: "c", TargetURL: "maildir:/exports/%u"}}, "target_url of user c (users file line 4)"},
		{"a row's unknown scheme", Pair{Source: local, Target: local}, []users.Row{{Line: 5, SourceUser: "d", SourceURL: "pop3://old.example.com"}}, "source_url of user d (users file line 5)"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			err := c.p.ValidateUsers(c.rows)
			var ke *KeyError
			switch {
			case c.key == "" && err != nil:
				t.Errorf("unexpected %v", err)
			case c.key != "" && (!errors.As(err, &ke) || ke.Key != c.key):
				t.Errorf("got %v, want a mistake of %s", err, c.key)
			}
		})
	}
}
