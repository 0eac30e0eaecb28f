package main

import (
	"bytes"
	"os"
	"path/filepath"
	"testing"
)

// TestProfilesFromTheEnvironment: MAILSHIFT_CPUPROFILE, MAILSHIFT_MEMPROFILE
// and MAILSHIFT_TRACE each get their file, in the format go tool pprof and
// go tool trace read (gzipped profiles, a trace's "go 1." header); a file
// that cannot be created is skipped and the run goes on.
func TestProfilesFromTheEnvironment(t *testing.T) {
	dir := t.TempDir()
	files := map[string]string{
		"MAILSHIFT_CPUPROFILE": filepath.Join(dir, "cpu.pprof"),
		"MAILSHIFT_MEMPROFILE": filepath.Join(dir, "mem.pprof"),
		"MAILSHIFT_TRACE":      filepath.Join(dir, "run.trace"),
	}
	for env, f := range files {
		t.Setenv(env, f)
	}
	startProfiles()()
	want := map[string][]byte{"MAILSHIFT_CPUPROFILE": {0x1f, 0x8b}, "MAILSHIFT_MEMPROFILE": {0x1f, 0x8b}, "MAILSHIFT_TRACE": []byte("go 1.")}
	for env, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Errorf("%s: %v", env, err)
			continue
		}
		if !bytes.HasPrefix(b, want[env]) {
			t.Errorf("%s: %s starts with %q, want %q", env, f, b[:min(len(b), 8)], want[env])
		}
	}

	t.Setenv("MAILSHIFT_CPUPROFILE", filepath.Join(dir, "missing", "cpu.pprof"))
	t.Setenv("MAILSHIFT_MEMPROFILE", "")
	t.Setenv("MAILSHIFT_TRACE", filepath.Join(dir, "missing", "run.trace"))
	startProfiles()() // warns on stderr; nothing is written, nothing fails
	if _, err := os.Stat(filepath.Join(dir, "missing")); !os.IsNotExist(err) {
		t.Errorf("a file in a missing directory: %v", err)
	}
}
