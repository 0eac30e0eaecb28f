// Package exchangelike runs an in-process IMAP server (go-imap v2's
// imapserver over imapmemserver) that behaves the way Microsoft Exchange
// and Exchange Online (Microsoft 365) are documented to behave, for tests
// that cannot reach those services. Each behaviour is a documented fact;
// its source is cited here and where it is implemented:
//
//  1. Messages are re-rendered. Exchange stores a message as an item's
//     properties and serves IMAP clients MIME it generates again
//     (Set-ImapSettings -MessageRetrievalMimeFormat chooses how:
//     https://learn.microsoft.com/en-us/powershell/module/exchange/set-imapsettings);
//     what an APPEND stored is not what a FETCH returns. See Render.
//  2. RFC822.SIZE is an estimate unless the administrator turns on
//     -EnableExactRFC822Size (same page, default $false). Here the size
//     reported differs both from the bytes appended and from the bytes a
//     FETCH returns (see estimate).
//  3. No keywords are kept: PERMANENTFLAGS lists the system flags only,
//     without \* (issue "Microsoft 365, Exchange and Gmail as they really
//     behave"; imapsync FAQ.d/FAQ.Office365.txt shows keywords such as
//     $MDNSent turned into categories rather than kept as IMAP keywords).
//     Keywords given with APPEND or STORE are dropped, as RFC 3501 allows
//     for flags that are not permanent.
//  4. Throttling: Exchange answers "Request is throttled. Suggested Backoff
//     Time: N milliseconds" (as NO or BAD) and then closes the connection
//     (imapsync FAQ.d/FAQ.Office365.txt and FAQ.Exchange.txt: "imapsync
//     just reports it before being disconnected from it"). See
//     Options.ThrottleEvery.
//  5. Connections per mailbox are capped: Exchange Server's
//     MaxConnectionsPerUser defaults to 16
//     (https://learn.microsoft.com/en-us/exchange/set-connection-limits-for-imap4-exchange-2013-help);
//     Exchange Online allows 20 concurrent IMAP connections per mailbox
//     (Exchange Online limits,
//     https://learn.microsoft.com/en-us/office365/servicedescriptions/exchange-online-service-description/exchange-online-limits).
//     The wording of the refusal is not documented: the server answers
//     NO [LIMIT] (RFC 5530's code for a limit reached) with its own text.
//  6. Messages over the size limit are refused with "NO Maximum size of
//     appendable message has been exceeded" (imapsync
//     FAQ.d/FAQ.Office365.txt and FAQ.Exchange.txt). Exchange Online's
//     default limit is 35 MB, raised up to 150 MB by the administrator
//     (Exchange Online limits, above; FAQ.Office365.txt: "up to 150MB").
//  7. Office365 closes the connection after 10 errors
//     (FAQ.Office365.txt); not imitated here, as mailshift reconnects after
//     any dropped connection.
package exchangelike

import (
	"fmt"
	"io"
	"log"
	"net"
	"strings"
	"sync"
	"time"

	"github.com/emersion/go-imap/v2"
	"github.com/emersion/go-imap/v2/imapserver"
	"github.com/emersion/go-imap/v2/imapserver/imapmemserver"

	"github.com/mailshift/mailshift/internal/memserver"
	"github.com/mailshift/mailshift/internal/throttle"
)

// Exchange Online's defaults (facts 5 and 6 above).
const (
	DefaultMaxConnections = 20
	DefaultMaxMessageSize = 35 << 20
)

// Options tunes the server. The zero value behaves like Exchange Online
// with its defaults, without throttling.
type Options struct {
	// MaxConnections caps the connections logged in to one mailbox at
	// once (default DefaultMaxConnections; negative: no cap).
	MaxConnections int
	// MaxMessageSize is the largest message APPEND takes (default
	// DefaultMaxMessageSize; negative: no limit).
	MaxMessageSize int64
	// ThrottleEvery, when above zero, throttles a mailbox after that many
	// commands: the next command is answered "NO Request is throttled.
	// Suggested Backoff Time: N milliseconds" with N from Backoff, and the
	// connection is closed at its next command. Until Backoff has passed on
	// Clock, every command of that mailbox gets the same answer with the
	// time left. Throttles is how many times this happens (0: every time).
	ThrottleEvery int
	Backoff       time.Duration
	Throttles     int
	// Clock tells the time of the throttling (default the system clock).
	Clock throttle.Clock
	// Log receives the server's log lines (default: discarded).
	Log io.Writer
}

// Server is a running Exchange-like IMAP server.
type Server struct {
	// Addr is the address it listens on, "127.0.0.1:PORT".
	Addr string

	opts    Options
	mem     *imapmemserver.Server
	serving *memserver.Serving

	mu    sync.Mutex
	users map[string]*imapmemserver.User
	boxes map[string]*mailboxState
	stats Stats
}

// mailboxState is what the server counts per mailbox (user).
type mailboxState struct {
	conns     int
	commands  int
	until     time.Time // throttled until
	throttles int
}

// Stats counts what the server did, for tests.
type Stats struct {
	Throttled     int // commands answered "Request is throttled"
	Closed        int // connections closed after throttling
	RefusedLogins int // logins over the connection cap
	RefusedSize   int // APPENDs over the size limit
	MaxConns      int // the most connections one mailbox had at once
}

