// Package cyrus starts real, throwaway Cyrus IMAP servers for tests:
// Debian 12's cyrus-imapd 3.6 with Debian's imapd.conf settings, users in a
// sasldb of the test's own, configuration, databases and mail spool in the
// test's directory, on a free loopback port.
//
// cyrus-imapd conflicts with dovecot-imapd in apt, so it is never
// installed: `make deps` unpacks its packages (and the libraries it needs
// that are not installed) into $MAILSHIFT_TESTSERVERS/cyrus
// (/var/cache/mailshift-testservers/cyrus by default), and each server runs
// Cyrus' master from there with `-C` and `-M` pointing at its own
// imapd.conf and cyrus.conf. As root the processes run as the "mail" user
// (cyrus_user), in a PID namespace of their own so that stopping the
// server ends all of them; otherwise as the current user. When the
// unpacked server is missing, Start skips the test, or fails it when
// MAILSHIFT_REQUIRE_TESTDATA=1.
//
// Passwords are checked (sasl_pwcheck_method auxprop with a sasldb): a
// wrong one is refused. Failed logins are answered at once
// (failedloginpause: 0; Cyrus waits three seconds by default). Users are
// created the way an administrator does with cyradm: the admin logs in
// and CREATEs user.NAME (user/NAME with "/").
//
// What mailshift meets: with the default options the personal namespace
// is "INBOX." with separator "." (Debian's altnamespace: no,
// unixhierarchysep: no); Options.Separator "/" gives "INBOX/" and "/";
// Options.AltNamespace puts folders beside INBOX with no prefix. Cyrus
// advertises CONDSTORE, QRESYNC, MOVE, SPECIAL-USE, LIST-STATUS, QUOTA,
// UIDPLUS, MULTIAPPEND, LITERAL+ and more; a nested CREATE creates the
// parents as real folders. An APPEND with a NUL byte or a bare LF is
// refused ("NO Message contains NUL characters", "... bare newlines"), and
// every header byte above 127 is stored as "X" (munge8bit, on by default;
// Options.Keep8bitHeaders turns it off).
package cyrus

import (
	"bufio"
	"crypto/rand"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/mailshift/mailshift/internal/testrig/daemon"
)

// DirEnv names the directory the servers are unpacked in (`make deps`
// reads the same variable); DefaultDir is used when it is unset.
const (
	DirEnv     = "MAILSHIFT_TESTSERVERS"
	DefaultDir = "/var/cache/mailshift-testservers"
	// RequireEnv set to "1" (CI) turns a skip for a missing server into a
	// failure. It is the variable the shared test data uses too.
	RequireEnv = "MAILSHIFT_REQUIRE_TESTDATA"
	// AdminUser is the administrator (admins: in imapd.conf); its
	// password is Server.AdminPassword.
	AdminUser = "cyrus"
)

// Options choose how the server is configured. The zero value is Debian's
// configuration: separator ".", personal namespace "INBOX.".
type Options struct {
	// Separator is "." (the default, unixhierarchysep: no) or "/"
	// (unixhierarchysep: yes).
	Separator string
	// AltNamespace puts a user's folders beside INBOX instead of under
	// it: no "INBOX." prefix (altnamespace: yes).
	AltNamespace bool
	// Keep8bitHeaders stores header bytes above 127 as they come
	// (munge8bit: no). By default Cyrus, like Debian's, replaces each with
	// "X" when a message is APPENDed.
	Keep8bitHeaders bool
}

func (o Options) separator() string {
	if o.Separator == "" {
		return "."
	}
	return o.Separator
}

// Prefix is the personal namespace prefix the options give: "INBOX." or
// "INBOX/", or "" with AltNamespace.
func (o Options) Prefix() string {
	if o.AltNamespace {
		return ""
	}
	return "INBOX" + o.separator()
}

// Server is a running (or stopped) throwaway Cyrus IMAP. AddUser may be
// called from several goroutines; Stop and Close may not.
type Server struct {
	// Addr is "127.0.0.1:PORT" of plain IMAP.
	Addr string
	// Host is "127.0.0.1".
	Host string
	// Port is the IMAP port.
	Port int
	// Dir holds imapd.conf, cyrus.conf, the sasldb, the configuration
	// directory (conf) and the mail spool (spool).
	Dir string
	// AdminPassword is AdminUser's password.
	AdminPassword string
	// Options are the options the server was started with.
	Options Options

	root     string // the unpacked packages
	uid, gid int    // cyrus_user's, -1 when not root

	mu      sync.Mutex // serialises saslpasswd2
	running *daemon.Process
}

