package main

import (
	"bytes"
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"

	"go.yaml.in/yaml/v3"
)

const ciExample = "../../examples/ci-test-migration"

// githubWorkflow is the part of a GitHub Actions workflow the test reads.
type githubWorkflow struct {
	Jobs map[string]struct {
		Steps []struct {
			Name string            `yaml:"name"`
			If   string            `yaml:"if"`
			Run  string            `yaml:"run"`
			Uses string            `yaml:"uses"`
			With map[string]string `yaml:"with"`
		} `yaml:"steps"`
	} `yaml:"jobs"`
}

// gitlabJob is the part of a GitLab CI job the test reads.
type gitlabJob struct {
	BeforeScript []string `yaml:"before_script"`
	Script       []string `yaml:"script"`
	AfterScript  []string `yaml:"after_script"`
	Artifacts    struct {
		When  string   `yaml:"when"`
		Paths []string `yaml:"paths"`
	} `yaml:"artifacts"`
}

// TestCIExampleKeepsEvidence reads the CI example's GitHub Actions and
// GitLab CI files as YAML and checks what a CI job of a migration needs:
// mailshift installed from its module, the steps run, the evidence
// (status --json, the reports with the run logs under reports/) written
// and uploaded by steps that run even when a step failed, and every
// mailshift command line valid (its subcommand and flags, asked with
// --help).
func TestCIExampleKeepsEvidence(t *testing.T) {
	var commands []string // every mailshift command line of both files

	t.Run("github", func(t *testing.T) {
		var wf githubWorkflow
		readYAML(t, filepath.Join(ciExample, "github-actions.yml"), &wf)
		job, ok := wf.Jobs["test-migration"]
		if !ok || len(job.Steps) == 0 {
			t.Fatalf("no test-migration job with steps: %+v", wf)
		}
		var all []string
		evidence, upload := false, false
		for _, s := range job.Steps {
			lines := shellLines(s.Run)
			all = append(all, lines...)
			always := strings.Contains(s.If, "always()")
			if always && containsCommand(lines, "status", "--json") && containsCommand(lines, "report") {
				evidence = true
			}
			if strings.HasPrefix(s.Uses, "actions/upload-artifact@") {
				upload = always && strings.Contains(s.With["path"], "status.json") && strings.Contains(s.With["path"], "reports/")
			}
		}
		if !evidence {
			t.Error("no step with if: always() writes status --json and the reports")
		}
		if !upload {
			t.Error("no upload-artifact step with if: always() keeps status.json and reports/ (with reports/logs)")
		}
		checkSteps(t, all)
		commands = append(commands, all...)
	})

	t.Run("gitlab", func(t *testing.T) {
		var doc map[string]gitlabJob
		readYAML(t, filepath.Join(ciExample, "gitlab-ci.yml"), &doc)
		job, ok := doc["test-migration"]
		if !ok {
			t.Fatalf("no test-migration job: %+v", doc)
		}
		if job.Artifacts.When != "always" {
			t.Errorf("artifacts:when is %q, want always", job.Artifacts.When)
		}
		paths := strings.Join(job.Artifacts.Paths, " ")
		if !strings.Contains(paths, "status.json") || !strings.Contains(paths, "reports/") {
			t.Errorf("artifacts keep %v, want status.json and reports/ (with reports/logs)", job.Artifacts.Paths)
		}
		// after_script runs after a failed script too.
		if !containsCommand(job.AfterScript, "status", "--json") || !containsCommand(job.AfterScript, "report") {
			t.Errorf("after_script does not write status --json and the reports: %q", job.AfterScript)
		}
		all := slices.Concat(job.BeforeScript, job.Script, job.AfterScript)
		checkSteps(t, all)
		commands = append(commands, all...)
	})

	// Every mailshift command line names a real subcommand with real
	// flags: --help of the same line exits 0 (an unknown flag is exit 2).
	seen := map[string]bool{}
	for _, line := range commands {
		args, ok := mailshiftArgs(line)
		if !ok || seen[strings.Join(args, " ")] {
			continue
		}
		seen[strings.Join(args, " ")] = true
		var out, errOut bytes.Buffer
		if code := run(context.Background(), append(args, "--help"), &out, &errOut); code != exitOK {
			t.Errorf("%q: `mailshift %s --help` exits %d: %s", line, strings.Join(args, " "), code, errOut.String())
		}
		if sub := subcommand(args); sub != "" && !strings.Contains(out.String(), "mailshift "+sub) {
			t.Errorf("%q: --help does not describe `mailshift %s`:\n%s", line, sub, out.String())
		}
	}
	if len(seen) < 6 {
		t.Errorf("only %d distinct mailshift command lines found: %v", len(seen), seen)
	}
}

