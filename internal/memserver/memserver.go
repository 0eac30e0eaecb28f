// Package memserver runs an in-process IMAP server (go-imap v2's imapserver
// with the imapmemserver backend) on loopback, for the demo and for fast
// engine tests.
//
// It offers IMAP4rev1 and IMAP4rev2 (hence UIDPLUS, NAMESPACE, ESEARCH,
// LIST-EXTENDED, LIST-STATUS, MOVE, STATUS=SIZE) over plain TCP with
// plain-text logins. It has no CONDSTORE, no special-use attributes, no
// quota and the separator is always "/"; CREATE creates missing superiors,
// as real servers do; it lowercases keywords it does not
// know ("Work" is served as "work"). It never stands in for a real server
// in acceptance tests (see internal/testrig/dovecot).
package memserver

import (
	"bytes"
	"fmt"
	"io"
	"log"
	"net"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/emersion/go-imap/v2"
	"github.com/emersion/go-imap/v2/imapserver"
	"github.com/emersion/go-imap/v2/imapserver/imapmemserver"
)

// Server is a running in-memory IMAP server.
type Server struct {
	// Addr is the address it listens on, "127.0.0.1:PORT".
	Addr string

	mem     *imapmemserver.Server
	serving *Serving

	mu     sync.Mutex
	users  map[string]*imapmemserver.User
	closed bool
}

// Caps are the capabilities the server announces.
var Caps = imap.CapSet{imap.CapIMAP4rev1: {}, imap.CapIMAP4rev2: {}}

// Start listens on addr ("127.0.0.1:0" for a free port) and serves IMAP
// until Close, logging connection errors to stderr.
func Start(addr string) (*Server, error) { return StartLogging(addr, os.Stderr) }

// StartLogging is Start with the server's log lines (connection errors)
// written to logTo.
func StartLogging(addr string, logTo io.Writer) (*Server, error) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("memserver: %w", err)
	}
	s := &Server{
		Addr:  ln.Addr().String(),
		mem:   imapmemserver.New(),
		users: make(map[string]*imapmemserver.User),
	}
	srv := imapserver.New(&imapserver.Options{
		NewSession: func(*imapserver.Conn) (imapserver.Session, *imapserver.GreetingData, error) {
			return &session{SessionIMAP4rev2: s.mem.NewSession().(imapserver.SessionIMAP4rev2)}, nil, nil
		},
		Caps:         Caps,
		InsecureAuth: true,
		Logger:       log.New(logTo, "memserver "+s.Addr+": ", log.LstdFlags),
	})
	s.serving = Serve(srv, ln)
	return s, nil
}

// AddUser adds a user with an empty INBOX. Adding an existing user fails.
func (s *Server) AddUser(name, password string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, ok := s.users[name]; ok {
		return fmt.Errorf("memserver: user %q exists", name)
	}
	u, err := NewUser(name, password)
	if err != nil {
		return err
	}
	s.users[name] = u
	s.mem.AddUser(u)
	return nil
}

func (s *Server) user(name string) (*imapmemserver.User, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	u := s.users[name]
	if u == nil {
		return nil, fmt.Errorf("memserver: no user %q", name)
	}
	return u, nil
}

// CreateFolder creates folder name ("/"-separated) for user. Missing
// parents are created too (imapmemserver itself does not); an existing
// folder is an error.
func (s *Server) CreateFolder(user, name string) error {
	u, err := s.user(user)
	if err != nil {
		return err
	}
	name = strings.TrimRight(name, "/")
	if name == "" || strings.Contains(name, "//") {
		return fmt.Errorf("memserver: folder name %q", name)
	}
	parts := strings.Split(name, "/")
	for i := 1; i < len(parts); i++ {
		err := u.Create(strings.Join(parts[:i], "/"), nil)
		if err != nil && !IsAlreadyExists(err) {
			return fmt.Errorf("memserver: %s: create %q: %w", user, name, err)
		}
	}
	if err := u.Create(name, nil); err != nil {
		return fmt.Errorf("memserver: %s: create %q: %w", user, name, err)
	}
	return nil
}

// Append stores body in user's folder with the flags (e.g. `\Seen`,
// `$Forwarded`) and internal date (zero: now), as an APPEND would. The
// folder must exist.
func (s *Server) Append(user, folder string, flags []string, date time.Time, body []byte) error {
	u, err := s.user(user)
	if err != nil {
		return err
	}
	opts := &imap.AppendOptions{Time: date}
	for _, f := range flags {
		opts.Flags = append(opts.Flags, imap.Flag(f))
	}
	b := bytes.Clone(body)
	if _, err := u.Append(folder, Literal(b), opts); err != nil {
		return fmt.Errorf("memserver: %s: append to %q: %w", user, folder, err)
	}
	return nil
}

// Close stops listening and closes every connection. The mail is gone.
// Closing twice does nothing.
func (s *Server) Close() error {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return nil
	}
	s.closed = true
	s.mu.Unlock()
	return s.serving.Shutdown()
}

// session is imapmemserver's session with CREATE creating the missing
// superiors of a folder first, as RFC 3501 (6.3.3) asks and real servers
// do (imapmemserver creates the one name only).
type session struct {
	imapserver.SessionIMAP4rev2
}

func (s *session) Create(name string, options *imap.CreateOptions) error {
	return CreateWithSuperiors(s.SessionIMAP4rev2.Create, name, options)
}
