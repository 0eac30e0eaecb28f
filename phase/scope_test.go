package phase

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// The scope of work is a statement of work a customer can sign: the
// parties, each server in a few words, what is out of scope, who does
// what, milestones, assumptions, the rollback, and sign-off lines; what
// the project has not said yet is marked as still to be agreed.
func TestScopeOfWorkToSign(t *testing.T) {
	ctx := context.Background()
	p, _ := newFakeProject(t, "ann", "bob")
	p.Config.Project = ProjectConfig{
		Name: "Example Corp mail migration", Customer: "Example Corp", Consultant: "Mail Movers Ltd",
		Contacts:         []ProjectContact{{Name: "Jane Doe", Role: "IT manager", Party: "customer", Email: "jane@example.com"}},
		Responsibilities: []ProjectTask{{Task: "inform the users", Who: "Example Corp IT"}},
		Milestones:       ProjectMilestones{Cutover: "2027-01-29"},
		Assumptions:      []string{"The target accounts exist before bulk copy."},
		Rollback:         "Point MX back at the old server.",
	}
	p.Config.Folders.Exclude = []string{"Junk"}
	_, err := Collect(ctx, p, Selection{})
	must(t, err)
	res, err := Approve(ctx, p, ApproveOptions{Yes: true, By: "Jane Doe", Role: "IT manager, Example Corp"})
	must(t, err)
	text := res.Text
	for _, want := range []string{
		"**Example Corp mail migration**", "| customer | Example Corp |", "| consultant | Mail Movers Ltd |",
		"| customer contact | Jane Doe <jane@example.com>, IT manager |",
		"change tracking (CONDSTORE): yes", "new UIDs on append (UIDPLUS): yes",
		"## Out of scope", "Calendars, contacts, tasks and notes", "Folders excluded by `folders.exclude`: Junk.",
		"## Roles and responsibilities", "| inform the users | Example Corp IT |", "| change MX and DNS at the cutover | *to be agreed* |",
		"## Milestones", "| cutover | 2027-01-29 |", "| collect | *to be agreed* | 20",
		"## Assumptions", "- The target accounts exist before bulk copy.",
		"## Rollback", "Point MX back at the old server.",
		"| party | name | role | date | signature |", "| Example Corp | | | | |", "| Mail Movers Ltd | | | | |",
		"Approved by **Jane Doe**, IT manager, Example Corp on",
	} {
		if !strings.Contains(text, want) {
			t.Errorf("the scope of work lacks %q", want)
		}
	}
	if strings.Contains(text, "LITERAL+") {
		t.Error("the scope of work lists every capability token instead of what matters")
	}
	if t.Failed() {
		t.Logf("scope of work:\n%s", text)
	}
	b, err := os.ReadFile(filepath.Join(p.Dir, "reports", "scope-of-work.html"))
	must(t, err)
	must(t, os.WriteFile(filepath.Join(artifacts(t), "scope-of-work.html"), b, 0o600)) // for a look in a browser
	a, err := p.Store.LatestApproval()
	must(t, err)
	if a.Role != "IT manager, Example Corp" {
		t.Errorf("the approval records the role %q", a.Role)
	}
}
