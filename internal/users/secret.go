package users

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/exec"
	"strings"
	"time"
)

// CommandTimeout is how long a cmd: reference may run before it is killed.
const CommandTimeout = 30 * time.Second

// maxSecret bounds what a file: or cmd: reference may yield; a password is
// short, and a runaway command must not fill the memory.
const maxSecret = 64 << 10

// redacted is what a Secret shows instead of its value.
const redacted = "[redacted]"

// Kinds of Secret, as Kind reports them.
const (
	KindLiteral = "literal" // a password written in the users file
	KindEnv     = "env"     // env:VAR, read from the environment
	KindFile    = "file"    // file:PATH, read from a file
	KindCmd     = "cmd"     // cmd:COMMAND, printed by a command
)

// Secret is a password as the users file gives it: a literal, or a reference
// written "env:VAR", "file:PATH" or "cmd:COMMAND" that Reveal resolves when
// the password is needed. A value that starts with none of these prefixes
// is a literal.
//
// A Secret never shows its value or reference: String, GoString, every fmt
// verb, MarshalText, MarshalJSON and slog print "[redacted]" (when no
// password is set: "", and `users.Secret{}` for %#v). Only Reveal gives the
// password. The zero Secret is "no
// password".
type Secret struct {
	kind string // "" (not set) or one of the Kind constants
	ref  string // the literal, the variable's name, the path or the command
}

// ParseSecret reads a password field. An empty (or blank) field gives the
// zero Secret. References are recognized after trimming blanks, literals are
// kept exactly as written. The error says what is wrong with a malformed
// reference ("env:" without a name, ...) and never repeats the field.
func ParseSecret(s string) (Secret, error) {
	t := strings.TrimSpace(s)
	if t == "" {
		return Secret{}, nil
	}
	switch {
	case strings.HasPrefix(t, "env:"):
		name := t[len("env:"):]
		if name == "" {
			return Secret{}, errors.New("env: reference names no variable; write env:VARIABLE")
		}
		if !validEnvName(name) {
			return Secret{}, errors.New("env: reference does not name a valid environment variable (letters, digits and _, not starting with a digit)")
		}
		return Secret{kind: KindEnv, ref: name}, nil
	case strings.HasPrefix(t, "file:"):
		path := strings.TrimSpace(t[len("file:"):])
		if path == "" {
			return Secret{}, errors.New("file: reference names no file; write file:PATH")
		}
		return Secret{kind: KindFile, ref: path}, nil
	case strings.HasPrefix(t, "cmd:"):
		command := strings.TrimSpace(t[len("cmd:"):])
		if command == "" {
			return Secret{}, errors.New("cmd: reference names no command; write cmd:COMMAND")
		}
		return Secret{kind: KindCmd, ref: command}, nil
	}
	return Secret{kind: KindLiteral, ref: s}, nil
}

func validEnvName(s string) bool {
	for i, r := range s {
		switch {
		case r == '_', r >= 'A' && r <= 'Z', r >= 'a' && r <= 'z':
		case r >= '0' && r <= '9' && i > 0:
		default:
			return false
		}
	}
	return s != ""
}

// IsSet tells whether a password was given.
func (s Secret) IsSet() bool { return s.kind != "" }

// IsLiteral tells whether the password is written in plain text in the
// users file.
func (s Secret) IsLiteral() bool { return s.kind == KindLiteral }

// Kind tells how the password is given: KindLiteral, KindEnv, KindFile,
// KindCmd, or "" when it is not set.
func (s Secret) Kind() string { return s.kind }

// String returns "[redacted]", or "" when no password is set.
func (s Secret) String() string {
	if !s.IsSet() {
		return ""
	}
	return redacted
}

// GoString returns "[redacted]" (or `users.Secret{}` when no password is
// set), so %#v never shows the value either.
func (s Secret) GoString() string {
	if !s.IsSet() {
		return "users.Secret{}"
	}
	return redacted
}

// Format prints the Secret as String does (GoString for %#v), whatever the
// verb, so that no fmt verb reaches the value.
func (s Secret) Format(f fmt.State, verb rune) {
	if verb == 'v' && f.Flag('#') {
		io.WriteString(f, s.GoString())
		return
	}
	io.WriteString(f, s.String())
}

// MarshalText returns "[redacted]", or nothing when no password is set.
func (s Secret) MarshalText() ([]byte, error) { return []byte(s.String()), nil }

