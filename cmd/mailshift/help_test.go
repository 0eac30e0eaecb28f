package main

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"runtime/debug"
	"slices"
	"strings"
	"testing"

	"github.com/spf13/cobra"

	"github.com/mailshift/mailshift/phase"
)

// runCmd runs a command line in-process and returns its stdout, stderr
// and exit code.
func runLine(t *testing.T, args ...string) (string, string, int) {
	t.Helper()
	var out, errOut bytes.Buffer
	code := run(context.Background(), args, &out, &errOut)
	return out.String(), errOut.String(), code
}

// TestEveryCommandHasExamples checks that every command shows examples,
// and that each example line that runs mailshift names a command and
// flags that exist, with values they accept.
func TestEveryCommandHasExamples(t *testing.T) {
	root := newRootCmd()
	var lines int
	visit(root, func(c *cobra.Command) {
		if c == root || (c.HasParent() && c.Parent().Name() == "completion") {
			return
		}
		if strings.TrimSpace(c.Example) == "" {
			t.Errorf("%s: no Example", c.CommandPath())
		}
	})
	visit(root, func(c *cobra.Command) {
		for _, line := range strings.Split(c.Example, "\n") {
			for _, args := range exampleCommands(line) {
				lines++
				checkExample(t, c, args)
			}
		}
	})
	if lines < 30 {
		t.Errorf("only %d example command lines", lines)
	}
}

// exampleCommands finds the mailshift command lines in one line of an
// example: split at && and |, cut at redirections, words unquoted.
func exampleCommands(line string) [][]string {
	if i := strings.Index(line, " #"); i >= 0 { // a comment after the command
		line = line[:i]
	}
	line = strings.TrimSpace(line)
	if strings.HasPrefix(line, "#") {
		return nil
	}
	var cmds [][]string
	for _, part := range strings.Split(line, "&&") {
		part, _, _ = strings.Cut(part, "|")
		part, _, _ = strings.Cut(part, ">")
		words := exampleWords(part)
		for len(words) > 0 && strings.Contains(words[0], "=") { // VAR=value prefix
			words = words[1:]
		}
		if len(words) > 0 && words[0] == "mailshift" {
			cmds = append(cmds, words[1:])
		}
	}
	return cmds
}

// exampleWords splits s into words as a shell would for the simple quoting
// the examples use; $(...) counts as one word.
func exampleWords(s string) []string {
	var words []string
	var w strings.Builder
	in := false
	var quote rune
	depth := 0
	for _, r := range s {
		switch {
		case quote != 0:
			if r == quote {
				quote = 0
			} else {
				w.WriteRune(r)
			}
			continue
		case r == '"' || r == '\'':
			quote, in = r, true
			continue
		case r == '(':
			depth++
		case r == ')':
			depth--
		case (r == ' ' || r == '\t') && depth == 0:
			if in {
				words = append(words, w.String())
				w.Reset()
				in = false
			}
			continue
		}
		w.WriteRune(r)
		in = true
	}
	if in {
		words = append(words, w.String())
	}
	return words
}

// checkExample parses one example command line as cobra would, without
// running it.
func checkExample(t *testing.T, in *cobra.Command, args []string) {
	t.Helper()
	root := newRootCmd()
	root.InitDefaultHelpFlag()
	root.InitDefaultVersionFlag()
	c, rest, err := root.Find(args)
	if err != nil {
		t.Errorf("%s example %q: %v", in.CommandPath(), args, err)
		return
	}
	if err := c.ParseFlags(rest); err != nil {
		t.Errorf("%s example %q: %v", in.CommandPath(), args, err)
		return
	}
	if pos := c.Flags().Args(); c.Args != nil {
		if err := c.Args(c, pos); err != nil {
			t.Errorf("%s example %q: %v", in.CommandPath(), args, err)
		}
	}
	if f := c.Flags().Lookup("format"); f != nil && c.Name() == "report" {
		if _, err := (phase.Report{}).Render(f.Value.String()); err != nil {
			t.Errorf("%s example %q: %v", in.CommandPath(), args, err)
		}
	}
	if f := c.Flags().Lookup("log-format"); f != nil {
		if v := f.Value.String(); v != "text" && v != "json" {
			t.Errorf("%s example %q: --log-format %s", in.CommandPath(), args, v)
		}
	}
}