// Root returns the directory the Cyrus packages are unpacked in, or an
// error saying how to get them.
func Root() (string, error) {
	base := os.Getenv(DirEnv)
	if base == "" {
		base = DefaultDir
	}
	root := filepath.Join(base, "cyrus", "root")
	for _, f := range []string{"usr/lib/cyrus/bin/master", "usr/lib/cyrus/bin/imapd", "usr/lib/cyrus/bin/ctl_cyrusdb", "usr/sbin/saslpasswd2"} {
		if _, err := os.Stat(filepath.Join(root, f)); err != nil {
			return "", fmt.Errorf("cyrus IMAP is not unpacked in %s (%s missing): run `make deps` as root, which unpacks it there ($%s chooses another directory)", root, f, DirEnv)
		}
	}
	return root, nil
}

// Skip skips t (or fails it with MAILSHIFT_REQUIRE_TESTDATA=1) when the
// server is not unpacked.
func Skip(t testing.TB) {
	t.Helper()
	if _, err := Root(); err != nil {
		if os.Getenv(RequireEnv) == "1" {
			t.Fatal(err.Error() + "; " + RequireEnv + "=1 requires it")
		}
		t.Skip(err.Error() + "; skipping (set " + RequireEnv + "=1 to fail instead)")
	}
}

// Start starts a Cyrus IMAP for the test in a new t.TempDir() and stops it
// when the test ends. It skips the test (or fails it, see Skip) when the
// server is not unpacked.
func Start(t testing.TB, o Options) *Server {
	t.Helper()
	Skip(t)
	start := time.Now()
	s, err := StartDir(t.TempDir(), o)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("cyrus IMAP on %s started in %v", s.Addr, time.Since(start).Round(time.Millisecond))
	t.Cleanup(func() {
		if err := s.Close(); err != nil {
			t.Errorf("stopping cyrus %s: %v", s.Addr, err)
		}
		if t.Failed() {
			t.Logf("cyrus master's output (%s), last lines:\n%s", s.LogFile(), s.LogTail(40))
		}
	})
	return s
}

// StartDir starts a Cyrus IMAP with its configuration and mail in dir
// (created if needed). The caller must Close it.
func StartDir(dir string, o Options) (*Server, error) {
	root, err := Root()
	if err != nil {
		return nil, err
	}
	if sep := o.separator(); sep != "." && sep != "/" {
		return nil, fmt.Errorf("cyrus: separator %q: want \".\" or \"/\"", sep)
	}
	dir, err = filepath.Abs(dir)
	if err != nil {
		return nil, err
	}
	var pw [12]byte
	rand.Read(pw[:])
	s := &Server{Host: "127.0.0.1", Dir: dir, Options: o, root: root, uid: -1, gid: -1,
		AdminPassword: fmt.Sprintf("admin-%x", pw)}
	if os.Geteuid() == 0 {
		u, err := user.Lookup("mail")
		if err != nil {
			return nil, fmt.Errorf("cyrus: the mail user Cyrus runs as: %w", err)
		}
		s.uid, _ = strconv.Atoi(u.Uid)
		s.gid, _ = strconv.Atoi(u.Gid)
	}
	if err := s.prepare(); err != nil {
		return nil, err
	}
	for i := 0; ; i++ {
		port, err := daemon.FreePort()
		if err != nil {
			return nil, err
		}
		s.setPort(port)
		err = s.start()
		if err == nil || !errors.Is(err, daemon.ErrAddrInUse) || i == 7 {
			return s, err
		}
	}
}

// prepare creates the configuration directory's subdirectories (what
// Debian's postinst and mkimap do), the sasldb with the admin and
// imapd.conf.
func (s *Server) prepare() error {
	conf := filepath.Join(s.Dir, "conf")
	for _, d := range []string{s.Dir, conf, filepath.Join(s.Dir, "spool")} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			return err
		}
	}
	for _, d := range []string{"db", "socket", "proc", "lock", "log", "quota", "user", "sieve", "ptclient", "sync", "msg"} {
		if err := os.MkdirAll(filepath.Join(conf, d), 0o750); err != nil {
			return err
		}
	}
	if err := os.WriteFile(filepath.Join(s.Dir, "imapd.conf"), []byte(s.imapdConf()), 0o644); err != nil {
		return err
	}
	if err := s.saslpasswd(AdminUser, s.AdminPassword); err != nil {
		return err
	}
	if s.uid >= 0 {
		if err := daemon.MakeTraversable("cyrus", s.Dir); err != nil {
			return err
		}
		for _, p := range []string{conf, filepath.Join(s.Dir, "spool"), s.sasldb()} {
			if err := chownAll(p, s.uid, s.gid); err != nil {
				return err
			}
		}
	}
	return nil
}

