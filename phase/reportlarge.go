package phase

import (
	"fmt"
	"slices"
	"strings"
	"text/tabwriter"
)

// reportDetailUsers bounds the users status and the reports list one by
// one: above it they summarise by batch and stage and list only the users
// that need attention (a failure, a wait, a skipped folder, a refused
// message), up to reportDetailUsers of them; every user is in
// `status --json` and the CSV and JSON reports.
const reportDetailUsers = 200

// stages are the stages of UserStatus.Stage in the order users pass them.
var stages = []string{"new", "collected", "tested", "bulk-running", "bulk-done", "synced", "cut-over"}

// needsAttention tells whether a user has something to say beyond its
// stage and counts.
func needsAttention(u UserStatus) bool {
	return u.Error != "" || u.Waiting != "" || len(u.SkippedFolders) > 0 || u.FailedMessages > 0 || u.CopiedGone > 0
}

// writeStatusSummary writes the status of many users: a table of batches
// by stage with what is copied of each, then the users that need
// attention.
func writeStatusSummary(b *strings.Builder, rep StatusReport) {
	type tally struct {
		users, attention   int
		stage              map[string]int
		copied, msgs       int64
		copiedBytes, bytes int64
		failed             int64
	}
	by := map[string]*tally{}
	var order []string
	var attention []UserStatus
	for _, u := range rep.Users {
		t := by[u.Batch]
		if t == nil {
			t = &tally{stage: map[string]int{}}
			by[u.Batch] = t
			order = append(order, u.Batch)
		}
		t.users++
		t.stage[u.Stage]++
		t.copied += u.CopiedSource
		t.msgs += u.Messages
		t.copiedBytes += u.CopiedSourceBytes
		t.bytes += u.Bytes
		t.failed += u.FailedMessages
		if needsAttention(u) {
			t.attention++
			attention = append(attention, u)
		}
	}
	slices.Sort(order)
	var used []string // the stages some user is in, in order
	for _, s := range stages {
		if slices.ContainsFunc(order, func(batch string) bool { return by[batch].stage[s] > 0 }) {
			used = append(used, s)
		}
	}
	fmt.Fprintf(b, "%d users, by batch (each user: `mailshift status --json`, `mailshift report --format csv`):\n\n", len(rep.Users))
	var table strings.Builder
	tw := tabwriter.NewWriter(&table, 0, 0, 2, ' ', 0)
	fmt.Fprintf(tw, "BATCH\tUSERS\t%s\tCOPIED/SOURCE\tSIZE COPIED/SOURCE\tFAILED\tNEED ATTENTION\n", strings.ToUpper(strings.Join(used, "\t")))
	for _, batch := range order {
		t := by[batch]
		var cells []string
		for _, s := range used {
			cells = append(cells, fmt.Sprint(t.stage[s]))
		}
		fmt.Fprintf(tw, "%s\t%d\t%s\t%d/%d\t%s/%s\t%d\t%d\n", orDash(batch), t.users, strings.Join(cells, "\t"),
			t.copied, t.msgs, FormatBytes(t.copiedBytes), FormatBytes(t.bytes), t.failed, t.attention)
	}
	tw.Flush()
	writeTrimmed(b, table.String())
	if len(attention) == 0 {
		b.WriteString("\nNo user needs attention.\n")
		return
	}
	fmt.Fprintf(b, "\n%d users need attention", len(attention))
	if len(attention) > reportDetailUsers {
		fmt.Fprintf(b, " (the first %d)", reportDetailUsers)
		attention = attention[:reportDetailUsers]
	}
	b.WriteString(":\n\n")
	writeUserTable(b, attention)
}

// writeTrimmed writes a tabwriter's table without the spaces that end
// its lines.
func writeTrimmed(b *strings.Builder, table string) {
	for _, line := range strings.SplitAfter(table, "\n") {
		b.WriteString(strings.TrimRight(line, " \n"))
		if strings.HasSuffix(line, "\n") {
			b.WriteString("\n")
		}
	}
}
