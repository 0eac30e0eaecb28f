// Package dovecot starts real, throwaway Dovecot IMAP servers for tests and
// benchmarks: each with its own configuration, mail and log in one
// directory, listening on a free loopback port, with users in a passwd-file.
//
// Dovecot 2.3 (Debian package dovecot-imapd) must be installed; `make test`
// installs it. Tests never skip for its absence: Start fails the test with a
// message saying so.
//
// As root (CI) the mail processes run as the "dovecot" user and logins as
// "dovenull", like a packaged Dovecot; otherwise everything runs as the
// current user.
package dovecot

import (
	"bytes"
	"crypto/rand"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/mailshift/mailshift/internal/testrig/daemon"
)

// Master login of servers started with Options.Master: log in as
// "USER*admin" with password "adminpass" to act as USER (or use SASL PLAIN
// with authorization identity USER, authentication identity "admin").
const (
	MasterUser      = "admin"
	MasterPassword  = "adminpass"
	MasterSeparator = "*"
)

// Options choose how the server is configured. The zero value is a Dovecot
// with separator "/", no namespace prefix, special-use folders, every
// capability, plain IMAP only and no limits.
type Options struct {
	// Separator is the hierarchy separator: "/" (the default; Maildir with
	// LAYOUT=fs) or "." (Maildir++ layout, where "." cannot appear in a
	// name component).
	Separator string
	// Prefix is the personal namespace prefix, "" by default. "INBOX." with
	// separator "." imitates Courier and Cyrus: folders are INBOX.Sent, ...
	Prefix string
	// NoSpecialUse leaves out the auto-created, subscribed folders Sent,
	// Drafts, Trash, Junk and Archive with their special-use attributes.
	// (SPECIAL-USE stays in the capabilities unless DisableCaps hides it.)
	NoSpecialUse bool
	// DisableCaps lists capabilities to hide from CAPABILITY after login,
	// e.g. "UIDPLUS", "CONDSTORE", "QRESYNC", "LIST-STATUS". Dovecot only
	// stops advertising them: a client that uses them anyway is still
	// served.
	DisableCaps []string
	// ExtraCaps lists capabilities to advertise in addition, e.g.
	// "APPENDLIMIT=1048576" (Dovecot 2.3 has no APPENDLIMIT of its own,
	// even with AppendLimit). Only advertised: Dovecot does not implement
	// them.
	ExtraCaps []string
	// TLS generates a self-signed certificate for 127.0.0.1, ::1 and
	// localhost (Server.CertFile), offers STARTTLS on Server.Addr and
	// listens for implicit TLS (imaps) on Server.TLSAddr.
	TLS bool
	// Master adds the master user MasterUser/MasterPassword, who logs in
	// as any user: "alice*admin".
	Master bool
	// AppendLimit, if > 0, is the largest message in bytes the server
	// takes (quota plugin, quota_max_mail_size); larger APPENDs get
	// "NO [LIMIT]", before the literal is sent. Dovecot 2.3 does not
	// announce the limit (no APPENDLIMIT capability or STATUS item): a
	// client learns it by refusal, unless ExtraCaps announces it.
	AppendLimit int64
	// QuotaKB, if > 0, is every user's storage quota in KiB (quota plugin
	// with a maildir quota); APPENDs over it get "NO [OVERQUOTA]".
	QuotaKB int64
	// FSync keeps Dovecot's default mail_fsync (optimized) instead of
	// "never": for benchmarks that measure durable writes.
	FSync bool
	// Mbox stores mail in mbox files instead of Maildir: mail_location =
	// mbox:DIR/mail/USER/mail:INBOX=DIR/mail/USER/inbox (see MboxPath). A
	// folder is a file there, so a folder cannot both hold mail and have
	// children: "CREATE a" then "CREATE a/b" fails with NO [CANNOT], while
	// a single "CREATE a/b" works (a is then a directory that cannot be
	// selected, \Noselect). Separator and Prefix work as with Maildir.
	Mbox bool
	// MaxConnections, if > 0, is how many IMAP connections one user may
	// have open from one address (mail_max_userip_connections; 1000
	// otherwise): one more is refused at login.
	MaxConnections int
	// HighPerformance sets up the server the way Dovecot's documentation
	// advises for a busy site, where the default is its high-security
	// mode (a new process at both stages of every connection):
	//   - login processes in high-performance mode: service imap-login
	//     { service_count = 0, process_min_avail = 2 }, so that one
	//     process takes many connections
	//     (https://doc.dovecot.org/2.3/admin_manual/login_processes/#high-performance-mode);
	//   - imap processes that serve up to 1000 connections one after the
	//     other (service imap { service_count = 1000 }; "for better
	//     performance this can be set higher … 100..1000 can be good
	//     values",
	//     https://doc.dovecot.org/2.3/configuration_manual/service_configuration/#service-count),
	//     four of them started ahead (process_min_avail = 4).
	// On two cores a login costs the server about 6.5 ms by default and
	// about 0.6 ms so (the users profile of cmd/mailshift-bench measures
	// it), which bounds any step that logs in once per user.
	HighPerformance bool
}

