package main

import (
	"errors"
	"path/filepath"
	"strings"
	"testing"

	"github.com/mailshift/mailshift/internal/testrig/corpus"
	"github.com/mailshift/mailshift/state"
)

// TestRemovedUserAndForget: bob's row is deleted from users.csv after his
// bulk copy. He leaves status, the scope of work and the reports at once,
// his state is kept, and `forget` deletes it only when asked properly.
func TestRemovedUserAndForget(t *testing.T) {
	p := newProject(t)
	seed(t, p.src, "alice", "old-alice", corpus.Mailbox(51, 20, 2500))
	seed(t, p.src, "bob", "old-bob", corpus.Mailbox(52, 15, 2500))
	p.expect(exitOK, "collect")
	p.expect(exitOK, "approve", "--yes", "--by", "Jane Doe")
	p.expect(exitOK, "bulk", "--skip-test")

	p.write("users.csv", "source_user,source_password,target_user,target_password,batch\n"+
		"alice,env:E2E_ALICE_OLD,alice@new,env:E2E_ALICE_NEW,pilot\n")
	for _, args := range [][]string{
		{"status"}, {"status", "--json"}, {"approve", "--show"},
		{"report"}, {"report", "--format", "csv"}, {"report", "--format", "json"},
	} {
		out, _ := p.expect(exitOK, args...)
		// Named only as why alice's approval no longer holds.
		if strings.Contains(strings.ReplaceAll(out, "users removed from the users file: bob", ""), "bob") {
			t.Errorf("mailshift %s still speaks of bob:\n%s", strings.Join(args, " "), out)
		}
		if args[0] == "status" && !strings.Contains(out, "alice") {
			t.Errorf("mailshift %s lost alice:\n%s", strings.Join(args, " "), out)
		}
	}
	if out, _ := p.expect(exitOK, "status"); !strings.Contains(out, "1 user(s) no longer in the users file") || !strings.Contains(out, "COPIED/SOURCE") {
		t.Errorf("status:\n%s", out)
	}

	if _, errOut := p.expect(exitUsage, "forget"); !strings.Contains(errOut, "not in the users file: bob") {
		t.Errorf("forget with no names should list bob: %s", errOut)
	}
	if _, errOut := p.expect(exitUsage, "forget", "--users", "bob"); !strings.Contains(errOut, "--yes") {
		t.Errorf("forget without --yes: %s", errOut)
	}
	if _, errOut := p.expect(exitUsage, "forget", "--users", "alice", "--yes"); !strings.Contains(errOut, "alice still in the users file") {
		t.Errorf("forget of alice: %s", errOut)
	}
	if out, _ := p.expect(exitOK, "forget", "--users", "bob@new", "--yes"); !strings.Contains(out, "forgot bob (15 copied messages") {
		t.Errorf("forget bob: %s", out)
	}
	p.expect(exitUsage, "forget", "--users", "bob", "--yes")
	if out, _ := p.expect(exitOK, "status"); strings.Contains(out, "no longer in the users file") {
		t.Errorf("status after forget:\n%s", out)
	}

	s, err := state.Open(filepath.Join(p.dir, "mailshift.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if _, err := s.User("bob"); !errors.Is(err, state.ErrNotFound) {
		t.Errorf("bob in the state after forget: %v", err)
	}
	if c, err := s.Counts("alice"); err != nil || c.Copied != 20 {
		t.Errorf("alice's pairs: %+v, %v", c, err)
	}
	// The servers are not touched: bob's copy is still on the target.
	p.compare("bob", "old-bob", "bob@new", "new-bob")
}
