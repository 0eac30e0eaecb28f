package memserver

import (
	"errors"
	"fmt"
	"io"
	"log"
	"net"
	"strings"
	"sync"

	"github.com/emersion/go-imap/v2"
	"github.com/emersion/go-imap/v2/imapserver"
	"github.com/emersion/go-imap/v2/imapserver/imapmemserver"
	"github.com/emersion/go-sasl"
)

// TokenPassword is the password of every TokenServer user, for PLAIN.
const TokenPassword = "internal-password"

// TokenServer is an in-memory IMAP server for tests of OAuth 2.0 logins. It
// offers the SASL mechanisms it was started with, among XOAUTH2,
// OAUTHBEARER and PLAIN (with TokenPassword), and takes an access token
// when its check says so. A refused XOAUTH2 token gets Gmail's answer (a
// JSON challenge, then NO [AUTHENTICATIONFAILED] after the client's empty
// response), a refused OAUTHBEARER token the RFC 7628 error JSON and the
// same NO. Every token presented is recorded.
type TokenServer struct {
	// Addr is the address it listens on, "127.0.0.1:PORT".
	Addr string

	mem   *imapmemserver.Server
	srv   *imapserver.Server
	mechs []string
	check func(user, token string) bool

	mu   sync.Mutex
	seen []string
}

// StartTokenServer serves on a free loopback port until Close; check
// decides whether a token is valid for a user.
func StartTokenServer(check func(user, token string) bool, mechs ...string) (*TokenServer, error) {
	ts := &TokenServer{mem: imapmemserver.New(), mechs: mechs, check: check}
	ts.srv = imapserver.New(&imapserver.Options{
		NewSession: func(*imapserver.Conn) (imapserver.Session, *imapserver.GreetingData, error) {
			return &tokenSession{SessionIMAP4rev2: ts.mem.NewSession().(imapserver.SessionIMAP4rev2), ts: ts}, nil, nil
		},
		Caps:         Caps,
		InsecureAuth: true,
		Logger:       log.New(io.Discard, "", 0),
	})
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, fmt.Errorf("memserver: %w", err)
	}
	go ts.srv.Serve(ln)
	ts.Addr = ln.Addr().String()
	return ts, nil
}

// AddUser adds a user with an empty INBOX.
func (ts *TokenServer) AddUser(name string) error {
	u := imapmemserver.NewUser(name, TokenPassword)
	if err := u.Create("INBOX", nil); err != nil {
		return err
	}
	ts.mem.AddUser(u)
	return nil
}

// Tokens returns every token presented so far, in order.
func (ts *TokenServer) Tokens() []string {
	ts.mu.Lock()
	defer ts.mu.Unlock()
	return append([]string{}, ts.seen...)
}

// Close stops the server.
func (ts *TokenServer) Close() error { return ts.srv.Close() }

// valid records token and asks the check.
func (ts *TokenServer) valid(user, token string) bool {
	ts.mu.Lock()
	ts.seen = append(ts.seen, token)
	ts.mu.Unlock()
	return ts.check(user, token)
}

// tokenSession adds the OAuth mechanisms to a memory server session.
type tokenSession struct {
	imapserver.SessionIMAP4rev2
	ts *TokenServer
}

var _ imapserver.SessionSASL = (*tokenSession)(nil)

func (s *tokenSession) AuthenticateMechanisms() []string { return s.ts.mechs }

var errBadToken = &imap.Error{Type: imap.StatusResponseTypeNo, Code: imap.ResponseCodeAuthenticationFailed, Text: "Invalid credentials (Failure)"}

func (s *tokenSession) Authenticate(mech string) (sasl.Server, error) {
	switch strings.ToUpper(mech) {
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
	if !s.ts.valid(user, token) {
		return errBadToken
	}
	return s.Login(user, TokenPassword)
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
