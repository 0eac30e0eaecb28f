// Package imapconn owns mailshift's connections to IMAP servers: dialing
// with the configured TLS mode, logging in, timeouts and cancellation, the
// mapping between folder names as mailshift sees them and as the server
// spells them, and the read-side commands (LIST, STATUS, SELECT/EXAMINE,
// FETCH) that the IMAP source and the IMAP target share.
//
// go-imap's client takes no context; a Conn closes the TCP connection when a
// call's context ends and times a call out when the server shows no sign of
// life for Options.Timeout. A Conn whose connection broke (timeout,
// cancellation, a server that hung up) dials and logs in again at the start
// of its next call.
package imapconn

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"slices"
	"strings"
	"time"

	"github.com/emersion/go-imap/v2"
	"github.com/emersion/go-imap/v2/imapclient"
	"github.com/mailshift/mailshift/internal/mailbox"
)

// TLSMode says how a connection is encrypted.
type TLSMode string

// The TLS modes.
const (
	TLSNone     TLSMode = "none"     // no encryption: loopback hosts, or allow_insecure
	TLSStartTLS TLSMode = "starttls" // plain connect, then STARTTLS (the default)
	TLSImplicit TLSMode = "implicit" // TLS from the first byte (imaps, port 993)
)

// Authentication methods of Options.Auth.
const (
	// AuthPlain uses AUTHENTICATE PLAIN when the server offers it, else
	// LOGIN. It is the default.
	AuthPlain = "plain"
	// AuthLogin uses the LOGIN command.
	AuthLogin = "login"
	// AuthXOAuth2 uses AUTHENTICATE XOAUTH2 (Google, Microsoft) with an
	// OAuth 2.0 access token in place of the password.
	AuthXOAuth2 = "xoauth2"
	// AuthOAuthBearer uses AUTHENTICATE OAUTHBEARER (RFC 7628) with an
	// OAuth 2.0 access token in place of the password.
	AuthOAuthBearer = "oauthbearer"
)

// DefaultTimeout is how long a call waits for a sign of life from the
// server when Options.Timeout is zero.
const DefaultTimeout = 60 * time.Second

// Options tells how to reach and log in to an IMAP account.
type Options struct {
	Addr string  // host:port; without a port, 993 for TLSImplicit, else 143
	TLS  TLSMode // "" means TLSStartTLS

	CAFile             string // PEM file of CA certificates trusted besides the system's
	InsecureSkipVerify bool   // accept any certificate (tests only)
	AllowInsecure      bool   // permits TLS "none" to a non-loopback host

	Auth     string // AuthPlain (default), AuthLogin, AuthXOAuth2 or AuthOAuthBearer
	User     string // the mailbox's owner
	Password string // the password, or the access token for XOAUTH2 and OAUTHBEARER
	// Secret, if set, replaces Password: it is asked for the password (or
	// access token) at every login, the first and each one after a broken
	// connection, so that an access token that expired is replaced by the
	// current one. Its error is returned as the login's error; it must not
	// hold the secret.
	Secret func(ctx context.Context) (string, error)
	// AuthzID is a SASL PLAIN authorization identity: User logs in with
	// its own password and acts as AuthzID. Needs AUTH=PLAIN.
	AuthzID string

	// MasterUser, if set, logs in on behalf of User as this administrator
	// (proxy login), with the administrator's password. Without
	// MasterSeparator that is SASL PLAIN with User as the authorization
	// identity (needs AUTH=PLAIN); with it, the login name is User,
	// MasterSeparator and MasterUser ("alice*admin", Dovecot's
	// auth_master_user_separator) with any of plain and login.
	MasterUser      string
	MasterSeparator string

	// Timeout bounds connecting, and how long a running call waits for the
	// server to read or write anything. Default DefaultTimeout.
	Timeout time.Duration
	// Debug, if set, receives the raw protocol exchange, credentials
	// included: never point it at a shared log. It is written from two
	// goroutines at once and must be safe for that (os.Stderr is).
	Debug io.Writer
	// ThrottleWait is the first pause before the next command after the
	// server said [THROTTLED] (Gmail); it doubles while the server keeps
	// saying it, up to MaxThrottleWait. Default DefaultThrottleWait.
	ThrottleWait time.Duration
}