// MarshalJSON returns "[redacted]" as a JSON string, or "" when no password
// is set.
func (s Secret) MarshalJSON() ([]byte, error) { return json.Marshal(s.String()) }

// LogValue makes log/slog print "[redacted]".
func (s Secret) LogValue() slog.Value { return slog.StringValue(s.String()) }

// Reveal returns the password: the literal, the environment variable's
// value, the file's content or the command's standard output, without a
// trailing newline (CR LF too). A command runs with "sh -c" for at most
// CommandTimeout; its standard error is discarded and its output never
// appears in an error. Errors name the kind of reference and the variable or
// file, never a value.
func (s Secret) Reveal(ctx context.Context) (string, error) {
	return s.reveal(ctx, CommandTimeout)
}

func (s Secret) reveal(ctx context.Context, timeout time.Duration) (string, error) {
	switch s.kind {
	case KindLiteral:
		return s.ref, nil
	case KindEnv:
		v, ok := os.LookupEnv(s.ref)
		if !ok {
			return "", fmt.Errorf("env:%s: the environment variable is not set", s.ref)
		}
		if v == "" {
			return "", fmt.Errorf("env:%s: the environment variable is empty", s.ref)
		}
		return v, nil
	case KindFile:
		return readSecretFile(s.ref)
	case KindCmd:
		return runSecretCommand(ctx, s.ref, timeout)
	}
	return "", errors.New("no password given")
}

func readSecretFile(path string) (string, error) {
	f, err := os.Open(path)
	if err != nil {
		return "", fmt.Errorf("file:%s: %w", path, pathErrCause(err))
	}
	defer f.Close()
	b, err := io.ReadAll(io.LimitReader(f, maxSecret+1))
	if err != nil {
		return "", fmt.Errorf("file:%s: %w", path, pathErrCause(err))
	}
	if len(b) > maxSecret {
		return "", fmt.Errorf("file:%s: the file is larger than %d KiB; it should hold only the password", path, maxSecret>>10)
	}
	v := strings.TrimRight(string(b), "\r\n")
	if v == "" {
		return "", fmt.Errorf("file:%s: the file is empty", path)
	}
	return v, nil
}

// pathErrCause drops the *os.PathError wrapper (which repeats the path the
// message already names) but keeps the cause for errors.Is.
func pathErrCause(err error) error {
	if pe, ok := errors.AsType[*os.PathError](err); ok {
		return pe.Err
	}
	return err
}

func runSecretCommand(ctx context.Context, command string, timeout time.Duration) (string, error) {
	cctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	cmd := exec.CommandContext(cctx, "sh", "-c", command)
	out := cappedBuffer{stop: cancel} // a command that prints too much is killed
	cmd.Stdout = &out                 // stdin and stderr go to the null device
	cmd.WaitDelay = time.Second
	err := cmd.Run()
	switch {
	case ctx.Err() != nil:
		return "", fmt.Errorf("cmd: password command stopped: %w", ctx.Err())
	case out.over:
		return "", fmt.Errorf("cmd: password command printed more than %d KiB; it should print only the password", maxSecret>>10)
	case cctx.Err() != nil:
		return "", fmt.Errorf("cmd: password command did not finish within %s", timeout)
	case err != nil:
		// err is an *exec.ExitError ("exit status 1") or a start failure;
		// neither carries the command's output.
		if ee, ok := errors.AsType[*exec.ExitError](err); ok {
			return "", fmt.Errorf("cmd: password command failed (%s); run it by hand to see its messages", ee.ProcessState)
		}
		return "", fmt.Errorf("cmd: password command: %w", err)
	}
	v := strings.TrimRight(out.buf.String(), "\r\n")
	if v == "" {
		return "", errors.New("cmd: password command printed nothing")
	}
	return v, nil
}

// cappedBuffer keeps up to maxSecret bytes; past that it calls stop and
// fails the write. Only exec's copying goroutine writes to it, and Run
// returns after that goroutine ends.
//
// The buffer is a field, not embedded: an embedded bytes.Buffer would bring
// ReadFrom, which io.Copy would use instead of Write, bypassing the cap.
type cappedBuffer struct {
	buf  bytes.Buffer
	over bool
	stop func()
}

func (b *cappedBuffer) Write(p []byte) (int, error) {
	if b.buf.Len()+len(p) > maxSecret {
		b.over = true
		b.stop()
		return 0, errors.New("output too long")
	}
	return b.buf.Write(p)
}