func (s *Server) sasldb() string { return filepath.Join(s.Dir, "sasldb2") }

// imapdConf is Debian's imapd.conf (the settings that matter here) with
// this server's paths.
func (s *Server) imapdConf() string {
	yesNo := func(b bool) string {
		if b {
			return "yes"
		}
		return "no"
	}
	conf := filepath.Join(s.Dir, "conf")
	cyrusUser := "mail"
	if s.uid < 0 {
		if u, err := user.Current(); err == nil {
			cyrusUser = u.Username
		}
	}
	return fmt.Sprintf(`# Throwaway Cyrus written by mailshift's internal/testrig/cyrus. Do not edit.
configdirectory: %[1]s
proc_path: %[1]s/proc
mboxname_lockpath: %[1]s/lock
defaultpartition: default
partition-default: %[2]s
altnamespace: %[3]s
unixhierarchysep: %[4]s
lmtp_downcase_rcpt: yes
allowanonymouslogin: no
autocreate_quota: 0
umask: 077
hashimapspool: true
allowplaintext: yes
admins: %[5]s
sasl_pwcheck_method: auxprop
sasl_auxprop_plugin: sasldb
sasl_sasldb_path: %[6]s
sasl_mech_list: PLAIN LOGIN
sasl_auto_transition: no
failedloginpause: 0
lmtpsocket: %[1]s/socket/lmtp
idlesocket: %[1]s/socket/idle
notifysocket: %[1]s/socket/notify
syslog_prefix: cyrus-test
cyrus_user: %[7]s
munge8bit: %[8]s
`, conf, filepath.Join(s.Dir, "spool"), yesNo(s.Options.AltNamespace), yesNo(s.Options.separator() == "/"),
		AdminUser, s.sasldb(), cyrusUser, yesNo(!s.Options.Keep8bitHeaders))
}

// cyrusConf lists the one service (IMAP on the port) and the database
// recovery at start, with absolute paths into the unpacked packages.
func (s *Server) cyrusConf() string {
	bin := filepath.Join(s.root, "usr/lib/cyrus/bin")
	c := filepath.Join(s.Dir, "imapd.conf")
	return fmt.Sprintf(`START {
  recover cmd="%[1]s/ctl_cyrusdb -C %[2]s -r"
}
SERVICES {
  imap cmd="%[1]s/imapd -C %[2]s" listen="127.0.0.1:%[3]d" prefork=0 maxchild=200
}
EVENTS {
}
DAEMON {
}
`, bin, c, s.Port)
}

func (s *Server) env() []string {
	r := s.root
	env := []string{"PATH=/usr/sbin:/usr/bin:/sbin:/bin", "LANG=C",
		"LD_LIBRARY_PATH=" + r + "/usr/lib/x86_64-linux-gnu:" + r + "/lib/x86_64-linux-gnu:" + r + "/usr/lib"}
	if plugins := filepath.Join(r, "usr/lib/x86_64-linux-gnu/sasl2"); isDir(plugins) {
		env = append(env, "SASL_PATH="+plugins)
	}
	return env
}

// saslpasswd sets a user's password in the sasldb.
func (s *Server) saslpasswd(name, password string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	cmd := exec.Command(filepath.Join(s.root, "usr/sbin/saslpasswd2"), "-f", s.sasldb(), "-p", "-c", name)
	cmd.Env = s.env()
	cmd.Stdin = strings.NewReader(password)
	if out, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("saslpasswd2 %s: %v: %s", name, err, out)
	}
	if s.uid >= 0 {
		return os.Chown(s.sasldb(), s.uid, s.gid)
	}
	return nil
}

func (s *Server) setPort(port int) {
	s.Port = port
	s.Addr = net.JoinHostPort(s.Host, strconv.Itoa(port))
}