// DefaultThrottleWait and MaxThrottleWait bound the pauses after a
// [THROTTLED] answer. Gmail does not say how long to wait; these are
// mailshift's.
const (
	DefaultThrottleWait = time.Second
	MaxThrottleWait     = 30 * time.Second
)

// ErrAuth is wrapped by every error that says the server refused the
// credentials (as opposed to network errors or server trouble).
var ErrAuth = mailbox.ErrAuth

// ErrConfig is wrapped by errors about the connection settings themselves
// (unknown TLS mode, missing user, an unencrypted connection not allowed).
var ErrConfig = mailbox.ErrConfig

// ErrUIDValidity is wrapped when a folder was reopened (after a reconnect)
// and its UIDVALIDITY had changed: the UIDs the caller holds are void.
var ErrUIDValidity = errors.New("folder UIDVALIDITY changed")

// AuthError is a login the server refused. errors.Is(err, ErrAuth) holds.
type AuthError struct {
	User  string // the mailbox's owner (Options.User)
	Login string // the name logged in as, when not User (a master login)
	Host  string // the server
	Text  string // the server's explanation, and what to do where known
}

// Error says who could not log in where, and the server's reason.
func (e *AuthError) Error() string {
	if e.Login != "" && e.Login != e.User {
		return fmt.Sprintf("login for user %q (as %q) failed on %s: %s", e.User, e.Login, e.Host, e.Text)
	}
	return fmt.Sprintf("login for user %q failed on %s: %s", e.User, e.Host, e.Text)
}

// Is makes errors.Is(err, ErrAuth) true.
func (e *AuthError) Is(target error) bool { return target == ErrAuth }

// Conn is a logged-in connection to one IMAP account. It is not safe for
// concurrent use.
type Conn struct {
	opts     Options
	addr     string // host:port
	host     string
	tlsConf  *tls.Config
	writable bool // AllowWrite was called
	closed   bool // Close was called
	depth    int  // calls in progress: Do may call other methods

	backoff   time.Duration // the pause after the last [THROTTLED]; 0 when the server did not say it
	throttles int           // pauses made after [THROTTLED]

	nc     *netConn
	client *imapclient.Client

	caps     imap.CapSet
	delim    rune
	prefix   string   // personal namespace prefix as the server says it
	others   []string // prefixes of the other users' and shared namespaces
	server   string   // ID name and version
	greeting string   // text of the greeting

	// Optional features whose answer go-imap could not parse (it closes
	// the connection then): not asked again on this Conn, and told in
	// Describe's warnings.
	skip     map[string]bool
	warnings []string
	redials  []func() bool // ends the cancellation hooks of connections dialled again within a call

	sel      selection
	wake     chan struct{}     // signalled when the server reports new or expunged messages
	validity map[string]uint32 // UIDVALIDITY per wire name, as last shown to the caller
	roles    map[string]string // special-use role per wire name, from the last LIST
}

// selection is the folder currently selected.
type selection struct {
	name        string // wire name; "" if none
	write       bool   // SELECT rather than EXAMINE
	condStore   bool   // selected with CONDSTORE
	uidValidity uint32
}

// Dial connects to o.Addr, sets up TLS as o.TLS says, logs in and learns
// the server's capabilities, namespace and identity. ctx bounds only this
// call; every later call of the Conn takes its own context.
func Dial(ctx context.Context, o Options) (*Conn, error) {
	c := &Conn{opts: o, validity: map[string]uint32{}, wake: make(chan struct{}, 1), skip: map[string]bool{}}
	if err := c.configure(); err != nil {
		return nil, err
	}
	if err := c.connect(ctx); err != nil {
		return nil, err
	}
	return c, nil
}