func (o Options) separator() string {
	if o.Separator == "" {
		return "/"
	}
	return o.Separator
}

// Server is a running (or stopped) throwaway Dovecot. AddUser may be called
// from several goroutines; Stop, Restart and Close may not.
type Server struct {
	// Addr is "127.0.0.1:PORT" of plain IMAP (STARTTLS offered with TLS).
	Addr string
	// Host is "127.0.0.1".
	Host string
	// Port is the plain IMAP port.
	Port int
	// TLSAddr and TLSPort are the implicit-TLS (imaps) listener, only with
	// Options.TLS.
	TLSAddr string
	TLSPort int
	// Dir holds dovecot.conf, dovecot.log, users, the mail and the state.
	Dir string
	// CertFile is the PEM certificate (its own CA) with Options.TLS.
	CertFile string
	// KeyFile is CertFile's private key.
	KeyFile string
	// Options are the options the server was started with.
	Options Options

	bin        string
	conf       string
	runDir     string
	ownsRunDir bool
	ids        processIDs

	mu      sync.Mutex // guards users file appends
	running *process
}

// processIDs are the system users Dovecot's processes run as.
type processIDs struct {
	user, group, loginUser string
	uid, gid               int // owner of the mail directory, -1 to leave as is
}

// process is one run of the Dovecot master.
type process struct {
	pid    int
	done   chan struct{} // closed when the master has exited
	err    error         // Wait's result, valid after done
	stderr *lockedBuffer
}

// lockedBuffer is a bytes.Buffer safe for the exec goroutine and readers.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// errAddrInUse marks a start that failed because a port was taken.
var errAddrInUse = errors.New("address already in use")

// Binary returns the path of the dovecot binary, or an error telling how to
// install it.
func Binary() (string, error) {
	if p, err := exec.LookPath("dovecot"); err == nil {
		return p, nil
	}
	for _, p := range []string{"/usr/sbin/dovecot", "/usr/local/sbin/dovecot"} {
		if _, err := os.Stat(p); err == nil {
			return p, nil
		}
	}
	return "", errors.New("dovecot is not installed: run `make test`, which installs it (Debian package dovecot-imapd)")
}

// Start starts a Dovecot for the test in a new t.TempDir() and stops it
// when the test ends, printing the tail of its log if the test failed. A
// missing dovecot binary fails the test (it does not skip).
func Start(t testing.TB, o Options) *Server {
	t.Helper()
	if _, err := Binary(); err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	s, err := StartDir(dir, o)
	if err != nil {
		t.Fatalf("starting dovecot: %v", err)
	}
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("dovecot %s: last lines of %s:\n%s", s.Addr, s.LogFile(), s.LogTail(40))
		}
		if err := s.Close(); err != nil {
			t.Errorf("stopping dovecot %s: %v", s.Addr, err)
		}
	})
	return s
}

// StartDir starts a Dovecot with its configuration, mail and log in dir
// (created if needed; use /dev/shm for benchmarks). The caller must Close
// it. As root, dir and its parents are made traversable for the dovecot
// user.
func StartDir(dir string, o Options) (*Server, error) {
	bin, err := Binary()
	if err != nil {
		return nil, err
	}
	dir, err = filepath.Abs(dir)
	if err != nil {
		return nil, err
	}
	ids, err := currentIDs()
	if err != nil {
		return nil, err
	}
	s := &Server{Host: "127.0.0.1", Dir: dir, Options: o, bin: bin, ids: ids,
		conf: filepath.Join(dir, "dovecot.conf")}
	if err := s.prepare(); err != nil {
		s.removeRunDir()
		return nil, err
	}
	const attempts = 8
	for i := 0; ; i++ {
		if err = s.pickPorts(); err == nil {
			err = s.start()
		}
		if err == nil || !errors.Is(err, errAddrInUse) || i == attempts-1 {
			break
		}
	}
	if err != nil {
		s.removeRunDir()
		return nil, err
	}
	return s, nil
}

