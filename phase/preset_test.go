package phase

import (
	"strings"
	"testing"
)

// TestPresets: a provider fills in what the configuration leaves empty,
// keeps what it sets, applies target-only settings to the target only,
// and an unknown provider is named with the choices.
func TestPresets(t *testing.T) {
	c := Defaults()
	c.Target.Provider, c.Target.MaxMessageSize = "microsoft365", "150MB"
	c.Source.Provider = "exchange"
	if err := c.Validate(); err != nil {
		t.Fatal(err)
	}
	if c.Target.MaxConnections != 20 || c.Target.MaxMessageSize != "150MB" || c.Target.Keywords != "lost" || c.Verify.Level != VerifyIdentity {
		t.Errorf("target after the preset: %+v, verify %q", c.Target, c.Verify.Level)
	}
	if c.Source.MaxConnections != 16 || c.Source.MaxMessageSize != "10MB" {
		t.Errorf("source after the preset: %+v", c.Source)
	}
	if c.maxMessageSize() != 150_000_000 {
		t.Errorf("size limit %d", c.maxMessageSize())
	}
	var overridden []string
	for _, a := range c.presetsApplied {
		if a.overridden != "" {
			overridden = append(overridden, a.side+"."+a.Key+"="+a.overridden)
		}
		if a.side == "source" && a.Key == "verify.level" {
			t.Error("a source preset set verify.level")
		}
		if a.Source == "" {
			t.Errorf("%s %s has no source", a.side, a.Key)
		}
	}
	if strings.Join(overridden, ",") != "target.max_message_size=150MB" {
		t.Errorf("overridden: %v", overridden)
	}
	if err := c.Validate(); err != nil || c.Target.MaxMessageSize != "150MB" {
		t.Errorf("validating twice: %v %+v", err, c.Target)
	}
	for _, name := range Providers() {
		for _, s := range presets[name].Settings {
			c := Defaults()
			c.Target.Provider = name
			if _, err := c.applySetting("target", &c.Target, s); err != nil {
				t.Errorf("%s: %v", name, err)
			}
		}
	}
	c = Defaults()
	c.Target.Provider = "office365"
	err := c.Validate()
	if err == nil || !strings.Contains(err.Error(), "target.provider") || !strings.Contains(err.Error(), "microsoft365") {
		t.Errorf("unknown provider: %v", err)
	}
}

// TestGmailPresets: a Gmail source gets the download budget and copies
// labels as folders; a Gmail target the upload budget; Gmail on both
// sides the smaller, and labels set on the target; a budget of the configuration's own stays.
func TestGmailPresets(t *testing.T) {
	for _, c := range []struct {
		source, target, own, budget, labels string
		overridden                          bool
	}{
		{"gmail", "", "", "2500MB", "folders", false},
		{"", "google_workspace", "", "500MB", "", false},
		{"gmail", "gmail", "", "500MB", "labels", false},
		{"google_workspace", "gmail", "", "500MB", "labels", false},
		{"gmail", "", "2GB", "2GB", "folders", true},
	} {
		cfg := Defaults()
		cfg.Source.Provider, cfg.Target.Provider, cfg.Throttle.DailyPerUser = c.source, c.target, c.own
		for range 2 { // validating again changes nothing
			if err := cfg.Validate(); err != nil {
				t.Fatal(err)
			}
		}
		var overridden bool
		for _, a := range cfg.presetsApplied {
			overridden = overridden || a.overridden != ""
		}
		if cfg.Throttle.DailyPerUser != c.budget || cfg.Gmail.Labels != c.labels || overridden != c.overridden {
			t.Errorf("%+v: budget %q, labels %q, overridden %v", c, cfg.Throttle.DailyPerUser, cfg.Gmail.Labels, overridden)
		}
	}
}
