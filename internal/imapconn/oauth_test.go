package imapconn

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/mailshift/mailshift/internal/memserver"
	"github.com/mailshift/mailshift/internal/users"
)

// tokenServer is an in-memory IMAP server that logs users in with OAuth 2.0
// access tokens (XOAUTH2 and OAUTHBEARER) and PLAIN. A token is
// "tok-USER-N"; tokens below the user's current minimum have expired.
type tokenServer struct {
	*memserver.TokenServer

	mu      sync.Mutex
	minimum map[string]int // lowest N still valid, per user
}

func startTokenServer(t *testing.T, mechs ...string) *tokenServer {
	t.Helper()
	ts := &tokenServer{minimum: map[string]int{}}
	srv, err := memserver.StartTokenServer(ts.check, mechs...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { srv.Close() })
	ts.TokenServer = srv
	return ts
}

func (ts *tokenServer) addUser(t *testing.T, name string) {
	t.Helper()
	if err := ts.AddUser(name); err != nil {
		t.Fatal(err)
	}
	ts.mu.Lock()
	ts.minimum[name] = 1
	ts.mu.Unlock()
}

// expire makes every token of user below N invalid.
func (ts *tokenServer) expire(user string, below int) {
	ts.mu.Lock()
	ts.minimum[user] = below
	ts.mu.Unlock()
}

// check tells whether token is a valid token of user.
func (ts *tokenServer) check(user, token string) bool {
	ts.mu.Lock()
	defer ts.mu.Unlock()
	var n int
	if _, err := fmt.Sscanf(token, "tok-"+user+"-%d", &n); err != nil {
		return false
	}
	return n >= ts.minimum[user]
}

func (ts *tokenServer) tokensSeen() []string { return ts.Tokens() }

// tokenCommand writes a script that prints a new token for user at every
// run: tok-USER-1, tok-USER-2, ...
func tokenCommand(t *testing.T, user string) (users.Secret, func() int) {
	t.Helper()
	dir := t.TempDir()
	counter := filepath.Join(dir, "n")
	script := filepath.Join(dir, "token.sh")
	body := fmt.Sprintf("#!/bin/sh\nn=$(($(cat %[1]q 2>/dev/null || echo 0) + 1))\necho $n > %[1]q\necho tok-%[2]s-$n\n", counter, user)
	if err := os.WriteFile(script, []byte(body), 0o700); err != nil {
		t.Fatal(err)
	}
	s, err := users.ParseSecret("cmd:" + script)
	if err != nil {
		t.Fatal(err)
	}
	runs := func() int {
		b, _ := os.ReadFile(counter)
		var n int
		fmt.Sscan(string(bytes.TrimSpace(b)), &n)
		return n
	}
	return s, runs
}

// An access token is fetched again at every login, so an expired one is
// replaced; the server's refusal is explained without the token.
func TestOAuthTokenRenewed(t *testing.T) {
	for _, auth := range []string{AuthXOAuth2, AuthOAuthBearer} {
		t.Run(auth, func(t *testing.T) {
			ts := startTokenServer(t, "XOAUTH2", "OAUTHBEARER")
			ts.addUser(t, "alice@example.org")
			secret, runs := tokenCommand(t, "alice@example.org")
			ctx := context.Background()
			c := dial(t, Options{Addr: ts.Addr, Auth: auth, User: "alice@example.org", Secret: secret.Reveal})
			if _, err := c.Folders(ctx); err != nil {
				t.Fatal(err)
			}
			if runs() != 1 {
				t.Fatalf("token command ran %d times for one login", runs())
			}

			// The token expires and the connection breaks: the reconnect
			// fetches a new token.
			ts.expire("alice@example.org", 2)
			c.Break()
			if _, err := c.Folders(ctx); err != nil {
				t.Fatalf("after the token expired: %v", err)
			}
			if runs() != 2 {
				t.Errorf("token command ran %d times for two logins", runs())
			}
			if seen := ts.tokensSeen(); len(seen) != 2 || seen[0] != "tok-alice@example.org-1" || seen[1] != "tok-alice@example.org-2" {
				t.Errorf("tokens presented: %q", seen)
			}

			// A fixed, expired token is refused with a clear message.
			ts.expire("alice@example.org", 3)
			const old = "tok-alice@example.org-2"
			_, err := Dial(ctx, Options{Addr: ts.Addr, TLS: TLSNone, Auth: auth, User: "alice@example.org", Password: old})
			if !errors.Is(err, ErrAuth) {
				t.Fatalf("old token: %v, want ErrAuth", err)
			}
			msg := err.Error()
			t.Log(msg)
			if strings.Contains(msg, old) {
				t.Errorf("the token is in the error: %s", msg)
			}
			for _, want := range []string{`"alice@example.org"`, "127.0.0.1", "access token was refused", "AUTHENTICATIONFAILED", "token file or command"} {
				if !strings.Contains(msg, want) {
					t.Errorf("error lacks %q: %s", want, msg)
				}
			}
			wantStatus := map[string]string{AuthXOAuth2: "status 400", AuthOAuthBearer: "status invalid_token (the token is invalid or expired)"}[auth]
			wantScope := map[string]string{AuthXOAuth2: "scope https://mail.google.com/", AuthOAuthBearer: "scope mail"}[auth]
			if !strings.Contains(msg, wantStatus) || !strings.Contains(msg, wantScope) {
				t.Errorf("error does not decode the server's JSON (%q, %q): %s", wantStatus, wantScope, msg)
			}
		})
	}
}