// currentIDs chooses the users Dovecot runs as: as root the packaged
// dovecot/dovenull users, otherwise the current user for everything.
func currentIDs() (processIDs, error) {
	if os.Geteuid() == 0 {
		u, err := user.Lookup("dovecot")
		if err != nil {
			return processIDs{}, fmt.Errorf("dovecot user: %w (is dovecot-imapd installed?)", err)
		}
		if _, err := user.Lookup("dovenull"); err != nil {
			return processIDs{}, fmt.Errorf("dovenull user: %w (is dovecot-imapd installed?)", err)
		}
		g, err := user.LookupGroupId(u.Gid)
		if err != nil {
			return processIDs{}, err
		}
		uid, _ := strconv.Atoi(u.Uid)
		gid, _ := strconv.Atoi(u.Gid)
		return processIDs{user: "dovecot", group: g.Name, loginUser: "dovenull", uid: uid, gid: gid}, nil
	}
	u, err := user.Current()
	if err != nil {
		return processIDs{}, err
	}
	g, err := user.LookupGroupId(u.Gid)
	if err != nil {
		return processIDs{}, err
	}
	return processIDs{user: u.Username, group: g.Name, loginUser: u.Username, uid: -1, gid: -1}, nil
}

// prepare creates the directories, the empty users files and the
// certificate.
func (s *Server) prepare() error {
	for _, d := range []string{s.Dir, filepath.Join(s.Dir, "state"), filepath.Join(s.Dir, "mail")} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			return err
		}
	}
	if s.ids.uid >= 0 {
		if err := makeTraversable(s.Dir); err != nil {
			return err
		}
		if err := os.Chmod(s.Dir, 0o755); err != nil {
			return err
		}
		if err := os.Chown(filepath.Join(s.Dir, "mail"), s.ids.uid, s.ids.gid); err != nil {
			return err
		}
	}
	for _, f := range []string{"users", "masters"} {
		if err := s.writeAuthFile(f, nil); err != nil {
			return err
		}
	}
	if s.Options.Master {
		if err := s.writeAuthFile("masters", []byte(MasterUser+":{PLAIN}"+MasterPassword+"\n")); err != nil {
			return err
		}
	}
	if s.Options.TLS {
		s.CertFile = filepath.Join(s.Dir, "cert.pem")
		s.KeyFile = filepath.Join(s.Dir, "key.pem")
		if err := writeSelfSigned(s.CertFile, s.KeyFile); err != nil {
			return err
		}
	}
	// Dovecot's sockets live in base_dir; a Unix socket path has at most
	// 107 bytes, so a deep dir gets a short run directory elsewhere.
	s.runDir = filepath.Join(s.Dir, "run")
	if len(s.runDir) > 60 {
		d, err := os.MkdirTemp("", "dovecot-run-")
		if err != nil {
			return err
		}
		s.runDir, s.ownsRunDir = d, true
	}
	return nil
}

// writeAuthFile writes a passwd-file readable by Dovecot's auth process.
func (s *Server) writeAuthFile(name string, content []byte) error {
	p := filepath.Join(s.Dir, name)
	if err := os.WriteFile(p, content, 0o600); err != nil {
		return err
	}
	if s.ids.uid >= 0 {
		return os.Chown(p, s.ids.uid, s.ids.gid)
	}
	return nil
}

// makeTraversable gives "others" search permission on dir's ancestors that
// lack it (t.TempDir's parent is 0700), so the dovecot user reaches the mail.
// It only changes directories under the temporary directory.
func makeTraversable(dir string) error {
	tmp, _ := filepath.Abs(os.TempDir())
	for p := dir; ; p = filepath.Dir(p) {
		fi, err := os.Stat(p)
		if err != nil {
			return err
		}
		if fi.Mode().Perm()&0o001 == 0 {
			if !strings.HasPrefix(p, tmp+string(filepath.Separator)) {
				return fmt.Errorf("dovecot: the dovecot user cannot reach %s: %s is not searchable by others (mode %v)", dir, p, fi.Mode().Perm())
			}
			if err := os.Chmod(p, fi.Mode().Perm()|0o011); err != nil {
				return err
			}
		}
		if parent := filepath.Dir(p); parent == p {
			return nil
		}
	}
}

// pickPorts chooses free loopback ports and writes the configuration.
func (s *Server) pickPorts() error {
	port, err := daemon.FreePort()
	if err != nil {
		return err
	}
	tlsPort := 0
	if s.Options.TLS {
		if tlsPort, err = daemon.FreePort(); err != nil {
			return err
		}
	}
	s.setPorts(port, tlsPort)
	return nil
}

