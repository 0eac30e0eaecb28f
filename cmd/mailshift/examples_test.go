package main

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"go.yaml.in/yaml/v3"

	"github.com/mailshift/mailshift/internal/mailbox"
	"github.com/mailshift/mailshift/internal/mapping"
	"github.com/mailshift/mailshift/internal/users"
	"github.com/mailshift/mailshift/phase"
)

// TestExamplesLoad checks that every example project's configuration and
// users file load as the commands load them: no unknown key, no wrong
// type, no bad row.
func TestExamplesLoad(t *testing.T) {
	configs, err := filepath.Glob("../../examples/*/mailshift.yaml")
	if err != nil || len(configs) < 4 {
		t.Fatalf("example configurations: %v %v", configs, err)
	}
	for _, path := range configs {
		t.Run(filepath.Base(filepath.Dir(path)), func(t *testing.T) {
			for _, k := range []string{"MAILSHIFT_SOURCE_URL", "MAILSHIFT_TARGET_URL"} {
				if v, ok := os.LookupEnv(k); ok {
					t.Setenv(k, v)
					os.Unsetenv(k)
				}
			}
			g := &globalOptions{configFile: path, configSet: true}
			cfg, dir, err := g.loadConfig()
			if err != nil {
				t.Fatal(err)
			}
			if _, _, err := users.Load(filepath.Join(dir, cfg.Users.File), cfg.ExtraColumns()...); err != nil {
				t.Fatal(err)
			}
		})
	}
}

// TestGmailExampleExcludes checks that the Gmail example copies by label
// policy and that its patterns match the folder names Gmail uses (brackets
// are pattern syntax): Spam is left out; All Mail is not among the folders
// a Gmail source presents (see imapsource.Gmail), the archive folder is.
func TestGmailExampleExcludes(t *testing.T) {
	g := &globalOptions{configFile: "../../examples/gmail/mailshift.yaml", configSet: true}
	cfg, _, err := g.loadConfig()
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Gmail.Labels != "folders" || cfg.Gmail.ArchiveFolder != "Archive" || cfg.Throttle.DailyPerUser != "2GB" {
		t.Errorf("gmail: %+v, throttle: %+v", cfg.Gmail, cfg.Throttle)
	}
	// The preset and the built-in service-account flow, not a token script.
	if cfg.Source.Provider != "google_workspace" || cfg.Source.OAuth.Provider != "google" || cfg.Source.OAuth.ServiceAccount == "" ||
		cfg.Source.MaxConnections != 10 {
		t.Errorf("gmail source: provider %q, oauth %q, max_connections %d", cfg.Source.Provider, cfg.Source.OAuth.Provider, cfg.Source.MaxConnections)
	}
	plan, err := mapping.Plan(
		mapping.Endpoint{Delimiter: '/', Folders: []mailbox.Folder{{Name: "INBOX"}, {Name: "Archive", Role: mailbox.RoleArchive}, {Name: "[Gmail]/Spam", Role: mailbox.RoleJunk}, {Name: "Receipts"}}},
		mapping.Endpoint{Delimiter: '/', Folders: []mailbox.Folder{{Name: "INBOX"}}},
		mapping.Config{Exclude: cfg.Folders.Exclude},
	)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range plan {
		if want := e.Source == "[Gmail]/Spam"; e.Excluded != want {
			t.Errorf("%s: excluded %v, want %v", e.Source, e.Excluded, want)
		}
	}
}

// TestInitTemplateLoads checks that what `mailshift init` writes loads as
// it stands.
func TestInitTemplateLoads(t *testing.T) {
	dir := t.TempDir()
	if _, err := phase.Init(dir, false); err != nil {
		t.Fatal(err)
	}
	g := &globalOptions{configFile: filepath.Join(dir, "mailshift.yaml"), configSet: true}
	cfg, d, err := g.loadConfig()
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := users.Load(filepath.Join(d, cfg.Users.File)); err != nil {
		t.Fatal(err)
	}
}

