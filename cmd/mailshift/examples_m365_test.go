package main

import (
	"testing"
)

// TestMicrosoft365Example: the example's target takes the microsoft365
// preset and the built-in client credentials flow, as its README says.
func TestMicrosoft365Example(t *testing.T) {
	g := &globalOptions{configFile: "../../examples/microsoft365/mailshift.yaml", configSet: true}
	cfg, dir, err := g.loadConfig()
	if err != nil {
		t.Fatal(err)
	}
	tg := cfg.Target
	if tg.Provider != "microsoft365" || tg.MaxConnections != 20 || tg.MaxMessageSize != "35MiB" || tg.Keywords != "lost" || cfg.Verify.Level != "identity" {
		t.Errorf("preset not applied: %+v, verify %q", tg, cfg.Verify.Level)
	}
	if tg.OAuth.Provider != "microsoft" || tg.OAuth.ClientSecret != "env:MS_CLIENT_SECRET" {
		t.Errorf("oauth: %+v", tg.OAuth)
	}
	if err := backends(cfg, dir).Validate(); err != nil {
		t.Errorf("endpoints: %v", err)
	}
}
