package main

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// TestVersionOfBuiltBinary builds mailshift twice as people do and runs
// `version` and `--version`: with the release's -X flags they print what
// was stamped; built with `go build` in a git checkout (a copy of this
// source tree, committed) they print the commit and its date that Go
// recorded.
func TestVersionOfBuiltBinary(t *testing.T) {
	if testing.Short() {
		t.Skip("builds mailshift twice")
	}
	git, err := exec.LookPath("git")
	if err != nil {
		t.Skip("no git")
	}
	repo, err := filepath.Abs("../..")
	if err != nil {
		t.Fatal(err)
	}
	bin := t.TempDir()

	t.Run("release ldflags", func(t *testing.T) {
		exe := filepath.Join(bin, "stamped")
		goCmd(t, repo, "build", "-trimpath", "-o", exe, "-ldflags",
			"-X main.version=1.4.0 -X main.commit=0123456789abcdef -X main.date=2026-11-30T08:00:00Z", "./cmd/mailshift")
		out := runBinary(t, exe, "version")
		for _, want := range []string{"mailshift 1.4.0\n", "commit: 0123456789abcdef\n", "date:   2026-11-30T08:00:00Z\n", "go:     go1."} {
			if !strings.Contains(out, want) {
				t.Errorf("version lacks %q:\n%s", want, out)
			}
		}
		if flag := runBinary(t, exe, "--version"); flag != out {
			t.Errorf("--version printed\n%s\nversion\n%s", flag, out)
		}
	})

	t.Run("go build in a checkout", func(t *testing.T) {
		src := t.TempDir()
		files := gitOut(t, git, repo, "ls-files", "--cached", "--others", "--exclude-standard", "-z")
		for name := range strings.SplitSeq(strings.TrimRight(files, "\x00"), "\x00") {
			b, err := os.ReadFile(filepath.Join(repo, name))
			if os.IsNotExist(err) {
				continue // deleted in the work tree
			}
			if err != nil {
				t.Fatal(err)
			}
			if err := os.MkdirAll(filepath.Dir(filepath.Join(src, name)), 0o755); err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(filepath.Join(src, name), b, 0o644); err != nil {
				t.Fatal(err)
			}
		}
		gitOut(t, git, src, "init", "-q")
		gitOut(t, git, src, "add", "-A")
		gitOut(t, git, src, "-c", "user.name=Test", "-c", "user.email=test@example.com", "commit", "-q", "-m", "snapshot")
		rev := strings.TrimSpace(gitOut(t, git, src, "rev-parse", "HEAD"))

		exe := filepath.Join(bin, "vcs")
		goCmd(t, src, "build", "-trimpath", "-buildvcs=true", "-o", exe, "./cmd/mailshift")
		out := runBinary(t, exe, "version")
		if !strings.Contains(out, "commit: "+rev+"\n") || strings.Contains(out, "date:   unknown") || strings.Contains(out, "uncommitted") {
			t.Errorf("version of a build at %s:\n%s", rev, out)
		}
		if v := strings.SplitN(out, "\n", 2)[0]; !strings.HasSuffix(v, rev[:12]) {
			t.Errorf("version line %q: want Go's pseudo-version ending in %s", v, rev[:12])
		}
	})
}

func goCmd(t *testing.T, dir string, args ...string) {
	t.Helper()
	cmd := exec.Command("go", args...)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go %s: %v\n%s", strings.Join(args, " "), err, out)
	}
}

func gitOut(t *testing.T, git, dir string, args ...string) string {
	t.Helper()
	cmd := exec.Command(git, args...)
	cmd.Dir = dir
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("git %s: %v", strings.Join(args, " "), err)
	}
	return string(out)
}

func runBinary(t *testing.T, exe string, args ...string) string {
	t.Helper()
	out, err := exec.Command(exe, args...).CombinedOutput()
	if err != nil {
		t.Fatalf("%s %s: %v\n%s", exe, strings.Join(args, " "), err, out)
	}
	return string(out)
}
