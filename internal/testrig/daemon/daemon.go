// Package daemon holds what the test rigs that run real IMAP servers from
// unpacked packages share (internal/testrig/courier, .../cyrus): starting
// a server's first process so that it dies with the test binary, stopping
// it with its process group, waiting for its greeting, a free port, the
// tail of a log, and making a temporary directory reachable for the
// server's own user.
package daemon

import (
	"bufio"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"syscall"
	"time"
)

// LogTail returns the last n lines of the log file at path.
func LogTail(path string, n int) string {
	b, err := os.ReadFile(path)
	if err != nil {
		return fmt.Sprintf("(no log: %v)", err)
	}
	lines := strings.SplitAfter(strings.TrimSuffix(string(b), "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "")
}

// LogSince returns what the log file at path holds past offset off.
func LogSince(path string, off int64) string {
	b, err := os.ReadFile(path)
	if err != nil || int64(len(b)) < off {
		return ""
	}
	return string(b[off:])
}

// MakeTraversable gives "others" search permission on dir's ancestors
// under the temporary directory (t.TempDir's parent is 0700), so that a
// server's unprivileged user reaches its mail; who names the server in
// the error.
func MakeTraversable(who, dir string) error {
	tmp, _ := filepath.Abs(os.TempDir())
	for p := dir; ; p = filepath.Dir(p) {
		fi, err := os.Stat(p)
		if err != nil {
			return err
		}
		if fi.Mode().Perm()&0o001 == 0 {
			if !strings.HasPrefix(p, tmp+string(filepath.Separator)) {
				return fmt.Errorf("%s: the mail user cannot reach %s: %s is not searchable by others (mode %v)", who, dir, p, fi.Mode().Perm())
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

// Process is one run of a server's first process.
type Process struct {
	pid  int
	done chan struct{} // closed when it has exited
	err  error         // Wait's result, valid after done
}

// Spawn starts cmd in its own process group from a goroutine locked to its
// OS thread: it gets SIGTERM (Pdeathsig) when that thread ends, so a test
// binary that dies takes its servers with it.
func Spawn(cmd *exec.Cmd) (*Process, error) {
	p := &Process{done: make(chan struct{})}
	started := make(chan error, 1)
	go func() {
		runtime.LockOSThread() // never unlocked: the thread ends with this goroutine
		cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGTERM}
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

// Stop kills the process group (and, for a process that is the first of a
// PID namespace, the kernel ends every process in it) and waits for it to
// be gone. A throwaway server needs no orderly shutdown, and SIGTERM would
// wait for open IMAP sessions.
func (p *Process) Stop() error {
	syscall.Kill(-p.pid, syscall.SIGKILL)
	<-p.done
	deadline := time.Now().Add(5 * time.Second)
	for syscall.Kill(-p.pid, 0) == nil && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	return nil
}

// WaitReady waits until addr greets with "* OK" and want, or p exits.
func WaitReady(p *Process, addr, want string, timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	var last error
	for time.Now().Before(deadline) {
		select {
		case <-p.done:
			return fmt.Errorf("the server exited: %v", p.err)
		default:
		}
		if last = Greet(addr, want); last == nil {
			return nil
		}
		time.Sleep(10 * time.Millisecond)
	}
	return fmt.Errorf("no IMAP greeting on %s within %v: %v", addr, timeout, last)
}

// Greet connects to addr and reads the IMAP greeting, which must contain
// want.
func Greet(addr, want string) error {
	c, err := net.DialTimeout("tcp", addr, time.Second)
	if err != nil {
		return err
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(2 * time.Second))
	line, err := bufio.NewReader(c).ReadString('\n')
	if err != nil {
		return err
	}
	if !strings.HasPrefix(line, "* OK") || !strings.Contains(line, want) {
		return fmt.Errorf("greeting %q", strings.TrimSpace(line))
	}
	return nil
}

// FreePort returns a port that was free a moment ago.
func FreePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

// ErrAddrInUse is wrapped by Launch's error when the server could not
// listen on its port: the caller may try another.
var ErrAddrInUse = errors.New("address already in use")

// Launch starts cmd with its output appended to the log file at logPath
// and waits up to timeout for an IMAP greeting on addr that contains want.
// If none comes, it stops the process and returns an error with what the
// server logged meanwhile.
func Launch(cmd *exec.Cmd, logPath, addr, want string, timeout time.Duration) (*Process, error) {
	logFile, err := os.OpenFile(logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return nil, err
	}
	logStart, _ := logFile.Seek(0, 2)
	cmd.Stdout, cmd.Stderr = logFile, logFile
	p, err := Spawn(cmd)
	logFile.Close()
	if err != nil {
		return nil, err
	}
	if err = WaitReady(p, addr, want, timeout); err == nil {
		return p, nil
	}
	p.Stop()
	log := LogSince(logPath, logStart)
	if strings.Contains(log, "Address already in use") {
		return nil, fmt.Errorf("%s: %w", addr, ErrAddrInUse)
	}
	return nil, fmt.Errorf("did not start: %v\nlog:\n%s", err, log)
}
