package phase

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/mailshift/mailshift/state"
)

// TestReportsOfManyUsers: above reportDetailUsers users, status and the
// Markdown and HTML reports summarise by batch and stage and list only
// the users that need attention; the HTML charts draw at most
// maxChartUsers marks, with how many more; problems are summed by kind.
// Every user stays in the CSV.
func TestReportsOfManyUsers(t *testing.T) {
	at := time.Date(2026, 12, 1, 10, 0, 0, 0, time.UTC)
	var rep Report
	for i := range 250 {
		u := UserStatus{SourceUser: fmt.Sprintf("u%03d", i+1), TargetUser: fmt.Sprintf("t%03d", i+1), Batch: []string{"wave1", "wave2"}[i%2],
			Stage: "synced", BulkDoneAt: &at, Messages: 10, Bytes: 1000, CopiedSource: 10, CopiedSourceBytes: 1000, Approved: true, SkippedFolders: []SkippedFolder{}}
		switch i {
		case 6:
			u.Error, u.ErrorStep = "login refused", "sync"
		case 41:
			u.Stage, u.BulkDoneAt, u.Waiting = "collected", nil, "not approved; review with `mailshift approve --show`"
		case 99:
			u.FailedMessages = 2
		}
		rep.Status.Users = append(rep.Status.Users, u)
		rep.Cutovers = append(rep.Cutovers, UserCutoverRecord{User: u.SourceUser, At: at, FinalMessages: int64(i % 17), FinalSeconds: 1})
		rep.Problems = append(rep.Problems, stateProblem(u.SourceUser, []string{"quota", "name"}[min(i%5, 1)]))
	}
	rep.Throughput, rep.Status.Approvals = []RunThroughput{}, []ApprovalStatus{}

	md, err := rep.Render("md")
	must(t, err)
	for _, want := range []string{
		"250 users, by batch", "BATCH  USERS  COLLECTED  SYNCED  COPIED/SOURCE", "wave1  125    0          125     1250/1250",
		"3 users need attention:", "u007  wave1  synced", "u042  wave2  collected", "u100  wave2  synced",
		"| name | 200 | 200 | see to it |", "| quota | 50 | 50 | see to it |", "The first 200 of 250",
	} {
		if !strings.Contains(md, want) {
			t.Errorf("Markdown report lacks %q", want)
		}
	}
	if status := md[:strings.Index(md, "## Problems")]; strings.Contains(status, "u008") {
		t.Error("Markdown report's status lists u008, which needs no attention")
	}

	html, err := rep.Render("html")
	must(t, err)
	if n := strings.Count(html, `class="cutover-bar"`); n != maxChartUsers {
		t.Errorf("the cutover chart has %d marks, want %d", n, maxChartUsers)
	}
	if n := strings.Count(html, `class="user-bar"`); n != maxChartUsers {
		t.Errorf("the volume chart has %d marks, want %d", n, maxChartUsers)
	}
	users := html[strings.Index(html, `<table id="users">`):]
	users = users[:strings.Index(users, "</table>")]
	if n := strings.Count(users, "<tr><td>"); n != 3 || !strings.Contains(users, "<td>u042</td>") || strings.Contains(users, "<td>u008</td>") {
		t.Errorf("the users' table has %d rows; want the 3 that need attention", n)
	}
	for _, want := range []string{"… and 190 more users cut over", "250 users: the 3 that need attention", "Problems found by collect (250)", `id="problem-kinds"`} {
		if !strings.Contains(html, want) {
			t.Errorf("HTML report lacks %q", want)
		}
	}
	csv, err := rep.Render("csv")
	must(t, err)
	if n := strings.Count(csv, "\n"); n != 251 {
		t.Errorf("CSV report: %d lines, want a header and 250 users", n)
	}
}

// stateProblem is a problem of kind for user.
func stateProblem(user, kind string) state.Problem {
	return state.Problem{User: user, Kind: kind, Detail: kind + " problem", Action: "see to it"}
}
