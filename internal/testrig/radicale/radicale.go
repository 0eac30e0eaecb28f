// Package radicale runs a real Radicale CardDAV and CalDAV server (Debian's
// radicale package, which `make deps` installs) for tests: on a free
// loopback port, with its storage in a temporary directory and users from
// an htpasswd file with plain-text passwords.
package radicale

import (
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/mailshift/mailshift/internal/testrig/corpus"
	"github.com/mailshift/mailshift/internal/testrig/daemon"
)

// Server is a running Radicale.
type Server struct {
	// URL is the server's root, e.g. "http://127.0.0.1:40123/".
	URL  string
	Dir  string // storage, configuration and log
	proc *daemon.Process
}

// Start runs Radicale with the users and passwords of users and stops it
// when the test ends. The test is skipped when radicale is not installed
// (it fails with MAILSHIFT_REQUIRE_TESTDATA=1).
func Start(t testing.TB, users map[string]string) *Server {
	t.Helper()
	bin, err := exec.LookPath("radicale")
	if err != nil {
		if os.Getenv(corpus.RequireEnv) == "1" {
			t.Fatal("radicale not installed (make deps installs it); " + corpus.RequireEnv + "=1 requires it")
		}
		t.Skip("radicale not installed (make deps installs it)")
	}
	dir := t.TempDir()
	var pw strings.Builder
	for u, p := range users {
		fmt.Fprintf(&pw, "%s:%s\n", u, p)
	}
	if err := os.WriteFile(filepath.Join(dir, "users"), []byte(pw.String()), 0o600); err != nil {
		t.Fatal(err)
	}
	var s *Server
	for attempt := 0; attempt < 5; attempt++ {
		s, err = launch(bin, dir)
		if err == nil {
			break
		}
	}
	if err != nil {
		t.Fatalf("radicale: %v", err)
	}
	t.Cleanup(func() { s.proc.Stop() })
	return s
}

func launch(bin, dir string) (*Server, error) {
	port, err := daemon.FreePort()
	if err != nil {
		return nil, err
	}
	addr := fmt.Sprintf("127.0.0.1:%d", port)
	conf := fmt.Sprintf(`[server]
hosts = %s
[auth]
type = htpasswd
htpasswd_filename = %s
htpasswd_encryption = plain
[rights]
type = owner_only
[storage]
filesystem_folder = %s
[logging]
level = warning
`, addr, filepath.Join(dir, "users"), filepath.Join(dir, "collections"))
	cfg := filepath.Join(dir, "config")
	if err := os.WriteFile(cfg, []byte(conf), 0o600); err != nil {
		return nil, err
	}
	log := filepath.Join(dir, "radicale.log")
	lf, err := os.OpenFile(log, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		return nil, err
	}
	defer lf.Close()
	cmd := exec.Command(bin, "--config", cfg)
	cmd.Stdout, cmd.Stderr = lf, lf
	cmd.Env = append(os.Environ(), "HOME="+dir)
	p, err := daemon.Spawn(cmd)
	if err != nil {
		return nil, err
	}
	deadline := time.Now().Add(20 * time.Second)
	for time.Now().Before(deadline) {
		if c, err := net.DialTimeout("tcp", addr, 200*time.Millisecond); err == nil {
			c.Close()
			return &Server{URL: "http://" + addr + "/", Dir: dir, proc: p}, nil
		}
		time.Sleep(100 * time.Millisecond)
	}
	p.Stop()
	return nil, fmt.Errorf("no answer on %s within 20s; log:\n%s", addr, daemon.LogTail(log, 20))
}
