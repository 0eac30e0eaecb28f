// Package courier starts real, throwaway Courier IMAP servers for tests:
// Debian 12's courier-imap 5.0 in its stock configuration, with users in a
// userdb of the test's own, mail and log in the test's directory, on a free
// loopback port.
//
// courier-imap conflicts with dovecot-imapd in apt, so it is never
// installed: `make deps` unpacks its packages (and the libraries it needs
// that are not installed) into $MAILSHIFT_TESTSERVERS/courier
// (/var/cache/mailshift-testservers/courier by default), and each server
// runs from there. Courier's paths are compiled in (/etc/courier,
// /run/courier/authdaemon, /usr/lib/courier-authlib, /usr/libexec for
// gamin's gam_server), so authdaemond and couriertcpd run in a private
// mount and PID namespace (`unshare -m -p`) where those paths are overlays
// of the host's with this server's own files bind-mounted in; the host's
// directories are not touched. That needs root (CI is root). When the
// unpacked server is missing, or the tests do not run as root, Start skips
// the test, or fails it when MAILSHIFT_REQUIRE_TESTDATA=1.
//
// What the stock configuration gives (and mailshift has to cope with):
// namespace "INBOX." with separator ".", capabilities IMAP4rev1 UIDPLUS
// CHILDREN NAMESPACE THREAD SORT QUOTA IDLE ACL ACL2=UNION ENABLE
// UTF8=ACCEPT and no SPECIAL-USE, CONDSTORE, MOVE, LIST-STATUS or
// LITERAL+; a RENAMEd folder gets a new UIDVALIDITY (and RENAME takes two
// seconds: Courier waits so that the new, time-based UIDVALIDITY differs);
// QUOTA is advertised but users have no Maildir++ quota, so
// `GETQUOTAROOT INBOX` is answered with a bare `* QUOTA "ROOT"` (no
// resource list), which strict parsers reject. A failed login is answered
// after about five seconds.
package courier

import (
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"sort"
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
)

// Capabilities is what the stock Debian Courier advertises after login
// with this package's set-up.
var Capabilities = []string{
	"IMAP4rev1", "UIDPLUS", "CHILDREN", "NAMESPACE", "THREAD=ORDEREDSUBJECT",
	"THREAD=REFERENCES", "SORT", "QUOTA", "IDLE", "ACL", "ACL2=UNION",
	"ENABLE", "UTF8=ACCEPT",
}

// Options choose how the server is configured. The zero value is Debian's
// stock configuration (without STARTTLS: there is no certificate).
type Options struct {
	// MaxPerIP, if > 0, replaces the stock limit of 20 connections from
	// one address (MAXPERIP in /etc/courier/imapd). Over it, couriertcpd
	// drops new connections.
	MaxPerIP int
	// DisableCaps lists capabilities to leave out of IMAP_CAPABILITY, e.g.
	// "QUOTA" to get past a client's trouble with the bare QUOTA answer
	// and test what comes after. Courier then no longer advertises them
	// (whether it still serves a command it does not advertise is not
	// tested). ACL, ENABLE and UTF8=ACCEPT are added by imapd itself and
	// stay.
	DisableCaps []string
}

// Server is a running (or stopped) throwaway Courier IMAP. AddUser may be
// called from several goroutines; Stop and Close may not.
type Server struct {
	// Addr is "127.0.0.1:PORT" of plain IMAP.
	Addr string
	// Host is "127.0.0.1".
	Host string
	// Port is the IMAP port.
	Port int
	// Dir holds the configuration (etc/courier), the log (courier.log) and
	// the mail (mail/USER/Maildir).
	Dir string
	// Options are the options the server was started with.
	Options Options

	root     string // the unpacked packages
	uid, gid int    // the mail user, owner of the Maildirs

	mu      sync.Mutex // guards users and the userdb files
	users   map[string]string
	running *daemon.Process
}

