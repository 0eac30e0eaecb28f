package main

import (
	"os"
	"path/filepath"
	"testing"

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
	if cfg.Gmail.Labels != "folders" || cfg.Gmail.ArchiveFolder != "Archive" || cfg.Throttle.DailyPerUser == "" {
		t.Errorf("gmail: %+v, throttle: %+v", cfg.Gmail, cfg.Throttle)
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
