package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/mailshift/mailshift/internal/testrig/corpus"
	"github.com/mailshift/mailshift/phase"
)

// TestVerifyKindsOnDovecot: verify is incremental, reads the content of
// verify.sample messages per user and says so (text and --json); --full
// reads every copy; later runs pass over the folders nothing changed in;
// cutover's report says which kind ran and when the last full one was.
func TestVerifyKindsOnDovecot(t *testing.T) {
	p := newProject(t)
	seed(t, p.src, "alice", "old-alice", corpus.Mailbox(31, 30, 2000))
	yaml, err := os.ReadFile(filepath.Join(p.dir, "mailshift.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	p.write("mailshift.yaml", string(yaml)+"verify:\n  sample: 2\n")
	p.expect(exitOK, "collect")
	p.expect(exitOK, "approve", "--yes", "--by", "Jane Doe")
	p.expect(exitOK, "bulk", "--skip-test")

	verifyJSON := func(args ...string) phase.VerifyResult {
		t.Helper()
		out, _ := p.expect(exitOK, append([]string{"verify", "--json"}, args...)...)
		var vr phase.VerifyResult
		if err := json.Unmarshal([]byte(out), &vr); err != nil {
			t.Fatalf("verify --json: %v\n%s", err, out)
		}
		for _, key := range []string{`"kind"`, `"sample"`, `"unchanged_folders"`, `"recorded"`} {
			if !strings.Contains(out, key) {
				t.Errorf("verify --json lacks %s:\n%s", key, out)
			}
		}
		return vr
	}
	vr := verifyJSON()
	if vr.Kind != "incremental" || vr.Sample != 2 || vr.SampleSetting != "2" || !vr.Recorded || vr.Messages != 30 || vr.LastFull != "" {
		t.Errorf("first verify: %+v", vr)
	}
	out, _ := p.expect(exitOK, "verify")
	if !strings.Contains(out, "incremental verification: content read for a sample of 2 messages (verify.sample 2)") || !strings.Contains(out, "no full verification yet") {
		t.Errorf("verify does not say its kind and sample:\n%s", out)
	}
	vr = verifyJSON("--full")
	if vr.Kind != "full" || vr.Sample != 30 || vr.LastFull == "" {
		t.Errorf("verify --full: %+v", vr)
	}
	vr = verifyJSON()
	if vr.Kind != "incremental" || vr.Unchanged == 0 || vr.Unchanged != vr.Folders || vr.LastFull == "" {
		t.Errorf("verify after verify --full, nothing changed: %+v", vr)
	}

	out, _ = p.expect(exitOK, "cutover", "--yes", "--users", "alice")
	if !strings.Contains(out, "incremental verification") || !strings.Contains(out, "last full verification") {
		t.Errorf("cutover does not say which verification ran:\n%s", out)
	}
	report, err := os.ReadFile(filepath.Join(p.dir, "reports", "cutover.md"))
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(report), "Verification: **incremental**") || !strings.Contains(string(report), "Last full verification: "+vr.LastFull) {
		t.Errorf("cutover report:\n%s", report)
	}
	out, _ = p.expect(exitOK, "verify", "--help")
	if !strings.Contains(out, "--full") || !strings.Contains(out, "verify.sample") {
		t.Errorf("verify --help:\n%s", out)
	}
}