// Root returns the directory the Courier packages are unpacked in, or an
// error saying how to get them.
func Root() (string, error) {
	base := os.Getenv(DirEnv)
	if base == "" {
		base = DefaultDir
	}
	root := filepath.Join(base, "courier", "root")
	for _, f := range []string{"usr/sbin/couriertcpd", "usr/bin/imapd", "usr/lib/courier/courier/imaplogin",
		"usr/lib/courier/courier-authlib/authdaemond", "usr/lib/courier/courier-authlib/makedatprog",
		"usr/lib/courier-authlib/libauthuserdb.so", "etc/courier/imapd", "usr/libexec/gam_server"} {
		if _, err := os.Stat(filepath.Join(root, f)); err != nil {
			return "", fmt.Errorf("courier IMAP is not unpacked in %s (%s missing): run `make deps` as root, which unpacks it there ($%s chooses another directory)", root, f, DirEnv)
		}
	}
	return root, nil
}

// Available tells why servers cannot start here ("" if they can): the
// unpacked packages are missing, or the process is not root.
func Available() string {
	if _, err := Root(); err != nil {
		return err.Error()
	}
	if os.Geteuid() != 0 {
		return "courier IMAP runs in a private mount namespace, which needs root"
	}
	if _, err := exec.LookPath("unshare"); err != nil {
		return "unshare (util-linux) is not installed"
	}
	return ""
}

// Skip skips t (or fails it with MAILSHIFT_REQUIRE_TESTDATA=1) when
// servers cannot start here.
func Skip(t testing.TB) {
	t.Helper()
	if why := Available(); why != "" {
		if os.Getenv(RequireEnv) == "1" {
			t.Fatal(why + "; " + RequireEnv + "=1 requires it")
		}
		t.Skip(why + "; skipping (set " + RequireEnv + "=1 to fail instead)")
	}
}

// Start starts a Courier IMAP for the test in a new t.TempDir() and stops
// it when the test ends. It skips the test (or fails it, see Skip) when the
// server is not unpacked.
func Start(t testing.TB, o Options) *Server {
	t.Helper()
	Skip(t)
	start := time.Now()
	s, err := StartDir(t.TempDir(), o)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("courier IMAP on %s started in %v", s.Addr, time.Since(start).Round(time.Millisecond))
	t.Cleanup(func() {
		if err := s.Close(); err != nil {
			t.Errorf("stopping courier %s: %v", s.Addr, err)
		}
		if t.Failed() {
			t.Logf("courier log (%s), last lines:\n%s", s.LogFile(), s.LogTail(40))
		}
	})
	return s
}

// StartDir starts a Courier IMAP with its configuration, mail and log in
// dir (created if needed). The caller must Close it.
func StartDir(dir string, o Options) (*Server, error) {
	if why := Available(); why != "" {
		return nil, errors.New(why)
	}
	root, _ := Root()
	dir, err := filepath.Abs(dir)
	if err != nil {
		return nil, err
	}
	u, err := user.Lookup("mail")
	if err != nil {
		return nil, fmt.Errorf("courier: the mail user that owns the Maildirs: %w", err)
	}
	s := &Server{Host: "127.0.0.1", Dir: dir, Options: o, root: root, users: map[string]string{}}
	s.uid, _ = strconv.Atoi(u.Uid)
	s.gid, _ = strconv.Atoi(u.Gid)
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

// prepare writes the configuration: Debian's /etc/courier with
// authmodulelist="authuserdb", the empty userdb and the mount points.
func (s *Server) prepare() error {
	for _, d := range []string{s.Dir, s.etc(), filepath.Join(s.Dir, "authdaemon"), filepath.Join(s.Dir, "mail"),
		filepath.Join(s.Dir, "ns", "etc", "courier"), filepath.Join(s.Dir, "ns", "run", "courier", "authdaemon")} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			return err
		}
	}
	if err := daemon.MakeTraversable("courier", s.Dir); err != nil {
		return err
	}
	if err := os.Chown(filepath.Join(s.Dir, "mail"), s.uid, s.gid); err != nil {
		return err
	}
	if err := exec.Command("cp", "-a", filepath.Join(s.root, "etc", "courier")+"/.", s.etc()).Run(); err != nil {
		return fmt.Errorf("courier: copying the stock /etc/courier: %w", err)
	}
	rc := filepath.Join(s.etc(), "authdaemonrc")
	b, err := os.ReadFile(rc)
	if err != nil {
		return err
	}
	var out []string
	for _, l := range strings.Split(string(b), "\n") {
		if strings.HasPrefix(l, "authmodulelist=") {
			l = `authmodulelist="authuserdb"`
		}
		out = append(out, l)
	}
	if err := os.WriteFile(rc, []byte(strings.Join(out, "\n")), 0o644); err != nil {
		return err
	}
	return s.writeUserdb()
}