// start writes cyrus.conf for the port, runs master in the foreground and
// waits for the greeting.
func (s *Server) start() error {
	if err := os.WriteFile(filepath.Join(s.Dir, "cyrus.conf"), []byte(s.cyrusConf()), 0o644); err != nil {
		return err
	}
	args := []string{filepath.Join(s.root, "usr/lib/cyrus/bin/master"),
		"-C", filepath.Join(s.Dir, "imapd.conf"), "-M", filepath.Join(s.Dir, "cyrus.conf"),
		"-p", filepath.Join(s.Dir, "master.pid"), "-D"}
	if s.uid >= 0 {
		args = append([]string{"unshare", "--pid", "--fork", "--kill-child"}, args...)
	}
	cmd := exec.Command(args[0], args[1:]...)
	cmd.Dir = s.Dir
	cmd.Env = s.env()
	p, err := daemon.Launch(cmd, s.LogFile(), s.Addr, "Cyrus IMAP", 20*time.Second)
	if err != nil {
		return fmt.Errorf("cyrus: %w", err)
	}
	s.running = p
	return nil
}

// Stop stops the server. Stopping a stopped server does nothing.
func (s *Server) Stop(t testing.TB) {
	t.Helper()
	if err := s.Close(); err != nil {
		t.Fatalf("stopping cyrus %s: %v", s.Addr, err)
	}
}

// Close stops the server and waits until its processes are gone. It does
// not remove Dir.
func (s *Server) Close() error {
	if s.running == nil {
		return nil
	}
	p := s.running
	s.running = nil
	return p.Stop()
}

// AddUser gives name a password in the sasldb and creates the user's
// INBOX as the admin does (CREATE user.NAME). Names are lower-cased. It
// panics if name is unusable or the user cannot be created.
func (s *Server) AddUser(name, password string) {
	name = strings.ToLower(name)
	if name == "" || strings.ContainsAny(name, " ./\"\\\r\n@") || strings.ContainsAny(password, "\r\n") {
		panic(fmt.Sprintf("cyrus: user %q: name or password unusable", name))
	}
	if err := s.saslpasswd(name, password); err != nil {
		panic(fmt.Sprintf("cyrus: adding user %q: %v", name, err))
	}
	if err := s.Admin("CREATE " + quote("user"+s.Options.separator()+name)); err != nil && !strings.Contains(err.Error(), "already exists") {
		panic(fmt.Sprintf("cyrus: creating user %q: %v", name, err))
	}
}

// Admin logs in as the administrator and runs commands (raw IMAP without
// tag, e.g. `SETQUOTA user.alice (STORAGE 100)`), failing on the first
// that is not answered OK.
func (s *Server) Admin(commands ...string) error {
	conn, err := net.DialTimeout("tcp", s.Addr, 5*time.Second)
	if err != nil {
		return err
	}
	defer conn.Close()
	conn.SetDeadline(time.Now().Add(30 * time.Second))
	r := bufio.NewReader(conn)
	if _, err := r.ReadString('\n'); err != nil {
		return err
	}
	commands = append([]string{"LOGIN " + quote(AdminUser) + " " + quote(s.AdminPassword)}, commands...)
	for i, cmd := range commands {
		tag := fmt.Sprintf("A%d", i)
		if _, err := fmt.Fprintf(conn, "%s %s\r\n", tag, cmd); err != nil {
			return err
		}
		for {
			l, err := r.ReadString('\n')
			if err != nil {
				return fmt.Errorf("%s: %w", cmd, err)
			}
			if strings.HasPrefix(l, tag+" ") {
				if !strings.HasPrefix(l, tag+" OK") {
					if i == 0 {
						cmd = "LOGIN " + AdminUser
					}
					return fmt.Errorf("%s: %s", cmd, strings.TrimSpace(l))
				}
				break
			}
		}
	}
	fmt.Fprintf(conn, "Z LOGOUT\r\n")
	return nil
}

func quote(s string) string { return `"` + strings.NewReplacer(`\`, `\\`, `"`, `\"`).Replace(s) + `"` }

// LogFile is the path of master's output. (Cyrus logs to syslog; what
// reaches this file are start-up errors.)
func (s *Server) LogFile() string { return filepath.Join(s.Dir, "master.log") }

// LogTail returns the last n lines of master's output.
func (s *Server) LogTail(n int) string {
	b, err := os.ReadFile(s.LogFile())
	if err != nil {
		return fmt.Sprintf("(no log: %v)", err)
	}
	lines := strings.SplitAfter(strings.TrimSuffix(string(b), "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "")
}

func isDir(p string) bool {
	fi, err := os.Stat(p)
	return err == nil && fi.IsDir()
}

func chownAll(path string, uid, gid int) error {
	return filepath.Walk(path, func(p string, _ os.FileInfo, err error) error {
		if err != nil {
			return err
		}
		return os.Lchown(p, uid, gid)
	})
}
