package phase

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/mailshift/mailshift/state"
)

// TestScopeOfManyUsers: the scope of work of 120 users summarises them by
// batch and problem kind, lists the 50 largest users only, and lists the
// folder mapping of only the three users whose folders depart from the
// default rules; every user's detail is in the CSV and JSON beside it.
func TestScopeOfManyUsers(t *testing.T) {
	ctx := context.Background()
	names := make([]string, 120)
	for i := range names {
		names[i] = fmt.Sprintf("u%03d", i+1)
	}
	p, be := newFakeProject(t, names...)
	for i := range p.Users {
		p.Users[i].Batch = []string{"wave1", "wave2"}[i%2]
	}
	for _, n := range []string{"u007", "u050", "u111"} {
		must(t, be.src.CreateFolder(n, "Spam", ""))
	}
	p.Config.Folders.Exclude = []string{"Spam"}
	_, err := Collect(ctx, p, Selection{})
	must(t, err)
	for i, n := range names[:60] {
		ps := []state.Problem{{Kind: "quota", Detail: "target quota too small", Action: "raise the quota"}}
		if i < 2 {
			ps = append(ps, state.Problem{Kind: "name", Folder: "a/b", Detail: "name too long", Action: "renamed"})
		}
		must(t, p.Store.ReplaceProblems(n, ps))
	}
	res, err := Approve(ctx, p, ApproveOptions{Show: true})
	must(t, err)
	text := res.Text
	for _, want := range []string{
		"| batch | users | messages | size |", "| wave1 | 60 | ", "| wave2 | 60 | ",
		"The 50 largest of 120 users (every user: `reports/scope-of-work-users.csv` and `.json`)",
		"### u007\n\n| source folder | target folder | why |\n|---|---|---|\n| Spam | *(excluded)* | exclude pattern \"Spam\" |\n\n",
		"117 users' folders all follow the default rules", "3 users depart from them in some folders",
		"| quota | 60 | 60 | raise the quota |", "| name | 2 | 2 | renamed |",
		"The first 50 of 62 problems",
	} {
		if !strings.Contains(text, want) {
			t.Errorf("scope of work lacks %q", want)
		}
	}
	if n := strings.Count(text, "\n### "); n != 3 {
		t.Errorf("%d users' mappings listed, want the 3 that depart from the default rules", n)
	}
	if n := strings.Count(text, "| wave") - 2; n != 50 {
		t.Errorf("%d users in the users table, want 50", n)
	}

	b, err := os.ReadFile(filepath.Join(p.Dir, "reports", "scope-of-work-users.csv"))
	must(t, err)
	lines := strings.Split(strings.TrimSpace(string(b)), "\n")
	if len(lines) != 121 || !strings.HasPrefix(lines[0], "source_user,target_user,batch,source_server,") {
		t.Errorf("per-user CSV: %d lines, header %q", len(lines), lines[0])
	}
	var us []ScopeUser
	b, err = os.ReadFile(filepath.Join(p.Dir, "reports", "scope-of-work-users.json"))
	must(t, err)
	must(t, json.Unmarshal(b, &us))
	if len(us) != 120 {
		t.Fatalf("per-user JSON: %d users", len(us))
	}
	for _, u := range us {
		if len(u.Mapping) == 0 || u.Messages == 0 {
			t.Errorf("per-user JSON: %s has no mapping or no messages: %+v", u.SourceUser, u)
		}
		if want := map[bool]int{true: 2, false: 1}[u.SourceUser <= "u002"]; u.SourceUser <= "u060" && len(u.Problems) != want {
			t.Errorf("per-user JSON: %s has %d problems, want %d", u.SourceUser, len(u.Problems), want)
		}
	}
}