// configure checks the options and fills in defaults; it never touches the
// network.
func (c *Conn) configure() error {
	o := &c.opts
	if o.Timeout <= 0 {
		o.Timeout = DefaultTimeout
	}
	switch o.TLS {
	case "":
		o.TLS = TLSStartTLS
	case TLSNone, TLSStartTLS, TLSImplicit:
	default:
		return fmt.Errorf("%w: tls: %q is not one of none, starttls, implicit", ErrConfig, o.TLS)
	}
	o.Auth = strings.ToLower(o.Auth)
	switch o.Auth {
	case "":
		o.Auth = AuthPlain
	case AuthPlain:
	case AuthLogin:
		if o.AuthzID != "" {
			return fmt.Errorf("%w: an authorization identity needs auth: plain, not login", ErrConfig)
		}
		if o.MasterUser != "" && o.MasterSeparator == "" {
			return fmt.Errorf("%w: a master login without master_separator is SASL PLAIN with an authorization identity: use auth: plain, or set master_separator (e.g. \"*\" for Dovecot)", ErrConfig)
		}
	case AuthXOAuth2, AuthOAuthBearer:
		if o.AuthzID != "" || o.MasterUser != "" {
			return fmt.Errorf("%w: auth: %s logs in with the user's own access token; a master login or authorization identity needs auth: plain", ErrConfig, o.Auth)
		}
	default:
		return fmt.Errorf("%w: auth: %q is not one of plain, login, xoauth2, oauthbearer", ErrConfig, o.Auth)
	}
	if o.AuthzID != "" && o.MasterUser != "" {
		return fmt.Errorf("%w: give either an authorization identity or a master user, not both", ErrConfig)
	}
	if o.Addr == "" {
		return fmt.Errorf("%w: no server address", ErrConfig)
	}
	host, port, err := net.SplitHostPort(o.Addr)
	if err != nil {
		// No port: use the standard one for the TLS mode.
		host, port = strings.Trim(o.Addr, "[]"), "143"
		if o.TLS == TLSImplicit {
			port = "993"
		}
	}
	if host == "" {
		return fmt.Errorf("%w: server address %q has no host", ErrConfig, o.Addr)
	}
	c.host, c.addr = host, net.JoinHostPort(host, port)
	if o.User == "" {
		return fmt.Errorf("%w: no user to log in as on %s", ErrConfig, c.addr)
	}
	if o.TLS == TLSNone && !isLoopback(host) && !o.AllowInsecure {
		return fmt.Errorf("%w: %s: tls: none needs a loopback host or allow_insecure: true (the password would cross the network unencrypted)", ErrConfig, c.addr)
	}
	if o.TLS != TLSNone {
		conf := &tls.Config{
			ServerName:         host,
			InsecureSkipVerify: o.InsecureSkipVerify,
			MinVersion:         tls.VersionTLS12,
			NextProtos:         []string{"imap"},
		}
		if o.CAFile != "" {
			pem, err := os.ReadFile(o.CAFile)
			if err != nil {
				return fmt.Errorf("%w: ca_file: %v", ErrConfig, err)
			}
			pool, err := x509.SystemCertPool()
			if err != nil || pool == nil {
				pool = x509.NewCertPool()
			}
			if !pool.AppendCertsFromPEM(pem) {
				return fmt.Errorf("%w: ca_file %s holds no PEM certificate", ErrConfig, o.CAFile)
			}
			conf.RootCAs = pool
		}
		c.tlsConf = conf
	}
	return nil
}