// TestKubernetesExampleConfigLoads checks that the mailshift.yaml in the
// Kubernetes example's ConfigMap loads as the pods load it, with the
// shard count its Job's completions say.
func TestKubernetesExampleConfigLoads(t *testing.T) {
	dir := "../../examples/shards-kubernetes"
	var cm struct {
		Data map[string]string `yaml:"data"`
	}
	b, err := os.ReadFile(filepath.Join(dir, "config.yaml"))
	if err == nil {
		err = yaml.Unmarshal(b, &cm)
	}
	if err != nil || cm.Data["mailshift.yaml"] == "" {
		t.Fatalf("config.yaml: %v, data %v", err, cm.Data)
	}
	path := filepath.Join(t.TempDir(), "mailshift.yaml")
	if err := os.WriteFile(path, []byte(cm.Data["mailshift.yaml"]), 0o600); err != nil {
		t.Fatal(err)
	}
	g := &globalOptions{configFile: path, configSet: true}
	cfg, _, err := g.loadConfig()
	if err != nil {
		t.Fatal(err)
	}
	var job struct {
		Spec struct {
			Completions int `yaml:"completions"`
		} `yaml:"spec"`
	}
	for _, name := range []string{"job.yaml", "job-litestream.yaml"} {
		b, err := os.ReadFile(filepath.Join(dir, name))
		if err == nil {
			err = yaml.Unmarshal(b, &job)
		}
		if err != nil || job.Spec.Completions != cfg.Shards.Count || cfg.Shards.Count < 2 {
			t.Errorf("%s: completions %d, shards.count %d (%v)", name, job.Spec.Completions, cfg.Shards.Count, err)
		}
	}
}

// TestShardExamplesCommandLines checks every mailshift command line of the
// shard examples (the Kubernetes Jobs' container args, the GitHub Actions
// workflow's steps) as the commands read them: with the scheduler's
// placeholders filled in, --help of the same line exits 0, so that a
// renamed flag breaks the build and not the cluster's Job.
func TestShardExamplesCommandLines(t *testing.T) {
	fill := strings.NewReplacer("$(STEP)", "bulk", "${{ inputs.step }}", "bulk", "${{ matrix.shard }}", "1", "$SHARDS", "4")
	var lines [][]string
	for _, name := range []string{"job.yaml", "job-litestream.yaml"} {
		var job struct {
			Spec struct {
				Template struct {
					Spec struct {
						Containers []struct {
							Name    string   `yaml:"name"`
							Command []string `yaml:"command"`
							Args    []string `yaml:"args"`
						} `yaml:"containers"`
					} `yaml:"spec"`
				} `yaml:"template"`
			} `yaml:"spec"`
		}
		readYAML(t, filepath.Join("../../examples/shards-kubernetes", name), &job)
		for _, c := range job.Spec.Template.Spec.Containers {
			if c.Name == "mailshift" {
				lines = append(lines, c.Args)
			}
		}
	}
	if len(lines) != 2 {
		t.Fatalf("mailshift containers in the Kubernetes Jobs: %d, want 2", len(lines))
	}
	var wf githubWorkflow
	readYAML(t, "../../examples/shards-github-actions/workflow.yml", &wf)
	for _, job := range []string{"shard", "merge"} {
		for _, s := range wf.Jobs[job].Steps {
			for _, l := range shellLines(s.Run) {
				if args, ok := mailshiftArgs(l); ok {
					lines = append(lines, args)
				}
			}
		}
	}
	// The Nomad task's args: the list after `args =` in task "mailshift"
	// (tools/examplecheck parses the whole file with the HCL library).
	hcl, err := os.ReadFile("../../examples/shards-nomad/mailshift.nomad.hcl")
	if err != nil {
		t.Fatal(err)
	}
	_, task, _ := strings.Cut(string(hcl), `task "mailshift"`)
	m := regexp.MustCompile(`(?s)args\s*=\s*\[(.*?)\]`).FindStringSubmatch(task)
	if m == nil {
		t.Fatal(`no args in the Nomad job's task "mailshift"`)
	}
	var nomad []string
	for _, w := range regexp.MustCompile(`"([^"]*)"|var\.step`).FindAllStringSubmatch(m[1], -1) {
		if w[0] == "var.step" {
			nomad = append(nomad, "bulk")
		} else {
			nomad = append(nomad, w[1])
		}
	}
	lines = append(lines, nomad)
	shardFlag := 0
	for _, args := range lines {
		for i, a := range args {
			args[i] = fill.Replace(a)
			if args[i] == "--shard" || args[i] == "--shard-state" {
				shardFlag++
			}
		}
		var out, errOut bytes.Buffer
		if code := run(context.Background(), append(args, "--help"), &out, &errOut); code != exitOK {
			t.Errorf("`mailshift %s --help` exits %d: %s", strings.Join(args, " "), code, errOut.String())
		}
	}
	if len(lines) < 7 || shardFlag < 3 {
		t.Errorf("%d command lines, %d with --shard or --shard-state: %q", len(lines), shardFlag, lines)
	}
}