func (s *Server) setPorts(port, tlsPort int) {
	s.Port = port
	s.Addr = net.JoinHostPort(s.Host, strconv.Itoa(port))
	s.TLSPort, s.TLSAddr = tlsPort, ""
	if tlsPort != 0 {
		s.TLSAddr = net.JoinHostPort(s.Host, strconv.Itoa(tlsPort))
	}
}

// start writes the configuration for the current ports, runs the master in
// the foreground and waits until the IMAP port greets.
func (s *Server) start() error {
	// A greeting of this run's own: a port taken by another server (which
	// would greet too) is not mistaken for this one being ready.
	var token [8]byte
	rand.Read(token[:])
	greeting := fmt.Sprintf("mailshift test dovecot %x ready.", token)
	conf, err := config(s.Dir, s.runDir, s.Port, s.TLSPort, greeting, s.Options, s.ids)
	if err != nil {
		return err
	}
	if err := os.WriteFile(s.conf, []byte(conf), 0o644); err != nil {
		return err
	}
	logStart := s.logSize()
	p, err := spawn(s.bin, "-F", "-c", s.conf)
	if err != nil {
		return fmt.Errorf("dovecot: %w", err)
	}
	s.running = p
	err = s.waitReady(p, greeting, 20*time.Second)
	if err == nil {
		return nil
	}
	s.stopProcess(p)
	s.running = nil
	log := s.logSince(logStart)
	if strings.Contains(log, "Address already in use") || strings.Contains(p.stderr.String(), "Address already in use") {
		return fmt.Errorf("dovecot on port %d: %w", s.Port, errAddrInUse)
	}
	return fmt.Errorf("dovecot did not start: %v\nstderr: %s\nlog:\n%s", err, p.stderr.String(), log)
}

// spawn starts the Dovecot master from a goroutine locked to its OS thread:
// the master gets SIGTERM (Pdeathsig) when that thread ends, so a test
// binary that dies (timeout, panic) takes its Dovecots with it.
func spawn(bin string, args ...string) (*process, error) {
	p := &process{done: make(chan struct{}), stderr: &lockedBuffer{}}
	started := make(chan error, 1)
	go func() {
		runtime.LockOSThread() // never unlocked: the thread ends with this goroutine
		cmd := exec.Command(bin, args...)
		cmd.Stdout = p.stderr
		cmd.Stderr = p.stderr
		cmd.SysProcAttr = sysProcAttr()
		if err := cmd.Start(); err != nil {
			started <- err
			close(p.done)
			return
		}
		p.pid = cmd.Process.Pid
		started <- nil
		p.err = cmd.Wait()
		close(p.done)
	}()
	if err := <-started; err != nil {
		return nil, err
	}
	return p, nil
}

// waitReady waits until the plain IMAP port greets with "* OK" and
// greeting (and the imaps port accepts connections), or the master exits.
func (s *Server) waitReady(p *process, greeting string, timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	var last error
	for time.Now().Before(deadline) {
		select {
		case <-p.done:
			return fmt.Errorf("the master exited: %v", p.err)
		default:
		}
		last = daemon.Greet(s.Addr, greeting)
		if last == nil && s.TLSAddr != "" {
			var c net.Conn
			if c, last = net.DialTimeout("tcp", s.TLSAddr, time.Second); last == nil {
				c.Close()
			}
		}
		if last == nil {
			return nil
		}
		time.Sleep(20 * time.Millisecond)
	}
	return fmt.Errorf("no IMAP greeting on %s within %v: %v", s.Addr, timeout, last)
}

// stopProcess stops a run of the master and waits until it and the
// processes it started are gone. SIGTERM goes to the whole process group:
// sent to the master alone (what `dovecot stop` does) it takes 10 seconds
// when a client is still logged in, as the imap processes linger. Whatever
// is left after a while is killed.
func (s *Server) stopProcess(p *process) error {
	signalGroup(p.pid, syscall.SIGTERM)
	select {
	case <-p.done:
	case <-time.After(10 * time.Second):
		signalGroup(p.pid, syscall.SIGKILL)
		<-p.done
	}
	// The next start on the same port needs the login processes gone.
	deadline := time.Now().Add(5 * time.Second)
	for groupAlive(p.pid) {
		if time.Now().After(deadline) {
			signalGroup(p.pid, syscall.SIGKILL)
			break
		}
		time.Sleep(10 * time.Millisecond)
	}
	var ee *exec.ExitError
	if p.err != nil && !errors.As(p.err, &ee) {
		return p.err
	}
	return nil
}

