package phase

import (
	"testing"

	"github.com/mailshift/mailshift/internal/users"
)

func TestPlanHash(t *testing.T) {
	base := func() *Project {
		cfg := Defaults()
		cfg.Source.URL = "imaps://old.example:993"
		cfg.Target.URL = "imaps://new.example:993"
		return &Project{Config: cfg, Users: []users.Row{
			{SourceUser: "a", TargetUser: "a", Batch: "w1"},
			{SourceUser: "b", TargetUser: "b", Batch: "w2"},
		}}
	}
	h := base().PlanHash()
	same := base()
	same.Users[0], same.Users[1] = same.Users[1], same.Users[0]
	same.Config.Copy.Workers = 9 // tuning is not part of the plan
	if same.PlanHash() != h {
		t.Error("the plan hash depends on the users file's order or on copy.workers")
	}
	for name, change := range map[string]func(p *Project){
		"user added":     func(p *Project) { p.Users = append(p.Users, users.Row{SourceUser: "c", TargetUser: "c"}) },
		"target user":    func(p *Project) { p.Users[0].TargetUser = "z" },
		"batch":          func(p *Project) { p.Users[0].Batch = "w9" },
		"source":         func(p *Project) { p.Config.Source.URL = "imaps://other:993" },
		"target":         func(p *Project) { p.Config.Target.URL = "imaps://other:993" },
		"exclusion":      func(p *Project) { p.Config.Folders.Exclude = []string{"Trash"} },
		"folder mapping": func(p *Project) { p.Config.Folders.Map = map[string]string{"A": "B"} },
		"prefix":         func(p *Project) { p.Config.Folders.Prefix = "Old" },
	} {
		p := base()
		change(p)
		if p.PlanHash() == h {
			t.Errorf("%s: the plan hash did not change", name)
		}
	}
}

func TestParseRate(t *testing.T) {
	for in, want := range map[string]float64{"20MB/s": 20e6, "512KB/s": 512e3, "1GiB/s": 1 << 30, "100B/s": 100} {
		got, err := ParseRate(in)
		if err != nil || got != want {
			t.Errorf("ParseRate(%q) = %v, %v; want %v", in, got, err, want)
		}
	}
	for _, bad := range []string{"", "fast", "-1MB/s", "10 parsecs"} {
		if _, err := ParseRate(bad); err == nil {
			t.Errorf("ParseRate(%q) accepted", bad)
		}
	}
}

func TestValidateNamesTheKey(t *testing.T) {
	for key, change := range map[string]func(c *Config){
		"users.file":           func(c *Config) { c.Users.File = "" },
		"sync.deletions":       func(c *Config) { c.Sync.Deletions = "purge" },
		"sync.max_delete":      func(c *Config) { c.Sync.MaxDelete = 101 },
		"copy.workers":         func(c *Config) { c.Copy.Workers = 0 },
		"folders.exclude":      func(c *Config) { c.Folders.Exclude = []string{"a/**b"} },
		"gmail.labels":         func(c *Config) { c.Gmail.Labels = "copies" },
		"gmail.archive_folder": func(c *Config) { c.Gmail.ArchiveFolder = "/Archive" },
	} {
		c := Defaults()
		c.Source.URL, c.Target.URL = "imaps://a:993", "imaps://b:993"
		change(&c)
		err := c.Validate()
		ce, ok := err.(*ConfigError)
		if !ok || len(ce.Key) < len(key) || ce.Key[:len(key)] != key {
			t.Errorf("%s: got %v", key, err)
		}
	}
}