// TestVersionStamped checks what the release's ldflags stamp wins over
// what the toolchain recorded, and that a `go install module@version`
// shows the module version and a `go build` in a checkout the VCS
// revision and time.
func TestVersionStamped(t *testing.T) {
	vcs := &debug.BuildInfo{
		GoVersion: "go1.26.8",
		Main:      debug.Module{Path: "github.com/mailshift/mailshift", Version: "v0.0.0-20261201100000-0123456789ab+dirty"},
		Settings: []debug.BuildSetting{
			{Key: "vcs", Value: "git"},
			{Key: "vcs.revision", Value: "0123456789abcdef0123456789abcdef01234567"},
			{Key: "vcs.time", Value: "2026-12-01T10:00:00Z"},
			{Key: "vcs.modified", Value: "true"},
		},
	}
	installed := &debug.BuildInfo{GoVersion: "go1.26.8", Main: debug.Module{Path: "github.com/mailshift/mailshift", Version: "v1.4.0"}}
	devel := &debug.BuildInfo{GoVersion: "go1.26.8", Main: debug.Module{Path: "github.com/mailshift/mailshift", Version: "(devel)"}}
	for _, tc := range []struct {
		name                  string
		version, commit, date string
		bi                    *debug.BuildInfo
		want                  buildInfo
	}{
		{"release", "1.4.0", "fedcba9", "2026-11-30T08:00:00Z", vcs,
			buildInfo{Version: "1.4.0", Commit: "fedcba9", Date: "2026-11-30T08:00:00Z", GoVersion: "go1.26.8"}},
		{"go build in a checkout", "dev", "", "", vcs,
			buildInfo{Version: "v0.0.0-20261201100000-0123456789ab+dirty", Commit: "0123456789abcdef0123456789abcdef01234567", Modified: true, Date: "2026-12-01T10:00:00Z", GoVersion: "go1.26.8"}},
		{"go install", "dev", "", "", installed,
			buildInfo{Version: "v1.4.0", GoVersion: "go1.26.8"}},
		{"nothing known", "dev", "", "", devel,
			buildInfo{Version: "dev", GoVersion: "go1.26.8"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := resolveBuild(tc.version, tc.commit, tc.date, tc.bi)
			got.Platform = ""
			if got != tc.want {
				t.Errorf("got  %+v\nwant %+v", got, tc.want)
			}
		})
	}
	b := resolveBuild("1.4.0", "fedcba9", "2026-11-30T08:00:00Z", nil)
	for _, want := range []string{"mailshift 1.4.0\n", "commit: fedcba9\n", "date:   2026-11-30T08:00:00Z\n", "go:     go1."} {
		if !strings.Contains(b.String(), want) {
			t.Errorf("version text lacks %q:\n%s", want, b)
		}
	}
}

// TestVersionCommandAndFlag checks that `version` and `--version` print
// the same, in the test binary (which carries no VCS information).
func TestVersionCommandAndFlag(t *testing.T) {
	out, errOut, code := runLine(t, "version")
	if code != exitOK || !strings.HasPrefix(out, "mailshift ") || !strings.Contains(out, "go:     go1.") {
		t.Fatalf("version: exit %d\n%s%s", code, out, errOut)
	}
	flag, errOut, code := runLine(t, "--version")
	if code != exitOK || flag != out {
		t.Errorf("--version: exit %d, printed\n%s%swant\n%s", code, flag, errOut, out)
	}
}

// complete runs cobra's hidden __complete command as a shell would and
// returns the values offered (descriptions dropped) and the directive.
func completeLine(t *testing.T, args ...string) ([]string, string) {
	t.Helper()
	out, errOut, code := runLine(t, append([]string{"__complete"}, args...)...)
	if code != exitOK {
		t.Fatalf("__complete %q: exit %d: %s", args, code, errOut)
	}
	lines := strings.Split(strings.TrimRight(out, "\n"), "\n")
	directive := lines[len(lines)-1]
	var values []string
	for _, l := range lines[:len(lines)-1] {
		v, _, _ := strings.Cut(l, "\t")
		values = append(values, v)
	}
	return values, directive
}