func (s *Server) etc() string { return filepath.Join(s.Dir, "etc", "courier") }

// script is the shell script run inside the namespaces: the mounts, then
// authdaemond in the background and couriertcpd in the foreground, with
// the environment the stock init script gives imapd.
func (s *Server) script() string {
	r := s.root
	maxPerIP := "$MAXPERIP"
	if s.Options.MaxPerIP > 0 {
		maxPerIP = strconv.Itoa(s.Options.MaxPerIP)
	}
	ns := filepath.Join(s.Dir, "ns")
	disable := ""
	if len(s.Options.DisableCaps) > 0 {
		// Drop the words from the stock list, whatever its order.
		disable = "caps=\n" +
			"for c in $IMAP_CAPABILITY; do case \" " + strings.ToUpper(strings.Join(s.Options.DisableCaps, " ")) + " \" in *\" $c \"*) ;; *) caps=\"$caps $c\";; esac; done\n" +
			"IMAP_CAPABILITY=\"${caps# }\"\n"
	}
	return fmt.Sprintf(`set -e
mount -t overlay overlay -o lowerdir=%[2]s/etc:/etc /etc
mount --bind %[3]s /etc/courier
mount -t overlay overlay -o lowerdir=%[2]s/run:/run /run
mount --bind %[4]s /run/courier/authdaemon
mount -t overlay overlay -o lowerdir=%[1]s/usr/lib:/usr/lib /usr/lib
mount -t overlay overlay -o lowerdir=%[1]s/usr/libexec:/usr/libexec /usr/libexec
export LD_LIBRARY_PATH=%[1]s/usr/lib/x86_64-linux-gnu:%[1]s/lib/x86_64-linux-gnu:%[1]s/usr/lib
# imapd watches Maildirs through gam_server, one per user and client id:
# each server gets its own, which ends with the namespace.
export GAM_CLIENT_ID=mailshift-%[5]d
%[1]s/usr/lib/courier/courier-authlib/authdaemond &
i=0
while [ ! -S /run/courier/authdaemon/socket ] && [ $i -lt 200 ]; do sleep 0.01; i=$((i+1)); done
set -a
. /etc/courier/imapd
. /etc/courier/imapd-ssl
IMAP_STARTTLS=NO
%[7]sexec %[1]s/usr/sbin/couriertcpd -address=127.0.0.1 -maxprocs=$MAXDAEMONS -maxperip=%[6]s $TCPDOPTS %[5]d %[1]s/usr/lib/courier/courier/imaplogin %[1]s/usr/bin/imapd $MAILDIRPATH
`, r, ns, s.etc(), filepath.Join(s.Dir, "authdaemon"), s.Port, maxPerIP, disable)
}

func (s *Server) setPort(port int) {
	s.Port = port
	s.Addr = net.JoinHostPort(s.Host, strconv.Itoa(port))
}

// start runs the script in new mount and PID namespaces and waits for the
// greeting. When the namespace's first process ends, the kernel ends every
// process in it.
func (s *Server) start() error {
	script := filepath.Join(s.Dir, "start.sh")
	if err := os.WriteFile(script, []byte(s.script()), 0o755); err != nil {
		return err
	}
	cmd := exec.Command("unshare", "--mount", "--pid", "--fork", "--kill-child", "--propagation", "private", "/bin/sh", script)
	cmd.Dir = s.Dir
	cmd.Env = []string{"PATH=/usr/sbin:/usr/bin:/sbin:/bin", "LANG=C"}
	p, err := daemon.Launch(cmd, s.LogFile(), s.Addr, "Courier-IMAP ready", 20*time.Second)
	if err != nil {
		return fmt.Errorf("courier: %w", err)
	}
	s.running = p
	return nil
}

