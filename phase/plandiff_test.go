package phase

import (
	"context"
	"errors"
	"strings"
	"testing"
)

// When the plan changed after approval, the refusal says what changed.
func TestPlanChangedSaysWhat(t *testing.T) {
	ctx := context.Background()
	p, _ := newFakeProject(t, "ann", "bob")
	p.Config.Folders.Exclude = []string{"Junk"}
	_, err := Collect(ctx, p, Selection{})
	must(t, err)
	_, err = Approve(ctx, p, ApproveOptions{Yes: true, By: "Test"})
	must(t, err)

	p.Config.Target.URL = "fake:elsewhere"
	p.Config.Folders.Exclude = []string{"Spam"}
	p.Config.Folders.Map = map[string]string{"Archive": "Old Archive"}
	p.Users[1].Batch = "wave9"
	p.Users = p.Users[1:] // ann leaves the users file
	_, err = Bulk(ctx, p, BulkOptions{SkipTest: true})
	if !errors.Is(err, ErrPlanChanged) {
		t.Fatalf("bulk after the change: %v, want the plan changed", err)
	}
	for _, want := range []string{
		"users removed from the users file: ann",
		`rows changed: bob (target bob → bob, batch "wave1" → "wave9")`,
		"target.url fake:new → fake:elsewhere",
		`folders.exclude added "Spam", removed "Junk"`,
		`folders.map added "Archive": "Old Archive"`,
	} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("the refusal does not say %q:\n%v", want, err)
		}
	}
}

func TestDiffPlansRedactsPasswords(t *testing.T) {
	d := diffPlans(planInput{Source: "imap://u:secret@old:143"}, planInput{Source: "imap://u:secret@new:143"})
	if len(d) != 1 || strings.Contains(d[0], "secret") || !strings.Contains(d[0], "old:143") {
		t.Errorf("diff: %v", d)
	}
}