// checkSteps checks a job installs mailshift from its module and runs
// the steps of a test migration, each through verdict.sh.
func checkSteps(t *testing.T, lines []string) {
	t.Helper()
	if !slices.ContainsFunc(lines, func(l string) bool {
		return strings.Contains(l, "go install github.com/mailshift/mailshift/cmd/mailshift@")
	}) {
		t.Error("mailshift is not installed with go install github.com/mailshift/mailshift/cmd/mailshift@...")
	}
	for _, step := range []string{"collect", "approve", "test"} {
		i := slices.IndexFunc(lines, func(l string) bool {
			args, ok := mailshiftArgs(l)
			return ok && subcommand(args) == step && !slices.Contains(args, "--cleanup")
		})
		if i < 0 {
			t.Errorf("no `mailshift %s` step", step)
			continue
		}
		if !strings.Contains(lines[i], "./verdict.sh $?") {
			t.Errorf("%q: the exit code does not go through verdict.sh", lines[i])
		}
	}
}

func readYAML(t *testing.T, path string, v any) {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if err := yaml.Unmarshal(b, v); err != nil {
		t.Fatalf("%s: %v", path, err)
	}
}

// shellLines splits a run: block into its lines.
func shellLines(script string) []string {
	var out []string
	for _, l := range strings.Split(script, "\n") {
		if l = strings.TrimSpace(l); l != "" && !strings.HasPrefix(l, "#") {
			out = append(out, l)
		}
	}
	return out
}

// containsCommand tells whether one of lines runs mailshift with the
// subcommand and flags given.
func containsCommand(lines []string, sub string, flags ...string) bool {
	return slices.ContainsFunc(lines, func(l string) bool {
		args, ok := mailshiftArgs(l)
		if !ok || subcommand(args) != sub {
			return false
		}
		for _, f := range flags {
			if !slices.Contains(args, f) {
				return false
			}
		}
		return true
	})
}

// mailshiftArgs returns the arguments of the mailshift command a shell
// line starts with, up to the first operator or redirection; quoted
// arguments stay whole.
func mailshiftArgs(line string) ([]string, bool) {
	words := shellWords(line)
	if len(words) < 2 || words[0] != "mailshift" {
		return nil, false
	}
	var args []string
	for _, w := range words[1:] {
		if slices.Contains([]string{"||", "&&", ";", "|", ">", ">>", "2>", "2>&1"}, w) {
			break
		}
		args = append(args, w)
	}
	return args, true
}

// subcommand is the first argument that is neither a global flag nor its
// value.
func subcommand(args []string) string {
	for i := 0; i < len(args); i++ {
		a := args[i]
		switch {
		case slices.Contains([]string{"--log-format", "--config", "--state", "--users", "--batch"}, a):
			i++
		case strings.HasPrefix(a, "-"):
		default:
			return a
		}
	}
	return ""
}

// shellWords splits a line as a shell would, keeping quoted words whole
// (without expanding anything).
func shellWords(line string) []string {
	var words []string
	var cur strings.Builder
	in, quote := false, rune(0)
	for _, r := range line {
		switch {
		case quote != 0:
			if r == quote {
				quote = 0
			} else {
				cur.WriteRune(r)
			}
		case r == '"' || r == '\'':
			quote, in = r, true
		case r == ' ' || r == '\t':
			if in {
				words = append(words, cur.String())
				cur.Reset()
				in = false
			}
		default:
			cur.WriteRune(r)
			in = true
		}
	}
	if in {
		words = append(words, cur.String())
	}
	return words
}

// TestCIVerdict checks verdict.sh turns each documented exit code into the
// job's verdict: 0 passes, 4 fails unless MAILSHIFT_PARTIAL=warn, every
// other code fails with itself.
func TestCIVerdict(t *testing.T) {
	if _, err := exec.LookPath("bash"); err != nil {
		t.Skip("no bash")
	}
	cases := []struct {
		code    int
		partial string
		want    int
	}{
		{0, "", 0}, {1, "", 1}, {2, "", 2}, {3, "", 3}, {4, "", 4}, {4, "fail", 4},
		{4, "warn", 0}, {5, "warn", 5}, {10, "", 10}, {130, "", 130},
	}
	for _, c := range cases {
		cmd := exec.Command("bash", filepath.Join(ciExample, "verdict.sh"), strconv.Itoa(c.code), "test")
		cmd.Env = append(os.Environ(), "MAILSHIFT_PARTIAL="+c.partial, "GITHUB_ACTIONS=")
		out, _ := cmd.CombinedOutput()
		if got := cmd.ProcessState.ExitCode(); got != c.want {
			t.Errorf("verdict.sh %d with MAILSHIFT_PARTIAL=%q: exit %d, want %d (%s)", c.code, c.partial, got, c.want, out)
		}
		if c.code != 0 && !strings.Contains(string(out), "exit "+strconv.Itoa(c.code)) {
			t.Errorf("verdict.sh %d does not say why: %q", c.code, out)
		}
	}
}
