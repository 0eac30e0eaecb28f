package users

import (
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestReveal(t *testing.T) {
	if _, err := exec.LookPath("sh"); err != nil {
		t.Skip("no sh")
	}
	dir := t.TempDir()
	file := func(name, content string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	t.Setenv("MAILSHIFT_TEST_PW", leak)
	t.Setenv("MAILSHIFT_TEST_EMPTY", "")
	os.Unsetenv("MAILSHIFT_TEST_UNSET")

	lf := file("lf", leak+"\n")
	crlf := file("crlf", leak+"\r\n")
	bare := file("bare", " "+leak+" ")
	empty := file("empty", "\n")
	big := file("big", strings.Repeat("x", maxSecret+1))
	missing := filepath.Join(dir, "missing")

	for _, tc := range []struct {
		name   string
		secret string
		want   string // the password; "" when an error is expected
		err    string // substring of the error
	}{
		{name: "literal", secret: leak, want: leak},
		{name: "env", secret: "env:MAILSHIFT_TEST_PW", want: leak},
		{name: "env unset", secret: "env:MAILSHIFT_TEST_UNSET", err: "env:MAILSHIFT_TEST_UNSET: the environment variable is not set"},
		{name: "env empty", secret: "env:MAILSHIFT_TEST_EMPTY", err: "env:MAILSHIFT_TEST_EMPTY: the environment variable is empty"},
		{name: "file LF", secret: "file:" + lf, want: leak},
		{name: "file CRLF", secret: "file:" + crlf, want: leak},
		{name: "file keeps blanks", secret: "file:" + bare, want: " " + leak + " "},
		{name: "file empty", secret: "file:" + empty, err: "file:" + empty + ": the file is empty"},
		{name: "file missing", secret: "file:" + missing, err: "file:" + missing + ": no such file or directory"},
		{name: "file too big", secret: "file:" + big, err: "file:" + big + ": the file is larger than 64 KiB"},
		{name: "file is a directory", secret: "file:" + dir, err: "file:" + dir + ":"},
		{name: "cmd", secret: "cmd:printf '%s\\n' " + leak, want: leak},
		{name: "cmd sees the environment", secret: "cmd:echo \"$MAILSHIFT_TEST_PW\"", want: leak},
		{name: "cmd stderr ignored", secret: "cmd:echo " + leak + "; echo noise >&2", want: leak},
		{name: "cmd fails", secret: "cmd:echo " + leak + "; echo " + leak + " >&2; exit 3", err: "cmd: password command failed (exit status 3); run it by hand to see its messages"},
		{name: "cmd not found", secret: "cmd:/nonexistent/pw-helper", err: "cmd: password command failed (exit status 127)"},
		{name: "cmd prints nothing", secret: "cmd:true", err: "cmd: password command printed nothing"},
		{name: "cmd prints too much", secret: "cmd:yes " + leak, err: "cmd: password command printed more than 64 KiB"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s, err := ParseSecret(tc.secret)
			if err != nil {
				t.Fatal(err)
			}
			got, err := s.Reveal(context.Background())
			if tc.err == "" {
				if err != nil || got != tc.want {
					t.Fatalf("Reveal = %q, %v; want %q", got, err, tc.want)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tc.err) {
				t.Fatalf("Reveal = %q, %v; want an error containing %q", got, err, tc.err)
			}
			if got != "" {
				t.Errorf("Reveal returned %q with an error", got)
			}
			if strings.Contains(err.Error(), leak) {
				t.Errorf("error leaks a value: %v", err)
			}
		})
	}
}

func TestRevealFileErrorIs(t *testing.T) {
	s, _ := ParseSecret("file:" + filepath.Join(t.TempDir(), "none"))
	if _, err := s.Reveal(context.Background()); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("Reveal = %v, want os.ErrNotExist", err)
	}
}

func TestRevealUnset(t *testing.T) {
	if _, err := (Secret{}).Reveal(context.Background()); err == nil || err.Error() != "no password given" {
		t.Errorf("Reveal of no password = %v", err)
	}
}

func TestRevealCommandTimeout(t *testing.T) {
	if _, err := exec.LookPath("sh"); err != nil {
		t.Skip("no sh")
	}
	// The background child keeps stdout open: WaitDelay must still end it.
	s, _ := ParseSecret("cmd:sleep 30 & sleep 30; echo " + leak)
	start := time.Now()
	_, err := s.reveal(context.Background(), 200*time.Millisecond)
	if err == nil || err.Error() != "cmd: password command did not finish within 200ms" {
		t.Errorf("reveal = %v", err)
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Errorf("took %s", d)
	}
}

func TestRevealCommandCancelled(t *testing.T) {
	if _, err := exec.LookPath("sh"); err != nil {
		t.Skip("no sh")
	}
	ctx, cancel := context.WithCancel(context.Background())
	time.AfterFunc(100*time.Millisecond, cancel)
	s, _ := ParseSecret("cmd:sleep 30")
	_, err := s.Reveal(ctx)
	if !errors.Is(err, context.Canceled) || !strings.HasPrefix(err.Error(), "cmd: ") {
		t.Errorf("Reveal = %v, want context.Canceled", err)
	}
}