// Stop stops the server; Restart starts it again. Stopping a stopped server
// does nothing.
func (s *Server) Stop(t testing.TB) {
	t.Helper()
	if err := s.stop(); err != nil {
		t.Fatalf("stopping dovecot %s: %v", s.Addr, err)
	}
}

func (s *Server) stop() error {
	if s.running == nil {
		return nil
	}
	p := s.running
	s.running = nil
	return s.stopProcess(p)
}

// Restart stops the server if it runs and starts it again on the same
// ports with the same mail (for fault tests). Clients see their
// connections dropped.
func (s *Server) Restart(t testing.TB) {
	t.Helper()
	if err := s.restart(); err != nil {
		t.Fatalf("restarting dovecot %s: %v", s.Addr, err)
	}
}

func (s *Server) restart() error {
	if err := s.stop(); err != nil {
		return err
	}
	var err error
	for i := 0; i < 50; i++ { // the port may linger for a moment
		if err = s.start(); err == nil || !errors.Is(err, errAddrInUse) {
			return err
		}
		time.Sleep(100 * time.Millisecond)
	}
	return err
}

// Close stops the server and removes what it kept outside Dir. It does not
// remove Dir.
func (s *Server) Close() error {
	err := s.stop()
	s.removeRunDir()
	return err
}

func (s *Server) removeRunDir() {
	if s.ownsRunDir {
		os.RemoveAll(s.runDir)
		s.ownsRunDir = false
	}
}

// AddUser adds a user with a plain-text password. Dovecot reads the
// passwd-file on each login, so users can be added while it runs. It
// panics if name or password cannot be written to a passwd-file (":" or a
// line break in either, "*" in the name) or the file cannot be written.
// Dovecot looks user names up in lower case (auth_username_format %Lu), so
// the name is written in lower case: logins are case-insensitive.
func (s *Server) AddUser(name, password string) {
	name = strings.ToLower(name)
	if name == "" || strings.ContainsAny(name, ":\r\n*") || strings.ContainsAny(password, ":\r\n") {
		panic(fmt.Sprintf("dovecot: user %q: name or password unusable in a passwd-file", name))
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	f, err := os.OpenFile(filepath.Join(s.Dir, "users"), os.O_APPEND|os.O_WRONLY, 0)
	if err == nil {
		_, err = fmt.Fprintf(f, "%s:{PLAIN}%s\n", name, password)
		if cerr := f.Close(); err == nil {
			err = cerr
		}
	}
	if err != nil {
		panic(fmt.Sprintf("dovecot: adding user %q: %v", name, err))
	}
}

// MaildirPath is the root of user's Maildir (Dovecot creates it at the
// first login). Files written there by hand must be owned by the mail user
// (see Chown).
func (s *Server) MaildirPath(user string) string {
	return filepath.Join(s.Dir, "mail", strings.ToLower(user), "Maildir")
}

// MboxPath is the directory of user's mbox folders with Options.Mbox (the
// INBOX is the file "inbox" beside it): folder a/b is the file MboxPath/a/b.
func (s *Server) MboxPath(user string) string {
	return filepath.Join(s.Dir, "mail", strings.ToLower(user), "mail")
}

// Chown gives path and everything below it to the user Dovecot's mail
// processes run as (as root: dovecot). Use it after writing into
// MaildirPath directly.
func (s *Server) Chown(path string) error {
	if s.ids.uid < 0 {
		return nil
	}
	return filepath.Walk(path, func(p string, _ os.FileInfo, err error) error {
		if err != nil {
			return err
		}
		return os.Lchown(p, s.ids.uid, s.ids.gid)
	})
}

// LogFile is the path of the server's log.
func (s *Server) LogFile() string { return filepath.Join(s.Dir, "dovecot.log") }

// LogTail returns the last n lines of the server's log.
func (s *Server) LogTail(n int) string {
	b, err := os.ReadFile(s.LogFile())
	if err != nil {
		return fmt.Sprintf("(no log: %v)", err)
	}
	lines := strings.SplitAfter(string(b), "\n")
	if len(lines) > 0 && lines[len(lines)-1] == "" {
		lines = lines[:len(lines)-1]
	}
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "")
}

func (s *Server) logSize() int64 {
	fi, err := os.Stat(s.LogFile())
	if err != nil {
		return 0
	}
	return fi.Size()
}

func (s *Server) logSince(off int64) string {
	b, err := os.ReadFile(s.LogFile())
	if err != nil || int64(len(b)) < off {
		return ""
	}
	return string(b[off:])
}