// isLoopback reports whether host surely names this machine.
func isLoopback(host string) bool {
	if strings.EqualFold(host, "localhost") {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// connect dials and logs in, replacing any previous connection.
func (c *Conn) connect(ctx context.Context) error {
	if c.client != nil {
		c.nc.abort()
		c.client.Close()
		c.client, c.nc = nil, nil
	}
	c.sel = selection{}

	top, raw, err := c.dial(ctx)
	if err != nil {
		return err
	}
	nc := newNetConn(top, raw, c.opts.Timeout)
	nc.begin()
	defer nc.end()
	stop := context.AfterFunc(ctx, nc.abort)
	defer stop()
	c.nc = nc

	client, err := c.newClient(ctx, nc)
	if err != nil {
		return err
	}
	c.client = client

	fail := func(err error) error {
		err = c.ctxErr(ctx, err)
		nc.abort()
		client.Close()
		c.client, c.nc = nil, nil
		return err
	}
	if err := c.greet(client, nc); err != nil {
		return fail(err)
	}
	if err := c.login(ctx, client); err != nil {
		return fail(err)
	}
	if err := c.learn(client); err != nil {
		var u unreadable
		if errors.As(err, &u) && !c.skip[u.feature] {
			// go-imap closed the connection on the answer: connect again
			// without asking that.
			fail(err)
			c.skip[u.feature] = true
			c.warn("%s: %s; %s", u.feature, u.err, u.assumed)
			return c.connect(ctx)
		}
		return fail(err)
	}
	return nil
}

// dial opens the TCP connection, within Options.Timeout, and does the TLS
// handshake when TLS is implicit. top is the connection to speak IMAP on,
// raw the TCP connection under it.
func (c *Conn) dial(ctx context.Context) (top, raw net.Conn, err error) {
	dctx, cancel := context.WithTimeout(ctx, c.opts.Timeout)
	defer cancel()
	var d net.Dialer
	raw, err = d.DialContext(dctx, "tcp", c.addr)
	if err != nil {
		return nil, nil, c.ctxErr(ctx, fmt.Errorf("connect to %s: %w", c.addr, err))
	}
	top = raw
	if c.opts.TLS == TLSImplicit {
		tc := tls.Client(raw, c.tlsConf)
		if err := tc.HandshakeContext(dctx); err != nil {
			raw.Close()
			return nil, nil, c.ctxErr(ctx, c.tlsErr(err))
		}
		top = tc
	}
	return top, raw, nil
}

// newClient starts go-imap's client on nc, with STARTTLS first when TLS
// says so; a failed STARTTLS drops the connection.
func (c *Conn) newClient(ctx context.Context, nc *netConn) (*imapclient.Client, error) {
	copts := &imapclient.Options{DebugWriter: c.opts.Debug, TLSConfig: c.tlsConf,
		UnilateralDataHandler: &imapclient.UnilateralDataHandler{
			Mailbox: func(*imapclient.UnilateralDataMailbox) { c.changed() },
			Expunge: func(uint32) { c.changed() },
		}}
	if c.opts.TLS != TLSStartTLS {
		return imapclient.New(nc, copts), nil
	}
	client, err := imapclient.NewStartTLS(nc, copts)
	if err != nil {
		err = c.ctxErr(ctx, c.startTLSErr(nc, err))
		nc.abort()
		c.nc = nil
		return nil, err
	}
	return client, nil
}

// greet waits for the server's greeting, keeps its text and refuses a
// connection the server logged in itself (PREAUTH).
func (c *Conn) greet(client *imapclient.Client, nc *netConn) error {
	if err := client.WaitGreeting(); err != nil {
		return fmt.Errorf("imap server %s: %w", c.addr, err)
	}
	c.greeting = greetingText(nc.greetingLine())
	if client.State() != imap.ConnStateNotAuthenticated {
		return mailbox.Mark(mailbox.ErrRefused, fmt.Errorf("imap server %s logged the connection in before mailshift could log in as %q (PREAUTH); refusing", c.addr, c.opts.User))
	}
	return nil
}

// unreadable is an optional feature's answer go-imap could not parse.
type unreadable struct {
	feature string // "ID", "NAMESPACE", ...
	assumed string // what is assumed instead
	err     error
}

func (u unreadable) Error() string { return u.feature + ": " + u.err.Error() }
func (u unreadable) Unwrap() error { return u.err }

// tlsErr explains a failed TLS handshake.
func (c *Conn) tlsErr(err error) error {
	var (
		unknown  x509.UnknownAuthorityError
		hostname x509.HostnameError
		invalid  x509.CertificateInvalidError
		verify   *tls.CertificateVerificationError
	)
	if errors.As(err, &unknown) || errors.As(err, &hostname) || errors.As(err, &invalid) || errors.As(err, &verify) {
		return fmt.Errorf("TLS certificate of %s not accepted: %w (set ca_file to the CA that signed it, or insecure_skip_verify: true for a test server)", c.addr, err)
	}
	return fmt.Errorf("TLS handshake with %s: %w", c.addr, err)
}

// startTLSErr explains a failed STARTTLS.
func (c *Conn) startTLSErr(nc *netConn, err error) error {
	line := nc.greetingLine()
	if code, ok := greetingCaps(line); ok && !slices.Contains(code, string(imap.CapStartTLS)) {
		return mailbox.Mark(ErrConfig, fmt.Errorf("imap server %s does not offer STARTTLS: use tls: implicit if it listens for TLS (port 993), or tls: none on a loopback host", c.addr))
	}
	var ie *imap.Error
	if errors.As(err, &ie) {
		return mailbox.Mark(ErrConfig, fmt.Errorf("imap server %s refused STARTTLS (%s): use tls: implicit if it listens for TLS (port 993), or tls: none on a loopback host", c.addr, ie.Text))
	}
	return c.tlsErr(err)
}

// greetingCaps returns the capabilities a greeting line lists, if any.
func greetingCaps(line string) ([]string, bool) {
	i := strings.Index(strings.ToUpper(line), "[CAPABILITY ")
	if i < 0 {
		return nil, false
	}
	rest := line[i+len("[CAPABILITY "):]
	if j := strings.IndexByte(rest, ']'); j >= 0 {
		rest = rest[:j]
	}
	return strings.Fields(strings.ToUpper(rest)), true
}

// greetingText returns the human text of a greeting line:
// "* OK [CAPABILITY ...] Dovecot ready." gives "Dovecot ready.".
func greetingText(line string) string {
	s := strings.TrimSpace(line)
	for _, p := range []string{"* OK", "* PREAUTH"} {
		if len(s) >= len(p) && strings.EqualFold(s[:len(p)], p) {
			s = strings.TrimSpace(s[len(p):])
			break
		}
	}
	if strings.HasPrefix(s, "[") {
		if j := strings.IndexByte(s, ']'); j >= 0 {
			s = strings.TrimSpace(s[j+1:])
		}
	}
	return s
}

// ctxErr prefers the context's error (cancelled, deadline) and the
// connection's timeout over whatever the broken connection reported, and
// classifies the error (see Classify).
func (c *Conn) ctxErr(ctx context.Context, err error) error {
	if err == nil {
		return nil
	}
	if ctx.Err() != nil {
		return fmt.Errorf("imap %s: %w", c.addr, ctx.Err())
	}
	if c.nc != nil && c.nc.timedOut.Load() {
		return Classify(fmt.Errorf("imap server %s showed no sign of life for %v: %w", c.addr, c.opts.Timeout, os.ErrDeadlineExceeded))
	}
	return c.classify(err)
}

// Classify is the package's Classify, knowing what happened to the
// connection: when the server or the network ended it, go-imap's error may
// be a stale complaint of its decoder rather than the EOF, and the failure
// is transient. Use it for errors of commands sent within Do.
func (c *Conn) Classify(err error) error { return c.classify(err) }

func (c *Conn) classify(err error) error {
	if err == nil || classified(err) || isStatus(err) {
		return Classify(err)
	}
	if c.nc != nil && c.nc.dropped.Load() {
		return mailbox.Mark(mailbox.ErrTransient, err)
	}
	return Classify(err)
}

// unreadable reports whether err is an answer go-imap could not parse (and
// not a connection that dropped).
func (c *Conn) unreadable(err error) bool {
	return errors.Is(c.classify(err), mailbox.ErrProtocol)
}

// alive reports whether the connection can still carry commands.
func (c *Conn) alive() bool {
	if c.client == nil || c.nc.dead() {
		return false
	}
	select {
	case <-c.client.Closed():
		return false
	default:
		return true
	}
}

// begin prepares a call: it reconnects if the connection broke, arms the
// inactivity timeout and makes ctx's end close the connection. The caller
// must call the returned function when the call is over.
func (c *Conn) begin(ctx context.Context) (func(), error) {
	if c.closed {
		return nil, fmt.Errorf("imap %s: connection closed: %w", c.addr, net.ErrClosed)
	}
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("imap %s: %w", c.addr, err)
	}
	if c.depth == 0 {
		if err := c.backOff(ctx); err != nil {
			return nil, err
		}
	}
	if !c.alive() {
		if c.depth > 0 {
			// Inside Do: reconnecting would pull the connection from under
			// the outer call.
			return nil, c.ctxErr(ctx, fmt.Errorf("imap %s: connection lost: %w", c.addr, net.ErrClosed))
		}
		if err := c.connect(ctx); err != nil {
			return nil, err
		}
	}
	nc := c.nc
	c.depth++
	if c.depth == 1 {
		nc.begin()
	}
	stop := context.AfterFunc(ctx, nc.abort)
	return func() {
		stop()
		c.depth--
		if c.depth == 0 {
			nc.end()
			for _, stop := range c.redials {
				stop()
			}
			c.redials = nil
			if c.nc != nil && c.nc != nc {
				c.nc.end()
			}
		}
	}, nil
}

// backOff pauses before a call when the last answers said [THROTTLED]:
// the server asks for less load, and the next command waits
// Options.ThrottleWait, twice as long each time it says so again, at most
// MaxThrottleWait.
func (c *Conn) backOff(ctx context.Context) error {
	if c.nc == nil || !c.nc.throttled.Swap(false) {
		c.backoff = 0
		return nil
	}
	first := c.opts.ThrottleWait
	if first <= 0 {
		first = DefaultThrottleWait
	}
	c.backoff = min(max(2*c.backoff, first), MaxThrottleWait)
	c.throttles++
	t := time.NewTimer(c.backoff)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return fmt.Errorf("imap %s: %w", c.addr, ctx.Err())
	}
}

