package imapconn

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/emersion/go-imap/v2"
	"github.com/emersion/go-imap/v2/imapserver"
	"github.com/emersion/go-imap/v2/imapserver/imapmemserver"
	"github.com/emersion/go-sasl"

	"github.com/mailshift/mailshift/internal/users"
)

// tokenServer is an in-memory IMAP server that logs users in with OAuth 2.0
// access tokens (XOAUTH2 and OAUTHBEARER) and PLAIN. A token is
// "tok-USER-N"; tokens below the user's current minimum have expired.
type tokenServer struct {
	Addr string
	mem  *imapmemserver.Server

	mu      sync.Mutex
	minimum map[string]int // lowest N still valid, per user
	seen    []string       // every token presented, in order
	mechs   []string
}

const tokenUserPassword = "internal-password"

func startTokenServer(t *testing.T, mechs ...string) *tokenServer {
	t.Helper()
	ts := &tokenServer{mem: imapmemserver.New(), minimum: map[string]int{}, mechs: mechs}
	srv := imapserver.New(&imapserver.Options{
		NewSession: func(*imapserver.Conn) (imapserver.Session, *imapserver.GreetingData, error) {
			return &tokenSession{SessionIMAP4rev2: ts.mem.NewSession().(imapserver.SessionIMAP4rev2), ts: ts}, nil, nil
		},
		Caps:         imap.CapSet{imap.CapIMAP4rev1: {}, imap.CapIMAP4rev2: {}},
		InsecureAuth: true,
		Logger:       log.New(io.Discard, "", 0),
	})
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go srv.Serve(ln)
	t.Cleanup(func() { srv.Close() })
	ts.Addr = ln.Addr().String()
	return ts
}

func (ts *tokenServer) addUser(t *testing.T, name string) {
	t.Helper()
	u := imapmemserver.NewUser(name, tokenUserPassword)
	if err := u.Create("INBOX", nil); err != nil {
		t.Fatal(err)
	}
	ts.mem.AddUser(u)
	ts.mu.Lock()
	ts.minimum[name] = 1
	ts.mu.Unlock()
}

// expire makes every token of user issued so far invalid.
func (ts *tokenServer) expire(user string, below int) {
	ts.mu.Lock()
	ts.minimum[user] = below
	ts.mu.Unlock()
}

// check tells whether token is a valid token of user.
func (ts *tokenServer) check(user, token string) bool {
	ts.mu.Lock()
	defer ts.mu.Unlock()
	ts.seen = append(ts.seen, token)
	var n int
	if _, err := fmt.Sscanf(token, "tok-"+user+"-%d", &n); err != nil {
		return false
	}
	return n >= ts.minimum[user]
}

func (ts *tokenServer) tokensSeen() []string {
	ts.mu.Lock()
	defer ts.mu.Unlock()
	return append([]string{}, ts.seen...)
}

// tokenSession adds the OAuth mechanisms to a memory server session.
type tokenSession struct {
	imapserver.SessionIMAP4rev2
	ts *tokenServer
}

var _ imapserver.SessionSASL = (*tokenSession)(nil)

func (s *tokenSession) AuthenticateMechanisms() []string { return s.ts.mechs }

var errBadToken = &imap.Error{Type: imap.StatusResponseTypeNo, Code: imap.ResponseCodeAuthenticationFailed, Text: "Invalid credentials (Failure)"}

func (s *tokenSession) Authenticate(mech string) (sasl.Server, error) {
	switch mech {
	case "XOAUTH2":
		return &xoauth2Server{login: s.loginWithToken}, nil
	case "OAUTHBEARER":
		return &bearerServer{Server: sasl.NewOAuthBearerServer(func(o sasl.OAuthBearerOptions) *sasl.OAuthBearerError {
			if err := s.loginWithToken(o.Username, o.Token); err != nil {
				return &sasl.OAuthBearerError{Status: "invalid_token", Schemes: "bearer", Scope: "mail"}
			}
			return nil
		})}, nil
	case "PLAIN":
		return sasl.NewPlainServer(func(identity, username, password string) error {
			return s.Login(username, password)
		}), nil
	}
	return nil, &imap.Error{Type: imap.StatusResponseTypeNo, Text: "SASL mechanism not supported"}
}

func (s *tokenSession) loginWithToken(user, token string) error {
	if !s.ts.check(user, token) {
		return errBadToken
	}
	return s.Login(user, tokenUserPassword)
}

// xoauth2Server is the server side of XOAUTH2 as Gmail speaks it: a bad
// token gets a JSON challenge, and after the client's empty answer a NO.
type xoauth2Server struct {
	login  func(user, token string) error
	failed error
}

func (s *xoauth2Server) Next(resp []byte) ([]byte, bool, error) {
	if s.failed != nil {
		return nil, true, s.failed
	}
	if resp == nil {
		return []byte{}, false, nil
	}
	parts := strings.Split(string(resp), "\x01")
	if len(parts) != 4 || !strings.HasPrefix(parts[0], "user=") || !strings.HasPrefix(parts[1], "auth=Bearer ") || parts[2] != "" || parts[3] != "" {
		return nil, true, &imap.Error{Type: imap.StatusResponseTypeBad, Text: "malformed XOAUTH2 response"}
	}
	if err := s.login(strings.TrimPrefix(parts[0], "user="), strings.TrimPrefix(parts[1], "auth=Bearer ")); err != nil {
		s.failed = err
		return []byte(`{"status":"400","schemes":"Bearer","scope":"https://mail.google.com/"}`), false, nil
	}
	return nil, true, nil
}

// bearerServer makes go-sasl's OAUTHBEARER failure a NO the client can
// tell from a server error.
type bearerServer struct{ sasl.Server }

func (s *bearerServer) Next(resp []byte) ([]byte, bool, error) {
	ch, done, err := s.Server.Next(resp)
	if err != nil {
		if _, ok := errors.AsType[*sasl.OAuthBearerError](err); ok {
			err = errBadToken
		}
	}
	return ch, done, err
}

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
