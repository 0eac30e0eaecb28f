package main

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/mailshift/mailshift/internal/testrig/corpus"
	"github.com/mailshift/mailshift/internal/testrig/imaptest"
)

// statusJSON is the part of `status --json` these tests read, decoded
// loosely so that a renamed or missing key shows.
type statusJSON struct {
	PlanApproved *bool            `json:"plan_approved"`
	Approvals    []map[string]any `json:"approvals"`
	Users        []struct {
		SourceUser string  `json:"source_user"`
		Stage      string  `json:"stage"`
		Approved   *bool   `json:"approved"`
		Waiting    *string `json:"waiting"`
		Copied     int64   `json:"copied_messages"`
	} `json:"users"`
}

func (p *project) status() statusJSON {
	p.t.Helper()
	out, _ := p.expect(exitOK, "status", "--json")
	var st statusJSON
	if err := json.Unmarshal([]byte(out), &st); err != nil {
		p.t.Fatalf("status --json: %v\n%s", err, out)
	}
	if st.PlanApproved == nil || st.Approvals == nil || st.Users == nil {
		p.t.Fatalf("status --json lacks plan_approved, approvals or users (or has null lists):\n%s", out)
	}
	return st
}

// TestOneUserBlocksNoOne: bob's target password is wrong. collect and
// approve go on with alice and name bob; alice is migrated; bob waits,
// named with what he needs, until his password is fixed and his wave is
// approved, without touching alice's approval.
func TestOneUserBlocksNoOne(t *testing.T) {
	p := newProject(t)
	seed(t, p.src, "alice", "old-alice", corpus.Mailbox(41, 40, 2500))
	seed(t, p.src, "bob", "old-bob", corpus.Mailbox(42, 20, 2500))
	good := "bob,old-bob,bob@new,new-bob,wave1\n"
	header := "source_user,source_password,target_user,target_password,batch\n" +
		"alice,env:E2E_ALICE_OLD,alice@new,env:E2E_ALICE_NEW,pilot\n"
	p.write("users.csv", header+"bob,old-bob,bob@new,wrong-bob,wave1\n")

	_, errOut := p.expect(exitPartial, "collect")
	if !strings.Contains(errOut, "bob") {
		t.Errorf("collect should name bob: %s", errOut)
	}
	if st := p.status(); len(st.Approvals) != 0 || *st.PlanApproved {
		t.Errorf("status before any approval: %+v", st)
	}
	out, errOut := p.expect(exitPartial, "approve", "--yes", "--by", "Jane Doe")
	if !strings.Contains(out, "approved plan") || !strings.Contains(out, "for 1 users") {
		t.Errorf("approve should record the plan for alice:\n%s", out)
	}
	if !strings.Contains(out, "## Not in this plan") || !strings.Contains(errOut, "bob: collect failed") {
		t.Errorf("approve should name bob as left out:\nstdout:\n%s\nstderr:\n%s", out, errOut)
	}
	if strings.Contains(out+errOut, "wrong-bob") {
		t.Error("a password is in approve's output")
	}

	_, errOut = p.expect(exitPartial, "bulk", "--skip-test")
	if !strings.Contains(errOut, "bob: not approved: collect failed") {
		t.Errorf("bulk should say what bob needs: %s", errOut)
	}
	p.compare("alice", "old-alice", "alice@new", "new-alice")
	if n := len(imaptest.Snapshot(t, p.dst.Addr, "bob@new", "new-bob")["INBOX"]); n != 0 {
		t.Errorf("bob's target holds %d messages", n)
	}
	_, errOut = p.expect(exitOutOfOrder, "bulk", "--skip-test", "--users", "bob")
	if !strings.Contains(errOut, "mailshift collect --users bob") {
		t.Errorf("bulk --users bob should say to collect bob: %s", errOut)
	}
	_, errOut = p.expect(exitPartial, "sync")
	if !strings.Contains(errOut, "bob:") || strings.Contains(errOut, "alice:") {
		t.Errorf("sync should name bob alone: %s", errOut)
	}

	st := p.status()
	for _, u := range st.Users {
		switch u.SourceUser {
		case "alice":
			if u.Approved == nil || !*u.Approved || u.Waiting == nil || *u.Waiting != "" || u.Copied != 40 {
				t.Errorf("alice in status --json: %+v", u)
			}
		case "bob":
			if u.Approved == nil || *u.Approved || u.Waiting == nil || !strings.HasPrefix(*u.Waiting, "collect failed: ") {
				t.Errorf("bob in status --json: %+v", u)
			}
		}
	}
	if *st.PlanApproved || len(st.Approvals) != 1 {
		t.Errorf("status --json: plan_approved %v, approvals %v", *st.PlanApproved, st.Approvals)
	}
	out, _ = p.expect(exitOK, "status")
	if !strings.Contains(out, "waiting: collect failed") || !strings.Contains(out, "1 of 2 users approved") {
		t.Errorf("status:\n%s", out)
	}
	out, _ = p.expect(exitOK, "report", "--format", "csv")
	if !strings.Contains(out, ",waiting,skipped_folders,") || !strings.Contains(out, "collect failed") {
		t.Errorf("report csv:\n%s", out)
	}

	// The password is fixed (a password is not part of the plan): bob
	// collects, his wave is approved, he is migrated; alice's approval holds.
	p.write("users.csv", header+good)
	p.expect(exitOK, "collect", "--users", "bob")
	p.expect(exitOutOfOrder, "bulk", "--skip-test", "--batch", "wave1")
	p.expect(exitOK, "approve", "--yes", "--by", "Jane Doe", "--batch", "wave1")
	p.expect(exitOK, "bulk", "--skip-test")
	p.compare("bob", "old-bob", "bob@new", "new-bob")
	p.expect(exitOK, "sync")
	st = p.status()
	if !*st.PlanApproved || len(st.Approvals) != 2 {
		t.Errorf("after bob's approval: plan_approved %v, approvals %v", *st.PlanApproved, st.Approvals)
	}

	// bob's row changes: bob waits for a new approval, alice does not.
	p.write("users.csv", header+"bob,old-bob,bob@new,new-bob,wave2\n")
	_, errOut = p.expect(exitPartial, "sync")
	if !strings.Contains(errOut, "bob: plan changed for this user") || strings.Contains(errOut, "alice:") {
		t.Errorf("sync after bob's row changed: %s", errOut)
	}
	p.expect(exitOutOfOrder, "cutover", "--yes", "--users", "bob")
	out, errOut = p.expect(exitPartial, "cutover", "--yes")
	if !strings.Contains(out, "1 of 1 users verified") || !strings.Contains(errOut, "bob: plan changed") {
		t.Errorf("cutover:\n%s\n%s", out, errOut)
	}
	p.expect(exitOutOfOrder, "sync", "--users", "alice")
}