func TestOAuthErrors(t *testing.T) {
	ctx := context.Background()
	t.Run("mechanism not offered", func(t *testing.T) {
		ts := startTokenServer(t, "PLAIN")
		ts.addUser(t, "bob")
		_, err := Dial(ctx, Options{Addr: ts.Addr, TLS: TLSNone, Auth: AuthXOAuth2, User: "bob", Password: "tok-bob-1"})
		if !errors.Is(err, ErrConfig) || !strings.Contains(err.Error(), "AUTH=XOAUTH2") || !strings.Contains(err.Error(), "PLAIN") {
			t.Fatalf("err %v", err)
		}
	})
	t.Run("token command fails", func(t *testing.T) {
		ts := startTokenServer(t, "XOAUTH2")
		ts.addUser(t, "bob")
		s, err := users.ParseSecret("cmd:echo tok-bob-1; exit 3")
		if err != nil {
			t.Fatal(err)
		}
		_, err = Dial(ctx, Options{Addr: ts.Addr, TLS: TLSNone, Auth: AuthXOAuth2, User: "bob", Secret: s.Reveal})
		if err == nil || !strings.Contains(err.Error(), `"bob"`) || !strings.Contains(err.Error(), "exit status 3") || strings.Contains(err.Error(), "tok-bob-1") {
			t.Fatalf("err %v", err)
		}
		if len(ts.tokensSeen()) != 0 {
			t.Errorf("the server saw tokens: %q", ts.tokensSeen())
		}
	})
	t.Run("settings", func(t *testing.T) {
		for _, o := range []Options{
			{Addr: "127.0.0.1:1", TLS: TLSNone, Auth: "XOAUTH3", User: "u"},
			{Addr: "127.0.0.1:1", TLS: TLSNone, Auth: AuthXOAuth2, User: "u", MasterUser: "admin"},
			{Addr: "127.0.0.1:1", TLS: TLSNone, Auth: AuthOAuthBearer, User: "u", AuthzID: "x"},
			{Addr: "127.0.0.1:1", TLS: TLSNone, Auth: AuthLogin, User: "u", MasterUser: "admin"},
			{Addr: "127.0.0.1:1", TLS: TLSNone, User: "u", MasterUser: "admin", AuthzID: "x"},
		} {
			if _, err := Dial(ctx, o); !errors.Is(err, ErrConfig) {
				t.Errorf("%+v: %v", o, err)
			}
		}
	})
	t.Run("explain", func(t *testing.T) {
		c := &oauthClient{mech: mechXOAuth2, failure: []byte("not json\x1b[2J")}
		if got := c.explain("[AUTHENTICATIONFAILED] no"); !strings.Contains(got, "not JSON: not json[2J") {
			t.Errorf("explain: %q", got)
		}
		if got := (&oauthClient{mech: mechOAuthBearer}).explain("NO"); !strings.Contains(got, "OAUTHBEARER") {
			t.Errorf("explain: %q", got)
		}
	})
	t.Run("secret echoed by the server", func(t *testing.T) {
		if got := redact("bad password s3cr3t-pw given", "s3cr3t-pw"); got != "bad password [redacted] given" {
			t.Errorf("redact: %q", got)
		}
	})
}

// The XOAUTH2 initial response is Google's format exactly.
func TestXOAuth2Format(t *testing.T) {
	mech, ir, err := newOAuthClient(AuthXOAuth2, "someuser@example.com", "ya29.vF9dft4qmTc2Nvb3RlckBhdHRhdmlzdGEuY29tCg", "imap.gmail.com", "imap.gmail.com:993").Start()
	if err != nil || mech != "XOAUTH2" || string(ir) != "user=someuser@example.com\x01auth=Bearer ya29.vF9dft4qmTc2Nvb3RlckBhdHRhdmlzdGEuY29tCg\x01\x01" {
		t.Errorf("%s %q %v", mech, ir, err)
	}
	mech, ir, _ = newOAuthClient(AuthOAuthBearer, "u@example.com", "T", "server.example.com", "server.example.com:993").Start()
	if mech != "OAUTHBEARER" || string(ir) != "n,a=u@example.com,\x01host=server.example.com\x01port=993\x01auth=Bearer T\x01\x01" {
		t.Errorf("%s %q", mech, ir)
	}
}