// Throttled is how many times the connection paused because the server
// said [THROTTLED].
func (c *Conn) Throttled() int { return c.throttles }

// redial connects again within a call (between begin and its end), after
// go-imap closed the connection on an answer it could not parse, so that
// the call can go on without what it could not read. The new connection
// gets the call's timeout and cancellation.
func (c *Conn) redial(ctx context.Context) error {
	if err := c.connect(ctx); err != nil {
		return err
	}
	c.nc.begin()
	c.redials = append(c.redials, context.AfterFunc(ctx, c.nc.abort))
	return nil
}

// warn records a warning for Describe, once.
func (c *Conn) warn(format string, args ...any) {
	w := fmt.Sprintf(format, args...)
	if !slices.Contains(c.warnings, w) {
		c.warnings = append(c.warnings, w)
	}
}

// Warnings returns what could not be read of the server's optional
// features (see mailbox.Description.Warnings).
func (c *Conn) Warnings() []string { return slices.Clone(c.warnings) }

// Break closes the connection at once, e.g. when a command was left half
// sent; the next call connects again.
func (c *Conn) Break() {
	if c.nc != nil {
		c.nc.abort()
	}
}

// Do runs f with the underlying go-imap client as one call of the Conn:
// with reconnection, the inactivity timeout and cancellation by ctx. f must
// wait for (or close) every command it starts. f must not SELECT or EXAMINE
// itself (it may call Use, Exists and the other methods of the Conn), and
// must call Forget before it deletes or renames a folder.
// Errors of f are classified (see Classify; an error f classified itself
// keeps its kind), or replaced by the context's error if it ended or by a
// timeout if the server stopped answering.
func (c *Conn) Do(ctx context.Context, f func(*imapclient.Client) error) error {
	end, err := c.begin(ctx)
	if err != nil {
		return err
	}
	defer end()
	return c.ctxErr(ctx, f(c.client))
}