// Stop stops the server. Stopping a stopped server does nothing.
func (s *Server) Stop(t testing.TB) {
	t.Helper()
	if err := s.Close(); err != nil {
		t.Fatalf("stopping courier %s: %v", s.Addr, err)
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

// AddUser adds a user with a password (stored as {SHA256}, which
// authuserdb checks). The userdb is rewritten at once, so users can be
// added while the server runs; the Maildir is created here, owned by the
// mail user. Names are lower-cased. It panics if name is unusable (empty,
// with a tab, "|", "/", "=", a line break or a space) or the files cannot
// be written.
func (s *Server) AddUser(name, password string) {
	name = strings.ToLower(name)
	if name == "" || strings.ContainsAny(name, "\t|/= \r\n") || strings.ContainsAny(password, "\r\n") {
		panic(fmt.Sprintf("courier: user %q: name or password unusable in a userdb", name))
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.users[name] = password
	err := s.makeMaildir(name)
	if err == nil {
		err = s.writeUserdb()
	}
	if err != nil {
		panic(fmt.Sprintf("courier: adding user %q: %v", name, err))
	}
}

// MaildirPath is the root of user's Maildir (INBOX; folders are
// subdirectories ".Name", Maildir++).
func (s *Server) MaildirPath(user string) string {
	return filepath.Join(s.Dir, "mail", strings.ToLower(user), "Maildir")
}

func (s *Server) makeMaildir(name string) error {
	md := s.MaildirPath(name)
	for _, d := range []string{filepath.Dir(md), md, filepath.Join(md, "cur"), filepath.Join(md, "new"), filepath.Join(md, "tmp")} {
		if err := os.Mkdir(d, 0o700); err != nil && !os.IsExist(err) {
			return err
		}
		if err := os.Chown(d, s.uid, s.gid); err != nil {
			return err
		}
	}
	return nil
}

// writeUserdb writes userdb.dat and userdbshadow.dat the way makeuserdb
// does (through makedatprog, which renames a new file into place).
func (s *Server) writeUserdb() error {
	names := make([]string, 0, len(s.users))
	for n := range s.users {
		names = append(names, n)
	}
	sort.Strings(names)
	var db, shadow strings.Builder
	for _, n := range names {
		home := filepath.Join(s.Dir, "mail", n)
		fmt.Fprintf(&db, "%s\tuid=%d|gid=%d|home=%s|mail=%s\n", n, s.uid, s.gid, home, s.MaildirPath(n))
		sum := sha256.Sum256([]byte(s.users[n]))
		fmt.Fprintf(&shadow, "%s\tsystempw={SHA256}%s\n", n, base64.StdEncoding.EncodeToString(sum[:]))
	}
	db.WriteString(".\n")
	shadow.WriteString(".\n")
	for _, f := range []struct {
		name, content string
	}{{"userdb", db.String()}, {"userdbshadow", shadow.String()}} {
		cmd := exec.Command(filepath.Join(s.root, "usr/lib/courier/courier-authlib/makedatprog"), "-",
			filepath.Join(s.etc(), f.name+".tmp"), filepath.Join(s.etc(), f.name+".dat"))
		cmd.Env = []string{"LD_LIBRARY_PATH=" + s.libPath()}
		cmd.Stdin = strings.NewReader(f.content)
		if out, err := cmd.CombinedOutput(); err != nil {
			return fmt.Errorf("makedatprog %s: %v: %s", f.name, err, out)
		}
	}
	return os.Chmod(filepath.Join(s.etc(), "userdbshadow.dat"), 0o600)
}

func (s *Server) libPath() string {
	r := s.root
	return r + "/usr/lib/x86_64-linux-gnu:" + r + "/lib/x86_64-linux-gnu:" + r + "/usr/lib"
}

// LogFile is the path of the server's log (authdaemond's and imapd's
// messages).
func (s *Server) LogFile() string { return filepath.Join(s.Dir, "courier.log") }

// LogTail returns the last n lines of the server's log.
func (s *Server) LogTail(n int) string {
	return daemon.LogTail(s.LogFile(), n)
}