// Start listens on addr ("127.0.0.1:0" for a free port) and serves until
// Close.
func Start(addr string, o Options) (*Server, error) {
	if o.MaxConnections == 0 {
		o.MaxConnections = DefaultMaxConnections
	}
	if o.MaxMessageSize == 0 {
		o.MaxMessageSize = DefaultMaxMessageSize
	}
	if o.Clock == nil {
		o.Clock = throttle.SystemClock
	}
	if o.Log == nil {
		o.Log = io.Discard
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("exchangelike: %w", err)
	}
	s := &Server{Addr: ln.Addr().String(), opts: o, mem: imapmemserver.New(),
		users: map[string]*imapmemserver.User{}, boxes: map[string]*mailboxState{}}
	srv := imapserver.New(&imapserver.Options{
		NewSession: func(c *imapserver.Conn) (imapserver.Session, *imapserver.GreetingData, error) {
			return &session{srv: s, conn: c, mem: s.mem.NewSession()}, nil, nil
		},
		Caps:         imap.CapSet{imap.CapIMAP4rev1: {}, imap.CapIMAP4rev2: {}},
		InsecureAuth: true,
		Logger:       log.New(o.Log, "exchangelike "+s.Addr+": ", log.LstdFlags),
	})
	s.serving = memserver.Serve(srv, estimatingListener{ln})
	return s, nil
}

// AddUser adds a mailbox with an empty INBOX.
func (s *Server) AddUser(name, password string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, ok := s.users[name]; ok {
		return fmt.Errorf("exchangelike: user %q exists", name)
	}
	u, err := memserver.NewUser(name, password)
	if err != nil {
		return err
	}
	s.users[name] = u
	s.boxes[name] = &mailboxState{}
	s.mem.AddUser(u)
	return nil
}

// Append stores body in user's folder (created if missing) the way an
// APPEND would: re-rendered, keywords dropped.
func (s *Server) Append(user, folder string, flags []string, date time.Time, body []byte) error {
	s.mu.Lock()
	u := s.users[user]
	s.mu.Unlock()
	if u == nil {
		return fmt.Errorf("exchangelike: no user %q", user)
	}
	if err := u.Create(folder, nil); err != nil && !memserver.IsAlreadyExists(err) {
		return err
	}
	b := Render(body)
	_, err := u.Append(folder, memserver.Literal(b), &imap.AppendOptions{Time: date, Flags: systemFlags(toFlags(flags))})
	return err
}

// Stats returns what the server counted so far.
func (s *Server) Stats() Stats {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.stats
}

// Close stops the server and closes every connection.
func (s *Server) Close() error { return s.serving.Shutdown() }

// login counts a connection of user, refusing it over the cap (fact 5).
func (s *Server) login(user string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	b := s.boxes[user]
	if b == nil {
		return nil // imapmemserver refuses the login
	}
	if s.opts.MaxConnections > 0 && b.conns >= s.opts.MaxConnections {
		s.stats.RefusedLogins++
		return &imap.Error{Type: imap.StatusResponseTypeNo, Code: imap.ResponseCodeLimit,
			Text: fmt.Sprintf("Too many simultaneous connections to this mailbox (at most %d)", s.opts.MaxConnections)}
	}
	b.conns++
	s.stats.MaxConns = max(s.stats.MaxConns, b.conns)
	return nil
}

func (s *Server) logout(user string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if b := s.boxes[user]; b != nil && b.conns > 0 {
		b.conns--
	}
}

// throttled counts a command of user and tells whether it is to be
// answered "Request is throttled" (fact 4), with the backoff suggested.
func (s *Server) throttled(user string) (time.Duration, bool) {
	if s.opts.ThrottleEvery <= 0 {
		return 0, false
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	b := s.boxes[user]
	if b == nil {
		return 0, false
	}
	now := s.opts.Clock.Now()
	if left := b.until.Sub(now); left > 0 {
		s.stats.Throttled++
		return left, true
	}
	if s.opts.Throttles > 0 && b.throttles >= s.opts.Throttles {
		return 0, false
	}
	b.commands++
	if b.commands <= s.opts.ThrottleEvery {
		return 0, false
	}
	b.commands = 0
	b.throttles++
	b.until = now.Add(s.opts.Backoff)
	s.stats.Throttled++
	return s.opts.Backoff, true
}

// ThrottledText is Exchange's answer when it throttles (fact 4).
func ThrottledText(d time.Duration) string {
	return fmt.Sprintf("Request is throttled. Suggested Backoff Time: %d milliseconds", d.Milliseconds())
}

func toFlags(fs []string) []imap.Flag {
	out := make([]imap.Flag, len(fs))
	for i, f := range fs {
		out[i] = imap.Flag(f)
	}
	return out
}

// systemFlags keeps the system flags of fs (fact 3).
func systemFlags(fs []imap.Flag) []imap.Flag {
	var out []imap.Flag
	for _, f := range fs {
		if strings.HasPrefix(string(f), `\`) && f != imap.FlagWildcard {
			out = append(out, f)
		}
	}
	return out
}