// AllowWrite lets Use and Messages SELECT folders read-write. Without it a
// Conn only ever EXAMINEs, which is what keeps a source unchanged.
func (c *Conn) AllowWrite() { c.writable = true }

// Close logs out (waiting at most a few seconds) and closes the connection.
func (c *Conn) Close() error {
	if c.closed {
		return nil
	}
	c.closed = true
	if c.client == nil {
		return nil
	}
	if c.alive() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		stop := context.AfterFunc(ctx, c.nc.abort)
		c.nc.begin()
		c.client.Logout().Wait()
		c.nc.end()
		stop()
		cancel()
	}
	c.nc.abort()
	c.client.Close()
	c.client = nil
	return nil
}

// Options returns the options c was dialled with, to dial another
// connection of the same account.
func (c *Conn) Options() Options { return c.opts }

// Addr returns the server's host:port.
func (c *Conn) Addr() string { return c.addr }

// User returns the login name.
func (c *Conn) User() string { return c.opts.User }

// Caps returns the server's capabilities as of the last login.
func (c *Conn) Caps() imap.CapSet { return c.caps }

// Delimiter returns the hierarchy separator of the personal namespace, 0
// if folder names are flat.
func (c *Conn) Delimiter() rune { return c.delim }

// Prefix returns the personal namespace prefix as the server states it,
// e.g. "INBOX." on Courier; "" on most servers.
func (c *Conn) Prefix() string { return c.prefix }

// Server returns the server software as it identifies itself: ID name and
// version if it answers ID, else the text of its greeting, else "".
func (c *Conn) Server() string {
	if c.server != "" {
		return c.server
	}
	return c.greeting
}

// IsLoopback reports whether host (a name or an address, without port)
// surely names this machine: the only hosts tls: none may send a password
// to without allow_insecure.
func IsLoopback(host string) bool { return isLoopback(host) }