func TestCompletion(t *testing.T) {
	dir := t.TempDir()
	t.Setenv("MAILSHIFT_USERS_FILE", "")
	os.Unsetenv("MAILSHIFT_USERS_FILE")
	cfg := filepath.Join(dir, "mailshift.yaml")
	putFile(t, cfg, "source:\n  url: imap://old.example\ntarget:\n  url: imap://new.example\nusers:\n  file: people.csv\n")
	putFile(t, filepath.Join(dir, "people.csv"), "source_user,source_password,target_user,target_password,batch\n"+
		"carol@old.example,env:C,carol@new.example,env:C,wave2\n"+
		"alice@old.example,env:A,alice@new.example,env:A,wave1\n"+
		"bob@old.example,cmd:false,bob@new.example,env:B,wave2\n")
	noFiles := ":4"

	for _, tc := range []struct {
		name      string
		args      []string
		want      []string
		directive string
	}{
		{"report formats", []string{"report", "--format", ""}, []string{"md", "html", "csv", "json"}, noFiles},
		{"log formats", []string{"bulk", "--log-format", ""}, []string{"text", "json"}, noFiles},
		{"batches", []string{"--config", cfg, "bulk", "--batch", ""}, []string{"wave1", "wave2"}, noFiles},
		{"users", []string{"--config", cfg, "sync", "--users", ""},
			[]string{"alice@old.example", "bob@old.example", "carol@old.example"}, ":6"},
		{"more users", []string{"--config", cfg, "sync", "--users", "bob@old.example,"},
			[]string{"bob@old.example,alice@old.example", "bob@old.example,carol@old.example"}, ":6"},
		{"no users file", []string{"--config", filepath.Join(dir, "none.yaml"), "status", "--users", ""}, nil, ":6"},
		{"no arguments", []string{"collect", ""}, nil, noFiles},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, directive := completeLine(t, tc.args...)
			if !slices.Equal(got, tc.want) || directive != tc.directive {
				t.Errorf("__complete %q:\ngot  %q %s\nwant %q %s", tc.args, got, directive, tc.want, tc.directive)
			}
		})
	}

	// MAILSHIFT_USERS_FILE is where the commands would look too; a users
	// file with an error offers nothing rather than failing.
	putFile(t, filepath.Join(dir, "broken.csv"), "source_user,source_password,target_user,target_password,batch\nalice@old.example,,,,\nalice@old.example,,,,\n")
	t.Setenv("MAILSHIFT_USERS_FILE", "broken.csv")
	if got, _ := completeLine(t, "--config", cfg, "bulk", "--batch", ""); len(got) != 0 {
		t.Errorf("broken users file: offered %q", got)
	}
	// Every completed format is one report renders.
	for _, f := range reportFormats {
		f, _, _ = strings.Cut(f, "\t")
		if _, err := (phase.Report{}).Render(f); err != nil {
			t.Errorf("report --format %s: %v", f, err)
		}
	}
}

// TestCompletionScripts checks that every shell's completion script is
// written.
func TestCompletionScripts(t *testing.T) {
	for _, shell := range []string{"bash", "zsh", "fish", "powershell"} {
		out, errOut, code := runLine(t, "completion", shell)
		if code != exitOK || !strings.Contains(out, "__complete") {
			t.Errorf("completion %s: exit %d, %d bytes: %s", shell, code, len(out), errOut)
		}
	}
}

// TestManPages checks that `mailshift man` writes a page for every command
// a user sees, with its examples and the exit codes.
func TestManPages(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "man1")
	t.Setenv("SOURCE_DATE_EPOCH", "1764547200") // 2025-12-01
	if out, errOut, code := runLine(t, "man", "--dir", dir); code != exitOK {
		t.Fatalf("man: exit %d\n%s%s", code, out, errOut)
	}
	root := newRootCmd()
	want := 0
	visit(root, func(c *cobra.Command) {
		if !c.IsAvailableCommand() && c != root {
			return
		}
		for p := c; p != nil; p = p.Parent() {
			if p.Hidden {
				return
			}
		}
		want++
		name := strings.ReplaceAll(c.CommandPath(), " ", "-") + ".1"
		b, err := os.ReadFile(filepath.Join(dir, name))
		if err != nil {
			t.Errorf("no page for %s: %v", c.CommandPath(), err)
			return
		}
		page := string(b)
		if !strings.HasPrefix(page, ".nh\n.TH ") || !strings.Contains(page, `"Dec 2025"`) {
			t.Errorf("%s: not a dated man page:\n%.200s", name, page)
		}
		if c.Example != "" && !strings.Contains(page, "EXAMPLE") {
			t.Errorf("%s: no examples", name)
		}
		if strings.Contains(page, "Auto generated") {
			t.Errorf("%s: carries cobra's generated-on tag", name)
		}
	})
	pages, _ := filepath.Glob(filepath.Join(dir, "*.1"))
	if len(pages) != want || want < 15 {
		t.Errorf("%d pages for %d commands: %v", len(pages), want, pages)
	}
	if _, err := os.Stat(filepath.Join(dir, "mailshift-man.1")); err == nil {
		t.Error("the hidden man command has a page")
	}
}

func putFile(t *testing.T, path, content string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
}
